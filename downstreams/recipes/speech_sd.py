"""Offline speaker diarization data (synth-sd, after SUPERB SD's two-speaker LibriMix): mixtures of two synthetic
speakers taking turns, built from downstreams/recipes/speech_synth.py's voices, synthesis and degradation.

A mixture is `turns` sentences of the speech_synth grammar ("the pilot opened a heavy box"), spoken alternately
by two voices (A B A B...), each clip energy-trimmed (its label is that extent) and scaled by +-3 dB. Consecutive
turns either overlap or are separated by silence (a fair coin per transition, at least one of each with three
turns or more). The overlap is `overlap` of the speech time (the union of the turns) and the silence `silence`
of the mixture, split at random over the overlapping transitions, and over the gaps and the two ends; an overlap
is capped at 45 % of each of its two turns (so a voice never overlaps itself), which can leave a mixture a little
under the stated overlap. The whole mixture then goes through speech_synth.degrade (room reverberation on half,
gain, coloured noise at 5-25 dB SNR), so the noise never marks who speaks.

Voices: train / select / test draw from disjoint thirds of `speakers` voices (2/3, 1/6, 1/6), so the test
mixtures are spoken by voices never heard in training. A target is the reference {"duration", "segments": [[start,
end, speaker]]} (downstreams/sd_metrics.py). Built once per (options, eSpeak NG version), cached as .npz.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.errors import BenchError
from benchmark.hookspecs import hookimpl
from benchmark.media.audio import trim
from benchmark.types import Examples
from downstreams.recipes.speech_synth import (
    OBJECTS,
    SAMPLE_RATE,
    SUBJECTS,
    VERBS,
    Split,
    SynthRecipe,
    as_json,
    degrade,
    from_json,
    speakers,
    synthesize,
)

RECIPE_VERSION = 1
DEFAULTS: dict[str, Any] = {"seed": 0, "speakers": 24, "train": 80, "select": 20, "test": 20, "turns": 4,
                            "overlap": 0.2, "silence": 0.1}
SPLITS = ("train", "select", "test")
TRIM_DB = 35.0  # a 10 ms frame is speech when its energy is within 35 dB of the clip's loudest frame


def _sentence(rng: np.random.Generator) -> str:
    return (f"{SUBJECTS[int(rng.integers(len(SUBJECTS)))]} {VERBS[int(rng.integers(len(VERBS)))]} "
            f"{OBJECTS[int(rng.integers(len(OBJECTS)))]}")


def _fill(shares: np.ndarray, caps: np.ndarray, total: float) -> np.ndarray:
    """`total` over slots in proportion to `shares`, none above its cap: what a capped slot cannot take goes to the
    others (water filling); less than `total` only when every slot is full."""
    out = np.zeros(len(caps))
    free = shares > 0
    for _ in range(len(caps)):
        left = total - float(out.sum())
        if left <= 1e-9 or not free.any():
            break
        out[free] += left * shares[free] / shares[free].sum()
        full = out >= caps
        out = np.minimum(out, caps)
        free &= ~full
    return out


def placement(durations: list[float], overlap: float, silence: float, rng: np.random.Generator
              ) -> tuple[list[float], float]:
    """Start times of turns of these durations, and the mixture's length: overlap and silence at the stated
    fractions (see the module's docstring)."""
    n = len(durations)
    overlapping = rng.random(n - 1) < 0.5  # per transition: the next turn starts before this one ends
    if overlap > 0 and not overlapping.any():
        overlapping[int(rng.integers(n - 1))] = True
    speech = sum(durations)
    o_total = overlap * speech / (1 + overlap)  # overlap / union of speech = `overlap`
    caps = np.array([0.45 * min(durations[k], durations[k + 1]) for k in range(n - 1)])
    shares = rng.dirichlet(np.ones(n - 1))
    while True:  # more transitions overlap when the chosen ones cannot hold the stated overlap
        o = _fill(np.where(overlapping, shares, 0.0), caps, o_total)
        if o_total - float(o.sum()) <= 1e-6 or overlapping.all():
            break
        overlapping[int(rng.choice(np.flatnonzero(~overlapping)))] = True
    union = speech - float(o.sum())
    g_total = silence * union / (1 - silence)  # silence / mixture = `silence`
    gaps = g_total * rng.dirichlet(np.ones(int((~overlapping).sum()) + 2))  # the pauses, then both ends
    g = np.zeros(n - 1)
    g[~overlapping] = gaps[:-2]
    starts, t = [], float(gaps[-2])
    for k, d in enumerate(durations):
        starts.append(t)
        if k < n - 1:
            t += d - o[k] + g[k]
    end = max(s + d for s, d in zip(starts, durations, strict=True))
    return starts, end + float(gaps[-1])


def mixture(pair: tuple[dict[str, Any], dict[str, Any]], o: dict[str, Any], rng: np.random.Generator
            ) -> tuple[np.ndarray, dict[str, Any]]:
    """One degraded two-speaker mixture and its reference (speakers named 'A' and 'B' in turn order)."""
    clips, who = [], []
    gains = [10 ** (rng.uniform(-3, 3) / 20) for _ in pair]
    for k in range(o["turns"]):
        voice = pair[k % 2]
        pitch = int(np.clip(voice["pitch"] + rng.integers(-4, 5), 0, 99))
        speed = int(voice["speed"] * rng.uniform(0.92, 1.08))
        clips.append(trim(synthesize(_sentence(rng), voice, pitch, speed), TRIM_DB) * np.float32(gains[k % 2]))
        who.append("AB"[k % 2])
    starts, length = placement([len(c) / SAMPLE_RATE for c in clips], o["overlap"], o["silence"], rng)
    mix = np.zeros(int(np.ceil(length * SAMPLE_RATE)) + 1, np.float32)
    segments = []
    for c, s, spk in zip(clips, starts, who, strict=True):
        first = int(round(s * SAMPLE_RATE))
        mix[first:first + len(c)] += c[: len(mix) - first]
        segments.append([round(first / SAMPLE_RATE, 4), round((first + len(c)) / SAMPLE_RATE, 4), spk])
    wave = degrade(mix / np.float32(max(1.0, float(np.abs(mix).max()))), rng)
    duration = round(len(wave) / SAMPLE_RATE, 4)
    return wave, {"duration": duration, "segments": sorted([a, min(b, duration), spk] for a, b, spk in segments)}


def build_splits(o: dict[str, Any]) -> dict[str, tuple[list[np.ndarray], list[dict[str, Any]]]]:
    voices = speakers(o["speakers"], o["seed"])
    n = len(voices)
    pools = {"train": voices[: n * 2 // 3], "select": voices[n * 2 // 3: n * 5 // 6], "test": voices[n * 5 // 6:]}
    out: dict[str, tuple[list[np.ndarray], list[dict[str, Any]]]] = {}
    for s_id, split in enumerate(SPLITS):
        pool, waves, refs = pools[split], [], []
        for m in range(o[split]):
            rng = np.random.default_rng([o["seed"], 7, s_id, m])
            a, b = rng.choice(len(pool), size=2, replace=False)
            wave, ref = mixture((pool[int(a)], pool[int(b)]), o, rng)
            waves.append(wave)
            refs.append(ref)
        out[split] = (waves, refs)
    return out


def rates(refs: list[dict[str, Any]], step: float = 0.01) -> tuple[float, float]:
    """(overlap / speech time, silence / duration) of references, measured on a `step` grid."""
    both = speech = silent = total = 0
    for ref in refs:
        n = int(round(ref["duration"] / step))
        count = np.zeros(n, np.int8)
        for start, end, _ in ref["segments"]:
            count[int(round(start / step)):int(round(end / step))] += 1
        both, speech = both + int((count >= 2).sum()), speech + int((count >= 1).sum())
        silent, total = silent + int((count == 0).sum()), total + n
    return both / max(speech, 1), silent / max(total, 1)


class EspeakDiarization(SynthRecipe):
    """The `espeak-diarization` dataset loader (register_datasets)."""

    name, prefix, what, version = "espeak-diarization", "diarization", "eSpeak NG mixtures", RECIPE_VERSION
    defaults, whole = DEFAULTS, {"seed": 0, "speakers": 12, "train": 1, "select": 1, "test": 1, "turns": 2}

    def check(self, o: dict[str, Any]) -> dict[str, Any]:  # speakers >= 12: two voices per split
        for key, top in (("overlap", 0.5), ("silence", 0.5)):
            if isinstance(o[key], bool) or not isinstance(o[key], int | float) or not 0 <= o[key] <= top:
                raise BenchError(f"espeak-diarization: {key} must be a fraction in [0, {top}], got {o[key]!r}")
        return o
    splits = SPLITS

    def synthesise(self, o: dict[str, Any]) -> dict[str, Split]:
        return {split: (waves, {"labels": as_json(refs)}) for split, (waves, refs) in build_splits(o).items()}

    def examples(self, split: str, waves: tuple[np.ndarray, ...], arrays: dict[str, np.ndarray]) -> Examples:
        return Examples(waves, from_json(arrays["labels"]))


@hookimpl
def register_datasets(register: Any) -> None:
    register("espeak-diarization", EspeakDiarization(),
             description="two-speaker mixtures with overlap and silence synthesised offline with eSpeak NG "
                         "(Debian espeak-ng), for speaker diarization")
