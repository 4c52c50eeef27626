"""A miniature copy of the official VoxCeleb1 verification layout (tests/test_sv.py, tests/test_bad_input_sv.py):
`wav/<speaker>/<video>/<file>.wav` for eight dev speakers and two test speakers, and a `veri_test2.txt` trial list
over the test speakers' utterances."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16_000
DEV = [f"id1000{k}" for k in range(1, 9)]
TEST = ["id10270", "id10271"]
VIDEOS = ("5r0dWxy17C8", "x6uYqmx31kE")
VERI_TEST2 = """1 id10270/5r0dWxy17C8/00001.wav id10270/x6uYqmx31kE/00001.wav
0 id10270/5r0dWxy17C8/00001.wav id10271/5r0dWxy17C8/00001.wav
1 id10271/5r0dWxy17C8/00001.wav id10271/x6uYqmx31kE/00002.wav
0 id10270/x6uYqmx31kE/00001.wav id10271/x6uYqmx31kE/00002.wav
"""


def wav_bytes(seed: int, seconds: float = 0.4) -> bytes:
    """A short voiced-like clip: a speaker-dependent tone in noise (PCM 16)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    x = 0.3 * np.sin(2 * np.pi * (100 + 20 * (seed % 13)) * t) + 0.05 * rng.standard_normal(len(t))
    buf = io.BytesIO()
    sf.write(buf, x.astype(np.float32), RATE, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def make_voxceleb1(root: Path, trials: str = VERI_TEST2) -> Path:
    """root/VoxCeleb1 with wav/ (two videos x two utterances per speaker) and veri_test2.txt."""
    base = root / "VoxCeleb1"
    for s, speaker in enumerate(DEV + TEST):
        for v, video in enumerate(VIDEOS):
            for u in (1, 2):
                path = base / "wav" / speaker / video / f"{u:05d}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(wav_bytes(s * 10 + v * 2 + u))
    (base / "veri_test2.txt").write_text(trials, encoding="utf-8")
    return base
