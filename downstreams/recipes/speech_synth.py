"""The offline speech suite: keyword spotting and speaker identification on speech synthesised here with
eSpeak NG (Debian `espeak-ng`; Dunn et al., https://github.com/espeak-ng/espeak-ng, GPL-3.0) and Flite (Debian
`flite`; Black & Lenzo 2001, Flite: a small fast run-time synthesis engine, ISCA SSW4; BSD-style licence), made
non-trivial with room reverberation, background noise, gain and time shifts. Deterministic from a seed.

A synthetic "speaker" is an eSpeak NG accent (English: US, British RP, Scottish, Lancaster, West Midlands,
Caribbean...) with a voice variant (m1-m8, f1-f5, named variants), or one of Flite's voices (kal16: a diphone
voice; awb, rms, slt: CMU ARCTIC clustergen voices of three other speakers, recorded rather than rule-made, so
their timbre differs from eSpeak NG's in more than formants), with its own base pitch and speed; each utterance
jitters pitch and speed around them. Flite's voices enter the pool eight times each (each draw its own pitch and
speed), so that about one speaker in six is a Flite voice.

- `keywords` (like SUPERB KS, Speech Commands v1.0's 12 classes): yes, no, up, down, left, right, on, off,
  stop, go, _unknown_ (ten other Speech Commands words) and _silence_ (background noise only); 1-second clips;
  train / select / test speakers are disjoint, so the task measures generalisation to new voices.
- `speakers` (like SUPERB SID, VoxCeleb1 identification): which of N speakers says a sentence; sentences are
  disjoint between train / select / test, speakers are shared.
- `sentences` (like SUPERB ASR, for the CTC path): the transcript of a sentence ("the pilot opened a heavy box")
  from a 30-word grammar; train / select / test speakers are disjoint and every test sentence is unseen in
  training (its words are not).

The data is built once per (options, eSpeak NG version) and cached as a compressed NumPy file.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from benchmark.errors import BenchError
from benchmark.hookspecs import hookimpl
from benchmark.paths import build_lock, private_tmp
from benchmark.types import Examples
from downstreams.recipes.options import recipe_options

RECIPE_VERSION = 2
"""2: Flite's voices joined the speaker pool (every split's speakers changed; the synth-* tasks' version 2)."""
SAMPLE_RATE = 16_000
KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
UNKNOWN = ["bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow"]
KS_LABELS = [*KEYWORDS, "_unknown_", "_silence_"]
ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029"]
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "adam", "linda", "paul",
            "steph", "edward", "grandma", "grandpa", "david", "robert", "shelby", "travis"]
SUBJECTS = ["the old man", "my sister", "a small dog", "the teacher", "our neighbour", "the pilot", "a farmer",
            "the children", "her brother", "the doctor"]
VERBS = ["painted", "carried", "found", "opened", "watched", "cleaned", "sold", "fixed", "visited", "closed"]
OBJECTS = ["the red door", "a heavy box", "the garden gate", "an old map", "the kitchen window", "a blue boat",
           "the wooden chair", "a long letter", "the village shop", "a bright lamp"]
FLITE_VOICES: dict[str, float] = {"kal16": 94.0, "awb": 131.0, "rms": 102.0, "slt": 170.0}
"""Flite 2.2's English voices with their median F0 in Hz (measured here on one sentence), the centre that a
speaker's pitch moves. Left out: kal (kal16 at 8 kHz: the same speaker) and awb_time (it speaks only clock
times). rms ignores a target F0; its speakers differ in speed only."""
FLITE_SLOTS = 8
DEFAULTS: dict[str, Any] = {"kind": "keywords", "seed": 0, "speakers": 48, "repeats": 2, "sentences": 30}


def espeak() -> str | None:
    return shutil.which("espeak-ng")


def flite() -> str | None:
    return shutil.which("flite")


def synth_versions() -> str:
    """The synthesisers' versions: the data depend on them (recorded in the data's revision and file name)."""
    exe = flite()
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout if exe else ""
    found = re.search(r"flite-(\d[\w.]*)", out)
    return f"{espeak_version()}-flite-{found.group(1) if found else 'absent'}"


