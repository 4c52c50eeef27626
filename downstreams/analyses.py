"""`bench analyze similarity|alignment|language-shift`: the builtin analyses with their offline data.

The measurements are generic (benchmark.analysis.similarity, .alignment, .langshift); this plugin supplies the data
(hand-labelled word senses, the fortune corpora, the FreeDict dictionaries) and the commands. Every command
writes an analysis record (benchmark.analysis.records) that `bench report --html` draws.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from benchmark.clitools import check_output, command_line, device_option, group, output_option, save_record
from benchmark.errors import BenchError
from benchmark.hookspecs import hookimpl

SENSES = Path(__file__).parent / "data" / "word-senses.tsv"
SENSES_SOURCE = ("hand-labelled sentences from the VADER corpus (Hutto & Gilbert 2014) and Debian fortunes "
                 "(downstreams/data/word-senses.README.md)")


def read_senses(path: Path) -> dict[str, list[tuple[str, str]]]:
    """word -> [(sense, sentence)] from a `word<TAB>sense<TAB>sentence[<TAB>source]` file with a header line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BenchError(f"senses file '{path}' does not exist") from None
    except UnicodeDecodeError:
        raise BenchError(f"senses file '{path}' is not UTF-8 text") from None
    if not lines or lines[0].split("\t")[:3] != ["word", "sense", "sentence"]:
        raise BenchError(f"senses file '{path}': the first line must be the header 'word<TAB>sense<TAB>sentence'")
    out: dict[str, list[tuple[str, str]]] = {}
    for n, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 3 or not all(p.strip() for p in parts[:3]):
            raise BenchError(f"{path}:{n}: expected word<TAB>sense<TAB>sentence")
        out.setdefault(parts[0].strip().lower(), []).append((parts[1].strip(), parts[2].strip()))
    for word, rows in out.items():
        if len({s for s, _ in rows}) < 2:
            raise BenchError(f"senses file '{path}': the word '{word}' has only one sense; give at least two")
    return out


def _pairs(text: str) -> list[tuple[str, str]]:
    out = []
    for item in text.split(","):
        src, sep, tgt = item.strip().partition("-")
        if not sep or not src or not tgt or src == tgt:
            raise BenchError(f"--languages: '{item}' is not SRC-TGT (e.g. en-de,en-es)")
        out.append((src, tgt))
    return out


def _assignments(values: tuple[str, ...], option: str) -> dict[str, Path]:
    out = {}
    for v in values:
        key, sep, path = v.partition("=")
        if not sep or not key or not path:
            raise BenchError(f"{option} '{v}': expected KEY=FILE")
        out[key.strip()] = Path(path).expanduser()
    return out


def _corpus(language: str, files: dict[str, Path]) -> tuple[tuple[str, ...], str]:
    from downstreams.recipes import multilingual

    if language in files:
        return multilingual.read_corpus(files[language]), f"file {files[language]}"
    return multilingual.fortune_sentences(language), multilingual.corpus_revision([language])


def _dictionary(src: str, tgt: str, files: dict[str, Path]) -> tuple[dict[str, frozenset[str]], str]:
    from downstreams.recipes import multilingual

    key = f"{src}-{tgt}"
    if key in files:
        return multilingual.read_dictionary(files[key]), f"file {files[key]}"
    if src != "en":
        raise BenchError(f"no builtin {key} dictionary (FreeDict's are English-X); give one as --dictionary "
                         f"{key}=FILE")
    return multilingual.freedict(tgt), multilingual.dictionary_revision(tgt)


def _info(upstream: Any) -> dict[str, Any]:
    from benchmark.plugin.specs import upstream_info

    return upstream_info(upstream)


def _record(kind: str, upstream: Any, params: dict[str, Any], data: dict[str, Any], t0: float, device: str) -> Any:
    from benchmark.analysis.records import Analysis
    from benchmark.engine.execution import environment

    return Analysis(kind=kind, upstream=upstream.name, upstream_info=_info(upstream), params=params, data=data,
                    environment=environment(device, command_line()), seconds=round(time.perf_counter() - t0, 1))


