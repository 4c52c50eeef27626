"""A plugin for fault tests, loaded by name: BENCH_PLUGINS=bench_testplugin (with tests/ on PYTHONPATH).

Upstreams: `char` (fast and deterministic; BENCH_TEST_DELAY=seconds slows each forward pass, for interruption
tests), `nan-char` (every feature NaN), `short-char` (returns one layer too few: breaks the upstream contract),
`explodes` (its factory raises) and `spell` (three frames per character, with a trainable projection: CTC tests).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch
from fakes import CharUpstream, TrainableSpelling

from benchmark.hookspecs import hookimpl
from benchmark.types import HiddenStates


class _Slow(CharUpstream):
    def forward(self, inputs: Any) -> HiddenStates:
        delay = float(os.environ.get("BENCH_TEST_DELAY", "0") or 0)
        if delay:
            time.sleep(delay)
        return super().forward(inputs)


class _NaN(CharUpstream):
    def forward(self, inputs: Any) -> HiddenStates:
        h = super().forward(inputs)
        return HiddenStates(tuple(torch.full_like(x, float("nan")) for x in h.layers), h.mask)


class _Short(CharUpstream):
    def forward(self, inputs: Any) -> HiddenStates:
        h = super().forward(inputs)
        return HiddenStates(h.layers[:-1], h.mask)


def _factory(cls: type) -> Any:
    def build(arg: str | None, *, name: str, trust_remote_code: bool = False) -> Any:
        calls = os.environ.get("BENCH_TEST_CALLS")  # a file counting the inputs of every forward pass (cache tests)
        up = cls(calls=Path(calls)) if calls else cls()
        up.name = name
        up.fingerprint = f"{cls.__name__}:{up.fingerprint}"  # their features differ: never share cache entries
        return up

    return build


def _explodes(arg: str | None, *, name: str, trust_remote_code: bool = False) -> Any:
    raise RuntimeError("weights server on fire")


@hookimpl
def register_upstreams(register: Any) -> None:
    register("char", _factory(_Slow), description="test: characters as random vectors")
    register("nan-char", _factory(_NaN), description="test: NaN features")
    register("short-char", _factory(_Short), description="test: one layer too few")
    register("explodes", _explodes, description="test: the factory raises")
    register("spell", _factory(TrainableSpelling), description="test: spelled-out characters as frames")
