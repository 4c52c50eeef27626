"""Speaker diarization: what a recording's reference and a system's hypothesis are, how frame activity becomes
segments, and the diarization error rate (DER) by pyannote.metrics, as SUPERB SD scores it (collar 0, overlapped
speech scored).

A target is one recording's reference, `{"duration": seconds, "segments": [[start, end, speaker], ...]}`
(`reference_of` checks and normalises one); a prediction is the hypothesis' segments, `[[start, end, speaker],
...]`. The DER of a split is corpus-level, as md-eval / dscore report it: missed speech + false alarm + speaker
confusion summed over every recording, over the reference's speaker time summed over every recording (pyannote's
`abs(metric)` after one call per recording); each recording is scored over its whole duration (its UEM).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmark.errors import BenchError

Segment = tuple[float, float, str]
SPEAKERS = ("spk0", "spk1")
"""The hypothesis' speaker names, one per output of the head (SUPERB SD: two speakers per mixture)."""
THRESHOLDS = (0.5, 0.3, 0.4, 0.6, 0.7)
MEDIANS = (1, 11)
"""The post-processing s3prl's score.sh tries (activity threshold x median-filter width in frames); bench picks
one on the model-selection split (s3prl reports the best on test). The default, (0.5, 1), is tried first and wins
ties."""


