"""`spoken-fortune-qa`: textless spoken QA built offline, after DUAL (Lin et al. 2022, Interspeech): the fortune
who-said-it questions (downstreams/recipes/fortunes_qa.py) spoken by synthetic voices, read as discrete units.

Each item: a passage of `quotes` signed quotations from Debian's English fortunes ("quote -- Author."), spoken by
one voice, and the question "Who said “five words”?" spoken by another voice of the same split; the answer is the
target quotation's author, as a *time* span of the passage audio. Word timings come from synthesis itself: the
passage is synthesised phrase by phrase (each quotation, each author), each phrase trimmed to its voiced extent
and the phrases joined with 0.15 s pauses, so the author's phrase occupies a known stretch of samples (eSpeak NG's
CLI reports no word times; phrase-by-phrase synthesis keeps each phrase's own prosody). Then half the passages
get room reverberation, all a gain and background noise (10-30 dB SNR). Authors are split train / select / test
by the fortune QA's hash (no test author is seen in training), and voices too: 2/3, 1/6 and 1/6 of the speaker
pool (downstreams.recipes.speech_synth.speakers), so test voices are unseen.

The text model reads units, not audio: at load time a unit model (benchmark.features.units; by default k-means
with k = 64 over the `mfcc` upstream's frames of the training audio, HuBERT's first-iteration recipe; or a file
from `bench units fit`, option `unit_model`) turns each clip into deduplicated unit runs, written as symbols
('u12 u3 ...'). An input is (question units, passage units, the passage runs' [start, end] seconds); the target
holds the answer as units of the passage (every run overlapping the gold time span) and the gold `time`. The
task's symbol_map maps each unit onto one word of the text upstream; the `unit-span-qa` head
(downstreams.heads_spoken_qa) predicts a span of passage units and answers with its time span.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import BenchError
from benchmark.hookspecs import hookimpl
from benchmark.media.audio import trim
from benchmark.types import Examples
from downstreams.recipes import fortunes_qa, speech_synth, unit_qa
from downstreams.recipes.options import recipe_options
from downstreams.recipes.speech_synth import SAMPLE_RATE, Split, SynthRecipe

DEFAULTS: dict[str, Any] = {"seed": 0, "speakers": 24, "quotes": 3, "min_quotes": 2, "train": 120, "select": 30,
                            "test": 60, "max_words": 10,
                            "units": {"upstream": "mfcc_no_cmvn", "layer": 0, "k": 64, "seed": 0}, "unit_model": None}
SYNTH_KEYS = ("seed", "speakers", "quotes", "min_quotes", "train", "select", "test", "max_words")
PAUSE = int(0.15 * SAMPLE_RATE)
EDGE = (0.15, 2.0)
"""Seconds of silence before and after a passage, drawn per passage."""
TRIM_DB = 20 * np.log10(50)  # a 10 ms frame is voiced when its RMS reaches 2 % of the loudest frame's


def passage(phrases: list[str], voice: dict[str, Any], rng: np.random.Generator,
            edges: tuple[float, float] = (PAUSE / SAMPLE_RATE, PAUSE / SAMPLE_RATE)
            ) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The phrases spoken by one voice (one pitch and speed for all), trimmed and joined by pauses, after and
    before `edges` seconds of silence; each phrase's [start, end] in seconds."""
    pitch = int(np.clip(voice["pitch"] + rng.integers(-4, 5), 0, 99))
    speed = int(voice["speed"] * rng.uniform(0.92, 1.08))
    pieces = [np.zeros(_samples(edges[0]), np.float32)]
    for k, text in enumerate(phrases):
        pause = _samples(edges[1]) if k == len(phrases) - 1 else PAUSE
        pieces += [trim(speech_synth.synthesize(text, voice, pitch, speed), TRIM_DB), np.zeros(pause, np.float32)]
    times, _ = layout([len(w) / SAMPLE_RATE for w in pieces[1::2]], edges)
    return np.concatenate(pieces).astype(np.float32), times


