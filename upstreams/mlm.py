"""`bench pretrain mlm`: a small BERT trained with masked language modelling on a multilingual corpus, offline.

The recipe of BERT (Devlin et al. 2019) scaled down to two CPU cores: a WordPiece vocabulary learned from the
training sentences themselves (lower-cased, accents kept: they tell German, Spanish and Italian words apart), a
4-layer encoder, 15 % of the tokens chosen for prediction (80 % [MASK], 10 % a random token, 10 % unchanged),
AdamW with linear warm-up and decay. Languages are mixed in every batch; the corpus has no parallel text, so any
cross-lingual alignment the model shows comes from the objective and the shared vocabulary alone (the question
of arXiv 2010.10938). Checkpoints are written along the way as Hugging Face model directories
(`OUT/step-000000/` = the random initialisation, `OUT/step-000500/` ...) for checkpoint curves (`bench run --upstream bert@OUT`), and the final model to `OUT`
itself (`bench run --upstream bert:OUT`). Each directory holds `bench_pretraining.json`: how it was made.
With `--data artificial:KIND` the model trains on artificial token ids instead (upstreams/artificial.py; Chiang &
Lee 2022) through the tokenizer the text would have given it, so it reads English downstream tasks the same way.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch

from benchmark.engine.results import write_text_atomic

if TYPE_CHECKING:
    from upstreams.artificial import ArtificialSpec

METADATA = "bench_pretraining.json"
CHECKPOINT_PREFIX = "step-"


@dataclass(frozen=True)
class MLMConfig:
    sentences: int | None = None
    """Training sentences in all (split evenly between languages, as far as each has them); None = all."""
    vocab_size: int = 8000
    hidden: int = 256
    layers: int = 4
    heads: int = 4
    max_tokens: int = 64
    steps: int = 2000
    batch_size: int = 64
    lr: float = 5e-4
    warmup: float = 0.05
    mask_rate: float = 0.15
    save_every: int = 500
    seed: int = 0
    bf16: bool = False
    """bfloat16 autocast (CPUs with AVX512-BF16 / AMX and GPUs train faster; the loss stays float32)."""
    languages: tuple[str, ...] = ("en", "de", "es", "it")


@dataclass
class Corpus:
    sentences: dict[str, list[str]]
    """Per language, the training sentences."""
    source: str
    held_out: dict[str, list[str]] = field(default_factory=dict)
    """Per language, sentences the model never trains on (analyses may read them)."""

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.sentences.items()}


def split_corpus(by_language: dict[str, Sequence[str]], total: int | None, held_out: int = 1000) -> Corpus:
    """The first `held_out` sentences of each language are kept out of training; of the rest, `total` sentences in
    all, as evenly split as the languages allow (a language with fewer gives its share to the others)."""
    pool = {k: list(v[held_out:]) for k, v in by_language.items()}
    want = sum(len(v) for v in pool.values()) if total is None else total
    take = {k: 0 for k in pool}
    left = want
    open_ = sorted(pool, key=lambda k: len(pool[k]))
    while open_ and left > 0:
        share = left // len(open_) or 1
        k = open_.pop(0)
        n = min(share, len(pool[k]) - take[k], left)
        take[k] += n
        left -= n
    return Corpus({k: pool[k][:take[k]] for k in pool}, source="",
                  held_out={k: list(v[:held_out]) for k, v in by_language.items()})


def train_tokenizer(sentences: Sequence[str], vocab_size: int) -> Any:
    """A lower-casing, accent-keeping WordPiece tokenizer learned from `sentences` (a BertTokenizerFast)."""
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertTokenizerFast

    wp = BertWordPieceTokenizer(lowercase=True, strip_accents=False, clean_text=True)
    wp.train_from_iterator(sentences, vocab_size=vocab_size, min_frequency=2, show_progress=False,
                           special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    # The trainer breaks frequency ties in hash order, so its ids differ from run to run (and, at the cut-off,
    # a few rare entries too). WordPiece matches by membership, not id: sorting (specials first) makes the ids a
    # function of the vocabulary, so runs that learn the same vocabulary get the same model inputs.
    from tokenizers.models import WordPiece

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    ordered = specials + sorted(set(wp.get_vocab()) - set(specials))
    wp._tokenizer.model = WordPiece({t: i for i, t in enumerate(ordered)}, unk_token="[UNK]")
    return BertTokenizerFast(tokenizer_object=wp._tokenizer, do_lower_case=True, strip_accents=False)


def mask_tokens(ids: torch.Tensor, special: torch.Tensor, vocab_size: int, mask_id: int, rate: float,
                gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's corruption: of the non-special positions, `rate` become targets; of those 80 % -> [MASK], 10 % ->
    a random token, 10 % unchanged. Returns (inputs, labels with -100 where nothing is predicted)."""
    chosen = (torch.rand(ids.shape, generator=gen) < rate) & ~special  # (batch, time)
    labels = ids.masked_fill(~chosen, -100)
    roll = torch.rand(ids.shape, generator=gen)
    inputs = ids.clone()
    inputs[chosen & (roll < 0.8)] = mask_id
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[swap] = torch.randint(vocab_size, ids.shape, generator=gen)[swap]
    return inputs, labels


