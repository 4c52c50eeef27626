"""`nmsqa`: DUAL's own data (NMSQA: SQuAD passages and questions spoken by Amazon Polly voices, answers as time
spans), read from a local copy in its released layout (benchmark.tasks.nmsqa_layout) under --data-dir, and turned
into discrete units as spoken-fortune-qa is (downstreams.recipes.unit_qa): k-means over the training audio's
frames (or the `unit_model` file of `bench units fit`), each clip's deduplicated unit runs cached.

The recipe reads the data directory (`reads_data_dir`): an NMSQA item is two recordings (question, passage in
segments) and a time span that must become units before a text head reads them, which a corpus layout (one clip
and one label per example) cannot say. Splits: train and dev (NMSQA's dev set is the test set of DUAL's tables).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import BenchError
from benchmark.hookspecs import hookimpl
from benchmark.tasks.nmsqa_layout import LAYOUT, NmsqaSplit, decode, passage_audio
from benchmark.types import Examples
from downstreams.recipes import unit_qa
from downstreams.recipes.options import recipe_options

DEFAULTS: dict[str, Any] = {"dir": "NMSQA", "units": {"upstream": "mfcc_no_cmvn", "layer": 0, "k": 64, "seed": 0},
                            "unit_model": None, "max_questions": 0}
SPLITS = ("train", "dev")
DOC = "NMSQA's released layout (docs/spoken-qa.md)"
FIT_SECONDS_PER_FRAME = 1 / 50
"""Passages drawn (seeded) for fitting until their length gives max_frames at 50 frames a second or more."""


class NmsqaLoader:
    """The `nmsqa` dataset loader (register_datasets); reads --data-dir."""

    name, splits = "nmsqa", SPLITS
    reads_data_dir = True

    def options(self, options: dict[str, Any]) -> dict[str, Any]:
        o = recipe_options(self.name, options, DEFAULTS, {"max_questions": 0})
        if not isinstance(o["dir"], str) or not o["dir"] or o["dir"].startswith(("/", "..")):
            raise BenchError(f"nmsqa: option dir must be a folder inside --data-dir, not {o['dir']!r}")
        return {**o, "units": {**DEFAULTS["units"], **(options.get("units") or {})}}

    def where(self, o: dict[str, Any], split: str) -> str:
        return f"{o['dir']}#{split}"

    def missing(self, options: dict[str, Any], cache_dir: Path, data_dir: Path | None = None) -> str | None:
        o = self.options(options)
        unit_qa.units_key(self.name, o)  # a bad units option or unit_model file fails here, before a run plans
        folders = " and ".join(f"{o['dir']}/{s}/" for s in SPLITS)
        if data_dir is None:
            return f"pass --data-dir DIR holding {folders} in {DOC}"
        for split in SPLITS:
            lack = LAYOUT.missing(Path(data_dir), self.where(o, split))
            if lack is not None:
                return f"expected {lack} under {data_dir} in {DOC}"
        self.read(o, Path(data_dir))  # a malformed row or a missing audio file: one line now, not in a job
        return None

    def revision(self, options: dict[str, Any], data_dir: Path | None = None) -> str:
        o = self.options(options)
        stamp = "-".join(LAYOUT.stamp(Path(data_dir), self.where(o, s)) for s in SPLITS) if data_dir else "none"
        return f"nmsqa:{stamp}:q{o['max_questions']}:units-{unit_qa.units_key(self.name, o)}"

    def read(self, o: dict[str, Any], data_dir: Path) -> dict[str, NmsqaSplit]:
        out = {}
        for split in SPLITS:
            got = LAYOUT.read(Path(data_dir), self.where(o, split))
            if o["max_questions"]:
                qs = got.questions[: o["max_questions"]]
                got = NmsqaSplit(qs, {c: got.passages[c] for c in dict.fromkeys(q.context for q in qs)})
            out[split] = got
        return out

    def __call__(self, *, task: Any, options: dict[str, Any], cache_dir: Path,
                 data_dir: Path | None = None) -> dict[str, Examples]:
        o = self.options(options)
        if data_dir is None:
            raise BenchError(f"task '{task.name}' reads NMSQA: pass --data-dir DIR holding {o['dir']}/train/ and "
                             f"{o['dir']}/dev/ ({DOC})")
        splits = self.read(o, data_dir)
        tag = self.revision(options, data_dir).split(":")[1]
        folder = Path(cache_dir) / "units"
        model = unit_qa.unit_model(self.name, o, lambda: fitting_audio(splits["train"], o), folder,
                                   f"nmsqa-{tag}", f"nmsqa train audio ({tag})")
        clips = {s: (lambda s=s: clip_chunks(splits[s])) for s in SPLITS}
        runs = unit_qa.encoded(model, clips, folder / f"nmsqa-{tag}-q{o['max_questions']}-{model.digest()}.json")
        return {s: split_examples(splits[s], runs[s], model.frame_rate) for s in SPLITS}

    def audio(self, options: dict[str, Any], cache_dir: Path, split: str = "train",
              data_dir: Path | None = None) -> list[np.ndarray]:
        """A split's passages and questions (what `bench units fit --tasks nmsqa` clusters)."""
        o = self.options(options)
        if data_dir is None:
            raise BenchError(f"nmsqa: pass --data-dir DIR holding {o['dir']}/{split}/ ({DOC})")
        return [w for chunk in clip_chunks(self.read(o, data_dir)[split]) for w in chunk]


def clip_chunks(split: NmsqaSplit) -> Iterator[list[np.ndarray]]:
    """Every passage (in order of first question), then every question, decoded unit_qa.CHUNK at a time."""
    jobs = [lambda c=c: passage_audio(split.passages[c]) for c in split.passages]
    jobs += [lambda q=q: decode(q.audio) for q in split.questions]
    for at in range(0, len(jobs), unit_qa.CHUNK):
        yield [job() for job in jobs[at:at + unit_qa.CHUNK]]


def fitting_audio(split: NmsqaSplit, o: dict[str, Any]) -> list[np.ndarray]:
    """Passages drawn with the units' seed until they hold enough frames for max_frames (the rest is not read)."""
    from benchmark.features.units import MAX_FRAMES

    need = int(o["units"].get("max_frames", MAX_FRAMES)) * FIT_SECONDS_PER_FRAME
    order = sorted(split.passages)
    random.Random(int(o["units"].get("seed", 0))).shuffle(order)
    out, seconds = [], 0.0
    for c in order:
        out.append(passage_audio(split.passages[c]))
        seconds += sum(s.seconds for s in split.passages[c])
        if seconds >= need:
            break
    return out


def split_examples(split: NmsqaSplit, runs: list[list[list[int]]], rate: float) -> Examples:
    """Examples of one split from its runs, laid out as clip_chunks gives them (passages, then questions)."""
    index = {c: k for k, c in enumerate(split.passages)}
    n = len(split.passages)
    pairs = [(runs[index[q.context]], runs[n + k]) for k, q in enumerate(split.questions)]
    return unit_qa.examples(pairs, [list(q.spans) for q in split.questions], rate)


@hookimpl
def register_datasets(register: Any) -> None:
    register("nmsqa", NmsqaLoader(),
             description="NMSQA (DUAL's spoken SQuAD) from a local copy in its released layout (--data-dir), read "
                         "as discrete speech units; answers are time spans")