def espeak_version() -> str:
    exe = espeak()
    if exe is None:
        return "absent"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
    return out.split(":")[1].split()[0] if ":" in out else out.strip()


def speakers(n: int, seed: int) -> list[dict[str, Any]]:
    """n distinct synthetic speakers: accent ("flite" for a Flite voice), voice variant, id (unique), base pitch
    (0-99, eSpeak NG's scale) and speed (words per minute)."""
    rng = np.random.default_rng([seed, 1])
    combos = [(a, v, "") for a in ACCENTS for v in VARIANTS] + [("flite", v, f"#{k}") for v in FLITE_VOICES
                                                               for k in range(FLITE_SLOTS)]
    picked = rng.choice(len(combos), size=n, replace=False)
    return [{"accent": combos[i][0], "variant": combos[i][1], "id": f"{combos[i][0]}+{combos[i][1]}{combos[i][2]}",
             "pitch": int(rng.integers(20, 80)), "speed": int(rng.integers(130, 200))} for i in picked]


def synthesize(text: str, voice: dict[str, Any], pitch: int, speed: int) -> np.ndarray:
    """eSpeak NG's waveform for `text` at 16 kHz (mono float32)."""
    import soundfile as sf

    from benchmark.media.audio import resample

    engine = "flite" if voice["accent"] == "flite" else "espeak-ng"
    exe = shutil.which(engine)
    if exe is None:
        raise BenchError(f"{engine} is not installed (Debian/Ubuntu: apt-get install {engine})")
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        if engine == "flite":
            # eSpeak NG's pitch scale (0-99, 50 = the voice's own) as a factor of 0.8-1.25 on the voice's F0; its
            # words per minute (175 = normal) as Flite's duration stretch.
            f0 = FLITE_VOICES[voice["variant"]] * 2 ** ((pitch - 50) / 50 * 0.32)
            args = [exe, "-voice", voice["variant"], "--setf", f"int_f0_target_mean={f0:.1f}", "--setf",
                    f"duration_stretch={175 / speed:.3f}", "-t", text, "-o", f.name]
        else:
            args = [exe, "-v", f"{voice['accent']}+{voice['variant']}", "-p", str(pitch), "-s", str(speed),
                    "-w", f.name, text]
        subprocess.run(args, check=True, capture_output=True, timeout=60)
        wave, rate = sf.read(f.name, dtype="float32")
    return resample(wave, rate, SAMPLE_RATE)


def say(text: str, voice: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """One utterance of `text` by `voice`: its pitch (±4) and speed (±8 %) jittered around the speaker's, drawn from
    `rng` in that order (the recipes' data depend on the order)."""
    pitch = int(np.clip(voice["pitch"] + rng.integers(-4, 5), 0, 99))
    speed = int(voice["speed"] * rng.uniform(0.92, 1.08))
    return synthesize(text, voice, pitch, speed)


def _room(rng: np.random.Generator) -> np.ndarray:
    """A synthetic room impulse response: a direct path plus exponentially decaying noise (RT60 0.15-0.6 s)."""
    rt60 = rng.uniform(0.15, 0.6)
    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60) * 0.3
    ir[0] = 1.0
    return (ir / np.sqrt((ir**2).sum())).astype(np.float32)