def noisy(wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Reverberation (half of the clips, FFT convolution: passages are long), gain, and coloured noise at 10-30 dB
    SNR; the length is kept, so phrase times stay exact."""
    from scipy.signal import fftconvolve

    x = wave
    if rng.random() < 0.5:
        x = fftconvolve(x, speech_synth._room(rng))[: len(x)].astype(np.float32)
    x = x * np.float32(10 ** (rng.uniform(-6, 6) / 20))
    noise = speech_synth._noise(len(x), rng)
    power = max(float(np.mean(x**2)), 1e-8)
    x = x + noise * np.float32(np.sqrt(power / 10 ** (rng.uniform(10, 30) / 10) / max(float(np.mean(noise**2)), 1e-12)))
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def items(quotes: list[fortunes_qa.Quote], split: str, n: int, o: dict[str, Any]) -> list[dict[str, Any]]:
    """n questions over one split's quotations (the fortune QA's rules). Nothing about position gives the answer
    away: a passage holds `min_quotes`..`quotes` quotations, the target is any of them with equal probability, and
    each quotation is signed either after it ("quote -- Author.") or before it ("Author. said: quote"), drawn per
    quotation, so an author's name starts a passage, ends it or sits anywhere between."""
    by_author: dict[str, list[fortunes_qa.Quote]] = {}
    for q in quotes:
        by_author.setdefault(q.author, []).append(q)
    authors = sorted(by_author)
    if len(authors) < o["quotes"] * 2:
        raise BenchError(f"spoken-fortune-qa ({split}): only {len(authors)} authors; the fortune files look incomplete "
                         "(reinstall Debian's fortunes package)")
    rng = random.Random(f"spoken-fortune-qa:{o['seed']}:{split}")
    out: list[dict[str, Any]] = []
    while len(out) < n:
        chosen = [rng.choice(by_author[a]) for a in rng.sample(authors, rng.randint(o["min_quotes"], o["quotes"]))]
        target = rng.randrange(len(chosen))
        words = chosen[target].text.split()
        at = rng.randrange(len(words) - fortunes_qa.PHRASE_WORDS + 1)
        phrase = " ".join(words[at:at + fortunes_qa.PHRASE_WORDS]).strip(".,;:!?\"'“”„«»()[]- ")
        if sum(w.isalpha() for w in phrase.split()) < 3 or any(
                phrase.lower() in q.text.lower() for k, q in enumerate(chosen) if k != target):
            continue  # the quoted words must point at one quotation only
        phrases: list[str] = []
        names: list[int] = []
        for q in chosen:
            before = rng.random() < 0.5
            names.append(len(phrases) + (0 if before else 1))
            phrases += [f"{q.author}.", f"said: {q.text}"] if before else [q.text, f"{q.author}."]
        # silence of a random length before and after (as a recording's): no fixed time from either end
        edges = [round(rng.uniform(*EDGE), 2), round(rng.uniform(*EDGE), 2)]
        out.append({"phrases": phrases, "answer": names[target], "authors": names, "edges": edges,
                    "question": f"Who said “{phrase}”?", "author": chosen[target].author})
    return out


def layout(seconds: list[float], edges: tuple[float, float] = (PAUSE / SAMPLE_RATE, PAUSE / SAMPLE_RATE)
           ) -> tuple[list[tuple[float, float]], float]:
    """Each phrase's [start, end] when phrases of these lengths are joined by PAUSE pauses, after edges[0] s of
    silence and before edges[1] s, and the passage's length: what `passage` does with the trimmed waveforms."""
    gap = PAUSE / SAMPLE_RATE
    times, at = [], _samples(edges[0]) / SAMPLE_RATE
    for s in seconds:
        times.append((at, at + s))
        at += s + gap
    return times, at - gap + _samples(edges[1]) / SAMPLE_RATE


def _samples(seconds: float) -> int:
    return int(round(seconds * SAMPLE_RATE))


