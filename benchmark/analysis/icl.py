"""In-context learning: a language model classifies from a prompt of k labelled examples, with no gradient step.

The protocol of GPT-3 (Brown et al. 2020, section 2): a prompt holds an optional instruction, k demonstrations
("Input: ...\\nLabel: positive") and the query ("Input: ...\\nLabel:"); the model scores each label's name as
the continuation (" positive", " negative") and the most probable one is the prediction. k = 0 is zero-shot.
Nothing here knows a model: a scorer is anything with `continuation_logprobs` and `token_count`
(upstreams.causal_lm.CausalLMUpstream is one).

Demonstrations: each draw samples k training examples once and shows the same ones, in the same order, before
every query of that draw. GPT-3 draws fresh ones per query, which averages the choice away; fixing them per draw
makes each draw one concrete prompt a user could have written, so the spread of accuracy across draws measures
how much the choice and order of demonstrations matter (large for small models: Zhao et al. 2021, Lu et al.
2022), and the indices recorded per draw reproduce any of them. A draw's demonstrations are a prefix of one
seeded sequence of distinct train indices, so k = 1 sees the first of k = 4's examples, and asking for other
values of k never changes these.
"""

from __future__ import annotations

import logging
import numbers
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from benchmark.errors import BenchError
from benchmark.types import Examples, TextInput

log = logging.getLogger(__name__)

Progress = Callable[..., None]
PLACEHOLDER = "{input}"


def _noop(*_: Any, **__: Any) -> None:
    pass


class Scorer(Protocol):
    """What in-context learning needs from a model."""

    def continuation_logprobs(self, contexts: Sequence[str], continuations: Sequence[str],
                              batch_size: int = 8) -> list[float]: ...

    def token_count(self, text: str) -> int: ...


@dataclass(frozen=True)
class PromptFormat:
    """How a prompt is written. A demonstration is the template filled with its input plus " " + its label name;
    the query is the template alone, so the label name is what the model continues with."""

    instruction: str = ""
    """Text before the demonstrations (e.g. "Classify the sentiment of each review."); "" for none."""
    template: str = "Input: {input}\nLabel:"
    """Where `{input}` goes; a pair (a, b) fills it as "a\\nb". Filled by plain replacement, not str.format, so
    other braces are text and a template cannot reach Python attributes."""
    separator: str = "\n\n"
    """Between the instruction, the demonstrations and the query."""

    def check(self) -> None:
        if PLACEHOLDER not in self.template:
            raise BenchError(f"prompt template {self.template!r} has no {PLACEHOLDER} to put the example in")
        if self.template != self.template.rstrip():
            # The label continuation is " name": a template ending in a space would score "Label:  name", which
            # BPE tokenizers split unlike anything the model saw.
            raise BenchError(f"prompt template {self.template!r} ends with whitespace; remove it (each label is "
                             "scored as ' ' + its name)")

    def fill(self, example: TextInput) -> str:
        text = "\n".join(str(x) for x in example) if isinstance(example, tuple | list) else str(example)
        return self.template.replace(PLACEHOLDER, text)


def verbalizer(label_name: str) -> str:
    """The continuation a label is scored as."""
    return " " + label_name


def build_prompt(fmt: PromptFormat, demos: Sequence[tuple[TextInput, str]], query: TextInput) -> str:
    """The instruction, the (input, label name) demonstrations and the query, joined by the format's separator."""
    parts = [fmt.instruction] if fmt.instruction else []
    parts += [fmt.fill(x) + verbalizer(label) for x, label in demos]
    parts.append(fmt.fill(query))
    return fmt.separator.join(parts)


def demonstration_indices(n_train: int, k: int, seed: int, draw: int) -> list[int]:
    """k distinct train indices for one draw: the first k of a seeded sequence that depends only on (seed, draw)."""
    rng = random.Random(f"icl-demos:{seed}:{draw}")  # str seeds hash with SHA-512: stable across processes
    chosen: list[int] = []
    seen: set[int] = set()
    while len(chosen) < k:  # one index at a time (not rng.sample, whose sequence depends on k) for the prefix rule
        i = rng.randrange(n_train)
        if i not in seen:
            seen.add(i)
            chosen.append(i)
    return chosen


def _check(train: Examples, evaluation: Examples, label_names: Sequence[str], shots: Sequence[int],
           draws: int) -> None:
    if not label_names:
        raise BenchError("in-context learning needs a classification task with label names (one per class, used "
                         "as the words the model chooses between)")
    if len(set(label_names)) != len(label_names) or not all(str(n).strip() for n in label_names):
        raise BenchError(f"label names must be distinct and non-empty, not {list(label_names)}")
    if len(evaluation) == 0:
        raise BenchError("the evaluation split is empty; in-context learning has nothing to score")
    for split, data in (("train", train), ("evaluation", evaluation)):
        bad = next((t for t in data.targets if not isinstance(t, numbers.Integral) or isinstance(t, bool)
                    or not 0 <= int(t) < len(label_names)), None)
        if bad is not None:
            raise BenchError(f"{split} target {bad!r} is not a class index 0..{len(label_names) - 1}; in-context "
                             "learning takes classification tasks only")
    if not shots or any(not isinstance(k, int) or k < 0 for k in shots):
        raise BenchError(f"shots must be whole numbers >= 0, not {list(shots)}")
    if draws < 1:
        raise BenchError(f"draws must be at least 1, not {draws}")
    if max(shots) > len(train):
        raise BenchError(f"{max(shots)} demonstrations asked for, but the train split has only {len(train)} "
                         f"examples; ask for at most {len(train)} shots")