def degrade(wave: np.ndarray, rng: np.random.Generator, length: int | None = None) -> np.ndarray:
    """Reverberation (half of the clips), a random placement in a fixed-length window (keywords), gain, and
    coloured background noise at 5-25 dB SNR."""
    x = wave.astype(np.float32)
    if rng.random() < 0.5:
        x = np.convolve(x, _room(rng))[: len(x) + SAMPLE_RATE // 10].astype(np.float32)
    if length is not None:
        if len(x) > length:
            start = int(rng.integers(0, len(x) - length + 1))
            x = x[start:start + length]
        else:
            out = np.zeros(length, np.float32)
            start = int(rng.integers(0, length - len(x) + 1))
            out[start:start + len(x)] = x
            x = out
    x = x * np.float32(10 ** (rng.uniform(-6, 6) / 20))
    noise = _noise(len(x), rng)
    power = max(float(np.mean(x**2)), 1e-8)
    snr = rng.uniform(5, 25)
    x = x + noise * np.float32(np.sqrt(power / 10 ** (snr / 10) / max(float(np.mean(noise**2)), 1e-12)))
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def _noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """White, pink or brown noise (the spectrum's slope drawn per clip)."""
    white = rng.standard_normal(n)
    slope = rng.choice([0.0, 0.5, 1.0])
    if slope == 0.0:
        return white.astype(np.float32)
    spec = np.fft.rfft(white)
    f = np.arange(len(spec), dtype=float)
    f[0] = 1.0
    return np.fft.irfft(spec / f**slope, n).astype(np.float32)


def _keywords(o: dict[str, Any]) -> dict[str, Any]:
    voices = speakers(o["speakers"], o["seed"])
    n = len(voices)
    splits = {"train": voices[: n * 2 // 3], "select": voices[n * 2 // 3: n * 5 // 6], "test": voices[n * 5 // 6:]}
    out: dict[str, Any] = {}
    for split, group in splits.items():
        waves, labels = [], []
        for s, voice in enumerate(group):
            for r in range(o["repeats"]):
                for label, cls in enumerate(KS_LABELS):
                    rng = np.random.default_rng([o["seed"], 2, _split_id(split), s, r, label])
                    if cls == "_silence_":
                        clip = degrade(np.zeros(SAMPLE_RATE // 10, np.float32), rng, SAMPLE_RATE)
                    else:
                        word = UNKNOWN[int(rng.integers(len(UNKNOWN)))] if cls == "_unknown_" else cls
                        pitch = int(np.clip(voice["pitch"] + rng.integers(-6, 7), 0, 99))
                        speed = int(voice["speed"] * rng.uniform(0.9, 1.1))
                        clip = degrade(synthesize(word, voice, pitch, speed), rng, SAMPLE_RATE)
                    waves.append(clip)
                    labels.append(label)
        out[split] = (waves, labels)
    return out


def _split_id(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def _all_sentences(seed: int) -> list[str]:
    """The grammar's 1,000 sentences in a seeded order."""
    rng0 = np.random.default_rng([seed, 3])
    return [f"{SUBJECTS[a]} {VERBS[b]} {OBJECTS[c]}" for a, b, c in
            rng0.permutation(np.array(np.meshgrid(range(10), range(10), range(10))).T.reshape(-1, 3))]


def _transcripts(o: dict[str, Any]) -> dict[str, Any]:
    """Speaker-disjoint splits (2/3, 1/6, 1/6 of the voices); each utterance a different sentence, so no test
    sentence occurs in training."""
    voices = speakers(o["speakers"], o["seed"])
    sentences = _all_sentences(o["seed"])
    n, k = len(voices), o["sentences"]
    if n * k > len(sentences):
        raise BenchError(f"espeak-speech: speakers x sentences must be at most {len(sentences)} for kind sentences")
    splits = {"train": range(0, n * 2 // 3), "select": range(n * 2 // 3, n * 5 // 6), "test": range(n * 5 // 6, n)}
    out: dict[str, Any] = {}
    for split, group in splits.items():
        waves, texts = [], []
        for s in group:
            voice = voices[s]
            for i in range(k):
                text = sentences[s * k + i]
                rng = np.random.default_rng([o["seed"], 5, s, i])
                waves.append(degrade(say(text, voice, rng), rng))
                texts.append(text)
        out[split] = (waves, texts)
    return out


def _speakers(o: dict[str, Any]) -> dict[str, Any]:
    voices = speakers(o["speakers"], o["seed"])
    sentences = _all_sentences(o["seed"])
    k = o["sentences"]
    n_train, n_select = k * 2 // 3, k // 6
    out: dict[str, Any] = {s: ([], []) for s in ("train", "select", "test")}
    for s, voice in enumerate(voices):
        mine = sentences[s * k:(s + 1) * k] if (s + 1) * k <= len(sentences) else sentences[:k]
        for i, text in enumerate(mine):
            split = "train" if i < n_train else "select" if i < n_train + n_select else "test"
            rng = np.random.default_rng([o["seed"], 4, s, i])
            waves, labels = out[split]
            waves.append(degrade(say(text, voice, rng), rng))
            labels.append(s)
    return out


# -- the loaders: what every synthesised-speech recipe shares, then this module's own --------------------------
# A recipe (downstreams/recipes/speech_*.py) says only what is its own: its options, how it synthesises each split
# (waveforms plus arrays of targets) and how a split's arrays become Examples. SynthRecipe keeps the clips as one
# compressed NumPy file per set of options under CACHE/speech/, written atomically, and names the data's revision
# from the recipe's version, the shared voices' version (RECIPE_VERSION: the speaker pool and degradations every
# recipe draws from) and the synthesiser's, so that a change of any of them is a new revision.

Split = tuple[list[np.ndarray], dict[str, np.ndarray]]
"""A split as synthesised: its waveforms (16 kHz, float32) and named arrays of the same length (targets...)."""


class SynthRecipe:
    """Base of a synthesised-speech dataset loader (register_datasets)."""

    name: ClassVar[str]
    """The registered recipe name, e.g. 'espeak-sv' (the revision starts with it)."""
    prefix: ClassVar[str]
    """The cache file's name starts with it."""
    what: ClassVar[str]
    """What the clips are, for `bench prefetch`'s list, e.g. 'eSpeak NG verification audio'."""
    version: ClassVar[int]
    """The recipe's own version: bump it when the same options would give other clips."""
    splits: ClassVar[tuple[str, ...]] = ("train", "select", "test")

    defaults: ClassVar[dict[str, Any]]
    """Every option with its default; a name not here is refused."""
    whole: ClassVar[dict[str, int]] = {}
    """The options that are whole numbers, with their least value."""

    # -- what a recipe writes ------------------------------------------------------------------------------------
    def check(self, o: dict[str, Any]) -> dict[str, Any]:
        """The recipe's own rules across options (after names and whole numbers are checked); a BenchError
        naming the recipe for a bad one."""
        return o

    def synthesise(self, o: dict[str, Any]) -> dict[str, Split]:
        """Every split's waveforms and arrays."""
        raise NotImplementedError

    def examples(self, split: str, waves: tuple[np.ndarray, ...], arrays: dict[str, np.ndarray]) -> Examples:
        """A split's Examples from its waveforms and the arrays `synthesise` stored."""
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------------------------
    def options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The options with their defaults, checked (a BenchError naming the recipe for a bad one)."""
        return self.check(recipe_options(self.name, options, self.defaults, self.whole))

    def digest(self, o: dict[str, Any]) -> str:
        payload = {**o, "v": self.version, "synth": RECIPE_VERSION}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]

    def missing(self, options: dict[str, Any], cache_dir: Path) -> str | None:
        lacking = [name for name, exe in (("espeak-ng", espeak()), ("flite", flite())) if exe is None]
        if lacking:
            return (f"{' and '.join(lacking)} {'is' if len(lacking) == 1 else 'are'} not installed: apt-get install "
                    f"{' '.join(lacking)} (Debian/Ubuntu), then rerun")
        return None

    def revision(self, options: dict[str, Any]) -> str:
        return f"{self.name}-v{self.version}:espeak-ng-{synth_versions()}:{self.digest(self.options(options))}"

    def need_name(self, o: dict[str, Any]) -> str:
        return f"{self.what} ({self.digest(o)})"

    def needs(self, options: dict[str, Any], cache_dir: Path) -> list[Any]:
        """The clips, built here (no network) and kept in the cache."""
        from benchmark.plugin.needs import Need

        o = self.options(options)
        return [Need("data", self.need_name(o), self.path(o, cache_dir).is_file(),
                     fetch=lambda: self.build(o, cache_dir),
                     how="apt-get install espeak-ng flite (Debian/Ubuntu)" if self.missing(o, cache_dir) else "")]

    def path(self, o: dict[str, Any], cache_dir: Path) -> Path:
        return Path(cache_dir) / "speech" / f"{self.prefix}-{self.digest(o)}-{synth_versions()}.npz"

    def __call__(self, *, task: Any, options: dict[str, Any], cache_dir: Path) -> dict[str, Examples]:
        data = np.load(self.build(self.options(options), cache_dir))
        out = {}
        for split in self.splits:
            lengths = data[f"{split}_lengths"]
            audio = data[f"{split}_audio"]
            waves = tuple(audio[e - n:e] for e, n in zip(np.cumsum(lengths), lengths, strict=True))
            arrays = {k.split("_", 1)[1]: data[k] for k in data.files
                      if k.startswith(f"{split}_") and k not in (f"{split}_lengths", f"{split}_audio")}
            out[split] = self.examples(split, waves, arrays)
        return out

    def build(self, o: dict[str, Any], cache_dir: Path) -> Path:
        """The clips' file in the cache, synthesised first if it is not there (written whole or not at all; one
        process synthesises while others that want the same file wait for it)."""
        path = self.path(o, cache_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        with build_lock(path):
            if not path.is_file():  # (else built by another process while this one waited)
                stored: dict[str, np.ndarray] = {}
                for split, (waves, arrays) in self.synthesise(o).items():
                    stored.update({f"{split}_lengths": np.array([len(w) for w in waves]),
                                   f"{split}_audio": np.concatenate(waves), **{f"{split}_{k}": v for k, v in arrays.items()}})
                with open(tmp := private_tmp(path), "wb") as f:
                    np.savez_compressed(f, **stored)
                tmp.replace(path)
        return path


def as_json(items: list[Any]) -> np.ndarray:
    """Targets of any shape (dicts, lists) as a string array a .npz holds without pickling."""
    return np.array([json.dumps(t, sort_keys=True) for t in items])


def from_json(array: np.ndarray) -> tuple[Any, ...]:
    return tuple(json.loads(str(t)) for t in array)


class EspeakSpeech(SynthRecipe):
    """The `espeak-speech` dataset loader (register_datasets): one file per kind (keywords, speakers, sentences)."""

    name, prefix, what, version = "espeak-speech", "", "synthetic speech", RECIPE_VERSION
    defaults, whole = DEFAULTS, {"seed": 0, "speakers": 1, "repeats": 1, "sentences": 1}

    def check(self, o: dict[str, Any]) -> dict[str, Any]:
        if o["kind"] not in ("keywords", "speakers", "sentences"):
            raise BenchError(f"espeak-speech: kind must be 'keywords', 'speakers' or 'sentences', not {o['kind']!r}")
        return o

    def path(self, o: dict[str, Any], cache_dir: Path) -> Path:
        return Path(cache_dir) / "speech" / f"{o['kind']}-{self.digest(o)}-{synth_versions()}.npz"

    def need_name(self, o: dict[str, Any]) -> str:
        return f"synthetic speech ({o['kind']}, {self.digest(o)})"

    def synthesise(self, o: dict[str, Any]) -> dict[str, Split]:
        built = {"keywords": _keywords, "speakers": _speakers, "sentences": _transcripts}[o["kind"]](o)
        return {split: (waves, {"labels": np.array(labels)}) for split, (waves, labels) in built.items()}

    def examples(self, split: str, waves: tuple[np.ndarray, ...], arrays: dict[str, np.ndarray]) -> Examples:
        labels = arrays["labels"]
        return Examples(waves, tuple(str(v) if labels.dtype.kind == "U" else int(v) for v in labels))


@hookimpl
def register_datasets(register: Any) -> None:
    register("espeak-speech", EspeakSpeech(),
             description="keyword, speaker and transcribed-sentence data synthesised offline with eSpeak NG "
                         "(Debian espeak-ng)")
