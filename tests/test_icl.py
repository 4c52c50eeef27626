"""In-context learning: the `gpt` causal-LM upstream's continuation scores, and the model-free protocol of
benchmark.analysis.icl checked with fake scorers whose every answer is known."""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from benchmark.analysis.icl import (
    PromptFormat,
    build_prompt,
    demonstration_indices,
    evaluate_in_context,
    label_names_for,
)
from benchmark.errors import BenchError
from benchmark.plugin.specs import build_upstream, parse_upstream
from benchmark.testing import check_upstream
from benchmark.types import Examples

WORDS = ("the a film is quiet triumph long sentence with punctuation numbers rarer words such as make batch need "
         "padding man playing guitar someone plays an instrument label input positive negative good bad acting "
         "review story plot music slow fast funny dull warm cold bright dark great awful").split()


@pytest.fixture(scope="module")
def gpt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-dim GPT-2 with a 400-token byte-level BPE trained here, saved like a Hub checkpoint. Its
    context window is 32 tokens, so left truncation is easy to reach."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    rng = random.Random(0)
    corpus = [" ".join(rng.choice(WORDS) for _ in range(12)) + "." for _ in range(60)]  # ~700 words
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=True)
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                        show_progress=False))
    out = tmp_path_factory.mktemp("tiny-gpt")
    PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                            unk_token="<|endoftext|>").save_pretrained(out)
    torch.manual_seed(1234)
    cfg = GPT2Config(vocab_size=bpe.get_vocab_size(), n_positions=32, n_embd=32, n_layer=2, n_head=2,
                     bos_token_id=0, eos_token_id=0)
    GPT2LMHeadModel(cfg).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def gpt(gpt_dir: Path):
    from benchmark.plugin.manager import get_plugins

    return build_upstream(parse_upstream(f"gpt:{gpt_dir}"), get_plugins().registry)


def _manual(upstream, context: str, continuation: str) -> float:
    """Sum of log P(continuation token | all before it), straight from the model's logits."""
    tok = upstream.tokenizer
    ctx = tok(context, add_special_tokens=False)["input_ids"]
    cont = tok(continuation, add_special_tokens=False)["input_ids"]
    ids = (ctx + cont)[-(upstream.max_length + 1):]
    with torch.no_grad():
        logits = upstream.model(torch.tensor([ids[:-1]])).logits[0]  # (time, vocab)
    logprobs = torch.log_softmax(logits, dim=-1)
    n = len(ids) - 1
    positions = torch.arange(n - len(cont), n)
    return float(logprobs[positions, torch.tensor(cont)].sum())


def test_gpt_upstream_is_registered_and_passes_the_contract(gpt, gpt_dir: Path) -> None:
    from benchmark.plugin.manager import get_plugins

    registry = get_plugins().registry
    assert registry.upstreams.get("gpt").plugin == "upstreams.causal"
    check_upstream(gpt).raise_for_failures()
    assert (gpt.num_layers, gpt.hidden_size, gpt.max_length) == (2, 32, 32)
    assert gpt.fingerprint.startswith("clm:dir:")  # never shares a cache entry with bert:DIR on the same files
    factory = registry.upstreams.get("gpt").obj
    assert factory.fingerprint(str(gpt_dir), (), 0) == gpt.fingerprint
    assert factory.fingerprint(str(gpt_dir), ("all",), 0) == gpt.fingerprint + "+all@0"
    with torch.inference_mode():
        h = gpt([("good film", "bad acting"), ("a", "b")])
    seg = h.segments[0][h.mask[0]].tolist()
    assert seg[0] == 0 and seg[-1] == 1 and sorted(set(seg)) == [0, 1]
    with torch.inference_mode():
        empty = gpt(["", "good film"])
    assert empty.mask[0].tolist().count(True) == 1 and empty.offsets[0, 0].tolist() == [-1, -1]  # eos alone
    last = h.offsets[0][h.mask[0]][-1].tolist()
    assert "bad acting"[slice(*last)].strip() in ("acting", "ing", "g")  # a char span inside the second string