class Batches(Protocol):
    def __len__(self) -> int: ...

    def next(self, n: int) -> list[list[int]]:
        """The next n training sequences as token ids, [CLS] and [SEP] included."""
        ...


class TextBatches:
    """The encoded sentences, each epoch in a new shuffled order (an epoch's tail joins the next one's head)."""

    def __init__(self, encoded: list[list[int]], seed: int) -> None:
        self.encoded = encoded
        self.order: list[int] = []
        self.rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self.encoded)

    def next(self, n: int) -> list[list[int]]:
        if len(self.order) < n:
            fresh = list(range(len(self.encoded)))
            self.rng.shuffle(fresh)
            self.order.extend(fresh)
        batch = [self.encoded[i] for i in self.order[:n]]
        del self.order[:n]
        return batch


class ArtificialBatches:
    """Artificial sequences streamed chunk by chunk (upstreams.artificial.stream), token type t -> id lo + t."""

    def __init__(self, spec: ArtificialSpec, lo: int, cls_id: int, sep_id: int, seed: int) -> None:
        from upstreams.artificial import stream

        self.spec, self.lo, self.cls_id, self.sep_id = spec, lo, cls_id, sep_id
        self.source = stream(spec, seed)

    def __len__(self) -> int:
        return self.spec.sequences

    def next(self, n: int) -> list[list[int]]:
        return [[self.cls_id, *(next(self.source) + self.lo).tolist(), self.sep_id] for _ in range(n)]


def resolve_artificial(spec: ArtificialSpec, tok: Any, seed: int) -> tuple[ArtificialSpec, int]:
    """The spec with its vocabulary resolved against the tokenizer, and the first id of its slice: the ids after
    the specials, which train_tokenizer puts first ([PAD] [UNK] [CLS] [SEP] [MASK] = 0..4), so the slice lo ..
    lo + V - 1 is the first V entries of the sorted vocabulary and holds no special token."""
    lo = max(tok.all_special_ids) + 1
    return spec.resolved(len(tok) - lo, seed), lo


def _lr_lambda(steps: int, warmup: float) -> Callable[[int], float]:
    ramp = max(1, int(steps * warmup))
    return lambda s: min((s + 1) / ramp, max(0.0, (steps - s) / max(1, steps - ramp)))


def _save(model: Any, tok: Any, folder: Path, meta: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder), safe_serialization=True)
    tok.save_pretrained(str(folder))
    write_text_atomic(folder / METADATA, json.dumps(meta, indent=1) + "\n")


