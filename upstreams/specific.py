"""`specific`: the task-specific baseline of the cross-discipline suite, registered by upstreams.text.

Its configuration and factory are torch-free (listing upstreams must not import torch); the model itself is
upstreams.symbol_cnn.SymbolCNN, imported when a job builds one.
"""

from __future__ import annotations

from typing import Any

from upstreams.cnn_config import VOCAB_SLOTS, CNNConfig

__all__ = ["VOCAB_SLOTS", "CNNConfig", "SpecificFactory"]


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
        from benchmark.plugin.specs import VARIANT_SEED
        from upstreams.symbol_cnn import SymbolCNN

        return SymbolCNN(CNNConfig.parse(arg), name=name, seed=VARIANT_SEED)