def test_rand_variant_changes_the_weights(gpt, gpt_dir: Path) -> None:
    from benchmark.plugin.manager import get_plugins

    rand = build_upstream(parse_upstream(f"gpt:{gpt_dir}+rand"), get_plugins().registry)
    assert rand.fingerprint == gpt.fingerprint + "+all@0"
    w = "transformer.h.0.attn.c_attn.weight"
    assert not torch.equal(dict(rand.model.named_parameters())[w], dict(gpt.model.named_parameters())[w])


def test_continuation_logprobs_are_the_models_own_log_probabilities(gpt) -> None:
    contexts = ["the film is", "Input: a quiet triumph\nLabel:", "someone plays an instrument with"]
    continuations = [" good", " positive", " the guitar"]
    got = gpt.continuation_logprobs(contexts, continuations)
    want = [_manual(gpt, c, x) for c, x in zip(contexts, continuations)]
    assert got == pytest.approx(want, abs=1e-4)
    assert all(v < 0 for v in got)
    assert gpt.token_count(" the guitar") == len(gpt.tokenizer(" the guitar", add_special_tokens=False)["input_ids"])


def test_batched_scores_equal_scores_one_by_one(gpt) -> None:
    contexts = ["a", "the film is quiet", "long sentence with punctuation numbers and rarer words", "man", "b", "x y"]
    continuations = [" good", " bad acting", " dull", " playing a guitar fast", " a", " warm"]
    batched = gpt.continuation_logprobs(contexts, continuations, batch_size=8)
    alone = [gpt.continuation_logprobs([c], [x], batch_size=1)[0] for c, x in zip(contexts, continuations)]
    assert batched == pytest.approx(alone, abs=1e-4)
    assert gpt.continuation_logprobs(contexts, continuations, batch_size=4) == pytest.approx(alone, abs=1e-4)


def test_a_long_context_loses_tokens_from_the_left_and_keeps_the_continuation(gpt) -> None:
    long = " ".join(WORDS * 3)  # far over the 32-token window
    tok = gpt.tokenizer
    assert len(tok(long, add_special_tokens=False)["input_ids"]) > 3 * gpt.max_length
    got = gpt.continuation_logprobs([long, long], [" good", " playing a guitar"])
    want = [_manual(gpt, long, " good"), _manual(gpt, long, " playing a guitar")]
    assert got == pytest.approx(want, abs=1e-4)
    # The window reads the last 32 context tokens before a 1-token continuation: other text in front of them
    # changes nothing, one token fewer of them does.
    tail_ids = tok(long, add_special_tokens=False)["input_ids"][-32:]
    tail = tok.decode(tail_ids)
    assert tail.startswith(" ") and tok("zzz" + tail, add_special_tokens=False)["input_ids"][-32:] == tail_ids
    assert gpt.continuation_logprobs(["zzz" + tail], [" good"]) == pytest.approx(got[:1], abs=1e-4)
    shorter = gpt.continuation_logprobs([tok.decode(tail_ids[1:])], [" good"])
    assert shorter[0] != pytest.approx(got[0], abs=1e-4)
    with pytest.raises(BenchError, match="context window"):
        gpt.continuation_logprobs(["a"], [" " + long])


def test_in_context_scores_with_the_model_follow_its_argmax(gpt) -> None:
    train = Examples(("good film", "bad acting", "warm story", "dull plot"), (1, 0, 1, 0))
    evaluation = Examples(("great music", "awful review", "funny film"), (1, 0, 1))
    names = ["negative", "positive"]
    out = evaluate_in_context(gpt, train, evaluation, names, shots=(0, 1), draws=2, seed=3)
    assert out["continuation_tokens"] == [gpt.token_count(" negative"), gpt.token_count(" positive")]
    for k in ("0", "1"):
        for draw, chosen in enumerate(out["shots"][k]["demonstrations"]):
            demos = [(train.inputs[i], names[train.targets[i]]) for i in chosen]
            prompts = [build_prompt(PromptFormat(), demos, x) for x in evaluation.inputs]
            scores = [[gpt.continuation_logprobs([p], [" " + n])[0] for n in names] for p in prompts]
            predicted = [max(range(2), key=lambda c, s=s: s[c]) for s in scores]
            accuracy = sum(p == t for p, t in zip(predicted, evaluation.targets)) / 3
            assert out["shots"][k]["accuracy"]["per_draw"][draw] == pytest.approx(accuracy)
            if draw == 0:
                assert out["shots"][k]["example_prompt"] == prompts[0]


