"""Tasks and suites as data: the schema of tasks.yaml, validated strictly.

An unknown key, a wrong type or a missing field is an error that names the task and the key. There is no
code in task files: no `eval`, no templates, no custom YAML tags (yaml.safe_load refuses them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from benchmark.errors import BenchError
from benchmark.tasks.bounded_yaml import MAX_FILE_BYTES, load_yaml
from benchmark.tasks.located import Loc, Problems, errors

Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
Column = str | int


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class HubSource(_Strict):
    """A Hugging Face Hub dataset at a pinned revision."""

    path: str
    name: str | None = None
    revision: str
    inputs: list[Column]
    label: Column
    splits: dict[str, str]
    index: str = "idx"
    """Test splits: the column holding each example's index (GLUE on the Hub: idx)."""
    configs: dict[str, str] = {}
    """Test splits kept in another config of the dataset (GLUE's diagnostic set: config `ax`)."""
    data_dir: str | None = None
    """A folder of the repository to read (a parquet branch holding every config as folders: UD's `en_ewt`)."""


class LocalOverride(_Strict):
    """How one test split's file differs from the source's other files (CoLA's test.tsv has a header)."""

    dir: str | None = None
    header: bool | None = None
    inputs: list[Column] | None = None
    index: Column | None = None


AUDIO_LAYOUTS = ("speech-commands", "fluent-speech-commands", "voxceleb1", "iemocap", "librispeech",
                 "librispeech-phonemes", "librispeech-phonemes-nostress", "quesst14", "librimix",
                 "voxceleb1-verification", "audio-snips")
"""Official speech corpus layouts (benchmark.tasks.speech_layouts): splits are `SUBDIR#SELECTOR`, relative to the data
directory; no input or label columns."""
IMAGE_LAYOUTS = ("image-folder", "cifar10-binary", "stl10-binary")
"""Image layouts (benchmark.tasks.image_layouts): a torchvision ImageFolder tree (splits are `SUBDIR`), the binary
versions of CIFAR-10 and STL-10 (`SUBDIR#train|test`); no input or label columns."""
CORPUS_LAYOUTS = AUDIO_LAYOUTS + IMAGE_LAYOUTS
"""Layouts that read their own folder structure, as opposed to the files of a data format (tsv, csv, jsonl...)."""


class LocalSource(_Strict):
    """Files under the data directory given with --data-dir / BENCH_DATA_DIR, or beside the tasks file that
    defines the task (`base: tasks-file`): files in a registered data format (benchmark.tasks.formats: tsv, glue-tsv,
    csv, jsonl, json, parquet, conllu...), the official layout of a speech corpus (AUDIO_LAYOUTS) or an image
    layout (IMAGE_LAYOUTS)."""

    format: str
    """A data format registered by a plugin (register_formats; checked by Registry.check) or a corpus layout."""
    base: Literal["data-dir", "tasks-file"] = "data-dir"
    """What `dir` and the splits are relative to: the data directory (--data-dir), or the folder of the tasks file
    that defines the task, so a plugin or a user ships the data beside its tasks file and needs no --data-dir."""
    dir: str = ""
    """The table files' folder under the base (tables only: a corpus layout names it in each split); may be
    empty with base: tasks-file (the tasks file's own folder)."""
    header: bool = True
    inputs: list[Column] = []
    label: Column | None = None
    splits: dict[str, str]
    index: Column = "index"
    """Test splits: the column holding each example's index (GLUE: `index`, the first column)."""
    overrides: dict[str, LocalOverride] = {}
    """Per test split: another directory, header or input columns than the rest of the source."""

    @model_validator(mode="after")
    def _columns_for_tables(self) -> LocalSource:
        if self.format in CORPUS_LAYOUTS:
            if self.inputs or self.label is not None or self.dir:
                split = "SUBDIR" if self.format == "image-folder" else "SUBDIR#SELECTOR"
                raise ValueError(f"format {self.format} reads its own layout: drop dir, inputs and label (each split "
                                 f"is {split})")
        elif (not self.dir and self.base == "data-dir") or not self.inputs or self.label is None:
            raise ValueError(f"format {self.format} needs dir, inputs and label (columns)")
        return self

    @model_validator(mode="after")
    def _paths_inside(self) -> LocalSource:
        # Files stay inside their root: a tasks file must not read /etc/passwd (nor print its first line in an
        # error). This is the static half; local_source.inside() also resolves symlinks before a file is read.
        root = "--data-dir" if self.base == "data-dir" else "the tasks file's folder"
        named = [("dir", self.dir), *((f"overrides.{k}.dir", o.dir or "") for k, o in self.overrides.items()),
                 *((f"splits.{k}", v.split("#", 1)[0]) for k, v in self.splits.items())]
        for key, path in named:
            if escapes(path):
                raise ValueError(f"{key}: path '{path}' leaves {root} (absolute or '..'); give a path inside it")
        return self


