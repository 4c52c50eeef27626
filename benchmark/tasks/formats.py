"""Data formats: how one file of a `local:` source becomes a split's Examples.

Formats are a registry, filled through the `register_formats` hook; `benchmark.tasks.builtin_formats` registers
`tsv` (and `glue-tsv`), `csv`, `jsonl`, `json`, `parquet` and the token-level `conllu`, `conll`, `squad-json`.
A task names one with `local: {format: NAME}`; an unknown name is a one-line error (Registry.check), never a
silent fall-back to another reader.

A format is any object with a `name`, a `description` and `read` (DataFormat); one that can also read a
benchmark's unlabeled test split adds `read_unlabeled` (UnlabeledFormat). A table format only has to split a
file into rows of cells: subclass RowFormat and write `rows()`; columns by name or number, header handling,
label conversion and test splits come with it, the same for every table format.

Corpus layouts (speech and image folder trees: `speech-commands`, `image-folder`...) are not formats: they read
a folder per split, with selectors, and yield audio or image references (benchmark.tasks.corpus).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from benchmark.errors import BenchError
from benchmark.tasks.schema import Column, LocalSource, TaskSpec
from benchmark.tasks.targets import convert_target, index_value
from benchmark.types import Examples, Unlabeled

Cells = list[Any]
Rows = list[tuple[int, Cells]]
"""A table's rows with their number (a file line for text tables, a row index otherwise), header excluded."""


@runtime_checkable
class DataFormat(Protocol):
    """Reads the file of one labelled split: its examples (targets converted for the task, see `target`) and
    how many malformed rows were skipped (reported as a warning)."""

    name: str
    description: str

    def read(self, task: TaskSpec, source: LocalSource, path: Path) -> tuple[Examples, int]: ...


@runtime_checkable
class UnlabeledFormat(DataFormat, Protocol):
    """A format that also reads unlabeled test splits (--predict-test): each example's index and inputs. The
    source given has the split's overrides (header, inputs, index) applied already."""

    def read_unlabeled(self, task: TaskSpec, source: LocalSource, path: Path) -> Unlabeled: ...


def target(task: TaskSpec, value: Any, where: str) -> Any:
    """A raw label as the task's target. Every builtin format converts through here (one place to change)."""
    return convert_target(task, value, where)


def read_text(path: Path) -> str:
    """A file's text as UTF-8; anything else is one line naming the line and the byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8").removeprefix("\ufeff")  # (a byte-order mark is not part of the first cell)
    except UnicodeDecodeError as err:
        line = err.object[: err.start].count(b"\n") + 1
        raise BenchError(f"{path}: line {line} is not UTF-8 text (byte 0x{err.object[err.start]:02x}); convert the "
                         "file with iconv -t UTF-8") from None


def _json_problem(err: BaseException) -> str:
    if isinstance(err, RecursionError):
        return "nested too deeply"
    if isinstance(err, json.JSONDecodeError):
        return f"{type(err).__name__}: {err}"
    return f"a number too large: {str(err).split(':')[0]}"


def columns(header: Sequence[str] | None, wanted: Sequence[Column], path: Path) -> list[int]:
    """Column numbers of `wanted` (names looked up in the header, numbers kept)."""
    out = []
    for col in wanted:
        if isinstance(col, int):
            out.append(col)
        elif header is None:
            raise BenchError(f"{path}: column '{col}' named but the file has no header (use column numbers)")
        elif col in header:
            out.append(list(header).index(col))
        else:
            raise BenchError(f"{path}: no column '{col}' (columns: {', '.join(header)})")
    return out


def _one(texts: list[str]) -> Any:
    """A single-input example is its string, a pair task's a tuple."""
    return texts[0] if len(texts) == 1 else tuple(texts)


def _blank(row: Cells) -> bool:
    return not row or all(not str(c).strip() for c in row)