class SpokenFortuneQA(SynthRecipe):
    """The `spoken-fortune-qa` dataset loader (register_datasets)."""

    name, prefix, what, version = "spoken-fortune-qa", "spoken-fortune-qa", "spoken fortune QA audio", 3

    def options(self, options: dict[str, Any]) -> dict[str, Any]:
        o = recipe_options(self.name, options, DEFAULTS, {"seed": 0, "speakers": 12, "train": 1, "select": 1,
                                                          "test": 1, "quotes": 2, "min_quotes": 2, "max_words": 8})
        if o["min_quotes"] > o["quotes"]:
            raise BenchError(f"spoken-fortune-qa: option min_quotes ({o['min_quotes']}) must not exceed quotes "
                             f"({o['quotes']})")
        return {**o, "units": {**DEFAULTS["units"], **(options.get("units") or {})}}  # speakers >= 12: two per split

    def digest(self, o: dict[str, Any]) -> str:
        """The audio's digest: the synthesis options only (another unit model reuses the same clips)."""
        return super().digest({k: o[k] for k in SYNTH_KEYS})

    def missing(self, options: dict[str, Any], cache_dir: Path) -> str | None:
        """Bad options and a unit model file that is not there fail here, before a run plans (one line each)."""
        self.units_key(self.options(options))
        if not fortunes_qa._files("en"):
            return "Debian's fortunes package is not installed: apt-get install fortunes"
        return super().missing(options, cache_dir)

    def revision(self, options: dict[str, Any]) -> str:
        o = self.options(options)
        return f"{super().revision(options)}:units-{self.units_key(o)}"

    def units_key(self, o: dict[str, Any]) -> str:
        return unit_qa.units_key(self.name, o)

    def synthesise(self, o: dict[str, Any]) -> dict[str, Split]:
        voices = speech_synth.speakers(o["speakers"], o["seed"])
        n = len(voices)
        groups = {"train": voices[: n * 2 // 3], "select": voices[n * 2 // 3: n * 5 // 6], "test": voices[n * 5 // 6:]}
        quotes = fortunes_qa.read_quotes("en", max_words=o["max_words"])
        pools: dict[str, list[fortunes_qa.Quote]] = {"train": [], "dev": [], "test": []}
        for q in quotes:
            pools[fortunes_qa.split_of(q.author)].append(q)
        out: dict[str, Split] = {}
        for split, pool in (("train", "train"), ("select", "dev"), ("test", "test")):
            waves, spans, meta = [], [], []
            for i, item in enumerate(items(pools[pool], split, o[split], o)):
                rng = np.random.default_rng([o["seed"], 7, speech_synth._split_id(split), i])
                pv, qv = (groups[split][int(k)] for k in rng.choice(len(groups[split]), 2, replace=False))
                wave, times = passage(item["phrases"], pv, rng, tuple(item["edges"]))
                question, _ = passage([item["question"]], qv, rng)
                waves += [noisy(wave, rng), noisy(question, rng)]
                spans.append(times[item["answer"]])
                meta.append({"question": item["question"], "passage": " ".join(item["phrases"]),
                             "author": item["author"], "voices": [pv["id"], qv["id"]], "seconds": len(wave) / SAMPLE_RATE,
                             "authors": [[round(t, 4) for t in times[k]] for k in item["authors"]]})
            out[split] = (waves, {"spans": np.array(spans, dtype=np.float64), "meta": speech_synth.as_json(meta)})
        return out

    def examples(self, split: str, waves: tuple[np.ndarray, ...], arrays: dict[str, np.ndarray]) -> Examples:
        raise NotImplementedError  # units are made in __call__, from every split at once

    def audio(self, options: dict[str, Any], cache_dir: Path, split: str = "train") -> list[np.ndarray]:
        """A split's clips (passages and questions): what `bench units fit --tasks spoken-fortune-qa` clusters."""
        data = np.load(self.build(self.options(options), cache_dir))
        lengths, audio = data[f"{split}_lengths"], data[f"{split}_audio"]
        return [audio[e - n:e] for e, n in zip(np.cumsum(lengths), lengths, strict=True)]

    def __call__(self, *, task: Any, options: dict[str, Any], cache_dir: Path) -> dict[str, Examples]:
        o = self.options(options)
        data = np.load(self.build(o, cache_dir))
        clips = {s: self.audio(o, cache_dir, s) for s in self.splits}
        folder, stem = Path(cache_dir) / "units", f"{self.prefix}-{self.digest(o)}"
        model = unit_qa.unit_model(self.name, o, lambda: clips["train"], folder, stem,
                                   f"spoken-fortune-qa train audio ({self.digest(o)})")
        runs = unit_qa.encoded(model, dict(clips), folder / f"{stem}-{model.digest()}.json")
        return {s: self.split_examples(runs[s], data[f"{s}_spans"], model.frame_rate) for s in self.splits}

    @staticmethod
    def split_examples(encoded: list[list[list[int]]], spans: np.ndarray, rate: float) -> Examples:
        """Passages and questions alternate in a split's clips; one gold span each."""
        pairs = [(encoded[2 * k], encoded[2 * k + 1]) for k in range(len(spans))]
        return unit_qa.examples(pairs, [[s] for s in spans.tolist()], rate)


@hookimpl
def register_datasets(register: Any) -> None:
    register("spoken-fortune-qa", SpokenFortuneQA(),
             description="who-said-it questions over fortune quotations, spoken by eSpeak NG / Flite voices (unseen "
                         "at test time) and read as discrete speech units; answers are time spans")
