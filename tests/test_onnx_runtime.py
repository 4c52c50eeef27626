"""Frozen text encoders on ONNX Runtime (upstreams/onnx_runtime.py): the same hidden states as PyTorch within
float32 noise, only where it is the same model (inference, CPU, unchanged weights), PyTorch everywhere else."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import pytest
import torch

from benchmark.plugin.specs import build_upstream, parse_upstream
from upstreams import onnx_runtime

TEXTS = ["a short one", "the old man painted the red door with a brush he had found", "yes", "no way, not today"]
PAIRS = [("is it raining?", "it rained all day"), ("who won", "nobody won the game, it was a draw")]


@pytest.fixture
def bert(tiny_bert_dir: Path, registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BENCH_RUNTIME", raising=False)
    return build_upstream(parse_upstream(f"bert:{tiny_bert_dir}"), registry)


def _torch(up, inputs):
    """The PyTorch path's output (BENCH_RUNTIME=torch), leaving the upstream's twin as it was."""
    twin, up._onnx = up._onnx, None
    with pytest.MonkeyPatch.context() as mp, torch.inference_mode():
        mp.setenv("BENCH_RUNTIME", "torch")
        out = up(inputs)
    up._onnx = twin
    return out


def _close(a, b, tol: float = 1e-5) -> bool:
    """Same shapes, and every hidden state within tol of the largest |value| (0.0: identical)."""
    scale = max(float(x.abs().max()) for x in b.layers)
    return all(x.shape == y.shape for x, y in zip(a.layers, b.layers, strict=True)) and max(
        float((x - y).abs().max()) for x, y in zip(a.layers, b.layers, strict=True)) <= tol * scale


def test_hidden_states_equal_pytorch_for_sentences_and_pairs(bert, tmp_path: Path) -> None:
    for inputs in (TEXTS, PAIRS):
        with torch.inference_mode():
            ort = bert(inputs)
        assert bert._onnx is not None and bert._onnx.session is not None and bert._onnx.checked
        ref = _torch(bert, inputs)
        assert len(ort.layers) == 3 and _close(ort, ref)
        assert torch.equal(ort.mask, ref.mask) and torch.equal(ort.offsets, ref.offsets)
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 1  # one graph; pairs add no input name


def test_a_second_upstream_loads_the_exported_graph(bert, tiny_bert_dir: Path, registry, monkeypatch) -> None:
    with torch.inference_mode():
        first = bert(TEXTS)
    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: pytest.fail("exported twice"))
    again = build_upstream(parse_upstream(f"bert:{tiny_bert_dir}"), registry)
    with torch.inference_mode():
        second = again(TEXTS)
    assert again._onnx.session is not None and _close(second, first, 0.0)


def test_pytorch_runs_under_autograd_after_a_weight_change_and_when_turned_off(bert, monkeypatch) -> None:
    bert(TEXTS)  # autograd on (fine-tuning): no graph is made
    assert bert._onnx is None or bert._onnx.session is None
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        bert(TEXTS)  # --dtype bfloat16: PyTorch's bfloat16 arithmetic, not a float32 graph
    assert bert._onnx.session is None
    with torch.inference_mode():
        bert(TEXTS)
    assert bert._onnx.session is not None
    with torch.no_grad():
        next(bert.model.parameters()).add_(0.5)  # an optimizer step changes the weights in place
    with torch.inference_mode():
        changed = bert(TEXTS)
    assert not bert._onnx.usable and _close(changed, _torch(bert, TEXTS), 0.0)
    fresh = onnx_runtime.OnnxEncoder(bert.model, bert.fingerprint, bert._onnx.names)
    assert fresh._path() != bert._onnx.path  # a twin of the changed weights never loads the old graph
    monkeypatch.setenv("BENCH_RUNTIME", "torch")
    bert._onnx = None
    with torch.inference_mode():
        bert(TEXTS)
    assert bert._onnx is None


def test_a_graph_that_disagrees_or_fails_is_never_used(bert, monkeypatch, caplog) -> None:
    caplog.clear()
    monkeypatch.setattr(onnx_runtime, "TOLERANCE", -1.0)  # any difference at all counts as disagreeing
    with caplog.at_level(logging.WARNING), torch.inference_mode():
        out = bert(TEXTS)
    assert not bert._onnx.usable and "runs on PyTorch" in caplog.text
    assert _close(out, _torch(bert, TEXTS), 0.0)

    def broken(*a, **k):
        raise RuntimeError("Unsupported: ONNX export of operator foo")

    monkeypatch.setattr(torch.onnx, "export", broken)
    monkeypatch.setattr(onnx_runtime, "TOLERANCE", 1e-3)
    for graph in onnx_runtime.cache_root().glob("*.onnx"):
        graph.unlink()  # export runs again, and fails
    bert._onnx = None
    with caplog.at_level(logging.INFO), torch.inference_mode():
        out = bert(TEXTS)
    assert not bert._onnx.usable and "ONNX Runtime could not take it (RuntimeError: Unsupported" in caplog.text


def test_a_copy_builds_its_own_session(bert) -> None:
    with torch.inference_mode():
        first = bert(TEXTS)
    twin = copy.deepcopy(bert)  # (the upstream itself does not pickle: transformers' hooks are local functions)
    assert twin._onnx.session is None and bert._onnx.session is not None
    with torch.inference_mode():
        assert _close(twin(TEXTS), first, 0.0)
    assert twin._onnx.session is not None and twin._onnx.session is not bert._onnx.session