class RowFormat:
    """A table read as rows of cells. Subclasses set `name`, `description` and write `rows()`.

    `column_kind` says how messages name the columns ("tab-separated"); `skip_short` skips (and counts) rows with too
    few cells instead of refusing the file, for GLUE's QQP and MNLI files, which hold a few rows broken by stray
    tabs and newlines."""

    name: str
    description: str
    column_kind = "separated"
    skip_short = False

    def rows(self, path: Path, header: bool) -> tuple[list[str] | None, Rows]:
        """The header (None when `header` is false or the file has none) and the numbered rows after it."""
        raise NotImplementedError

    def at(self, path: Path, n: int) -> str:
        """Where row `n` is, for messages."""
        return f"{path}:{n}"

    def _cells(self, path: Path, source: LocalSource, last: Column, labelled: bool
               ) -> tuple[list[tuple[int, Any, Any]], int]:
        """(row number, the row's input, its `last` column) for each non-blank row, and how many were skipped."""
        header, rows = self.rows(path, source.header)
        cols = columns(header, [*source.inputs, last], path)
        need = max(cols) + 1
        out, skipped = [], 0
        for n, row in rows:
            if _blank(row):
                continue
            if len(row) < need:
                if labelled and self.skip_short:  # a test split needs a prediction for every row: never skip one
                    skipped += 1
                    continue
                raise BenchError(f"{self.at(path, n)}: expected at least {need} {self.column_kind} columns, "
                                 f"got {len(row)}")
            out.append((n, _one([str(row[c]) for c in cols[:-1]]), row[cols[-1]]))
        if labelled and rows and not out:
            raise BenchError(f"{path}: no row has the expected {need} {self.column_kind} columns")
        return out, skipped

    def read(self, task: TaskSpec, source: LocalSource, path: Path) -> tuple[Examples, int]:
        label = source.label if source.label is not None else ""  # the schema requires a label for tables
        cells, skipped = self._cells(path, source, label, labelled=True)
        targets = tuple(target(task, value, self.at(path, n)) for n, _, value in cells)
        return Examples(tuple(x for _, x, _ in cells), targets), skipped

    def read_unlabeled(self, task: TaskSpec, source: LocalSource, path: Path) -> Unlabeled:
        cells, _ = self._cells(path, source, source.index, labelled=False)
        return Unlabeled(tuple(index_value(i) for _, _, i in cells), tuple(x for _, x, _ in cells))


def _header(table: list[list[str]], header: bool) -> tuple[list[str] | None, Rows]:
    """Split text rows (numbered from line 1) into the header and the rest."""
    numbered = list(enumerate(table, start=1))
    if header and numbered:
        return numbered[0][1], numbered[1:]
    return None, numbered


@dataclass(frozen=True)
class Tsv(RowFormat):
    """Tab-separated values with no quoting (a quote is an ordinary character), as GLUE's files are written."""

    name: str = "tsv"
    description: str = "tab-separated values, no quoting (GLUE's files); rows with too few columns are skipped"
    column_kind = "tab-separated"
    skip_short = True

    def rows(self, path: Path, header: bool) -> tuple[list[str] | None, Rows]:
        csv.field_size_limit(sys.maxsize)
        text = read_text(path)
        return _header(list(csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)),
                       header)


@dataclass(frozen=True)
class Csv(RowFormat):
    """Comma-separated values as spreadsheets write them (Python's csv module, RFC 4180): a quoted field may
    hold commas, doubled quotes and newlines; a UTF-8 byte-order mark is dropped."""

    name: str = "csv"
    description: str = "comma-separated values, quoted fields may hold commas, quotes and newlines (RFC 4180)"
    column_kind = "comma-separated"

    def rows(self, path: Path, header: bool) -> tuple[list[str] | None, Rows]:
        csv.field_size_limit(sys.maxsize)
        reader = csv.reader(io.StringIO(read_text(path), newline=""), strict=True)
        rows: Rows = []
        line = 1
        try:
            for row in reader:
                rows.append((line, row))  # a record is named by the line it starts on
                line = reader.line_num + 1
        except csv.Error as err:
            raise BenchError(f"{path}:{line}: not valid CSV ({err})") from None
        if header and rows:
            return rows[0][1], rows[1:]
        return None, rows


@dataclass(frozen=True)
class Parquet(RowFormat):
    """Apache Parquet, read with pyarrow (a dependency of `datasets`). Columns always have names; numbers count
    from 0 in the file's column order. Cells keep their type (a label may be an int or a string)."""

    name: str = "parquet"
    description: str = "Apache Parquet (read with pyarrow); columns by name or number"
    column_kind = "Parquet"

    def at(self, path: Path, n: int) -> str:
        return f"{path}: row {n}"

    def rows(self, path: Path, header: bool) -> tuple[list[str] | None, Rows]:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise BenchError("format parquet needs pyarrow: pip install pyarrow") from None
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as err:
            raise BenchError(f"{path}: not a readable Parquet file ({str(err).splitlines()[0]})") from None
        cells = [table.column(i).to_pylist() for i in range(table.num_columns)]
        return list(table.column_names), [(n, list(row)) for n, row in enumerate(zip(*cells))]