def escapes(path: str) -> bool:
    """Whether a relative path from a tasks file is absolute or climbs out of its root with '..'."""
    posix, windows = PurePosixPath(path), PureWindowsPath(path)
    return posix.is_absolute() or bool(windows.drive or windows.root) or ".." in (*posix.parts, *windows.parts)


MAX_OPTIONS_CHARS = 65_536


class RecipeSource(_Strict):
    """Data built offline by a registered dataset loader (register_datasets hook)."""

    name: str
    options: dict[str, Any] = {}
    splits: dict[str, str] = {}

    @model_validator(mode="after")
    def _options_bounded(self) -> RecipeSource:
        # Options are hashed into job ids and written into every result: a few KB is plenty.
        size = len(json.dumps(self.options, default=str))
        if size > MAX_OPTIONS_CHARS:
            raise ValueError(f"options: {size} characters once written out, more than {MAX_OPTIONS_CHARS}")
        return self


class Sources(_Strict):
    hub: HubSource | None = None
    local: LocalSource | None = None
    recipe: RecipeSource | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> Sources:
        if self.hub is None and self.local is None and self.recipe is None:
            raise ValueError("needs at least one of hub, local, recipe")
        return self


class Reference(_Strict):
    """A reference point (e.g. human performance) with the metric values it reached, and where it is published."""

    scores: dict[str, float]
    citation: str
    method: str | None = None


class Selection(_Strict):
    """How the model-selection split is made when the source has none: a seeded slice of train."""

    holdout: float = Field(default=0.1, gt=0, lt=1)
    max: int = Field(default=2000, gt=0)


class SymbolMap(_Strict):
    """A task whose inputs are sequences of non-language symbols (nucleotides, amino acids, note events) read by a
    text upstream: each distinct symbol is mapped onto one whole-word token of the upstream's vocabulary (a seeded
    random one-to-one mapping, as in Kao & Lee 2021), so any text upstream reads them with no code change."""

    unit: Literal["characters", "whitespace"] = "characters"
    """How an input splits into symbols: each character (DNA, protein), or space-separated events (music)."""
    k: int = Field(default=1, ge=1, le=8)
    """Symbols are k-mers of those units (k = 1: the units themselves)."""
    stride: int | None = Field(default=None, ge=1)
    """Step between k-mers: k (the default) for non-overlapping ones, 1 for overlapping ones (DNABERT)."""
    seed: int = Field(default=0, ge=0)
    """Seed of the random symbol -> token mapping (fixed per task, like the paper's one mapping)."""