def reference_of(value: Any, where: str) -> dict[str, Any]:
    """A raw reference (a dict, or its JSON text) as {"duration": float, "segments": sorted [[start, end,
    speaker]]}: times in seconds, 0 <= start < end, ends past the duration clipped to it; a BenchError naming
    `where` for anything else."""
    raw = value
    if isinstance(value, str):
        try:
            raw = json.loads(value)
        except json.JSONDecodeError as err:
            raise BenchError(f"{where}: a diarization reference must be JSON {{duration, segments}} ({err})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("segments"), list):
        raise BenchError(f"{where}: a diarization reference is {{\"duration\": seconds, \"segments\": [[start, end, "
                         "speaker], ...]}}")
    duration = _seconds(raw.get("duration"), where, "duration")
    if duration <= 0:
        raise BenchError(f"{where}: the recording's duration must be positive, got {duration}")
    segments = []
    for k, seg in enumerate(raw["segments"]):
        if not isinstance(seg, list | tuple) or len(seg) != 3 or not str(seg[2]).strip():
            raise BenchError(f"{where}: segment {k + 1} must be [start, end, speaker], got {seg!r}")
        start, end = _seconds(seg[0], where, "start"), min(_seconds(seg[1], where, "end"), duration)
        if not 0 <= start < end:
            raise BenchError(f"{where}: segment {k + 1} [{seg[0]}, {seg[1]}] must have 0 <= start < end <= the "
                             f"duration ({duration:g} s)")
        segments.append([round(start, 4), round(end, 4), str(seg[2]).strip()])
    return {"duration": round(duration, 4), "segments": sorted(segments)}


def _seconds(value: Any, where: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BenchError(f"{where}: {what} must be a number of seconds, got {value!r}")
    try:
        out = float(value)
    except ValueError:
        raise BenchError(f"{where}: {what} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(out):
        raise BenchError(f"{where}: {what} must be a finite number of seconds, got {value!r}")
    return out


def frame_labels(reference: dict[str, Any], n_frames: int, shift: float, speakers: Sequence[str] | None = None
                 ) -> np.ndarray:
    """(n_frames, speakers) float32 activity of a reference at `shift` seconds a frame: frames round(start /
    shift) .. round(end / shift) - 1 of a segment are active (s3prl's rule). `speakers`: the columns' speakers
    (default: the reference's, sorted, at least two columns)."""
    names = list(speakers) if speakers is not None else sorted({s for _, _, s in reference["segments"]})
    names += [f"_pad{i}" for i in range(max(0, 2 - len(names)))]
    out = np.zeros((n_frames, len(names)), dtype=np.float32)
    for start, end, spk in reference["segments"]:
        if spk in names:
            out[int(np.rint(start / shift)):int(np.rint(end / shift)), names.index(spk)] = 1.0
    return out


def activity_to_segments(active: np.ndarray, shift: float, speakers: Sequence[str] = SPEAKERS) -> list[list[Any]]:
    """Frame activity (frames, speakers) of 0 / 1 as segments [start, end, speaker], sorted: a run of active frames
    i .. j - 1 is [i * shift, j * shift] (frame i starts at i * shift, as the labels are made)."""
    out: list[list[Any]] = []
    a = np.asarray(active).astype(bool)
    for k in range(a.shape[1]):
        edges = np.diff(np.concatenate([[0], a[:, k].astype(np.int8), [0]]))
        for i, j in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
            out.append([round(float(i * shift), 4), round(float(j * shift), 4), speakers[k]])
    return sorted(out)


def postprocess(probs: np.ndarray, threshold: float = 0.5, median: int = 1) -> np.ndarray:
    """Per-frame activity from probabilities (frames, speakers): above `threshold`, then a median filter of
    `median` frames over each speaker's column (odd; 1 = none), as s3prl's make_rttm.py does."""
    active = (np.asarray(probs) > threshold).astype(np.float64)
    if median > 1 and len(active):
        from scipy.signal import medfilt

        active = np.stack([medfilt(active[:, k], median) for k in range(active.shape[1])], axis=1)
    return active > 0.5


def one_speaker(reference: dict[str, Any]) -> list[list[Any]]:
    """The "all one speaker" baseline's hypothesis: one speaker active over the whole recording."""
    return [[0.0, float(reference["duration"]), SPEAKERS[0]]]


def _annotation(segments: Sequence[Sequence[Any]]) -> Any:
    from pyannote.core import Annotation, Segment

    ann = Annotation()
    for k, (start, end, spk) in enumerate(segments):
        if float(end) > float(start):
            ann[Segment(float(start), float(end)), k] = str(spk)
    return ann


def _hypothesis(value: Any) -> list[Any]:
    """A prediction's segments (a dict with "segments" is read too: a reference scored as a hypothesis)."""
    if isinstance(value, str):
        value = json.loads(value)
    if isinstance(value, dict):
        value = value["segments"]
    return list(value)


def components(reference: Any, hypothesis: Any) -> tuple[float, float, float, float]:
    """(missed, false alarm, confusion, reference speaker time) of one recording, in seconds: pyannote's
    DiarizationErrorRate with collar 0 and overlap scored, over [0, duration]."""
    from pyannote.core import Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref = reference_of(reference, "reference") if not isinstance(reference, dict) else reference
    metric = DiarizationErrorRate(collar=0.0, skip_overlap=False)
    uem = Timeline([Segment(0.0, float(ref["duration"]))])
    d = metric(_annotation(ref["segments"]), _annotation(_hypothesis(hypothesis)), uem=uem, detailed=True)
    return (float(d["missed detection"]), float(d["false alarm"]), float(d["confusion"]), float(d["total"]))


def der(y_true: Any, y_pred: Any) -> float:
    """Diarization error rate over every recording, in percent: (missed + false alarm + confusion) / reference
    speaker time, each summed over the recordings (pyannote.metrics, collar 0, overlap scored)."""
    parts = np.array([components(t, p) for t, p in zip(list(y_true), list(y_pred), strict=True)]).reshape(-1, 4)
    total = float(parts[:, 3].sum())
    return 100.0 * float(parts[:, :3].sum()) / total if total > 0 else 0.0


def _batched_der(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(replicates, recordings) -> (replicates,): each distinct (reference, hypothesis) pair scored once by
    pyannote, then resamples sum its (error, reference time); equal to `der` on each row."""
    memo: dict[str, tuple[float, float]] = {}
    errors = np.zeros(t.shape)
    totals = np.zeros(t.shape)
    for pos, (ref, hyp) in enumerate(zip(t.reshape(-1).tolist(), p.reshape(-1).tolist(), strict=True)):
        key = json.dumps([ref, hyp], sort_keys=True)
        if key not in memo:
            miss, fa, conf, total = components(ref, hyp)
            memo[key] = (miss + fa + conf, total)
        errors.flat[pos], totals.flat[pos] = memo[key]
    return np.asarray(100.0 * errors.sum(1) / np.maximum(totals.sum(1), 1e-12))


der.batched = _batched_der  # type: ignore[attr-defined]