@dataclass(frozen=True)
class Jsonl:
    """One JSON object per line; `inputs` and `label` name fields."""

    name: str = "jsonl"
    description: str = "one JSON object per line; inputs and label name fields"

    def _records(self, path: Path) -> list[tuple[int, Any]]:
        out = []
        for lineno, line in enumerate(read_text(path).splitlines(), start=1):
            if not line.strip():
                continue
            try:
                out.append((lineno, json.loads(line)))
            except (ValueError, RecursionError) as err:  # (bad JSON, an int of >4300 digits, nesting too deep)
                raise BenchError(f"{path}:{lineno}: bad JSONL row ({_json_problem(err)})") from None
        return out

    def read(self, task: TaskSpec, source: LocalSource, path: Path) -> tuple[Examples, int]:
        inputs, targets = [], []
        for lineno, obj in self._records(path):
            try:
                texts = [str(obj[c]) for c in source.inputs]
                label = obj[source.label if source.label is not None else ""]
            except (KeyError, TypeError, IndexError) as err:
                raise BenchError(f"{path}:{lineno}: bad JSONL row ({type(err).__name__}: {err})") from None
            inputs.append(_one(texts))
            targets.append(target(task, label, f"{path}:{lineno}"))
        return Examples(tuple(inputs), tuple(targets)), 0

    def read_unlabeled(self, task: TaskSpec, source: LocalSource, path: Path) -> Unlabeled:
        index, inputs = [], []
        for lineno, obj in self._records(path):
            try:
                texts = [str(obj[c]) for c in source.inputs]
                index.append(index_value(obj[source.index]))
            except (KeyError, TypeError, IndexError) as err:
                raise BenchError(f"{path}:{lineno}: bad JSONL row ({type(err).__name__}: {err})") from None
            inputs.append(_one(texts))
        return Unlabeled(tuple(index), tuple(inputs))


@dataclass(frozen=True)
class Json:
    """One JSON array of records (TAPE's raw data layout: `[{"primary": "MSK...", "log_fluorescence": [3.8]}]`);
    a label given as a one-element list is unwrapped."""

    name: str = "json"
    description: str = "one JSON array of records (TAPE's raw files); a one-element list label is unwrapped"

    def _records(self, path: Path) -> list[Any]:
        try:
            rows = json.loads(read_text(path))
        except json.JSONDecodeError as err:
            raise BenchError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from None
        except (ValueError, RecursionError) as err:
            raise BenchError(f"{path}: not valid JSON ({_json_problem(err)})") from None
        if not isinstance(rows, list):
            raise BenchError(f"{path}: expected a JSON array of records, got {type(rows).__name__}")
        return rows

    @staticmethod
    def _fields(obj: Any, names: list[Column], path: Path, i: int) -> list[Any]:
        try:
            return [obj[c] for c in names]
        except (KeyError, TypeError, IndexError) as err:
            raise BenchError(f"{path}: record {i}: no field {err} (fields: "
                             f"{', '.join(obj) if isinstance(obj, dict) else type(obj).__name__})") from None

    def read(self, task: TaskSpec, source: LocalSource, path: Path) -> tuple[Examples, int]:
        inputs, targets = [], []
        for i, obj in enumerate(self._records(path)):
            *texts, label = self._fields(obj, [*source.inputs, source.label if source.label is not None else ""],
                                         path, i)
            if isinstance(label, list) and len(label) == 1:
                label = label[0]
            inputs.append(_one([str(t) for t in texts]))
            targets.append(target(task, label, f"{path}: record {i}"))
        return Examples(tuple(inputs), tuple(targets)), 0

    def read_unlabeled(self, task: TaskSpec, source: LocalSource, path: Path) -> Unlabeled:
        index, inputs = [], []
        for i, obj in enumerate(self._records(path)):
            *texts, at = self._fields(obj, [*source.inputs, source.index], path, i)
            index.append(index_value(at))
            inputs.append(_one([str(t) for t in texts]))
        return Unlabeled(tuple(index), tuple(inputs))


@dataclass(frozen=True)
class TextFormat:
    """A format whose parser reads a file's whole text: parse(task, source, path, text) -> Examples (the
    token-level readers of benchmark.tasks.token_data: CoNLL-U, CoNLL-2003 columns, SQuAD JSON)."""

    name: str
    description: str
    parse: Callable[[TaskSpec, LocalSource, Path, str], Examples]

    def read(self, task: TaskSpec, source: LocalSource, path: Path) -> tuple[Examples, int]:
        return self.parse(task, source, path, read_text(path)), 0


GLUE_TSV = Tsv(name="glue-tsv", description="the GLUE download layout: tsv (tab-separated, no quoting)")
BUILTIN: tuple[DataFormat, ...] = (Tsv(), GLUE_TSV, Csv(), Jsonl(), Json(), Parquet())
"""The table formats of benchmark.tasks.builtin_formats (which adds the token-level ones)."""