class TaskSpec(_Strict):
    """One task: where its data comes from, what the model reads and predicts, how it is scored."""

    name: Name
    description: str
    version: int = Field(ge=1)
    modality: Literal["text", "speech", "image"]
    head: str
    labels: list[str] | None = None
    vocabulary: list[str] | None = None
    """Sequence tasks (CTC): the output symbols; targets are transcripts made of them (see `tokenize`)."""
    tokenize: Literal["characters", "whitespace", "characters+tags"] = "characters"
    """How a transcript splits into vocabulary symbols: each character (ASR), space-separated units (phonemes), or
    characters with tags: a space-separated word that is a vocabulary entry of several characters (SUPERB SF's slot
    markers B-time / E-time) is one symbol, and the spaces beside a tag are implied (not symbols)."""
    metrics: list[str]
    score: list[str]
    evals: list[str]
    tests: list[str] = []
    pooling: Literal["mean", "cls"] = "mean"
    language: str | None = None
    """The language of the task's text (ISO 639-1: en, zh...): the axis of a cross-lingual transfer matrix."""
    symbol_map: SymbolMap | None = None
    """Inputs are symbol sequences that a text upstream reads through a token mapping (benchmark.tasks.symbols)."""
    sources: Sources
    selection: Selection = Selection()
    references: dict[str, Reference] = {}
    citation: str | None = None
    license: str | None = None
    class_weights: Literal["none", "balanced"] = "none"
    """balanced: each class's loss weighted by n / (classes x its count in train), so a rare class counts as much as
    a frequent one (SUPERB KS: s3prl samples the 12 classes equally; `_unknown_` is 17 times a keyword)."""
    hparams: dict[Literal["frozen", "finetune"], dict[str, Any]] = {}
    """Per mode, the task's own defaults for hyper-parameters the user did not set (SUPERB's ASR head is a
    2-layer BiLSTM, its PR head a linear layer: `{frozen: {hidden: 1024}}`)."""
    _origin_dir: Path | None = PrivateAttr(default=None)
    # Private: not a YAML key, and left out of model_dump, so nothing hashed from a task's fields changes.

    @property
    def origin_dir(self) -> Path | None:
        """The folder of the tasks file that defined the task (None for a TaskSpec built in code): what a
        `local: {base: tasks-file}` source is relative to."""
        return self._origin_dir

    @model_validator(mode="after")
    def _consistent(self) -> TaskSpec:
        # Every broken rule at once (Problems carries them all), so a tasks file is fixed in one pass.
        problems = self._inconsistencies()
        if problems:
            raise Problems(problems)
        return self

    def _inconsistencies(self) -> list[tuple[Loc, str]]:
        """(the key it is about, the message) for each rule between fields that the task breaks."""
        out: list[tuple[Loc, str]] = []
        if self.labels is not None and self.vocabulary is not None:
            out.append((("vocabulary",), "a task has labels (classification) or a vocabulary (sequence targets), "
                                         "not both"))
        if self.vocabulary is not None:
            if len(set(self.vocabulary)) != len(self.vocabulary) or not all(self.vocabulary):
                out.append((("vocabulary",), "vocabulary entries must be distinct and non-empty"))
            if self.tokenize == "characters" and any(len(v) != 1 for v in self.vocabulary):
                out.append((("vocabulary",), "with tokenize: characters every vocabulary entry is one character"))
            if self.tokenize == "characters+tags" and any(len(v) > 1 and len(v.split()) != 1 for v in self.vocabulary):
                out.append((("vocabulary",), "with tokenize: characters+tags every vocabulary entry is one character "
                                             "or a tag without spaces"))
        if self.symbol_map is not None and self.modality != "text":
            out.append((("symbol_map",), "symbol_map maps symbols onto a text upstream's vocabulary; it needs "
                                         "modality: text"))
        for i, m in enumerate(self.score):
            if m not in self.metrics:
                out.append((("score", i), f"score names {m!r}, which is not in metrics {self.metrics}"))
        for i, t in enumerate(self.tests):
            if t in ("train", "select", *self.evals):
                out.append((("tests", i), f"tests names {t!r}, which is already a train, select or evaluation split"))
        if len(set(self.tests)) != len(self.tests):
            out.append((("tests",), f"tests repeats a split: {self.tests}"))
        for kind in ("hub", "local"):
            src = getattr(self.sources, kind)
            if src is None:
                continue
            for s in (s for s in ("train", *self.evals, *self.tests) if s not in src.splits):
                out.append((("sources", kind, "splits"), f"sources.{kind}.splits lacks {s!r}"))
            field_name = "configs" if kind == "hub" else "overrides"
            for s in (s for s in getattr(src, field_name) if s not in self.tests):
                out.append((("sources", kind, field_name, s), f"sources.{kind}.{field_name} names {s!r}, which is "
                                                              f"not one of tests {self.tests}"))
        keys = set(self.metric_keys())
        for ref_name, ref in self.references.items():
            for k in (k for k in ref.scores if k not in keys):
                out.append((("references", ref_name, "scores", k), f"references.{ref_name} scores {k!r}, not one of "
                                                                    f"{sorted(keys)}"))
        return out

    def symbols(self, text: str) -> list[str]:
        """A transcript as vocabulary symbols (sequence tasks): its characters, its space-separated units, or its
        characters with each tag word whole (characters+tags: no space symbol beside a tag)."""
        if self.tokenize == "characters+tags":
            tags = {v for v in self.vocabulary or () if len(v) > 1}
            out: list[str] = []
            after_tag = True  # nothing before the first word
            for word in text.split():
                tag = word in tags
                if not tag and not after_tag:
                    out.append(" ")
                out.extend([word] if tag else word)
                after_tag = tag
            return out
        return list(text) if self.tokenize == "characters" else text.split()

    def transcript(self, symbols: Sequence[str]) -> str:
        """`symbols`'s inverse: vocabulary symbols as a transcript, runs of spaces as one (a tag is a word)."""
        if self.tokenize == "whitespace":
            return " ".join(symbols)
        return " ".join("".join(f" {s} " if len(s) > 1 else s for s in symbols).split())

    def metric_keys(self) -> list[str]:
        """Keys of `Result.scores`: the metric name, prefixed by the eval split when there are several."""
        if len(self.evals) == 1:
            return list(self.metrics)
        return [f"{e}/{m}" for e in self.evals for m in self.metrics]

    def score_keys(self) -> list[str]:
        """The metric keys averaged into the task's main score (GLUE: two metrics -> their mean)."""
        if len(self.evals) == 1:
            return list(self.score)
        return [f"{e}/{m}" for e in self.evals for m in self.score]


