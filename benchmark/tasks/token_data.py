"""Data of token-level tasks: tagged sentences (CoNLL-U, CoNLL-2003 columns, Hub token lists) and extractive-QA
items (SQuAD JSON, Hub SQuAD-style rows).

A tagged sentence is its words joined by single spaces (a word's inner whitespace becomes `_`), with one tag name
per word. A QA item is a (question, context) pair with `{"answers": [text, ...], "starts": [char, ...]}`: every
gold answer and where it starts in the context (the first one is what training points at).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError
from benchmark.tasks.schema import LocalSource, TaskSpec
from benchmark.types import Examples

log = logging.getLogger(__name__)
TAG_FORMATS = ("conllu", "conll")
QA_FORMATS = ("squad-json",)


def _word(text: Any) -> str:
    return "_".join(str(text).split()) or "_"


def tagged(task: TaskSpec, words: list[str], tags: list[str], where: str) -> tuple[str, tuple[str, ...]]:
    """One sentence as (text, tags), every tag checked against the task's tag set."""
    assert task.labels is not None
    known = set(task.labels)
    bad = next((t for t in tags if t not in known), None)
    if bad is not None:
        raise BenchError(f"task '{task.name}': tag {bad!r} at {where} is not one of the task's labels "
                         f"({', '.join(task.labels)})")
    return " ".join(_word(w) for w in words), tuple(tags)


def _examples(rows: list[tuple[Any, Any]]) -> Examples:
    return Examples(tuple(r[0] for r in rows), tuple(r[1] for r in rows))


def read_conllu(task: TaskSpec, src: LocalSource, path: Path, text: str) -> Examples:
    """Universal Dependencies CoNLL-U (parsed by the `conllu` package): the syntactic words of each sentence and
    the field named by `label` (upos, xpos, deprel...); multiword-token ranges and empty nodes are skipped."""
    import conllu

    field = str(src.label)
    try:
        sentences = conllu.parse(text)
    except Exception as err:  # conllu raises ParseException and ValueError subclasses for malformed lines
        raise BenchError(f"{path}: not valid CoNLL-U ({type(err).__name__}: {str(err).splitlines()[0]})") from None
    rows = []
    for n, sent in enumerate(sentences, start=1):
        words = [tok for tok in sent if isinstance(tok["id"], int)]
        if not words:
            continue
        where = f"{path}: sentence {n} ({sent.metadata.get('sent_id', 'no sent_id')})"
        if field not in words[0]:
            raise BenchError(f"{path}: CoNLL-U tokens have no field '{field}' (fields: {', '.join(words[0])})")
        rows.append(tagged(task, [t["form"] for t in words], [str(t[field]) for t in words], where))
    return _examples(rows)