class QueryNamed:
    """Prefers the label whose name appears in the query (the text after the last separator)."""

    def __init__(self) -> None:
        self.calls = 0

    def continuation_logprobs(self, contexts, continuations, batch_size=8):
        self.calls += 1
        return [0.0 if x.strip() in c.split("\n\n")[-1].split() else -1.0 for c, x in zip(contexts, continuations)]

    def token_count(self, text: str) -> int:
        return len(text.split())


class LastDemo(QueryNamed):
    """Prefers the label of the last demonstration; with none, every label ties (the first one wins)."""

    def continuation_logprobs(self, contexts, continuations, batch_size=8):
        out = []
        for c, x in zip(contexts, continuations):
            shown = [b.rsplit("Label: ", 1)[1] for b in c.split("\n\n") if "Label: " in b]
            out.append(0.0 if shown and shown[-1] == x.strip() else -1.0)
        return out


TRAIN = Examples(tuple(f"example {i}" for i in range(10)), (0,) * 5 + (1,) * 5)
# Six queries name their own label, two name the other one.
QUERIES = Examples(("about cat", "cat here", "a cat", "dog", "the dog", "my dog", "cat", "dog"),
                   (0, 0, 0, 1, 1, 1, 1, 0))


def test_a_scorer_reading_the_query_scores_the_same_for_every_k() -> None:
    fmt = PromptFormat(instruction="Is it a cat or a dog?")
    out = evaluate_in_context(QueryNamed(), TRAIN, QUERIES, ["cat", "dog"], shots=(4, 0, 1), draws=3, seed=0,
                              fmt=fmt)
    assert list(out["shots"]) == ["0", "1", "4"]
    assert out["n_eval"] == 8 and out["chance"] == {"majority": 0.5, "uniform": 0.5}
    for k in (0, 1, 4):
        record = out["shots"][str(k)]
        n_draws = 1 if k == 0 else 3
        assert record["draws"] == n_draws and len(record["demonstrations"]) == n_draws
        # 3 of 4 right in each class: accuracy and both classes' F1 are 0.75.
        assert record["accuracy"] == {"per_draw": [0.75] * n_draws, "mean": 0.75, "std": 0.0}
        assert record["macro_f1"]["per_draw"] == pytest.approx([0.75] * n_draws)
        prompt = record["example_prompt"]
        assert prompt.startswith("Is it a cat or a dog?\n\n") and prompt.endswith("Input: about cat\nLabel:")
        assert prompt.count("\nLabel: ") == k and prompt.count("\n\n") == k + 1
        assert all(len(d) == k == len(set(d)) for d in record["demonstrations"])


def test_a_scorer_copying_the_last_demonstration_follows_the_draws() -> None:
    evaluation = Examples(("q1", "q2", "q3", "q4"), (0, 0, 0, 1))
    out = evaluate_in_context(LastDemo(), TRAIN, evaluation, ["cat", "dog"], shots=(0, 1, 4), draws=6, seed=0)
    assert out["shots"]["0"]["accuracy"]["per_draw"] == [0.75]  # all tie: "cat" for every query
    assert out["shots"]["0"]["demonstrations"] == [[]]
    for k in ("1", "4"):
        record = out["shots"][k]
        want = [0.75 if TRAIN.targets[d[-1]] == 0 else 0.25 for d in record["demonstrations"]]
        assert record["accuracy"]["per_draw"] == want
        assert set(want) == {0.25, 0.75}  # the draws differ
        assert record["accuracy"]["mean"] == pytest.approx(statistics.fmean(want))
        assert record["accuracy"]["std"] == pytest.approx(statistics.stdev(want))
    four = out["shots"]["4"]["demonstrations"]
    assert out["shots"]["1"]["demonstrations"] == [d[:1] for d in four]  # k = 1 shows the first of k = 4's
    assert four == [demonstration_indices(10, 4, 0, d) for d in range(6)]


