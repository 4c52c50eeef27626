"""The configuration of `specific`'s symbol CNN, torch-free: read by its factory (upstreams/specific.py) and by the
model (upstreams/symbol_cnn.py), so neither imports the other at module level."""

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