def pretrain(corpus: Corpus, cfg: MLMConfig, out: Path, *, device: str = "cpu",
             progress: Callable[..., None] | None = None, artificial: ArtificialSpec | None = None,
             tokenizer: Any = None) -> dict[str, Any]:
    """Train and save; returns the final metadata (also in OUT/bench_pretraining.json). With `artificial`, the
    tokenizer is still learned from the corpus (the vocabulary a text run of the same options gets), but the
    model trains on the artificial token ids instead of the corpus (upstreams/artificial.py). `tokenizer`: one
    train_tokenizer already learned from the corpus with cfg.vocab_size (the CLI checks a spec against it first)."""
    from transformers import BertConfig, BertForMaskedLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # its "Writing model shards" bars would interleave with ours
    emit = progress or (lambda *a, **k: None)
    t0 = time.perf_counter()
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    train = [s for lang in sorted(corpus.sentences) for s in corpus.sentences[lang]]
    tok = tokenizer if tokenizer is not None else train_tokenizer(train, cfg.vocab_size)
    if artificial is None:
        encoded = tok(train, truncation=True, max_length=cfg.max_tokens, add_special_tokens=True)["input_ids"]
        batches: Batches = TextBatches(encoded, cfg.seed)
        data = {"name": corpus.source, "sentences": len(train), "per_language": corpus.sizes(),
                "tokens": sum(len(e) for e in encoded)}
    else:
        artificial, lo = resolve_artificial(artificial, tok, cfg.seed)
        batches = ArtificialBatches(artificial, lo, tok.cls_token_id, tok.sep_token_id, cfg.seed)
        data = {"name": artificial.canonical(), "kind": artificial.kind, "sentences": len(batches),
                "tokens": artificial.tokens, "token_ids": [lo, lo + int(artificial.vocab or 0) - 1],
                "tokenizer": f"WordPiece learned from {corpus.source} ({len(train)} sentences)"}
    config = BertConfig(vocab_size=len(tok), hidden_size=cfg.hidden, num_hidden_layers=cfg.layers,
                        num_attention_heads=cfg.heads, intermediate_size=4 * cfg.hidden,
                        max_position_embeddings=max(128, cfg.max_tokens), type_vocab_size=2)
    model = BertForMaskedLM(config).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg.steps, cfg.warmup))
    gen = torch.Generator().manual_seed(cfg.seed)
    special_ids = torch.tensor(sorted(set(tok.all_special_ids)))
    meta: dict[str, Any] = {
        "method": "mlm", "objective": "masked language modelling (BERT: 15 %, 80/10/10)",
        "data": data,
        "config": asdict(cfg) | {"languages": list(cfg.languages)},
        "architecture": {"layers": cfg.layers, "hidden": cfg.hidden, "heads": cfg.heads, "vocab": len(tok),
                         "parameters": sum(p.numel() for p in model.parameters())},
        "loss": "mlm", "curve_unit": "step", "batch_size": cfg.batch_size, "seed": cfg.seed,
        "loss_curve": [], "step_losses": [],
    }
    # Step 0, the random initialisation: the start of every checkpoint curve (what the architecture alone gives).
    _save(model, tok, out / f"{CHECKPOINT_PREFIX}{0:06d}", {**meta, "step": 0, "seconds": 0.0, "sentences_seen": 0,
                                                            "epochs": 0.0})
    window: list[float] = []
    model.train()
    for step in range(1, cfg.steps + 1):
        batch = batches.next(cfg.batch_size)
        width = max(len(b) for b in batch)
        ids = torch.full((len(batch), width), tok.pad_token_id, dtype=torch.long)
        for i, b in enumerate(batch):
            ids[i, :len(b)] = torch.tensor(b)
        attention = ids != tok.pad_token_id
        inputs, labels = mask_tokens(ids, torch.isin(ids, special_ids), len(tok), tok.mask_token_id, cfg.mask_rate,
                                     gen)
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=cfg.bf16):
            hidden = model.bert(input_ids=inputs.to(device), attention_mask=attention.to(device)).last_hidden_state
            chosen = labels != -100  # (batch, time)
            # Only the chosen positions go through the vocabulary projection: 15 % of the cost it would be.
            logits = model.cls(hidden[chosen.to(device)])  # (targets, vocab)
        loss = torch.nn.functional.cross_entropy(logits.float(), labels[chosen].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            from benchmark.errors import BenchError

            raise BenchError(f"pretraining diverged at step {step} (loss {value}); lower --lr")
        window.append(value)
        emit("step", step=step, steps=cfg.steps, loss=value)
        if step % cfg.save_every == 0 or step == cfg.steps:
            mean = sum(window) / len(window)
            window = []
            meta["loss_curve"].append(round(mean, 4))
            meta["step_losses"].append({"step": step, "loss": round(mean, 4)})
            meta.update(step=step, seconds=round(time.perf_counter() - t0, 1),
                        sentences_seen=step * cfg.batch_size, epochs=round(step * cfg.batch_size / len(batches), 2))
            emit("epoch", epoch=step, epochs=cfg.steps, loss=mean, unit="step")
            model.eval()
            _save(model, tok, out / f"{CHECKPOINT_PREFIX}{step:06d}", meta)
            model.train()
    model.eval()
    _save(model, tok, out, meta)
    return meta


def read_metadata(folder: Path) -> dict[str, Any] | None:
    """A bench-pretrained model directory's record of how it was made (None for other directories)."""
    path = Path(folder) / METADATA
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