def iob2(tags: list[str]) -> list[str]:
    """IOB1 (the original CoNLL-2003 files: I-X opens an entity unless it follows another X) as IOB2 (every entity
    opens with B-X), the scheme of the Hub copies and of seqeval's strict mode; IOB2 input is left as it is."""
    out = []
    for k, tag in enumerate(tags):
        prev = out[k - 1] if k else "O"
        if tag.startswith("I-") and (prev == "O" or prev[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
    return out


def read_conll(task: TaskSpec, src: LocalSource, path: Path, text: str) -> Examples:
    """CoNLL-2003 columns: one token per line, whitespace-separated columns (word, POS, chunk, NER), a blank line
    between sentences, `-DOCSTART-` lines skipped. `inputs: [0]` is the word column and `label` the tag column
    (3, or -1 for the last). BIO tags are read as IOB2 (`iob2`)."""
    word_col, tag_col = int(src.inputs[0]), int(src.label)  # type: ignore[arg-type]
    rows, words, tags, first = [], [], [], 0

    def flush(lineno: int) -> None:
        if words:
            rows.append(tagged(task, list(words), iob2(list(tags)), f"{path}:{first}-{lineno}"))
        words.clear()
        tags.clear()

    for lineno, line in enumerate(text.splitlines(), start=1):
        cols = line.split()
        if not cols or cols[0] == "-DOCSTART-":
            flush(lineno)
            continue
        try:
            word, tag = cols[word_col], cols[tag_col]
        except IndexError:
            raise BenchError(f"{path}:{lineno}: expected columns {word_col} and {tag_col}, got {len(cols)} "
                             "columns") from None
        if not words:
            first = lineno
        words.append(word)
        tags.append(tag)
    flush(len(text.splitlines()))
    return _examples(rows)


def qa_target(context: str, answers: list[str], starts: list[int], where: str) -> dict[str, Any] | None:
    """Gold answers with their starts checked against the context (a start that does not point at its text is
    looked up in the context); None for a question without an answer (SQuAD 2.0 style, skipped)."""
    fixed_a, fixed_s = [], []
    for text, start in zip(answers, starts, strict=True):
        text = str(text)
        if context[int(start):int(start) + len(text)] != text:
            found = context.find(text)
            if found < 0:
                log.warning("%s: answer %r is not in its context; dropped", where, text)
                continue
            start = found
        fixed_a.append(text)
        fixed_s.append(int(start))
    return {"answers": fixed_a, "starts": fixed_s} if fixed_a else None


def read_squad(task: TaskSpec, src: LocalSource, path: Path, text: str) -> Examples:
    """SQuAD v1.1 JSON (also DRCD, CMRC 2018): data[].paragraphs[].{context, qas[].{question, answers[]}}."""
    try:
        doc = json.loads(text)
        articles = doc["data"]
    except (ValueError, RecursionError, KeyError, TypeError) as err:  # (ValueError: bad JSON, huge ints)
        raise BenchError(f"{path}: not SQuAD JSON ({type(err).__name__}: {err}); expected "
                         '{"data": [{"paragraphs": [{"context": ..., "qas": [...]}]}]}') from None
    rows, skipped = [], 0
    for a, article in enumerate(articles):
        for p, para in enumerate(article.get("paragraphs", [])):
            try:
                context = str(para["context"])
                for q in para["qas"]:
                    where = f"{path}: data[{a}].paragraphs[{p}] question {q.get('id', '?')}"
                    answers = q.get("answers") or []
                    target = qa_target(context, [x["text"] for x in answers], [x["answer_start"] for x in answers],
                                       where)
                    if target is None:
                        skipped += 1
                        continue
                    rows.append(((str(q["question"]), context), target))
            except (KeyError, TypeError) as err:
                raise BenchError(f"{path}: data[{a}].paragraphs[{p}]: missing field {err}") from None
    if skipped:
        log.warning("%s: %d questions without an answer skipped (SQuAD v1.1 style: every question has one)",
                    path, skipped)
    return _examples(rows)


READERS = {"conllu": read_conllu, "conll": read_conll, "squad-json": read_squad}


def hub_tagged(task: TaskSpec, split: Any, inputs: list[str], label: str, where: str) -> Examples:
    """A Hub split of a tagging task: token lists + ClassLabel tag ids (tags named through the dataset's features;
    UD's `_` rows, the surface forms of multiword tokens, are dropped)."""
    feature = split.features[label]
    names = getattr(getattr(feature, "feature", feature), "names", None)
    rows = []
    for n, (words, ids) in enumerate(zip(split[inputs[0]], split[label], strict=True)):
        tags = [names[i] if names is not None else str(i) for i in ids]
        keep = [k for k, t in enumerate(tags) if t != "_"]
        if keep:
            rows.append(tagged(task, [words[k] for k in keep], [tags[k] for k in keep], f"{where} row {n}"))
    return _examples(rows)


def hub_qa(task: TaskSpec, split: Any, inputs: list[str], label: str, where: str) -> Examples:
    """A Hub split of an extractive-QA task: SQuAD-style rows (question, context, answers {text, answer_start})."""
    question, context = inputs
    rows = []
    for n, (q, c, ans) in enumerate(zip(split[question], split[context], split[label], strict=True)):
        gold = qa_target(str(c), list(ans["text"]), list(ans["answer_start"]), f"{where} row {n}")
        if gold is not None:
            rows.append(((str(q), str(c)), gold))
    return _examples(rows)
