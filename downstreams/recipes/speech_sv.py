"""Offline speaker verification (the `espeak-sv` recipe, task synth-sv): trials over voices never heard in
training, synthesised with eSpeak NG through downstreams/recipes/speech_synth.py (its speaker pool, `synthesize`
and `degrade`: reverberation, gain, coloured noise at 5-25 dB SNR). Deterministic from a seed.

Speakers are drawn once from speech_synth's pool and cut into three disjoint groups: `train_speakers` voices
for training (their names are the targets; `utterances` sentences each), `select_speakers` voices for model
selection and `test_speakers` voices for the test (`trial_utterances` sentences each). Every utterance is a
different sentence of a 1,000-sentence grammar ("the pilot opened a heavy box"), so no two utterances share
their words' order and a trial cannot be won by matching content.

Trials of a model-selection or test split: every same-speaker pair of its utterances (target trials:
speakers x C(trial_utterances, 2)) and as many different-speaker pairs, drawn without replacement from all of
them with a seeded generator (non-target trials), so the two kinds are balanced. With the defaults the test split
has 8 x 15 = 120 target and 120 non-target trials over 48 utterances, the select split 90 and 90 over 36. A
trial is carried by its first utterance (downstreams/heads_sv.py): an utterance is encoded once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.errors import BenchError
from benchmark.hookspecs import hookimpl
from benchmark.types import Examples
from downstreams.recipes.speech_synth import (
    OBJECTS,
    SUBJECTS,
    VERBS,
    Split,
    SynthRecipe,
    degrade,
    say,
    speakers,
)

RECIPE_VERSION = 1
DEFAULTS: dict[str, Any] = {"seed": 0, "train_speakers": 24, "select_speakers": 6, "test_speakers": 8,
                            "utterances": 8, "trial_utterances": 6}
SPLITS = ("train", "select", "test")


def sentences(seed: int) -> list[str]:
    """The grammar's 1,000 sentences (subject, verb, object) in a seeded order."""
    rng = np.random.default_rng([seed, 11])
    combos = [(a, b, c) for a in range(len(SUBJECTS)) for b in range(len(VERBS)) for c in range(len(OBJECTS))]
    return [f"{SUBJECTS[a]} {VERBS[b]} {OBJECTS[c]}" for a, b, c in (combos[i] for i in rng.permutation(len(combos)))]


def trials(speaker_of: list[int], seed: int, split: str) -> np.ndarray:
    """(trials, 3) rows (i, j, label), i < j: every same-speaker pair and as many different-speaker pairs drawn
    without replacement (seeded), sorted."""
    n = len(speaker_of)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    same = [(i, j, 1) for i, j in pairs if speaker_of[i] == speaker_of[j]]
    other = [(i, j, 0) for i, j in pairs if speaker_of[i] != speaker_of[j]]
    rng = np.random.default_rng([seed, 12, SPLITS.index(split)])
    drawn = [other[k] for k in rng.choice(len(other), size=min(len(same), len(other)), replace=False)]
    return np.array(sorted(same + drawn), dtype=np.int64).reshape(-1, 3)


def build(o: dict[str, Any]) -> dict[str, Any]:
    """Per split: waves, speaker names, and (select / test) the trial rows."""
    groups = {"train": o["train_speakers"], "select": o["select_speakers"], "test": o["test_speakers"]}
    per = {"train": o["utterances"], "select": o["trial_utterances"], "test": o["trial_utterances"]}
    voices = speakers(sum(groups.values()), o["seed"])
    texts = sentences(o["seed"])
    if sum(groups[s] * per[s] for s in SPLITS) > len(texts):
        raise BenchError(f"espeak-sv: speakers x utterances must be at most {len(texts)} (one sentence each)")
    out: dict[str, Any] = {}
    first, used = 0, 0
    for split in SPLITS:
        waves, names, speaker_of = [], [], []
        for s in range(first, first + groups[split]):
            voice = voices[s]
            for _ in range(per[split]):
                rng = np.random.default_rng([o["seed"], 13, s, used])
                waves.append(degrade(say(texts[used], voice, rng), rng))
                names.append(f"spk{s:03d}")
                speaker_of.append(s)
                used += 1
        first += groups[split]
        rows = trials(speaker_of, o["seed"], split) if split != "train" else np.zeros((0, 3), np.int64)
        out[split] = (waves, names, rows)
    return out


def examples(waves: tuple[np.ndarray, ...], names: list[str], rows: np.ndarray, split: str) -> Examples:
    """Training utterances carry their speaker's name; trial utterances the trials they open."""
    if split == "train":
        return Examples(waves, tuple(names))
    opened: list[list[tuple[int, int]]] = [[] for _ in waves]
    for i, j, label in rows.tolist():
        opened[i].append((j, label))
    return Examples(waves, tuple(tuple(t) for t in opened))


class EspeakVerification(SynthRecipe):
    """The `espeak-sv` dataset loader (register_datasets)."""

    name, prefix, what, version = "espeak-sv", "sv", "eSpeak NG verification audio", RECIPE_VERSION
    defaults, whole = DEFAULTS, {k: 0 if k == "seed" else 2 for k in DEFAULTS}
    splits = SPLITS

    def synthesise(self, o: dict[str, Any]) -> dict[str, Split]:
        return {split: (waves, {"speakers": np.array(names), "trials": rows})
                for split, (waves, names, rows) in build(o).items()}

    def examples(self, split: str, waves: tuple[np.ndarray, ...], arrays: dict[str, np.ndarray]) -> Examples:
        return examples(waves, [str(v) for v in arrays["speakers"]], arrays["trials"], split)


@hookimpl
def register_datasets(register: Any) -> None:
    register("espeak-sv", EspeakVerification(),
             description="speaker-verification trials over unseen eSpeak NG voices, synthesised offline (Debian "
                         "espeak-ng)")
