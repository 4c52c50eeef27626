"""Image upstreams plugin: `simclr` and `byol`, ResNet encoders (torchvision) with weights from a local checkpoint,
written `simclr:FILE` / `byol:FILE`; `simclr+rand` is the architecture `bench pretrain` trains by default
(ResNet-18, CIFAR stem, 8 px gray input: digits' own size) with random weights. Also adds `bench pretrain simclr|byol`.

The two names share one encoder; they differ in what they announce and record (the method), and in the
checkpoint layouts a user will bring (SimCLR: `encoder.` / `backbone.`; BYOL: `online_encoder.net.` beside a
target network). The model lives in upstreams/resnet_encoder.py, imported only when a job builds one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmark.hookspecs import hookimpl

METHODS = {"simclr": "SimCLR (Chen et al. 2020, arXiv:2002.05709)",
           "byol": "BYOL (Grill et al. 2020, arXiv:2006.07733)"}


class ResNetFactory:
    """Builds a ResNetUpstream from FILE; with +rand and no FILE, bench's default architecture."""

    def __init__(self, method: str) -> None:
        self.method = method

    def _how(self) -> str:
        return (f"write {self.method}:FILE with FILE a checkpoint (a torchvision ResNet state dict, or a "
                f"{self.method} training checkpoint; make one offline with: bench pretrain {self.method} --data digits "
                f"--out {self.method}.pt), or {self.method}+rand for random weights")

    def missing(self, arg: str | None, modifiers: tuple[str, ...] = ()) -> str | None:
        if arg is None:
            return None if "rand" in modifiers else f"a checkpoint file for '{self.method}' ({self._how()})"
        p = Path(arg).expanduser()
        if p.is_dir():
            return f"a checkpoint file for {self.method}: '{arg}' is a directory (pass the file itself)"
        if not p.is_file():
            return f"checkpoint file '{arg}' for {self.method} (not found; {self._how()})"
        return None

    def fingerprint(self, arg: str | None, scopes: tuple[str, ...], seed: int) -> str | None:
        if arg is not None:
            return None  # the architecture is read from the file: let the model say
        from upstreams.hf_text import variant_suffix

        spec = default_spec_json()
        return f"resnet:{json.dumps(spec, sort_keys=True)}:random" + "".join(variant_suffix(s, seed) for s in scopes)

    def __call__(self, arg: str | None, *, name: str, trust_remote_code: bool = False,
                 modifiers: tuple[str, ...] = ()) -> Any:
        from benchmark.errors import BenchError
        from upstreams.resnet_encoder import ResNetUpstream

        if arg is None and "rand" not in modifiers:
            raise BenchError(f"missing {self.missing(arg, modifiers)}")
        return ResNetUpstream(arg, name=name, method=self.method)


def default_spec_json() -> dict[str, Any]:
    """The default architecture's description, without importing torch (kept equal to ResNetSpec() by a test)."""
    return {"block": "basic", "layers": [2, 2, 2, 2], "groups": 1, "width_per_group": 64, "stem": "cifar",
            "channels": 1, "image_size": 8, "mean": [0.5], "std": [0.5]}


@hookimpl
def register_upstreams(register: Any) -> None:
    for method, paper in METHODS.items():
        register(method, ResNetFactory(method), modality="image",
                 description=f"{paper} ResNet from a checkpoint file: {method}:FILE (bench pretrain {method} makes "
                             f"one offline); {method}+rand needs no file")


@hookimpl
def register_commands(cli: Any) -> None:
    from upstreams.image_pretrain_cli import add_commands

    add_commands(cli)
