"""An example `bench` plugin: the `hashbow` text upstream, the `example-questions` task (suite `example`), and a
head kind bench does not have, `multi-label` (with its metrics `micro_f1` and `mean_ap` and the CSV task
`example-multilabel`, whose data ship beside tasks.yaml).

bench finds this module through the entry point `example = "bench_example_plugin"` in the `bench` group and
calls the hooks below. Importing it is cheap on purpose: torch is imported only when a job builds `hashbow` or
trains the head, so `bench --help` and `bench plugins` stay fast.
"""

from __future__ import annotations

import importlib.resources
from typing import Any

from bench_example_plugin.multilabel import MultiLabelKind, mean_ap, micro_f1
from bench_example_plugin.questions import QuestionsLoader
from benchmark.errors import BenchError
from benchmark.hookspecs import hookimpl

__version__ = "0.1.0"
DEFAULT_DIM = 512
MAX_DIM = 4096


class HashbowFactory:
    """Builds `hashbow` (512 dimensions) or `hashbow:DIM`."""

    def dim(self, arg: str | None) -> int:
        if arg is None:
            return DEFAULT_DIM
        try:
            dim = int(arg)
        except ValueError:
            raise BenchError(f"hashbow:{arg}: expected a dimension, e.g. hashbow:128") from None
        if not 1 <= dim <= MAX_DIM:
            raise BenchError(f"hashbow:{arg}: the dimension must be between 1 and {MAX_DIM}")
        return dim

    def missing(self, arg: str | None) -> str | None:
        """Checked before any job starts: a bad argument fails at once; nothing is ever missing otherwise."""
        self.dim(arg)
        return None

    def __call__(self, arg: str | None, *, name: str, trust_remote_code: bool = False) -> Any:
        dim = self.dim(arg)
        from bench_example_plugin.hashbow import HashBow

        return HashBow(name=name, dim=dim)


@hookimpl
def register_upstreams(register: Any) -> None:
    register("hashbow", HashbowFactory(), modality="text",
             description="hashed character-trigram bag of words + 2 fixed random tanh layers (example plugin); "
                         "hashbow:DIM sets the width")


@hookimpl
def register_datasets(register: Any) -> None:
    register("example-questions", QuestionsLoader(),
             description="question vs statement, from the VADER snippets (Hutto & Gilbert 2014)")


@hookimpl
def register_downstreams(register: Any) -> None:
    register("multi-label", MultiLabelKind())


@hookimpl
def register_metrics(register: Any) -> None:
    register("micro_f1", micro_f1, higher_is_better=True, kind="multi-label")
    register("mean_ap", mean_ap, higher_is_better=True, kind="multi-label")


@hookimpl
def register_tasks(register: Any) -> None:
    resource = importlib.resources.files(__name__).joinpath("tasks.yaml")
    with importlib.resources.as_file(resource) as path:  # a real file even if the package is zipped
        register(path)
