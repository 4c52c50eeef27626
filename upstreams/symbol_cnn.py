"""`specific`: a small model trained from scratch on a task's own symbols, the "specific" row of Kao & Lee's table.

Kao & Lee (2021, arXiv:2103.07162) compare BERT fine-tuned on DNA, protein and music sequences with task-specific
models trained from scratch. This is bench's task-specific baseline: a residual stack of dilated 1-D convolutions
over learned symbol embeddings (dilations 1, 2, 4, 8: a receptive field of 61 symbols), randomly initialised.
It reads what a symbol task gives any text upstream, words joined by spaces: its vocabulary is VOCAB_SLOTS
placeholder words (`s0`, `s1`, ...) onto which the task's symbols are mapped one-to-one; any other word is hashed
into the same slots, so it also reads ordinary text (a bag of hashed words with local context).

Padding never leaks into real positions: padded positions are zeroed before every convolution, exactly the zeros
a shorter sequence sees alone, so an item alone equals the same item in a padded batch (the upstream contract).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from benchmark.types import HiddenStates, TextInput
from upstreams.cnn_config import VOCAB_SLOTS, CNNConfig

MAX_TOKENS = 512
_WORD = re.compile(r"\S+")


class _Block(nn.Module):
    def __init__(self, dim: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.conv = nn.Conv1d(dim, dim, kernel, padding=dilation * (kernel // 2), dilation=dilation)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        y = self.conv((self.norm(x) * keep).transpose(1, 2)).transpose(1, 2)  # (batch, time, dim)
        return (x + self.drop(F.gelu(y))) * keep


class SymbolCNN(nn.Module):
    """Embeddings and a residual dilated CNN; every block's output is a layer."""

    modality = "text"
    sample_rate = None

    def __init__(self, config: CNNConfig, *, name: str, seed: int) -> None:
        super().__init__()
        self.name, self.config = name, config
        self.embed = nn.Embedding(VOCAB_SLOTS + 2, config.dim, padding_idx=0)  # 0 = padding, the last = separator
        self.blocks = nn.ModuleList(_Block(config.dim, config.kernel, 2 ** (i % 4), config.dropout)
                                    for i in range(config.layers))
        self.num_layers, self.hidden_size = config.layers, config.dim
        self.n_parameters = sum(p.numel() for p in self.parameters())
        self.source = None
        self._base, self._variant, self._seed = config.fingerprint(), "", seed
        self._init(seed, "all")
        self.eval()

    @property
    def fingerprint(self) -> str:
        return f"{self._base}@{self._seed}{self._variant}"

    def _init(self, seed: int, scope: str) -> None:
        with torch.random.fork_rng(devices=[]):  # seeded without disturbing the caller's random stream
            torch.manual_seed(seed)
            nn.init.normal_(self.embed.weight, std=1.0)
            with torch.no_grad():
                self.embed.weight[0].zero_()
            if scope == "all":
                for block in self.blocks:
                    block.conv.reset_parameters()
                    block.norm.reset_parameters()

    def reinitialize(self, scope: Literal["all", "embeddings"], seed: int) -> None:
        """Already random; +rand / +re-emb draw the weights (or the embeddings) again with `seed`."""
        if scope not in ("all", "embeddings"):
            raise ValueError(f"unknown reinitialize scope {scope!r}")
        self._init(seed, scope)
        self._variant += f"+{scope}@{seed}"

    def single_token_words(self) -> list[str]:
        return [f"s{i}" for i in range(VOCAB_SLOTS)]

    @property
    def device(self) -> torch.device:
        return self.embed.weight.device

    @staticmethod
    def _ids(text: str) -> tuple[list[int], list[tuple[int, int]]]:
        ids, spans = [], []
        for m in _WORD.finditer(text):
            word = m.group()
            slot = int(word[1:]) if word[:1] == "s" and word[1:].isdigit() and int(word[1:]) < VOCAB_SLOTS else None
            ids.append(1 + (slot if slot is not None else zlib.crc32(word.encode()) % VOCAB_SLOTS))
            spans.append((m.start(), m.end()))
        return ids, spans

    def forward(self, inputs: Sequence[TextInput]) -> HiddenStates:
        if not inputs:
            raise ValueError("empty batch")
        rows, offsets, segments = [], [], []
        for item in inputs:
            parts = [str(p) for p in item] if isinstance(item, tuple | list) else [str(item)]
            ids, spans, segs = [], [], []
            for k, text in enumerate(parts):
                if k:  # a pair: a separator between the two texts
                    ids.append(VOCAB_SLOTS + 1)
                    spans.append((-1, -1))
                    segs.append(-1)
                i, s = self._ids(text)
                ids += i
                spans += s
                segs += [k] * len(i)
            rows.append(ids[:MAX_TOKENS] or [VOCAB_SLOTS + 1])  # an empty text reads as the separator alone
            offsets.append(spans[:MAX_TOKENS] or [(-1, -1)])
            segments.append(segs[:MAX_TOKENS] or [-1])
        width = max(len(r) for r in rows)
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        off = torch.full((len(rows), width, 2), -1, dtype=torch.long)
        seg = torch.full((len(rows), width), -1, dtype=torch.long)
        for b, (r, o, s) in enumerate(zip(rows, offsets, segments, strict=True)):
            ids[b, :len(r)] = torch.tensor(r)
            off[b, :len(o)] = torch.tensor(o)
            seg[b, :len(s)] = torch.tensor(s)
        ids = ids.to(self.device)
        mask = ids != 0  # (batch, time)
        keep = mask.unsqueeze(-1).float()
        x = self.embed(ids) * keep  # (batch, time, dim)
        layers = [x]
        for block in self.blocks:
            x = block(x, keep)
            layers.append(x)
        return HiddenStates(layers=tuple(layers), mask=mask, offsets=off, segments=seg)
