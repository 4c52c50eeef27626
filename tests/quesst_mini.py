"""A miniature QUESST 2014 download (the layout benchmark.tasks.quesst_layout reads), for the QbE tests: each
"word" is a sequence of three tones, a query is one word alone, a document is noise with words inside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16_000
WORDS = {"w0": (300, 900, 500), "w1": (1200, 400, 1500), "w2": (700, 1800, 1000), "w3": (2000, 600, 250)}
DOCS = {  # document -> (language, words in it)
    "quesst14_00001": ("nnenglish", ["w0"]), "quesst14_00002": ("nnenglish", ["w1", "w2"]),
    "quesst14_00003": ("nnenglish", ["w2"]), "quesst14_00004": ("nnenglish", ["w3", "w0"]),
    "quesst14_00005": ("nnenglish", ["w1"]), "quesst14_00006": ("nnenglish", ["w3"]),
    "quesst14_00007": ("nnbasque", ["w0"]), "quesst14_00008": ("nnczech", ["w1"]),
}
QUERIES = {  # set -> query -> (language, word)
    "dev": {"quesst14_dev_0001": ("nnenglish", "w0"), "quesst14_dev_0002": ("nnenglish", "w1"),
            "quesst14_dev_0003": ("nnbasque", "w0")},
    "eval": {"quesst14_eval_0001": ("nnenglish", "w2"), "quesst14_eval_0002": ("nnenglish", "w3")},
}


def word(name: str, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.15 * RATE)) / RATE
    return np.concatenate([0.4 * np.sin(2 * np.pi * f * t) for f in WORDS[name]]).astype(np.float32) \
        + 0.01 * rng.standard_normal(3 * len(t)).astype(np.float32)


def document(words: list[str], rng: np.random.Generator) -> np.ndarray:
    out = 0.02 * rng.standard_normal(int(0.3 * RATE)).astype(np.float32)
    for w in words:
        gap = 0.02 * rng.standard_normal(int(0.25 * RATE)).astype(np.float32)
        out = np.concatenate([out, word(w, rng), gap])
    return out


def build(root: Path, sub: str = "quesst14Database") -> Path:
    """The miniature download under root/sub; returns root/sub."""
    rng = np.random.default_rng(0)
    base = root / sub
    (base / "Audio").mkdir(parents=True)
    scoring = base / "scoring"
    scoring.mkdir()
    for name, (_, words) in DOCS.items():
        sf.write(base / "Audio" / f"{name}.wav", document(words, rng), RATE)
    (scoring / "language_key_utterances.lst").write_text(
        "".join(f"{sub}/Audio/{n}.wav {lang}\n" for n, (lang, _) in DOCS.items()), encoding="utf-8")
    for sel, queries in QUERIES.items():
        (base / f"{sel}_queries").mkdir()
        for name, (_, w) in queries.items():
            sf.write(base / f"{sel}_queries" / f"{name}.wav", word(w, rng), RATE)
        (scoring / f"language_key_{sel}.lst").write_text(
            "".join(f"{sub}/{sel}_queries/{n}.wav {lang}\n" for n, (lang, _) in queries.items()), encoding="utf-8")
        gt = scoring / f"groundtruth_quesst14_{sel}"
        gt.mkdir()
        (gt / "quesst14.ecf.xml").write_text(
            '<ecf source_signal_duration="60.0" language="multiple" version="1">\n'
            + "".join(f'  <excerpt audio_filename="Audio/{n}.wav" channel="1" tbeg="0.000" dur="2.0" '
                      'source_type="splitaudio"/>\n' for n in DOCS) + "</ecf>\n", encoding="utf-8")
        (gt / f"quesst14_{sel}.tlist.xml").write_text(
            '<termlist ecf_filename="quesst14.ecf.xml" version="1" language="multiple" encoding="UTF-8">\n'
            + "".join(f'  <term termid="{n}"><termtext>{n}</termtext></term>\n' for n in queries) + "</termlist>\n",
            encoding="utf-8")
        lines = [f"LEXEME {d} 1 0.30 0.45 {q} lex <NA> <NA>\n" for q, (_, w) in queries.items()
                 for d, (_, words) in DOCS.items() if w in words]
        (gt / f"quesst14_{sel}.rttm").write_text("".join(lines), encoding="utf-8")
    return base