def test_length_normalisation_is_log_probability_per_token() -> None:
    class Fixed(QueryNamed):
        def continuation_logprobs(self, contexts, continuations, batch_size=8):
            return [-1.5 if x == " no" else -2.0 for x in continuations]  # "yes please" is -1.0 per token

    evaluation = Examples(("a", "b"), (1, 1))
    out = evaluate_in_context(Fixed(), TRAIN, evaluation, ["no", "yes please"], shots=(0,), draws=1, seed=0)
    assert out["continuation_tokens"] == [1, 2]
    assert out["shots"]["0"]["accuracy"]["mean"] == 0.0 and out["shots"]["0"]["accuracy_norm"]["mean"] == 1.0
    assert out["shots"]["0"]["macro_f1_norm"]["mean"] == pytest.approx(0.5)  # class "no" never occurs: f1 0


def test_runs_are_deterministic_given_the_seed_and_max_eval_subsets() -> None:
    args = (TRAIN, QUERIES, ["cat", "dog"])
    one = evaluate_in_context(LastDemo(), *args, shots=(0, 2), draws=4, seed=7, max_eval=5)
    assert one == evaluate_in_context(LastDemo(), *args, shots=(0, 2), draws=4, seed=7, max_eval=5)
    other = evaluate_in_context(LastDemo(), *args, shots=(0, 2), draws=4, seed=8, max_eval=5)
    assert other["shots"]["2"]["demonstrations"] != one["shots"]["2"]["demonstrations"]
    assert one["n_eval"] == 5 and one["eval_indices"] == sorted(set(one["eval_indices"]))
    assert len(one["eval_indices"]) == 5 and max(one["eval_indices"]) < 8
    assert evaluate_in_context(LastDemo(), *args, shots=(0,), max_eval=50)["eval_indices"] is None
    seen = []
    evaluate_in_context(LastDemo(), *args, shots=(0, 1), draws=2, progress=lambda *a, **kw: seen.append(kw))
    assert [s["done"] for s in seen] == [8, 16, 24] and seen[-1]["total"] == 24


def test_prompts_fill_pairs_and_keep_braces_literal() -> None:
    fmt = PromptFormat(instruction="Same meaning? {x}", template="Q: {input}\nA:", separator="\n###\n")
    prompt = build_prompt(fmt, [(("a", "b"), "yes"), ("solo", "no")], ("c", "d"))
    assert prompt == "Same meaning? {x}\n###\nQ: a\nb\nA: yes\n###\nQ: solo\nA: no\n###\nQ: c\nd\nA:"
    assert build_prompt(PromptFormat(), [], "x") == "Input: x\nLabel:"


@pytest.mark.parametrize("kwargs, message", [
    ({"shots": (11,)}, "train split has only 10 examples"),
    ({"evaluation": Examples((), ())}, "evaluation split is empty"),
    ({"label_names": []}, "label names"),
    ({"evaluation": Examples(("a",), (0.5,))}, "classification tasks only"),
    ({"fmt": PromptFormat(template="Input:")}, "has no {input}"),
    ({"fmt": PromptFormat(template="Input: {input}\nLabel: ")}, "ends with whitespace"),
    ({"shots": (-1,)}, "whole numbers >= 0"),
])
def test_bad_requests_are_one_line_errors(kwargs, message) -> None:
    args = {"train": TRAIN, "evaluation": QUERIES, "label_names": ["cat", "dog"], **kwargs}
    with pytest.raises(BenchError, match=message.replace("{", r"\{").replace("}", r"\}")) as err:
        evaluate_in_context(QueryNamed(), args.pop("train"), args.pop("evaluation"), args.pop("label_names"), **args)
    assert "\n" not in str(err.value)


def test_label_names_come_from_the_task_or_the_user() -> None:
    sst2 = SimpleNamespace(name="sst2", labels=["0", "1"])
    assert label_names_for(sst2) == ["0", "1"]
    assert label_names_for(sst2, ["negative", "positive"]) == ["negative", "positive"]
    with pytest.raises(BenchError, match="2 classes"):
        label_names_for(sst2, ["bad", "ok", "good"])
    with pytest.raises(BenchError, match="not a classification task"):
        label_names_for(SimpleNamespace(name="stsb", labels=None))


def test_registering_gpt_imports_no_torch() -> None:
    code = ("import sys, upstreams.causal; "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "[]"
