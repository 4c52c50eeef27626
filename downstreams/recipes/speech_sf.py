"""Offline slot filling (`synth-sf`, after SUPERB SF on Audio SNIPS): spoken commands from a small grammar with
slots ("set an alarm for seven am tomorrow", "play music by nina simone", "book a table for four in dublin"; every
template with its own set of slot types),
synthesised with eSpeak NG through downstreams.recipes.speech_synth (its speakers, synthesis and degradation:
reverberation, noise, gain).

Targets are transcripts in SUPERB SF's form: upper-case characters with each slot marked inline by tag tokens,
"SET AN ALARM FOR B-time SEVEN AM E-time B-date TOMORROW E-date" (tokenize: characters+tags).

Splits: train / select / test speakers are disjoint (2/3, 1/6, 1/6 of the voices), so test voices are never
heard in training. Each template's slot-value combinations are shuffled and dealt into train / select / test
pools (the first sixth of them to test, the next sixth to select), so test commands are combinations never said in
training although each value occurs there (in other combinations); a template with fewer than six combinations
(and the one without slots) is shared by all splits. Every utterance draws a template uniformly, so no slot set
dominates. Deterministic from the seed; built once per (options, eSpeak NG version) and cached as a compressed
NumPy file.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import numpy as np

from benchmark.hookspecs import hookimpl
from benchmark.types import Examples
from downstreams.recipes.speech_synth import Split, SynthRecipe, degrade, say, speakers

RECIPE_VERSION = 2
SLOT_VALUES: dict[str, list[str]] = {
    "time": ["seven am", "six thirty", "noon", "nine pm", "half past eight", "midnight", "ten fifteen", "five am"],
    "date": ["tomorrow", "tonight", "on monday", "on friday", "next week", "this weekend"],
    "city": ["paris", "london", "boston", "tokyo", "madrid", "berlin", "chicago", "dublin"],
    "artist": ["the beatles", "adele", "miles davis", "nina simone", "bob marley", "elton john", "frank sinatra",
               "billie holiday"],
    "party_size": ["two", "three", "four", "five", "six", "eight"],
    "contact": ["alice", "my mother", "john", "doctor smith", "maria", "peter"],
}
TEMPLATES = [
    "wake me up at {time}",
    "what is on my calendar {date}",
    "will it rain in {city}",
    "play music by {artist}",
    "call {contact}",
    "book a table for {party_size}",
    "set an alarm for {time} {date}",
    "book a table for {party_size} in {city}",
    "play {artist} for {contact}",
    "turn off the music",
]
"""Version 2: every template has its own slot-type set (six with one type, three with two, the pairs disjoint, one
with none), so the slot types a command holds are not given away by the most frequent set; in version 1 five of
the ten templates shared `city` or `date` and always guessing {city, date} scored F1 43.75."""
SLOTS = sorted(SLOT_VALUES)
VOCABULARY = [" ", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "'", *(f"{p}-{s}" for s in SLOTS for p in "BE")]
"""s3prl's character vocabulary (space, A-Z, apostrophe), then a B- and an E- tag per slot type."""
DEFAULTS: dict[str, Any] = {"seed": 0, "speakers": 36, "sentences": 12}
_FIELD = re.compile(r"\{(\w+)\}")


def render(template: str, values: dict[str, str]) -> tuple[str, str]:
    """(the spoken text, the tagged target) of a template filled with slot values."""
    spoken = template.format(**values)
    target = _FIELD.sub(lambda m: f"B-{m.group(1)} {values[m.group(1)]} E-{m.group(1)}", template)
    return spoken, " ".join(w if w[:2] in ("B-", "E-") else w.upper() for w in target.split())


def pools(seed: int) -> dict[str, list[list[dict[str, str]]]]:
    """Per split, per template: the slot-value combinations it may say (test ones never occur in train)."""
    rng = np.random.default_rng([seed, 7])
    out: dict[str, list[list[dict[str, str]]]] = {"train": [], "select": [], "test": []}
    for template in TEMPLATES:
        fields = _FIELD.findall(template)
        combos = [dict(zip(fields, vals, strict=True)) for vals in itertools.product(*(SLOT_VALUES[f] for f in fields))]
        combos = [combos[i] for i in rng.permutation(len(combos))]
        if len(combos) < 6:
            for split in out:
                out[split].append(combos)
            continue
        k = len(combos) // 6
        out["test"].append(combos[:k])
        out["select"].append(combos[k:2 * k])
        out["train"].append(combos[2 * k:])
    return out


def utterances(o: dict[str, Any]) -> dict[str, list[tuple[int, str, str]]]:
    """Per split: (speaker index, spoken text, target) of every utterance, before synthesis."""
    n = o["speakers"]
    groups = {"train": range(0, n * 2 // 3), "select": range(n * 2 // 3, n * 5 // 6), "test": range(n * 5 // 6, n)}
    available = pools(o["seed"])
    out: dict[str, list[tuple[int, str, str]]] = {}
    for split, group in groups.items():
        rows = []
        for s in group:
            rng = np.random.default_rng([o["seed"], 8, s])
            for _ in range(o["sentences"]):
                t = int(rng.integers(len(TEMPLATES)))
                combos = available[split][t]
                rows.append((s, *render(TEMPLATES[t], combos[int(rng.integers(len(combos)))])))
        out[split] = rows
    return out


def _build(o: dict[str, Any]) -> dict[str, tuple[list[np.ndarray], list[str]]]:
    voices = speakers(o["speakers"], o["seed"])
    out = {}
    for split, rows in utterances(o).items():
        waves, targets = [], []
        for i, (s, spoken, target) in enumerate(rows):
            rng = np.random.default_rng([o["seed"], 9, s, i])
            voice = voices[s]
            waves.append(degrade(say(spoken, voice, rng), rng))
            targets.append(target)
        out[split] = (waves, targets)
    return out


class EspeakSlots(SynthRecipe):
    """The `espeak-slots` dataset loader (register_datasets)."""

    name, prefix, what, version = "espeak-slots", "slots", "eSpeak NG spoken commands", RECIPE_VERSION
    defaults, whole = DEFAULTS, {"seed": 0, "speakers": 6, "sentences": 1}  # 6 voices: train / select / test disjoint

    def synthesise(self, o: dict[str, Any]) -> dict[str, Split]:
        return {split: (waves, {"labels": np.array(targets)}) for split, (waves, targets) in _build(o).items()}

    def examples(self, split: str, waves: tuple[np.ndarray, ...], arrays: dict[str, np.ndarray]) -> Examples:
        return Examples(waves, tuple(str(t) for t in arrays["labels"]))


@hookimpl
def register_datasets(register: Any) -> None:
    register("espeak-slots", EspeakSlots(),
             description="spoken commands with slots (times, dates, cities, artists...) synthesised offline with "
                         "eSpeak NG (Debian espeak-ng), targets tagged for slot filling")
