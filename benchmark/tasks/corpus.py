"""Corpus layouts (folder structures a reader knows, as opposed to tables): which reader serves a format, what a
layout lacks under the data directory, and a task's splits read through it.

Speech corpora (benchmark.tasks.speech_layouts) give AudioClips; image layouts (benchmark.tasks.image_layouts) give
ImageFiles or uint8 image arrays. Either way the raw labels become the task's targets here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from benchmark.plugin.needs import Missing
from benchmark.tasks.schema import IMAGE_LAYOUTS, LocalSource, TaskSpec
from benchmark.tasks.targets import convert_target
from benchmark.types import Examples


def layout_reader(fmt: str) -> Any:
    """The reader of a corpus layout: benchmark.tasks.image_layouts for images, benchmark.tasks.speech_layouts for speech."""
    if fmt in IMAGE_LAYOUTS:
        from benchmark.tasks.image_layouts import LAYOUTS as IMAGE

        return IMAGE[fmt]
    from benchmark.tasks.speech_layouts import LAYOUTS

    return LAYOUTS[fmt]


def layout_doc(src: LocalSource) -> str:
    return "docs/images.md" if src.format in IMAGE_LAYOUTS else "docs/superb.md"


def corpus_dirs(src: LocalSource) -> list[str]:
    return sorted({where.split("#")[0] + "/" for where in src.splits.values()})


def layout_missing(task: TaskSpec, src: LocalSource, data_dir: Path | None) -> Missing | None:
    """What a corpus layout lacks under the data directory (the layout's reader says)."""
    layout = layout_reader(src.format)
    official = "" if src.format == "image-folder" else "official "
    if data_dir is None:
        return Missing(f"data for '{task.name}'", f"pass --data-dir DIR holding {' and '.join(corpus_dirs(src))} "
                       f"in the {official}{src.format} layout ({layout_doc(src)})")
    for split in ("train", *task.evals, "select"):
        if split in src.splits:
            lack = layout.missing(data_dir, src.splits[split])
            if lack is not None:
                return Missing(f"files in {data_dir}", f"expected {{files}} in the {official}{src.format} layout "
                               f"({layout_doc(src)}), or leave those tasks out of --tasks", task.name, lack)
    return None


def load_layout(task: TaskSpec, src: LocalSource, data_dir: Path) -> tuple[dict[str, Examples], str]:
    """Every split of a corpus layout (AudioClips; ImageFiles or uint8 image arrays), labels converted to the
    task's targets."""
    layout = layout_reader(src.format)
    image = src.format in IMAGE_LAYOUTS
    out: dict[str, Examples] = {}
    digest = hashlib.sha256()
    for ours, where in src.splits.items():
        at = f"{data_dir / where.split('#')[0]} ({where})"
        if image:
            inputs, raw, stamp = layout.read(data_dir, where, task.labels)
            # A split holds tens of thousands of images of a few classes: convert each class name once.
            known = {name: convert_target(task, name, at) for name in dict.fromkeys(raw)}
            out[ours] = Examples(tuple(inputs), tuple(known[name] for name in raw))
            digest.update(f"{where}|{stamp}".encode())
            continue
        clips, raw = layout.read(data_dir, where)
        targets = [convert_target(task, label, f"{at}: {clip.path}") for clip, label in zip(clips, raw, strict=True)]
        out[ours] = Examples(tuple(clips), tuple(targets))
        for clip in clips:
            digest.update(clip.key().encode())
    return out, f"local:{src.format}:{digest.hexdigest()[:16]}"
