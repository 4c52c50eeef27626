"""The bad-input battery of `bench units` and of the spoken-fortune-qa task's unit options: each case runs the real
command in a fresh workspace (tests/reliability_workspace.py) and must end with one clear line on stderr, exit code
2, no traceback, and nothing that was there changed (a unit model file already written included)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from reliability_workspace import Workspace, make_workspace


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    message: str
    setup: Callable[[Workspace], None] | None = None


def _clip(ws: Workspace) -> None:
    (ws.root / "clips").mkdir()
    t = np.arange(4000) / 16_000
    sf.write(ws.root / "clips" / "a.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16_000)


def _model(ws: Workspace) -> None:
    from benchmark.features.units import UnitModel, UnitSpec

    UnitModel(np.eye(3, 39, dtype=np.float32), UnitSpec("mfcc", 0, 3), 100.0, "test", 3).save(ws.root / "u.npz")


def _empty(ws: Workspace) -> None:
    (ws.root / "empty").mkdir()


SPOKEN = """schema: 1
tasks:
  spoken-bad:
    description: a spoken fortune QA with a bad unit option
    version: 1
    modality: text
    head: unit-span-qa
    symbol_map: {unit: whitespace}
    metrics: [ff1, aos]
    score: [ff1, aos]
    evals: [test]
    sources:
      recipe:
        name: spoken-fortune-qa
        options: {OPTIONS}
        splits: {train: train, select: select, test: test}
"""


def _spoken(options: str) -> Callable[[Workspace], None]:
    def setup(ws: Workspace) -> None:
        (ws.root / "spoken.yaml").write_text(SPOKEN.replace("OPTIONS", options), encoding="utf-8")

    return setup


RUN_SPOKEN = ("run", "--upstream", "minilm", "--tasks-file", "{ws}/spoken.yaml", "--tasks", "spoken-bad", "--output",
              "{ws}/out")
CASES = [
    Case("fit-no-source", ("units", "fit", "-o", "{ws}/u2.npz"),
         "error: bench units fit: give --tasks TASKS or --audio FOLDER (one of them)"),
    Case("fit-audio-missing", ("units", "fit", "--audio", "{ws}/nope", "-o", "{ws}/u2.npz"),
         "error: --audio {ws}/nope: no such folder"),
    Case("fit-unknown-upstream", ("units", "fit", "--upstream", "nope", "--audio", "{ws}/clips", "-o", "{ws}/u2.npz"),
         "error: units: unknown upstream 'nope' (bench list upstreams)", _clip),
    Case("fit-text-upstream", ("units", "fit", "--upstream", "specific", "--audio", "{ws}/clips", "-o", "{ws}/u2.npz"),
         "error: units: upstream 'specific' is not a speech upstream; units are made from speech frames", _clip),
    Case("fit-layer-out-of-range", ("units", "fit", "--layer", "3", "--audio", "{ws}/clips", "-o", "{ws}/u2.npz"),
         "error: units: upstream 'mfcc_no_cmvn' has layers 0..0, not 3", _clip),
    Case("fit-too-few-frames", ("units", "fit", "--k", "64", "--audio", "{ws}/clips", "-o", "{ws}/u2.npz"),
         "error: units: 23 frames are too few for k = 64 units; give more audio or a smaller --k", _clip),
    Case("fit-output-folder-missing", ("units", "fit", "--audio", "{ws}/clips", "-o", "{ws}/nodir/u.npz"),
         "error: cannot create {ws}/nodir/u.npz: folder {ws}/nodir does not exist; create it first", _clip),
    Case("fit-text-task", ("units", "fit", "--tasks-file", "{ws}/tasks.yaml", "--tasks", "mini-sent", "-o",
                           "{ws}/u2.npz"),
         "error: task 'mini-sent' is a text task without audio; units are fitted on speech (a speech task, "
         "spoken-fortune-qa, or --audio FOLDER)"),
    Case("show-not-a-model", ("units", "show", "{ws}/tasks.yaml"),
         "error: unit model '{ws}/tasks.yaml' is not a unit model file (bench units fit writes them)"),
    Case("encode-missing-clip", ("units", "encode", "{ws}/u.npz", "{ws}/none.wav"),
         "error: {ws}/none.wav: no such audio file", _model),
    Case("task-unit-model-missing", RUN_SPOKEN,
         "error: unit model '{ws}/none.npz' does not exist; make one with bench units fit",
         _spoken("unit_model: '{ws}/none.npz'")),
    Case("task-unknown-units-option", RUN_SPOKEN,
         "error: spoken-fortune-qa: unknown units option 'kk' (upstream, layer, k, seed, max_frames)",
         _spoken("units: {kk: 3}")),
    Case("task-too-few-speakers", RUN_SPOKEN,
         "error: spoken-fortune-qa: option speakers must be a whole number >= 12, not 6",
         _spoken("speakers: 6")),
]


def _fill(text: str, ws: Workspace) -> str:
    return text.replace("{ws}", str(ws.root))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    _model(ws)  # a unit model already written: no failure may touch it
    if case.setup is not None:
        case.setup(ws)
        spoken = ws.root / "spoken.yaml"
        if spoken.is_file():
            spoken.write_text(_fill(spoken.read_text(encoding="utf-8"), ws), encoding="utf-8")
    before = ws.snapshot()
    # (a generous plugin-import limit: the workspace's test plugin must not time out on a busy machine and add a line)
    r = ws.bench(*[_fill(a, ws) for a in case.args], env={"BENCH_PLUGIN_IMPORT_TIMEOUT": "300"})
    assert "Traceback" not in r.stderr + r.stdout
    assert r.stderr.strip() == _fill(case.message, ws), r.stderr
    assert r.returncode == 2
    after = ws.snapshot()
    changed = sorted(k for k in before if before[k] != after.get(k))
    assert not changed, f"a failed command changed or removed files: {changed}"
    new = sorted(k for k in after.keys() - before.keys() if not k.startswith(("cache/", "out/.locks/")))
    assert not new, f"a failed command wrote {new}"
