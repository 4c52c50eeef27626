"""--group-by-length: fine-tuning batches formed as transformers' `group_by_length` forms them, opt-in, and
absent from job ids and results while off (every published result keeps its id and record)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from reliability_workspace import Workspace, make_workspace

import benchmark
from benchmark.engine.request import HParams, RunRequest, resolve_hparams
from benchmark.engine.results import job_id
from benchmark.engine.runner import _identity_hparams
from benchmark.errors import BenchError
from benchmark.features.extract import input_length
from benchmark.heads.training import length_grouped_batches
from benchmark.plugin.manager import get_plugins, reset_plugins
from benchmark.types import Result


def _batches(lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
    return [b.tolist() for b in length_grouped_batches(lengths, batch_size, torch.Generator().manual_seed(seed))]


@pytest.mark.parametrize(("n", "batch_size", "seed"), [(1000, 4, 0), (1000, 4, 7), (203, 16, 1), (37, 16, 2),
                                                        (5, 16, 3), (64, 16, 4)])
def test_the_order_is_transformers_own_for_the_same_generator(n: int, batch_size: int, seed: int) -> None:
    from transformers.trainer_pt_utils import get_length_grouped_indices

    lengths = [int(v) for v in torch.randint(1, 30, (n,), generator=torch.Generator().manual_seed(100 + seed))]
    theirs = get_length_grouped_indices(lengths, batch_size, generator=torch.Generator().manual_seed(seed))
    ours = _batches(lengths, batch_size, seed)
    assert [i for b in ours for i in b] == theirs  # ties (lengths 1..29 over 1000 items) included
    assert [len(b) for b in ours] == [min(batch_size, n - s) for s in range(0, n, batch_size)]


def test_every_index_once_megabatches_sorted_longest_first_deterministic() -> None:
    lengths = [(i * 37) % 101 for i in range(1000)]  # 0..100, each about ten times
    batches = _batches(lengths, 4, 0)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(1000))  # every index exactly once
    mega = 50 * 4  # min(1000 // (4 x 4), 50) batches of 4
    assert max(lengths[i] for i in batches[0]) == max(lengths) == lengths[flat[0]]  # the longest item leads
    for start in range(0, 1000, mega):
        part = [lengths[i] for i in flat[start:start + mega]][1:]  # (the head may be the swapped-in longest)
        assert part == sorted(part, reverse=True)
    # deterministic per seed, another seed another order, and each epoch (a second draw) a new order
    assert _batches(lengths, 4, 0) == batches and _batches(lengths, 4, 1) != batches
    gen = torch.Generator().manual_seed(0)
    first, second = (length_grouped_batches(lengths, 4, gen) for _ in range(2))
    assert [b.tolist() for b in first] == batches and [b.tolist() for b in second] != batches
    # a hand-worked case: 8 items at batch 2 -> megabatches of one batch (8 // (4 x 2) = 1), each sorted longest
    # first, then the longest item (index 4, length 8) swapped with the first batch's head
    lengths8 = [5, 1, 4, 2, 8, 3, 7, 6]
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(0)).tolist()
    expect = [sorted(perm[i:i + 2], key=lambda j: lengths8[j], reverse=True) for i in range(0, 8, 2)]
    k = next(m for m, b in enumerate(expect) if b[0] == 4)
    expect[0][0], expect[k][0] = expect[k][0], expect[0][0]
    assert _batches(lengths8, 2, 0) == expect and expect[0][0] == 4


def test_the_switch_is_absent_from_job_ids_and_records_while_off() -> None:
    off = RunRequest.build(mode="finetune", hparams={"group_by_length": None}).hparams.as_dict()
    plain = RunRequest.build(mode="finetune").hparams.as_dict()
    assert off == plain and "group_by_length" not in plain  # a result's `hyperparameters` as before
    on = RunRequest.build(mode="finetune", hparams={"group_by_length": True}).hparams.as_dict()
    assert on == {**plain, "group_by_length": True}
    assert HParams.from_dict({**plain, "group_by_length": False}).as_dict() == plain
    assert resolve_hparams("finetune", {"group_by_length": False}) == resolve_hparams("finetune", {})
    ident = {"upstream": "minilm", "task": "sst2", "seed": 0, "result_schema": 1}
    same = job_id({**ident, "hparams": _identity_hparams({**plain, "group_by_length": False})})
    assert same == job_id({**ident, "hparams": _identity_hparams(plain)})  # published ids unchanged
    assert job_id({**ident, "hparams": _identity_hparams(on)}) != same  # grouped jobs are other jobs


def test_the_switch_is_refused_in_frozen_mode_and_must_be_a_bool() -> None:
    with pytest.raises(BenchError, match=r"^--group-by-length applies to --mode finetune .* add --mode finetune$"):
        RunRequest.build(mode="frozen", hparams={"group_by_length": True})
    with pytest.raises(BenchError, match="--group-by-length is a switch"):
        resolve_hparams("finetune", {"group_by_length": "yes"})


# Recorded with the code before this switch existed (commit 6b00d62): the char upstream fine-tuned on the reliability
# workspace's mini-sent (48 train rows, batch 4, 2 epochs, seed 0). The default path must reproduce it bit for bit.
BEFORE_STEP_LOSSES = [0.825518, 0.811552, 0.688533, 1.009103, 0.765204, 0.861791, 0.674692, 0.73084, 0.816597, 0.609782, 0.758526, 0.812994, 0.683532, 0.947537, 0.559926, 0.731593, 0.774373, 0.713012, 0.603483, 0.467266, 1.104035, 1.036428]
BEFORE_CURVE = [{'epoch': 1, 'train_loss': 0.777467, 'dev_loss': 0.692471, 'select_score': 60.0}, {'epoch': 2, 'train_loss': 0.766743, 'dev_loss': 0.691594, 'select_score': 60.0}]
BEFORE_LAYER_WEIGHTS = [0.336629, 0.33183, 0.331541]


@pytest.fixture()
def char_plugin(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BENCH_PLUGINS", "bench_testplugin")
    reset_plugins()
    yield get_plugins()
    reset_plugins()


def _fine_tune(ws: Workspace, out: Path, **extra: object) -> Result:
    (res,) = benchmark.run("char", "mini-sent", [0], out, data_dir=ws.data, tasks_files=[ws.tasks],
                           cache_dir=ws.cache, mode="finetune", batch_size=4, epochs=2, **extra)
    return res


def test_fine_tuning_without_the_switch_is_what_it_was_and_with_it_trains_on_grouped_batches(
        char_plugin: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import downstreams.heads_pooled as pooled

    ws = make_workspace(tmp_path / "ws", n=48)
    plain = _fine_tune(ws, tmp_path / "plain")
    assert [p["train_loss"] for p in plain.selection["step_curve"]] == BEFORE_STEP_LOSSES
    assert plain.selection["curve"] == BEFORE_CURVE and plain.layer_weights == BEFORE_LAYER_WEIGHTS
    assert "group_by_length" not in plain.hyperparameters

    seen: list[list[list[int]]] = []
    real = pooled.length_grouped_batches

    def spy(lengths: list[int], batch_size: int, gen: torch.Generator) -> list[torch.Tensor]:
        out = real(lengths, batch_size, gen)
        seen.append([b.tolist() for b in out])
        assert batch_size == 4 and lengths == [input_length(t) for t in ws_train]  # char: no tokenizer
        return out

    monkeypatch.setattr(pooled, "length_grouped_batches", spy)
    ws_train: list[str] = []
    real_train = pooled.train_finetune

    def keep_inputs(task, registry, upstream, train, *a, **k):  # type: ignore[no-untyped-def]
        ws_train.extend(train.inputs)
        return real_train(task, registry, upstream, train, *a, **k)

    monkeypatch.setattr(pooled, "train_finetune", keep_inputs)
    grouped = _fine_tune(ws, tmp_path / "grouped", group_by_length=True)
    assert grouped.hyperparameters["group_by_length"] is True and grouped.job_id != plain.job_id
    n = len(ws_train)
    assert len(seen) == 2 and all(sorted(i for b in epoch for i in b) == list(range(n)) for epoch in seen)
    assert seen[0] != seen[1]  # a new order each epoch
    expect = length_grouped_batches([input_length(t) for t in ws_train], 4, torch.Generator().manual_seed(0))
    assert seen[0] == [b.tolist() for b in expect]  # drawn from the job's seed
    assert [p["train_loss"] for p in grouped.selection["step_curve"]] != BEFORE_STEP_LOSSES


def _stepped(start: list[torch.Tensor], hp: dict[str, Any], per_tensor: bool = False) -> list[torch.Tensor]:
    """The parameters after 4 AdamW steps of bench's fine-tune optimizer on seeded gradients (`start[-1]` is the
    head's); `per_tensor`: with torch's CPU default instead of foreach (what bench built before)."""
    from benchmark.heads.training import finetune_optimizer

    up = torch.nn.ParameterList([torch.nn.Parameter(t.clone()) for t in start[:-1]])
    head = [torch.nn.Parameter(start[-1].clone())]
    opt = finetune_optimizer(up, head, hp, 10)[0]  # (its schedule has already scaled the learning rates)
    fused = bool(hp.get("fused_optimizer"))
    assert all(g["fused"] is (True if fused else None) and bool(g["foreach"]) is not fused for g in opt.param_groups)
    for g in opt.param_groups if per_tensor else ():
        g["foreach"] = False
    gen = torch.Generator().manual_seed(1)
    for _ in range(4):
        for p in [*up, *head]:
            p.grad = torch.randn(p.shape, generator=gen) * 1e-2
        opt.step()
    return [p.detach().clone() for p in [*up, *head]]


def test_the_fine_tune_optimizer_steps_bit_for_bit_as_torchs_per_tensor_loop() -> None:
    torch.manual_seed(0)
    start = [torch.randn(s) for s in [(300, 24), (24, 24), (96, 24), (24,)]]
    hp = {"lr": 2e-5, "head_lr": 1e-3, "weight_decay": 0.01, "epochs": 1, "batch_size": 1}
    ours, before = _stepped(start, hp), _stepped(start, hp, per_tensor=True)
    assert all(torch.equal(a, b) for a, b in zip(ours, before, strict=True))
    assert not torch.equal(ours[0], start[0])  # it did step


def test_fused_optimizer_is_opt_in_recorded_only_when_on_and_steps_close_to_foreach() -> None:
    """--fused-optimizer (the Trainer's default kernel): a job id of its own only when on; refused in frozen mode;
    its steps agree with the default foreach AdamW to rounding, not to the bit (why it is not the default)."""
    plain = RunRequest.build(mode="finetune").hparams.as_dict()
    on = RunRequest.build(mode="finetune", hparams={"fused_optimizer": True}).hparams.as_dict()
    assert "fused_optimizer" not in plain and on == {**plain, "fused_optimizer": True}
    ident = {"upstream": "minilm", "task": "sst2", "seed": 0, "result_schema": 1}
    assert job_id({**ident, "hparams": _identity_hparams({**plain, "fused_optimizer": False})}) == \
        job_id({**ident, "hparams": _identity_hparams(plain)})
    with pytest.raises(BenchError, match=r"^--fused-optimizer applies to --mode finetune"):
        RunRequest.build(mode="frozen", hparams={"fused_optimizer": True})
    torch.manual_seed(0)
    start = [torch.randn(s) for s in [(300, 24), (24, 24), (24,)]]
    hp = {"lr": 2e-3, "head_lr": 1e-2, "weight_decay": 0.01, "epochs": 1, "batch_size": 1}
    fused, foreach = _stepped(start, {**hp, "fused_optimizer": True}), _stepped(start, hp)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(fused, foreach, strict=True))