class SuiteSpec(_Strict):
    name: Name
    description: str
    tasks: list[str]
    citation: str | None = None
    folds: dict[str, list[str]] = {}
    """Tasks of the suite that stand for several folds of one protocol (SUPERB's ER: superb-er-fold1 for the five
    IEMOCAP folds): the suite's cell for such a task is the mean over the folds when every fold has a result, the
    task alone otherwise, and the cell says which."""

    @model_validator(mode="after")
    def _folds_in_suite(self) -> SuiteSpec:
        for task, folds in self.folds.items():
            if task not in self.tasks:
                raise ValueError(f"folds: '{task}' is not one of the suite's tasks")
            if len(folds) < 2 or task not in folds or len(set(folds)) != len(folds):
                raise ValueError(f"folds: '{task}' must list two or more distinct tasks, itself among them")
        return self


class TaskFile(_Strict):
    schema_version: Literal[1] = Field(alias="schema")
    suites: dict[str, dict[str, Any]] = {}
    tasks: dict[str, dict[str, Any]] = {}


def _one_line(err: ValidationError, where: str, data: Any) -> str:
    return f"{where}: {errors(err, data)[0][1]}"


def parse_task(name: str, body: Any, origin: str, folder: Path | None = None) -> TaskSpec:
    """Validate one task entry; errors name the file, the task and the offending key. `folder`: the directory of
    the tasks file, recorded as the task's origin_dir."""
    if not isinstance(body, dict):
        raise BenchError(f"{origin}: task '{name}' must be a mapping, got {type(body).__name__}")
    try:
        task = TaskSpec.model_validate({"name": name, **body})
    except ValidationError as err:
        raise BenchError(_one_line(err, f"{origin}: task '{name}'", body)) from None
    task._origin_dir = folder  # set once, while the spec is being built
    return task


def parse_suite(name: str, body: Any, origin: str) -> SuiteSpec:
    if not isinstance(body, dict):
        raise BenchError(f"{origin}: suite '{name}' must be a mapping, got {type(body).__name__}")
    try:
        return SuiteSpec.model_validate({"name": name, **body})
    except ValidationError as err:
        raise BenchError(_one_line(err, f"{origin}: suite '{name}'", body)) from None


def load_task_file(path: Path) -> tuple[list[TaskSpec], list[SuiteSpec]]:
    """Read and validate a tasks YAML file (the first problem is a BenchError; benchmark.tasks.task_file reports
    them all)."""
    return parse_task_text(read_task_text(path), str(path), path.resolve().parent)


def read_task_text(path: Path) -> str:
    """A tasks file's text, refused when it is too large or unreadable."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:  # (refused before it is read into memory)
            raise BenchError(f"{path}: {path.stat().st_size} bytes, more than a tasks file may hold ({MAX_FILE_BYTES})")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BenchError(f"tasks file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise BenchError(f"cannot read tasks file {path}: {err}") from None
    return text


TOP_LEVEL = "expected a mapping with 'schema', 'suites' and 'tasks' at the top"


def parse_task_text(text: str, origin: str, folder: Path | None = None) -> tuple[list[TaskSpec], list[SuiteSpec]]:
    """Validate a tasks file's text; `folder` is where its tasks' `base: tasks-file` data lives."""
    raw = load_yaml(text, origin)
    if not isinstance(raw, dict):
        raise BenchError(f"{origin}: {TOP_LEVEL}")
    try:
        top = TaskFile.model_validate(raw)
    except ValidationError as err:
        raise BenchError(_one_line(err, origin, raw)) from None
    tasks = [parse_task(name, body, origin, folder) for name, body in top.tasks.items()]
    suites = [parse_suite(name, body, origin) for name, body in top.suites.items()]
    return tasks, suites
