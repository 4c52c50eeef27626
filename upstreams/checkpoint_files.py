"""Weight files: reading them without running code from them (`torch.load(weights_only=True)` or safetensors),
and their content digest. Shared by the upstreams that take a local checkpoint file (torchaudio speech models,
ResNet image encoders). Free of torch at import: factories fingerprint files while `bench --help` stays light.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError, out_of_memory

_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """The sha256 of the whole file, remembered per (path, size, mtime) so that each job does not re-read it."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def safe_load(path: Path) -> Any:
    """The object in a .pt / .pth / .ckpt (plain tensors and containers only) or .safetensors file; BenchError
    (one line) for anything else, including a pickle that would import and call code."""
    import torch

    from upstreams.hf_text import _load_problem

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


def flat_tensors(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Every tensor in nested dicts, keyed by its dotted path ({'state_dict': {'a.b': t}} -> 'state_dict.a.b');
    other values (hyper-parameters, optimizer step counts) are skipped."""
    import torch

    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for key, value in obj.items():
            name = f"{prefix}{key}"
            if isinstance(value, torch.Tensor):
                out[name] = value
            elif isinstance(value, dict):
                out.update(flat_tensors(value, f"{name}."))
    return out
