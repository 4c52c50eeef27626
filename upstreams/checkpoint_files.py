"""Reading weight files without running code from them: `torch.load(weights_only=True)` or safetensors.

Shared by the upstreams that take a local checkpoint file (torchaudio speech models, ResNet image encoders).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from benchmark.errors import BenchError, out_of_memory
from upstreams.hf_text import _load_problem


def safe_load(path: Path) -> Any:
    """The object in a .pt / .pth / .ckpt (plain tensors and containers only) or .safetensors file; BenchError
    (one line) for anything else, including a pickle that would import and call code."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load and safetensors raise many types for a bad file
        if out_of_memory(err):
            raise
        text = str(err)
        if "GLOBAL" in text:  # the pickle names a class or function: unpickling it would import and call code
            raise BenchError(f"{_load_problem(err)}, or re-save only the tensors: "
                             "torch.save(model.state_dict(), PATH)") from None
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        # torch's weights-only unpickler puts the actual problem after its generic preamble
        detail = [ln for ln in lines if not ln.startswith(("Weights only load failed", "Please file", "Check the"))]
        first = (detail or lines or [""])[0]
        raise BenchError(f"not a PyTorch or safetensors state-dict file ({type(err).__name__}: {first})") from None


def flat_tensors(obj: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor in nested dicts, keyed by its dotted path ({'state_dict': {'a.b': t}} -> 'state_dict.a.b');
    other values (hyper-parameters, optimizer step counts) are skipped."""
    out: dict[str, torch.Tensor] = {}
    if isinstance(obj, dict):
        for key, value in obj.items():
            name = f"{prefix}{key}"
            if isinstance(value, torch.Tensor):
                out[name] = value
            elif isinstance(value, dict):
                out.update(flat_tensors(value, f"{name}."))
    return out