@click.command(name="similarity")
@click.option("--upstream", "-u", default="minilm", show_default=True, help="Any text upstream (bench list upstreams).")
@click.option("--senses", "senses_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="word<TAB>sense<TAB>sentence file with a header line [builtin: apple, date, party, rock in real "
                   "sentences].")
@click.option("--words", default=None, help="Comma-separated words of the senses file to analyse [all].")
@click.option("--permutations", type=click.IntRange(min=100), default=2000, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@output_option
@device_option
def similarity_cmd(upstream: str, senses_file: Path | None, words: str | None, permutations: int, seed: int,
                   output: Path, device: str) -> None:
    """The same word in different contexts: cosine similarity of its contextual vectors per layer, and how well
    its senses separate (within- minus across-sense similarity, permutation p-value, nearest-neighbour accuracy)."""
    import hashlib

    from benchmark.analysis import similarity
    from benchmark.analysis.records import open_upstream
    from benchmark.analysis.wordvec import WORD, Occurrence, span_vectors

    check_output(output)
    table = read_senses(senses_file or SENSES)
    chosen = [w.strip().lower() for w in words.split(",")] if words else sorted(table)
    for w in chosen:
        if w not in table:
            raise BenchError(f"--words: '{w}' is not in the senses file (it has: {', '.join(sorted(table))})")
    t0 = time.perf_counter()
    model = open_upstream(upstream, device=device)
    results: dict[str, Any] = {}
    for word in chosen:
        rows = table[word]
        spans = []
        for k, (_, sentence) in enumerate(rows):
            hit = next((m for m in WORD.finditer(sentence) if m.group().lower() == word), None)
            if hit is None:
                raise BenchError(f"senses file: the sentence {sentence[:50]!r}... does not contain the word '{word}'")
            spans.append(Occurrence(k, hit.start(), hit.end(), word))
        vectors, _ = span_vectors(model, [s for _, s in rows], spans)
        results[word] = similarity.analyse(vectors, [s for s, _ in rows], permutations=permutations, seed=seed)
        results[word]["sentences"] = [s for _, s in rows]
        best = max(results[word]["layers"][1:] or results[word]["layers"], key=lambda r: r["separation"])
        first = results[word]["layers"][0]
        click.echo(f"{word}: {len(rows)} sentences, senses {', '.join(sorted(set(s for s, _ in rows)))}; best layer "
                   f"{best['layer']}: within {best['within']:.3f} vs across {best['across']:.3f} (separation "
                   f"{best['separation']:+.3f}, p {best['p_value']:.4f}, 1-NN {best['nn_accuracy']:.0%} vs chance "
                   f"{results[word]['nn_chance']:.0%}); layer 0: {first['separation']:+.3f}")
    digest = hashlib.sha256((senses_file or SENSES).read_bytes()).hexdigest()[:16]  # a changed file is a new record
    params = {"words": chosen, "senses": str(senses_file) if senses_file else "builtin", "senses_sha256": digest,
              "permutations": permutations, "seed": seed}
    data = {"words": results, "source": str(senses_file) if senses_file else SENSES_SOURCE}
    save_record(output, _record("similarity", model, params, data, t0, device))


def cross_lingual_options(fn: Any) -> Any:
    """--languages, --corpus and --dictionary: what alignment and language-shift read."""
    fn = click.option("--dictionary", "dictionaries", multiple=True, metavar="SRC-TGT=FILE",
                      help="Bilingual dictionary, source<TAB>target per line [builtin: FreeDict English-X].")(fn)
    fn = click.option("--corpus", "corpora", multiple=True, metavar="LANG=FILE",
                      help="Text of a language, one sentence per line [builtin: Debian fortunes in en, de, es, "
                           "it].")(fn)
    return click.option("--languages", default="en-de,en-es,en-it", show_default=True,
                        help="Language pairs SRC-TGT.")(fn)


@click.command(name="alignment")
@click.option("--upstream", "-u", "upstreams", multiple=True, required=True,
              help="A text upstream; repeat to compare (e.g. checkpoints pretrained on different corpus sizes).")
@cross_lingual_options
@click.option("--min-count", type=click.IntRange(min=1), default=5, show_default=True,
              help="A word needs this many occurrences in its corpus.")
@click.option("--per-word", type=click.IntRange(min=1), default=10, show_default=True,
              help="Occurrences averaged per word (sampled).")
@click.option("--max-words", type=click.IntRange(min=10), default=300, show_default=True,
              help="Source words per language pair (sampled).")
@click.option("--keep-identical", is_flag=True, help="Keep words spelled the same in both languages.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@output_option
@device_option
def alignment_cmd(upstreams: tuple[str, ...], languages: str, corpora: tuple[str, ...], dictionaries: tuple[str, ...],
                  min_count: int, per_word: int, max_words: int, keep_identical: bool, seed: int, output: Path,
                  device: str) -> None:
    """Cross-lingual alignment: each dictionary word's average contextual vector over a corpus in its language,
    nearest-neighbour retrieval of its translation, Mean Reciprocal Rank per layer (arXiv 2010.10938)."""
    from benchmark.analysis import alignment
    from benchmark.analysis.records import open_upstream
    from benchmark.analysis.wordvec import find, sample, word_means

    check_output(output)
    pairs = _pairs(languages)
    corpus_files, dict_files = _assignments(corpora, "--corpus"), _assignments(dictionaries, "--dictionary")
    dictionaries_ = {(src, tgt): _dictionary(src, tgt, dict_files) for src, tgt in pairs}
    texts = {lang: _corpus(lang, corpus_files) for lang in sorted({x for p in pairs for x in p})}
    occurrences = {lang: find(t) for lang, (t, _) in texts.items()}  # every word of every corpus, found once
    counts = {lang: {w: len(o) for w, o in found.items()} for lang, found in occurrences.items()}
    plans = []
    for src, tgt in pairs:
        dictionary, dict_source = dictionaries_[(src, tgt)]
        words, candidates, gold, stats = alignment.dictionary_pairs(
            dictionary, counts[src], counts[tgt], min_count=min_count, max_words=max_words, seed=seed,
            keep_identical=keep_identical)
        if len(words) < 10:
            raise BenchError(f"{src}-{tgt}: only {len(words)} dictionary words occur {min_count}+ times in both "
                             "corpora; give more text (--corpus) or lower --min-count")
        # The occurrences averaged are drawn once, so every upstream reads the same sentences.
        chosen = {lang: sample({w: occurrences[lang][w] for w in wanted}, per_word, seed)
                  for lang, wanted in ((src, words), (tgt, candidates))}
        plans.append((src, tgt, words, candidates, gold, stats, dict_source, chosen))
    for name in upstreams:
        t0 = time.perf_counter()
        model = open_upstream(name, device=device)
        data: dict[str, Any] = {"pairs": {}}
        for src, tgt, words, candidates, gold, stats, dict_source, chosen in plans:
            vecs = {}
            for lang in (src, tgt):
                found, vecs[lang] = word_means(model, texts[lang][0], chosen[lang])
                if found != sorted(chosen[lang]):
                    lost = sorted(set(chosen[lang]) - set(found))[:3]
                    raise BenchError(f"{lang}: every occurrence of {lost} is past '{name}''s maximum length; give "
                                     "shorter sentences (--corpus)")
            mrr = alignment.mrr_per_layer(vecs[src], vecs[tgt], gold)
            centred = alignment.mrr_per_layer(vecs[src], vecs[tgt], gold, centre=True)
            chance = alignment.chance_mrr(len(candidates), gold)
            best = max(range(len(mrr)), key=mrr.__getitem__)
            data["pairs"][f"{src}-{tgt}"] = {
                "mrr": mrr, "mrr_centred": centred, "chance": chance, "counts": stats,
                "corpus": {src: texts[src][1], tgt: texts[tgt][1]}, "dictionary": dict_source}
            click.echo(f"{name} · {src}-{tgt}: {len(words)} words, {len(candidates)} candidates; MRR per layer "
                       f"{' '.join(f'{v:.3f}' for v in mrr)} (best layer {best}; centred "
                       f"{centred[best]:.3f}; chance {chance:.3f})")
        pre = getattr(model, "pretraining", None)
        if isinstance(pre, dict):
            data["pretraining_sentences"] = (pre.get("data") or {}).get("sentences")
            data["pretraining_step"] = pre.get("step")
        params = {"languages": languages, "corpora": sorted(corpora), "dictionaries": sorted(dictionaries),
                  "min_count": min_count, "per_word": per_word, "max_words": max_words,
                  "keep_identical": keep_identical, "seed": seed}
        save_record(output, _record("alignment", model, params, data, t0, device))
        del model


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise BenchError(f"--alphas '{text}': expected comma-separated numbers, e.g. 0,1,2") from None


@click.command(name="language-shift")
@click.option("--upstream", "-u", required=True, help="A BERT-style text upstream with its masked-LM head.")
@cross_lingual_options
@click.option("--alphas", default="0,0.5,1,1.5,2,3", show_default=True, help="Multiples of mean(TGT) - mean(SRC).")
@click.option("--mean-sentences", type=click.IntRange(min=10), default=1000, show_default=True,
              help="Sentences per language averaged into its language vector.")
@click.option("--sentences", type=click.IntRange(min=1), default=200, show_default=True,
              help="Source sentences decoded at each alpha.")
@click.option("--layer", type=click.IntRange(min=0), default=None, help="Layer that gets the shift [last].")
@output_option
@device_option
def language_shift_cmd(upstream: str, languages: str, alphas: str, corpora: tuple[str, ...],
                       dictionaries: tuple[str, ...], mean_sentences: int, sentences: int, layer: int | None,
                       output: Path, device: str) -> None:
    """Language vectors: add alpha x (mean(TGT) - mean(SRC)) to SRC tokens' hidden states and decode through the
    masked-LM head, the seeds' unsupervised token-level translation (arXiv 2010.10041)."""
    from benchmark.analysis import langshift
    from benchmark.analysis.records import open_upstream

    check_output(output)
    pairs = _pairs(languages)
    alpha_values = _floats(alphas)
    corpus_files, dict_files = _assignments(corpora, "--corpus"), _assignments(dictionaries, "--dictionary")
    texts = {lang: _corpus(lang, corpus_files) for lang in sorted({x for p in pairs for x in p})}
    dicts = {(src, tgt): _dictionary(src, tgt, dict_files) for src, tgt in pairs}
    t0 = time.perf_counter()
    model = open_upstream(upstream, device=device)
    if layer is not None and layer > model.num_layers:
        raise BenchError(f"--layer {layer}: '{upstream}' has layers 0..{model.num_layers}")
    at = model.num_layers if layer is None else layer
    # The first sentences of each language (`bench pretrain mlm` holds them out of training), averaged once each.
    means = {lang: langshift.language_mean(model, t[:mean_sentences], at) for lang, (t, _) in texts.items()}
    data: dict[str, Any] = {"pairs": {}}
    for src, tgt in pairs:
        (a, a_source), (b, b_source) = texts[src], texts[tgt]
        dictionary, dict_source = dicts[(src, tgt)]
        result = langshift.analyse(model, a[:mean_sentences], b[:mean_sentences], a[:sentences], dictionary,
                                   alpha_values, layer=layer, means=(means[src], means[tgt]))
        result.update(corpus={src: a_source, tgt: b_source}, dictionary=dict_source)
        data["pairs"][f"{src}-{tgt}"] = result
        line = ", ".join(f"α={r['alpha']:g}: kept {r['kept']:.0%} {tgt} {r['in_target']:.0%} dict "
                         + ("—" if r["dictionary_accuracy"] is None else f"{r['dictionary_accuracy']:.1%}")
                         for r in result["alphas"])
        click.echo(f"{src}->{tgt} (layer {result['layer']}): {line}")
    params = {"languages": languages, "alphas": alpha_values, "corpora": sorted(corpora),
              "dictionaries": sorted(dictionaries), "mean_sentences": mean_sentences, "sentences": sentences,
              "layer": layer}
    save_record(output, _record("language-shift", model, params, data, t0, device))


def _shots(text: str) -> list[int]:
    try:
        values = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise BenchError(f"--shots '{text}': expected comma-separated whole numbers, e.g. 0,1,4,8") from None
    if not values or values[0] < 0:
        raise BenchError(f"--shots '{text}': expected numbers >= 0, e.g. 0,1,4,8")
    return values


@click.command(name="in-context")
@click.option("--upstream", "-u", default="gpt", show_default=True,
              help="A causal LM: gpt (GPT-2 from the Hub) or gpt:NAME_OR_PATH.")
@click.option("--tasks", "-t", default="vader-polarity", show_default=True,
              help="Comma-separated classification tasks (bench list tasks).")
@click.option("--shots", default="0,1,4,8", show_default=True, help="Numbers of demonstrations k.")
@click.option("--draws", type=click.IntRange(min=1), default=5, show_default=True,
              help="Draws of the k demonstrations per k > 0 (the spread across draws is reported).")
@click.option("--max-eval", type=click.IntRange(min=1), default=200, show_default=True,
              help="Evaluation examples (a fixed random subset of the task's first evaluation split).")
@click.option("--labels", "label_names", default=None, metavar="A,B,...",
              help="Words the model should continue with, one per class, in the task's label order [the task's "
                   "label names].")
@click.option("--instruction", default="", help="Text before the demonstrations (e.g. 'Classify the sentiment.').")
@click.option("--template", default="Input: {input}\\nLabel:", show_default=True,
              help="Each example's text; {input} is replaced by the input (a pair as two lines); the label follows.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--tasks-file", "tasks_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A tasks YAML file of your own (docs/tasks.md).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="BENCH_DATA_DIR", default=None,
              help="Folder with local task files.")
@output_option
@device_option
def in_context_cmd(upstream: str, tasks: str, shots: str, draws: int, max_eval: int, label_names: str | None,
                   instruction: str, template: str, seed: int, tasks_files: tuple[Path, ...], data_dir: Path | None,
                   output: Path, device: str) -> None:
    """In-context learning: zero-, one- and few-shot classification by a causal language model, scoring each
    label's continuation after k demonstrations, no gradient descent (GPT-3's evaluation). Needs a real model
    from the Hub (gpt, gpt:EleutherAI/pythia-410m, ...) to mean anything."""
    from benchmark.analysis import icl
    from benchmark.analysis.records import open_upstream
    from benchmark.engine.request import default_cache_dir
    from benchmark.plugin.manager import add_task_files, get_plugins
    from benchmark.plugin.registry import expand_tasks
    from benchmark.tasks import data as data_mod

    check_output(output)
    ks = _shots(shots)
    plugins = get_plugins()
    if tasks_files:
        add_task_files(plugins, list(tasks_files))
    registry = plugins.registry
    specs = expand_tasks([t.strip() for t in tasks.split(",") if t.strip()], registry)
    fmt = icl.PromptFormat(instruction=instruction, template=template.replace("\\n", "\n"))
    fmt.check()
    names = [x.strip() for x in label_names.split(",")] if label_names else None
    if names and len(specs) > 1:
        raise BenchError("--labels names one task's classes; give one task with it")
    loaded = {}
    for task in specs:
        if task.modality != "text":
            raise BenchError(f"task '{task.name}' is a {task.modality} task; in-context learning reads text")
        lack = data_mod.missing(task, data_dir, registry, default_cache_dir())
        if lack:
            raise BenchError(f"task '{task.name}': {lack.what}" + (f" ({lack.how})" if lack.how else ""))
        loaded[task.name] = (task, icl.label_names_for(task, names), data_mod.load(task, data_dir, registry,
                                                                                  default_cache_dir()))
    t0 = time.perf_counter()
    model = open_upstream(upstream, device=device)
    if not hasattr(model, "continuation_logprobs"):
        raise BenchError(f"upstream '{upstream}' is not a causal language model (use gpt or gpt:NAME_OR_PATH)")
    results: dict[str, Any] = {}
    for name, (task, labels, data) in loaded.items():
        split = task.evals[0] if task.evals else next(iter(data.evals))
        res = icl.evaluate_in_context(model, data.train, data.evals[split], labels, shots=ks, draws=draws,
                                      seed=seed, fmt=fmt, max_eval=max_eval)
        res.update(split=split, data_revision=data.revision)
        results[name] = res
        line = ", ".join(f"k={k}: {res['shots'][str(k)]['accuracy']['mean']:.3f}"
                         + (f"±{res['shots'][str(k)]['accuracy']['std']:.3f}" if k else "") for k in ks)
        click.echo(f"{upstream} · {name} ({res['n_eval']} examples, majority {res['chance']['majority']:.3f}): {line}")
    params = {"tasks": sorted(loaded), "shots": ks, "draws": draws, "max_eval": max_eval, "labels": names,
              "instruction": instruction, "template": fmt.template, "seed": seed}
    save_record(output, _record("in-context", model, params, {"tasks": results}, t0, device))


@hookimpl
def register_commands(cli: click.Group) -> None:
    analyze = group(cli, "analyze")
    for command in (similarity_cmd, alignment_cmd, language_shift_cmd, in_context_cmd):
        analyze.add_command(command)
