"""`bench units fit | show | encode`: discrete speech units (benchmark.features.units) from the command line.

    bench units fit --upstream mfcc --layer 0 --k 64 --tasks synth-asr -o units.npz
    bench units fit --upstream wav2vec2+rand --layer 6 --k 100 --audio clips/ -o w2v-units.npz
    bench units show units.npz
    bench units encode units.npz clip.wav

`fit` clusters the frames of the training split of speech tasks (`--tasks`; a text task built from speech, such as
spoken-fortune-qa, lends its training audio) or of the .wav / .flac files under `--audio`. The file it writes is
what a task's `unit_model:` option reads (docs/spoken-qa.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from benchmark.errors import BenchError
from benchmark.hookspecs import hookimpl

AUDIO_SUFFIXES = (".wav", ".flac")


def task_audio(names: str, split: str, tasks_files: tuple[Path, ...], data_dir: Path | None) -> tuple[list[Any], str]:
    """The waveforms of one split of each named task, and where they came from."""
    from benchmark.engine.request import default_cache_dir
    from benchmark.plugin.manager import add_task_files, get_plugins
    from benchmark.plugin.registry import expand_tasks
    from benchmark.tasks import data as data_mod

    plugins = get_plugins()
    if tasks_files:
        add_task_files(plugins, list(tasks_files))
    registry = plugins.registry
    waves: list[Any] = []
    where = []
    for task in expand_tasks([t.strip() for t in names.split(",") if t.strip()], registry):
        recipe = task.sources.recipe
        loader = registry.datasets.get(recipe.name).obj if recipe is not None and task.modality != "speech" else None
        if task.modality != "speech" and not hasattr(loader, "audio"):
            raise BenchError(f"task '{task.name}' is a {task.modality} task without audio; units are fitted on speech "
                             "(a speech task, spoken-fortune-qa, or --audio FOLDER)")
        lack = data_mod.missing(task, data_dir, registry, default_cache_dir())
        if lack:
            raise BenchError(f"task '{task.name}': {lack.what}" + (f" ({lack.how})" if lack.how else ""))
        if loader is not None:
            names = tuple(getattr(loader, "splits", ("train", "select", "test")))
            if split not in names:
                raise BenchError(f"task '{task.name}' has splits {', '.join(names)}, not '{split}'")
            assert recipe is not None
            extra = {"data_dir": data_dir} if getattr(loader, "reads_data_dir", False) else {}
            waves += loader.audio(dict(recipe.options), default_cache_dir(), split, **extra)
        else:
            data = data_mod.load(task, data_dir, registry, default_cache_dir())
            splits = {"train": data.train, "select": data.select, **data.evals}
            if split not in splits:
                raise BenchError(f"task '{task.name}' has splits {', '.join(splits)}, not '{split}'")
            waves += list(splits[split].inputs)
        where.append(f"{task.name}:{split} ({data_mod.revision(task, data_dir, registry)})")
    return waves, ", ".join(where)


def folder_audio(folder: Path) -> tuple[list[Any], str]:
    from benchmark.media.audio import load_audio

    if not folder.is_dir():
        raise BenchError(f"--audio {folder}: no such folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if not files:
        raise BenchError(f"--audio {folder}: no .wav or .flac files in it")
    return [load_audio(p, 16_000) for p in files], f"{len(files)} files under {folder}"


@click.group("units")
def units_group() -> None:
    """Discrete speech units: k-means over a speech upstream's frames (DUAL, HuBERT); docs/spoken-qa.md."""


@units_group.command("fit")
@click.option("--upstream", default="mfcc_no_cmvn", show_default=True,
              help="A speech upstream (mfcc_no_cmvn: HuBERT's first iteration; mfcc, fbank, wav2vec2+rand...).")
@click.option("--layer", type=click.IntRange(min=0), default=0, show_default=True,
              help="Which layer's frames (0: the input layer; mfcc and fbank have only 0).")
@click.option("--k", type=click.IntRange(2, 4096), default=64, show_default=True, help="How many units.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--max-frames", type=click.IntRange(min=2), default=200_000, show_default=True,
              help="At most this many frames (drawn with the seed) go into k-means.")
@click.option("--tasks", default=None, help="Cluster one split of these tasks' audio (comma-separated).")
@click.option("--split", default="train", show_default=True, help="Which split of --tasks.")
@click.option("--audio", type=click.Path(path_type=Path), default=None, help="Or: every .wav / .flac under FOLDER.")
@click.option("--tasks-file", "tasks_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A tasks YAML file of your own (docs/tasks.md).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="BENCH_DATA_DIR", default=None)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The unit model file to write (.npz).")
def fit_cmd(upstream: str, layer: int, k: int, seed: int, max_frames: int, tasks: str | None, split: str,
            audio: Path | None, tasks_files: tuple[Path, ...], data_dir: Path | None, output: Path) -> None:
    """Fit k-means units over one layer of a speech upstream and write the unit model."""
    from benchmark.features import units
    from benchmark.paths import check_creatable

    if (tasks is None) == (audio is None):
        raise BenchError("bench units fit: give --tasks TASKS or --audio FOLDER (one of them)")
    if output.is_dir():
        raise BenchError(f"--output {output} is a folder; name the unit model file to write")
    check_creatable(output)
    spec = units.UnitSpec(upstream, layer, k, seed, max_frames)
    spec.check()
    model_up = units.build_upstream(upstream)
    waves, where = task_audio(tasks, split, tasks_files, data_dir) if tasks else folder_audio(audio)  # type: ignore[arg-type]
    click.echo(f"units: {len(waves)} clips from {where}; {upstream} layer {layer}")
    feats = units.frames(model_up, waves, layer)
    model = units.fit(feats, spec, units.frame_rate(model_up), where)
    model.save(output)
    runs = units.encode(model, feats[:200])
    frames_n = sum(len(f) for f in feats[:200])
    merged = sum(len(r) for r in runs)
    click.echo(f"wrote {output}: k = {model.k} over {model.n_frames} frames, digest {model.digest()}; runs merge "
               f"{frames_n} frames into {merged} units ({frames_n / max(merged, 1):.2f} frames a unit)")


@units_group.command("show")
@click.argument("path", type=click.Path(path_type=Path))
def show_cmd(path: Path) -> None:
    """What a unit model file holds."""
    from benchmark.features import units

    for key, value in units.load(path).record().items():
        click.echo(f"{key}: {value}")


@units_group.command("encode")
@click.argument("path", type=click.Path(path_type=Path))
@click.argument("clip", type=click.Path(path_type=Path))
def encode_cmd(path: Path, clip: Path) -> None:
    """A clip's deduplicated units, one run a line: unit, start and end in seconds."""
    from benchmark.features import units
    from benchmark.media.audio import load_audio

    model = units.load(path)
    if not clip.is_file():
        raise BenchError(f"{clip}: no such audio file")
    upstream = units.build_upstream(model.spec.upstream)
    for run in units.encode(model, units.frames(upstream, [load_audio(clip, 16_000)], model.spec.layer))[0]:
        click.echo(f"u{run.unit}\t{run.start / model.frame_rate:.2f}\t{run.end / model.frame_rate:.2f}")


@hookimpl
def register_commands(cli: Any) -> None:
    cli.add_command(units_group)
