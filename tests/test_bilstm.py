"""--fused-lstm: a head's BiLSTM run one direction at a time, unpacked (downstreams/bilstm.py). The same function
as the packed module to rounding, at every real position and in its gradients; zero at padding; opt-in and absent
from job ids while off (every published result keeps its id), and a run that uses it records it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from benchmark.engine.request import RunRequest
from benchmark.engine.results import job_id
from benchmark.engine.runner import _identity_hparams
from downstreams.bilstm import bidirectional
from downstreams.heads import sequence_module


def _packed(rnn: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, _ = rnn(packed)
    return nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]


@pytest.mark.parametrize(("layers", "in_dim", "hidden"), [(1, 24, 16), (2, 12, 8), (3, 5, 4)])
def test_the_unpacked_directions_are_the_packed_module_to_rounding(layers: int, in_dim: int, hidden: int) -> None:
    torch.manual_seed(layers)
    rnn = nn.LSTM(in_dim, hidden, num_layers=layers, bidirectional=True, batch_first=True)
    lengths = torch.tensor([9, 1, 4, 9, 6])
    x = torch.randn(5, 9, in_dim)
    x[torch.arange(9)[None, :] >= lengths[:, None]] = 1e3  # padding that would wreck any state it reached
    x.requires_grad_(True)
    ours, theirs = bidirectional(rnn, x, lengths), _packed(rnn, x, lengths)
    assert ours.shape == theirs.shape == (5, 9, 2 * hidden)
    assert torch.allclose(ours, theirs, atol=1e-6)
    assert not ours[1, 1:].any() and not ours[2, 4:].any()  # padding positions are 0, as pad_packed_sequence's
    weights = torch.randn_like(ours)
    grads = [torch.autograd.grad((out * weights).sum(), [*rnn.parameters(), x]) for out in (ours, theirs)]
    for a, b in zip(*grads, strict=True):
        assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()


def test_the_head_module_switches_without_new_parameters_or_random_draws() -> None:
    torch.manual_seed(0)
    head = sequence_module(6, 3, 8, 0.0, log_softmax=True, rnn_layers=2)
    before = {k: v.clone() for k, v in head.state_dict().items()}
    x, lengths = torch.randn(3, 7, 6), torch.tensor([7, 2, 5])
    plain = head(x, lengths)
    head.fused_lstm = True
    rng = torch.get_rng_state()
    fused = head(x, lengths)
    # the stand-in LSTMs live on the meta device: a fused forward draws no random numbers (batch order and
    # initialisation downstream stay the seed's) and the head keeps exactly its parameters
    assert torch.equal(torch.get_rng_state(), rng)
    after = head.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], v) for k, v in before.items())
    real = torch.arange(7)[None, :] < lengths[:, None]
    assert torch.allclose(plain[real], fused[real], atol=1e-6)
    assert torch.allclose(plain[~real], fused[~real], atol=1e-6)  # padding: the output layer's bias on 0, both ways


def test_the_switch_is_opt_in_and_keeps_every_earlier_job_id() -> None:
    for mode in ("frozen", "finetune"):
        plain = RunRequest.build(mode=mode).hparams.as_dict()
        on = RunRequest.build(mode=mode, hparams={"fused_lstm": True}).hparams.as_dict()
        assert "fused_lstm" not in plain and on == {**plain, "fused_lstm": True}
        ident = {"upstream": "fbank", "task": "synth-asr", "seed": 0, "result_schema": 1}
        assert job_id({**ident, "hparams": _identity_hparams({**plain, "fused_lstm": False})}) == \
            job_id({**ident, "hparams": _identity_hparams(plain)})
        assert job_id({**ident, "hparams": _identity_hparams(on)}) != job_id({**ident, "hparams": _identity_hparams(plain)})


def test_a_run_with_the_flag_records_it_and_trains_a_tagger(tmp_path: Path) -> None:
    """bench run --fused-lstm on a BiLSTM tagging head (minilm frozen on a few upos-movie-reviews sentences): the
    result says so, its job id is its own, and the head learns beyond the majority tag."""
    from reliability_workspace import make_workspace

    ws = make_workspace(tmp_path)
    common = ("run", "--upstream", "minilm", "--tasks", "upos-movie-reviews", "--max-train", "200", "--epochs", "4",
              "--hidden", "64", "-q")
    for name, extra in (("fused", ("--fused-lstm",)), ("packed", ())):
        r = ws.bench(*common, *extra, "--output", str(ws.root / name), timeout=900)
        assert r.returncode == 0, r.stderr
    fused, packed = (json.loads(next((ws.root / n).glob("upos-movie-reviews__*.json")).read_text())
                     for n in ("fused", "packed"))
    assert fused["hyperparameters"]["fused_lstm"] is True and "fused_lstm" not in packed["hyperparameters"]
    assert fused["job_id"] != packed["job_id"]
    assert fused["environment"]["command"].endswith("--fused-lstm --output " + str(ws.root / "fused"))
    # every word NOUN is 16.8 % (docs/tokens.md); both ways learn far beyond it, and land near each other
    assert fused["scores"]["token_accuracy"] > 60.0 and packed["scores"]["token_accuracy"] > 60.0
    assert abs(fused["scores"]["token_accuracy"] - packed["scores"]["token_accuracy"]) < 3.0
