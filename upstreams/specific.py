"""`specific`: the task-specific baseline of the cross-discipline suite, registered by upstreams.text.

Its configuration and factory are torch-free (listing upstreams must not import torch); the model itself is
upstreams.symbol_cnn.SymbolCNN, imported when a job builds one.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

from benchmark.errors import BenchError

VOCAB_SLOTS = 4096
"""Placeholder words `s0` .. `s4095` that a symbol task's alphabet is mapped onto."""


@dataclass(frozen=True)
class CNNConfig:
    dim: int = 128
    layers: int = 4
    kernel: int = 5
    dropout: float = 0.1

    @classmethod
    def parse(cls, arg: str | None) -> CNNConfig:
        """`dim=256,layers=6,kernel=3,dropout=0.2` (any subset); None -> the defaults."""
        if not arg:
            return cls()
        values: dict[str, Any] = {}
        for part in arg.split(","):
            key, sep, raw = part.partition("=")
            key = key.strip()
            if not sep or key not in cls.__dataclass_fields__:
                raise BenchError(f"specific:{arg}: expected KEY=VALUE pairs with keys dim, layers, kernel, dropout "
                                 "(e.g. specific:dim=256,layers=6)")
            try:
                values[key] = float(raw) if key == "dropout" else int(raw)
            except ValueError:
                raise BenchError(f"specific:{arg}: {key} must be a number, not {raw!r}") from None
        cfg = cls(**values)
        if cfg.dim < 1 or cfg.layers < 1 or cfg.kernel < 1 or cfg.kernel % 2 == 0 or not 0 <= cfg.dropout < 1:
            raise BenchError(f"specific:{arg}: dim and layers >= 1, kernel an odd number, dropout in [0, 1)")
        return cfg

    def fingerprint(self) -> str:
        body = ",".join(f"{k}={v}" for k, v in asdict(self).items())
        return f"specific:cnn-v1:{hashlib.sha256(body.encode()).hexdigest()[:12]}"


class SpecificFactory:
    """Builds `specific` (`specific:dim=256,layers=6` for another size); needs no file and no network."""

    hparams = {"finetune": {"lr": 1e-3, "head_lr": 1e-3, "epochs": 20}}
    """Its own fine-tuning defaults: trained from scratch it needs a larger learning rate and more epochs than a
    pretrained encoder (the runner applies them over a task's, under the user's explicit values)."""

    def missing(self, arg: str | None) -> str | None:
        CNNConfig.parse(arg)
        return None

    def fingerprint(self, arg: str | None, scopes: tuple[str, ...], seed: int) -> str:
        return f"{CNNConfig.parse(arg).fingerprint()}@{seed}" + "".join(f"+{s}@{seed}" for s in scopes)

    def __call__(self, arg: str | None, *, name: str, trust_remote_code: bool = False) -> Any:
        from benchmark.specs import VARIANT_SEED
        from upstreams.symbol_cnn import SymbolCNN

        return SymbolCNN(CNNConfig.parse(arg), name=name, seed=VARIANT_SEED)
