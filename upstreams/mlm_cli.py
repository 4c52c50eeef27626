"""`bench pretrain mlm`: a small multilingual BERT from the fortune corpora (or your text, or artificial data),
offline (upstreams/mlm.py, upstreams/artificial.py).

    bench pretrain mlm --out runs/mlm                     # en, de, es, it fortunes, every sentence
    bench pretrain mlm --sentences 5000 --out runs/mlm-5k  # a smaller corpus: the MRR-vs-corpus-size curve
    bench pretrain mlm --languages en --data 'artificial:paired?tokens=2000000' --out runs/paired
"""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from benchmark.clitools import group
from benchmark.errors import BenchError
from benchmark.paths import check_creatable

DEFAULTS = {"steps": 3000, "batch_size": 64, "lr": 1e-3, "hidden": 128, "layers": 4, "vocab": 8000,
            "save_every": 500}


@click.command(name="mlm", short_help="Masked language modelling: a small multilingual BERT, offline.")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the model (and its checkpoints OUT/step-NNNNNN/).")
@click.option("--languages", default="en,de,es,it", show_default=True,
              help="Languages mixed in the corpus (builtin text: Debian fortunes).")
@click.option("--corpus", "corpora", multiple=True, metavar="LANG=FILE",
              help="Your own text for a language, one sentence per line (replaces the builtin one).")
@click.option("--sentences", type=click.IntRange(min=100), default=None,
              help="Training sentences in all, split evenly between languages [all there are].")
@click.option("--data", default="text", show_default=True, metavar="text|artificial:KIND[?key=value&...]",
              help="What the model trains on: 'text' (the --languages corpora) or artificial token ids (Chiang & "
                   "Lee 2022) with KIND uniform, zipf, paired or consecutive and options tokens=N (2000000), "
                   "vocab=V (every non-special id), length=L (62), seed=S (--seed), exponent=A (zipf: 1), run=R "
                   "(consecutive: 4). The tokenizer is still learned from the --languages text.")
@click.option("--steps", type=click.IntRange(min=1), default=DEFAULTS["steps"], show_default=True)
@click.option("--batch-size", type=click.IntRange(min=2), default=DEFAULTS["batch_size"], show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=DEFAULTS["lr"], show_default=True,
              help="AdamW peak learning rate (linear warm-up over 5 % of the steps, linear decay).")
@click.option("--hidden", type=click.IntRange(min=8), default=DEFAULTS["hidden"], show_default=True)
@click.option("--layers", type=click.IntRange(min=1), default=DEFAULTS["layers"], show_default=True)
@click.option("--heads", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--vocab", type=click.IntRange(min=200), default=DEFAULTS["vocab"], show_default=True,
              help="WordPiece vocabulary size (learned from the training sentences).")
@click.option("--save-every", type=click.IntRange(min=1), default=DEFAULTS["save_every"], show_default=True,
              help="Write a checkpoint every N steps (for checkpoint curves: bench run --upstream bert@OUT).")
