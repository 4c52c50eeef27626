"""Offline tagging tasks from two small hand-annotated samples of real English text that ship with bench.

- `downstreams/data/upos-movie-reviews.conllu`: 260 movie-review snippets (4,707 words) with Universal POS tags,
  tokenized and tagged by the bench developers following the UD English EWT guidelines.
- `downstreams/data/ner-nyt-editorials.conll`: 360 New York Times editorial sentences (8,036 words, 564
  entities) with CoNLL-2003 named-entity tags (PER, ORG, LOC, MISC; IOB2), annotated the same way.

Both texts come from the VADER corpus (Hutto & Gilbert, ICWSM 2014; vaderSentiment 3.3.2 sdist, MIT); single
annotator, not adjudicated (each file's README gives the conventions and counts). Sentences are split 60 / 20 / 20
into train / dev / test by a hash of their VADER id. They are small: enough to show that a head learns far beyond
the majority tag, not a replacement for UD EWT or CoNLL-2003 (tasks ud-ewt-upos and conll2003-ner).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError
from benchmark.hookspecs import hookimpl
from benchmark.tasks.schema import LocalSource
from benchmark.tasks.token_data import read_conll, read_conllu
from benchmark.types import Examples

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLES = {  # name -> (file, format, ids file or None: CoNLL-U carries its sent_id)
    "upos-movie-reviews": ("upos-movie-reviews.conllu", "conllu", None),
    "ner-nyt-editorials": ("ner-nyt-editorials.conll", "conll", "ner-nyt-editorials.ids"),
}


def split_of(sentence_id: str) -> str:
    bucket = hashlib.sha256(sentence_id.encode()).digest()[0] % 10
    return "train" if bucket < 6 else "dev" if bucket < 8 else "test"


def _ids(name: str, n: int) -> list[str]:
    file, _, ids = SAMPLES[name]
    if ids is not None:
        out = (DATA / ids).read_text(encoding="utf-8").split()
    else:
        out = [line.split("=", 1)[1].strip() for line in (DATA / file).read_text(encoding="utf-8").splitlines()
               if line.startswith("# sent_id")]
    if len(out) != n:
        raise BenchError(f"{DATA / file}: {n} sentences but {len(out)} ids; the packaged sample is damaged")
    return out


class TagSampleLoader:
    """Dataset loader `tag-sample`: option `sample` (upos-movie-reviews or ner-nyt-editorials)."""

    def _name(self, options: dict[str, Any]) -> str:
        name = str(options.get("sample", ""))
        if name not in SAMPLES:
            raise BenchError(f"tag-sample: sample {name!r} is not one of {', '.join(SAMPLES)}")
        return name

    def revision(self, options: dict[str, Any]) -> str:
        name = self._name(options)
        digest = hashlib.sha256((DATA / SAMPLES[name][0]).read_bytes()).hexdigest()[:16]
        return f"bench-sample:{name}:{digest}"

    def __call__(self, *, task: Any, options: dict[str, Any], cache_dir: Path) -> dict[str, Examples]:
        name = self._name(options)
        file, fmt, _ = SAMPLES[name]
        path = DATA / file
        src = (LocalSource(format="conllu", dir=".", inputs=["form"], label="upos", splits={"train": file})
               if fmt == "conllu" else
               LocalSource(format="conll", dir=".", inputs=[0], label=-1, splits={"train": file}))
        reader = read_conllu if fmt == "conllu" else read_conll
        examples = reader(task, src, path, path.read_text(encoding="utf-8"))
        ids = _ids(name, len(examples))
        parts: dict[str, list[int]] = {"train": [], "dev": [], "test": []}
        for i, sid in enumerate(ids):
            parts[split_of(sid)].append(i)
        return {split: examples.subset(idx) for split, idx in parts.items()}


@hookimpl
def register_datasets(register: Any) -> None:
    register("tag-sample", TagSampleLoader(),
             description="hand-annotated UPOS and NER samples of real English text (VADER corpus) shipped with bench")
