"""Frozen text encoders on ONNX Runtime: the same float32 weights and arithmetic, about twice as fast on a CPU.

A frozen upstream's forward passes are most of a benchmark's time. PyTorch runs a BERT layer as a dozen eager
kernels; ONNX Runtime fuses attention, GELU and LayerNorm into a few and schedules them for the CPU. On the
project's 2-core machine all-MiniLM-L6-v2's hidden states come 2.1-2.4x faster, equal to PyTorch's within
3e-5 (float32 sums in another order), which is the same order as the padding-length differences bench already
accepts between cache entries (benchmark.features.reuse).

How it stays the same model:
- the graph is exported from the upstream's current weights (a `+rand` variant exports its random weights), with
  transformers' eager attention (a traced SDPA path can bake the padding in), and kept in the feature cache's
  folder under a key of the weights' fingerprint and the library versions, so a second run loads it;
- the first batch runs through both, and ONNX Runtime is used only if every hidden state agrees within 1e-3 of
  its scale; otherwise (and when export fails: a model type the exporter cannot trace) the upstream stays on
  PyTorch, with one log line;
- only for float32 inference on the CPU: under autograd (fine-tuning), under autocast (`--dtype bfloat16`), on a
  GPU, or once any weight changed in place
  (an optimizer step, load_state_dict) the PyTorch model runs; `BENCH_RUNTIME=torch` turns it off.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)
TOLERANCE = 1e-3
"""Largest allowed |ORT - torch| on the checking batch, relative to the largest |hidden state|."""


def wanted() -> bool:
    """ONNX Runtime unless BENCH_RUNTIME=torch, or its packages (onnx to export, onnxruntime to run) are absent."""
    if os.environ.get("BENCH_RUNTIME", "").strip().lower() == "torch":
        return False
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _versions() -> str:
    import onnx
    import onnxruntime
    import transformers

    return f"torch {torch.__version__} transformers {transformers.__version__} onnx {onnx.__version__} " \
           f"ort {onnxruntime.__version__}"


def cache_root() -> Path:
    from benchmark.engine.request import default_cache_dir

    return default_cache_dir() / "onnx"


class _Stacked(nn.Module):
    """The encoder with every layer's hidden states as one (layers, batch, time, dim) output, as ONNX needs."""

    def __init__(self, model: nn.Module, names: tuple[str, ...]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        out = self.model(**dict(zip(self.names, args, strict=True)), output_hidden_states=True, return_dict=True)
        return torch.stack(tuple(out.hidden_states), 0)


def _weights_version(model: nn.Module) -> tuple[int, ...]:
    """Bumped by every in-place change of a parameter (an optimizer step, load_state_dict, copy_)."""
    return tuple(p._version for p in model.parameters())


class OnnxEncoder:
    """The ONNX Runtime twin of an HF text encoder, or None-like (`usable` False) where it cannot be one."""

    def __init__(self, model: nn.Module, fingerprint: str, names: tuple[str, ...]) -> None:
        self.model, self.names = model, names
        self.fingerprint = fingerprint
        """The upstream's fingerprint when this twin was made: a reinitialised variant makes a new twin."""
        self.session: Any = None
        self.path: Path | None = None
        self.usable = True
        self.checked = False
        self._version: tuple[int, ...] = ()

    def __getstate__(self) -> dict[str, Any]:
        """A copy (deepcopy, pickling) builds its own session: an ONNX Runtime session cannot be copied."""
        return {**self.__dict__, "session": None, "checked": False}

    def applies(self) -> bool:
        """Whether this call may run on ONNX Runtime: inference on the CPU with the weights it was made from."""
        if not self.usable or torch.is_grad_enabled() or torch.is_autocast_enabled("cpu"):
            return False  # training, or a lower precision asked for (--dtype bfloat16): PyTorch's own arithmetic
        if next(self.model.parameters()).device.type != "cpu":
            return False
        if self.session is not None and _weights_version(self.model) != self._version:
            log.info("the upstream's weights changed in place: it runs on PyTorch from now on")
            self.usable = False
            return False
        return True

    def _path(self) -> Path:
        """The graph's file: keyed by the weights themselves, not the upstream's fingerprint, which an in-place
        change (fine-tuning) leaves as it was."""
        h = hashlib.sha256(f"{type(self.model).__name__}|{','.join(self.names)}|{_versions()}".encode())
        for name, tensor in self.model.state_dict().items():
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return cache_root() / f"{h.hexdigest()[:32]}.onnx"

    def _build(self, example: Mapping[str, torch.Tensor]) -> None:
        import onnxruntime as ort

        path = self.path = self._path()
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.onnx")
            config = self.model.config
            before = config._attn_implementation
            try:
                config._attn_implementation = "eager"  # traced SDPA can bake one batch's padding into the graph
                axes = {n: {0: "batch", 1: "time"} for n in self.names}
                # eval(): the exporter restores the wrapper's mode afterwards, recursively, into the encoder too
                wrapper = _Stacked(self.model, self.names).train(self.model.training)
                with warnings.catch_warnings():  # the tracer's notes are about code paths the check below covers
                    warnings.simplefilter("ignore")
                    torch.onnx.export(wrapper, tuple(example[n] for n in self.names), str(tmp),
                                      input_names=list(self.names), output_names=["hidden"], opset_version=17,
                                      dynamic_axes={**axes, "hidden": {1: "batch", 2: "time"}}, dynamo=False)
            finally:
                config._attn_implementation = before
            tmp.replace(path)  # atomic: a concurrent run sees the whole file or none
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle threads sleep instead of spinning: on a CPU shared with other work (data loading, a second run)
        # spinning workers take the cores the busy ones need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._version = _weights_version(self.model)

    def run(self, inputs: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, ...] | None:
        """Every layer's hidden states for one batch, or None: run it on PyTorch."""
        try:
            if self.session is None:
                self._build(inputs)
            out = self.session.run(None, {n: inputs[n].numpy() for n in self.names})[0]
        except Exception as err:  # the exporter and the runtime raise many types for a model they cannot take
            log.info("this upstream runs on PyTorch: ONNX Runtime could not take it (%s: %s)", type(err).__name__,
                     str(err).splitlines()[0][:200] if str(err) else "")
            self.usable = False
            return None
        hidden = tuple(torch.from_numpy(np.ascontiguousarray(h)) for h in out)
        if not self.checked:  # the first batch through both: a graph that disagrees is never used
            ref = self.model(**inputs, output_hidden_states=True, return_dict=True).hidden_states
            scale = max(float(r.abs().max()) for r in ref) or 1.0
            gap = max(float((h - r).abs().max()) for h, r in zip(hidden, ref, strict=True)) / scale
            if gap > TOLERANCE:
                log.warning("ONNX Runtime's hidden states differ from PyTorch's by %.2g of their scale on the first "
                            "batch; this upstream runs on PyTorch", gap)
                self.usable = False
                return tuple(ref)
            self.checked = True
        return hidden