def label_names_for(task: Any, names: Sequence[str] | None = None) -> list[str]:
    """The label names a task's classes are scored as: `names` when given (one per class, in class order, e.g.
    ["negative", "positive"] for SST-2's "0" / "1"), else the task's own labels."""
    labels = getattr(task, "labels", None)
    if not labels:
        raise BenchError(f"task '{task.name}' is not a classification task (it has no labels); in-context learning "
                         "classifies")
    if names is None:
        return [str(n) for n in labels]
    if len(names) != len(labels):
        raise BenchError(f"task '{task.name}' has {len(labels)} classes ({', '.join(map(str, labels))}) but "
                         f"{len(names)} label names were given; give one per class, in that order")
    return [str(n) for n in names]


def _spread(values: list[float]) -> dict[str, Any]:
    """Per-draw values, their mean and sample standard deviation (0 for one draw)."""
    return {"per_draw": values, "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def _metrics(targets: list[int], predicted: list[int], n_labels: int) -> tuple[float, float]:
    from sklearn.metrics import f1_score

    accuracy = sum(p == t for p, t in zip(predicted, targets, strict=True)) / len(targets)
    f1 = f1_score(targets, predicted, labels=list(range(n_labels)), average="macro", zero_division=0)
    return accuracy, float(f1)


def _argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))  # ties go to the first label


def evaluate_in_context(scorer: Scorer, train: Examples, evaluation: Examples, label_names: Sequence[str], *,
                        shots: Sequence[int] = (0, 1, 4), draws: int = 5, seed: int = 0,
                        fmt: PromptFormat | None = None, max_eval: int | None = None, batch_size: int = 8,
                        progress: Progress = _noop) -> dict[str, Any]:
    """Accuracy and macro-F1 of in-context classification for each k in `shots`, over `draws` draws of
    demonstrations (one draw for k = 0, which has none), predicting by the summed log-probability of a label's
    tokens and, as `*_norm`, by its log-probability per token. Deterministic given `seed`.

    Returns a JSON-able dict: labels, continuations, continuation_tokens, format, seed, n_train, n_eval,
    eval_indices (the evaluation subset when max_eval cut it, else None), chance {majority, uniform}, and shots:
    {str(k): {k, draws, demonstrations (train indices per draw), accuracy, macro_f1, accuracy_norm, macro_f1_norm
    (each {per_draw, mean, std}), example_prompt (the first query's prompt in the first draw)}}.
    """
    fmt = fmt or PromptFormat()
    fmt.check()
    _check(train, evaluation, label_names, shots, draws)
    if max_eval is not None and max_eval < 1:
        raise BenchError(f"max_eval must be at least 1, not {max_eval}")
    names = [str(n) for n in label_names]
    n_labels = len(names)
    eval_indices: list[int] | None = None
    if max_eval is not None and len(evaluation) > max_eval:
        # One seeded subset, kept in file order and shared by every k and draw, so they are compared on the same
        # queries.
        eval_indices = sorted(random.Random(f"icl-eval:{seed}").sample(range(len(evaluation)), max_eval))
        evaluation = evaluation.subset(eval_indices)
    targets = [int(t) for t in evaluation.targets]
    continuations = [verbalizer(n) for n in names]
    # Context and continuation are tokenized apart, so a label is the same number of tokens in every prompt.
    lengths = [max(1, scorer.token_count(c)) for c in continuations]
    ks = sorted(set(shots))
    total = sum(len(evaluation) * (1 if k == 0 else draws) for k in ks)
    done = 0
    per_k: dict[str, Any] = {}
    for k in ks:
        runs: dict[str, list[float]] = {"accuracy": [], "macro_f1": [], "accuracy_norm": [], "macro_f1_norm": []}
        demo_sets: list[list[int]] = []
        example_prompt = ""
        for draw in range(1 if k == 0 else draws):
            chosen = demonstration_indices(len(train), k, seed, draw)
            demos = [(train.inputs[i], names[int(train.targets[i])]) for i in chosen]
            prompts = [build_prompt(fmt, demos, x) for x in evaluation.inputs]
            if draw == 0:
                example_prompt = prompts[0]
            scores = scorer.continuation_logprobs([p for p in prompts for _ in names], continuations * len(prompts),
                                                  batch_size=batch_size)
            rows = [scores[q * n_labels:(q + 1) * n_labels] for q in range(len(prompts))]  # (query, label)
            by_sum = [_argmax(r) for r in rows]
            by_token = [_argmax([s / n for s, n in zip(r, lengths, strict=True)]) for r in rows]
            for suffix, predicted in (("", by_sum), ("_norm", by_token)):
                accuracy, f1 = _metrics(targets, predicted, n_labels)
                runs["accuracy" + suffix].append(accuracy)
                runs["macro_f1" + suffix].append(f1)
            demo_sets.append(chosen)
            done += len(prompts)
            progress("in-context", done=done, total=total, label=f"{k}-shot draw {draw + 1}")
        per_k[str(k)] = {"k": k, "draws": len(demo_sets), "demonstrations": demo_sets,
                         **{name: _spread(values) for name, values in runs.items()}, "example_prompt": example_prompt}
        log.info("%d-shot: accuracy %.4f", k, per_k[str(k)]["accuracy"]["mean"])
    majority = max(targets.count(c) for c in range(n_labels)) / len(targets)
    return {"labels": names, "continuations": continuations, "continuation_tokens": lengths,
            "format": asdict(fmt), "seed": seed, "n_train": len(train), "n_eval": len(evaluation),
            "eval_indices": eval_indices, "chance": {"majority": majority, "uniform": 1 / n_labels}, "shots": per_k}