@click.option("--bf16", is_flag=True, help="bfloat16 autocast (faster on CPUs with AVX512-BF16 and on GPUs).")
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=0, show_default=True)
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="auto", show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def mlm_command(out: Path, languages: str, corpora: tuple[str, ...], sentences: int | None, data: str, steps: int,
                batch_size: int, lr: float, hidden: int, layers: int, heads: int, vocab: int, save_every: int,
                bf16: bool, seed: int, device: str, overwrite: bool) -> None:
    """BERT's masked language modelling (15 % of tokens; 80 % [MASK], 10 % random, 10 % kept) on sentences of
    several languages mixed, no parallel text. Writes a Hugging Face model directory that `bench run --upstream
    bert:OUT` and `bench analyze` read, with checkpoints along the way (`--upstream bert@OUT` evaluates them all).
    The first 1,000 sentences of each language are held out of training (the analyses read them)."""
    from upstreams.artificial import parse

    artificial = None if data == "text" else parse(data)  # a bad spec fails before anything is read or deleted
    if hidden % heads:
        raise BenchError(f"--hidden {hidden} is not a multiple of --heads {heads}")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise BenchError(f"--out '{out}' exists and is not empty; pass --overwrite to replace it, or choose "
                             "another folder")
        if not (out / "bench_pretraining.json").is_file():  # --overwrite deletes a run, never an arbitrary folder
            raise BenchError(f"--out '{out}' is not a folder bench pretrain mlm wrote (no bench_pretraining.json); "
                             "--overwrite replaces only those: choose another folder")
    check_creatable(out)
    langs = [x.strip() for x in languages.split(",") if x.strip()]
    if len(langs) != len(set(langs)) or not langs:
        raise BenchError(f"--languages '{languages}': give distinct language codes, e.g. en,de,es,it")
    files: dict[str, Path] = {}
    for item in corpora:
        key, sep, path = item.partition("=")
        if not sep or key not in langs:
            raise BenchError(f"--corpus '{item}': expected LANG=FILE with LANG one of --languages ({languages})")
        files[key] = Path(path).expanduser()
    from benchmark.clitools import PretrainProgress
    from benchmark.engine.execution import resolve_device
    from benchmark.engine.request import default_cache_dir
    from benchmark.plugin.manager import get_plugins
    from upstreams.mlm import MLMConfig, pretrain, resolve_artificial, split_corpus, train_tokenizer

    dev = resolve_device(device)
    # The text comes through the registry's `sentences` recipe (downstreams/analyses.py): a plugin does not import
    # another plugin's modules.
    loader = get_plugins().registry.datasets.get("sentences").obj
    options = {lang: {"file": str(files[lang])} if lang in files else {"language": lang} for lang in langs}
    texts = {lang: loader(task=None, options=options[lang], cache_dir=default_cache_dir())["train"].inputs
             for lang in langs}
    corpus = split_corpus(texts, sentences)
    if sum(corpus.sizes().values()) < 100:
        raise BenchError(f"only {sum(corpus.sizes().values())} training sentences after the 1,000 held out per "
                         "language; give more text (--corpus)")
    builtin = [lang for lang in langs if lang not in files]
    revisions = ", ".join(loader.revision(options[lang]) for lang in builtin)
    corpus.source = "; ".join(filter(None, [
        f"Debian fortunes ({revisions})" if builtin else "",
        *(f"{lang}: {files[lang]}" for lang in langs if lang in files)]))
    cfg = MLMConfig(sentences=sentences, vocab_size=vocab, hidden=hidden, layers=layers, heads=heads, steps=steps,
                    batch_size=batch_size, lr=lr, save_every=save_every, seed=seed, bf16=bf16,
                    languages=tuple(langs), max_tokens=artificial.length + 2 if artificial else 64)
    tokenizer = None
    n = sum(corpus.sizes().values())
    what = f"{n} sentences {corpus.sizes()}"
    if artificial is not None:  # learned and checked against the spec before --overwrite deletes anything
        tokenizer = train_tokenizer([s for lang in sorted(corpus.sentences) for s in corpus.sentences[lang]], vocab)
        artificial, _ = resolve_artificial(artificial, tokenizer, seed)
        n, what = artificial.sequences, f"{artificial.tokens} tokens of {artificial.canonical()}"
    if out.exists() and overwrite:
        shutil.rmtree(out)
    with PretrainProgress(f"mlm · {layers}x{hidden} · {n} {'sequences' if artificial else 'sentences'}") as progress:
        meta = pretrain(corpus, cfg, out, device=dev, progress=progress, artificial=artificial, tokenizer=tokenizer)
    curve = meta["loss_curve"]
    click.echo(f"wrote {out} (BERT {layers}x{hidden}, {meta['architecture']['parameters'] / 1e6:.1f}M params, "
               f"{steps} steps on {what}, loss {curve[0]:.3f} -> {curve[-1]:.3f}, {meta['seconds']:.0f} s)")
    click.echo(f"use it: bench analyze alignment --upstream bert:{out}   ·   bench run --upstream bert@{out} "
               "--tasks offline-tokens")


def add_commands(cli: click.Group) -> None:
    """`bench pretrain mlm` (called by upstreams.text's register_commands hook)."""
    group(cli, "pretrain").add_command(mlm_command)
