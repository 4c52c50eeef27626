"""What plugins registered, which plugin registered each thing, and lookups that suggest near names."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from benchmark.errors import BenchError, PluginError, did_you_mean

if TYPE_CHECKING:
    from benchmark.tasks.schema import TaskSpec

T = TypeVar("T")


@dataclass(frozen=True)
class Registration(Generic[T]):
    name: str
    obj: T
    plugin: str
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


class Table(Generic[T]):
    """Name -> registration for one kind of thing (upstreams, tasks, ...)."""

    def __init__(self, kind: str, list_command: str) -> None:
        self.kind = kind
        self.list_command = list_command
        self._items: dict[str, Registration[T]] = {}

    def add(self, name: str, obj: T, plugin: str, description: str = "", **meta: Any) -> None:
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin '{plugin}' registered a {self.kind} with an invalid name {name!r}")
        if name in self._items:
            other = self._items[name].plugin
            raise PluginError(
                f"{self.kind} '{name}' is registered by both plugin '{other}' and plugin '{plugin}'; "
                f"uninstall or block one of them (BENCH_BLOCK_PLUGINS={plugin})"
            )
        self._items[name] = Registration(name, obj, plugin, description, meta)

    def get(self, name: str) -> Registration[T]:
        try:
            return self._items[name]
        except KeyError:
            hint = did_you_mean(name, self._items)
            raise BenchError(f"unknown {self.kind} '{name}'{hint} ({self.list_command})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[Registration[T]]:
        return iter(sorted(self._items.values(), key=lambda r: r.name))

    def __len__(self) -> int:
        return len(self._items)

    def remove_plugin(self, plugin: str) -> None:
        """Forget everything `plugin` registered (it failed part-way through a hook)."""
        self._items = {k: r for k, r in self._items.items() if r.plugin != plugin}

    def names(self) -> list[str]:
        return sorted(self._items)

    def by_plugin(self, plugin: str) -> list[str]:
        return sorted(r.name for r in self._items.values() if r.plugin == plugin)


@dataclass(frozen=True)
class Metric:
    """A metric: fn(y_true, y_pred) -> float, reported in percent points like the GLUE leaderboard."""

    fn: Callable[[Any, Any], float]
    higher_is_better: bool
    kind: str


class Registry:
    """Everything the loaded plugins registered."""

    def __init__(self) -> None:
        self.upstreams: Table[Callable[..., Any]] = Table("upstream", "bench list upstreams")
        self.downstreams: Table[Any] = Table("head", "bench list heads")
        self.tasks: Table[Any] = Table("task", "bench list tasks")
        self.suites: Table[Any] = Table("suite", "bench list suites")
        self.datasets: Table[Callable[..., Any]] = Table("dataset loader", "bench plugins")
        self.formats: Table[Any] = Table("data format", "bench plugins")
        self.metrics: Table[Metric] = Table("metric", "bench list metrics")
        self.executors: Table[Any] = Table("executor", "bench list executors")

    # -- the `register` callables handed to each hook -------------------------------------------------
    def upstream_registrar(self, plugin: str) -> Callable[..., None]:
        def register(name: str, factory: Callable[..., Any], *, description: str = "", modality: str = "text") -> None:
            if not callable(factory):
                raise PluginError(f"plugin '{plugin}' registered upstream '{name}' with a non-callable factory")
            self.upstreams.add(name, factory, plugin, description, modality=modality)

        return register

    def downstream_registrar(self, plugin: str) -> Callable[..., None]:
        def register(name: str, downstream: Any, *, description: str = "") -> None:
            self.downstreams.add(name, downstream, plugin, description or getattr(downstream, "description", ""))

        return register

    def dataset_registrar(self, plugin: str) -> Callable[..., None]:
        def register(name: str, loader: Callable[..., Any], *, description: str = "") -> None:
            if not callable(loader):
                raise PluginError(f"plugin '{plugin}' registered dataset loader '{name}' that is not callable")
            self.datasets.add(name, loader, plugin, description)

        return register

    def format_registrar(self, plugin: str) -> Callable[..., None]:
        def register(fmt: Any) -> None:
            from benchmark.tasks.schema import CORPUS_LAYOUTS

            name = getattr(fmt, "name", None)
            if not callable(getattr(fmt, "read", None)):
                raise PluginError(f"plugin '{plugin}' registered data format {name!r} without a read() method")
            if name in CORPUS_LAYOUTS:
                raise PluginError(f"plugin '{plugin}' registered data format '{name}', the name of a corpus layout")
            self.formats.add(name, fmt, plugin, getattr(fmt, "description", ""))  # type: ignore[arg-type]

        return register

    def metric_registrar(self, plugin: str) -> Callable[..., None]:
        def register(
            name: str, fn: Callable[[Any, Any], float], *, higher_is_better: bool = True, kind: str = "classification"
        ) -> None:
            self.metrics.add(name, Metric(fn, higher_is_better, kind), plugin, kind)

        return register

    def executor_registrar(self, plugin: str) -> Callable[..., None]:
        def register(name: str, executor: Any, *, description: str = "") -> None:
            if not callable(getattr(executor, "run", None)):
                raise PluginError(f"plugin '{plugin}' registered executor '{name}' without a run() method")
            self.executors.add(name, executor, plugin, description or getattr(executor, "description", ""))

        return register

    def task_registrar(self, plugin: str) -> Callable[..., None]:
        from benchmark.tasks.schema import SuiteSpec, TaskSpec, load_task_file

        def register(item: TaskSpec | SuiteSpec | str | Path) -> None:
            if isinstance(item, str | Path):
                tasks, suites = load_task_file(Path(item))
                for task in tasks:
                    self.tasks.add(task.name, task, plugin, task.description)
                for suite in suites:
                    self.suites.add(suite.name, suite, plugin, suite.description)
            elif isinstance(item, TaskSpec):
                self.tasks.add(item.name, item, plugin, item.description)
            elif isinstance(item, SuiteSpec):
                self.suites.add(item.name, item, plugin, item.description)
            else:
                raise PluginError(
                    f"plugin '{plugin}' called register_tasks' register() with {type(item).__name__}; "
                    "pass a YAML path, a TaskSpec or a SuiteSpec"
                )

        return register

    def remove_plugin(self, plugin: str) -> None:
        for table in (self.upstreams, self.downstreams, self.tasks, self.suites, self.datasets, self.metrics,
                      self.executors, self.formats):
            table.remove_plugin(plugin)

    def registered_by(self, plugin: str) -> dict[str, list[str]]:
        tables = {"upstreams": self.upstreams, "downstreams": self.downstreams, "tasks": self.tasks,
                  "suites": self.suites, "datasets": self.datasets, "metrics": self.metrics,
                  "executors": self.executors, "formats": self.formats}
        return {kind: table.by_plugin(plugin) for kind, table in tables.items()}

    def check(self, names: set[str] | None = None) -> list[str]:
        """Cross-references between registrations: problems as one-line strings (suite -> task, task -> head...).
        `names`: only the suites and tasks with these names."""
        return [text for _, text in self.problems(names)]

    def problems(self, names: set[str] | None = None, invalid: frozenset[str] = frozenset()
                 ) -> list[tuple[tuple[str | int, ...], str]]:
        """check()'s problems, each with the key it is about in a tasks file (("tasks", NAME, "head")), so a
        tasks file's problems are reported at their lines. `invalid`: tasks a file defines that failed the
        schema (reported already): a suite naming one is not told the task is unknown."""
        out: list[tuple[tuple[str | int, ...], str]] = []
        for suite in self.suites:
            if names is not None and suite.name not in names:
                continue
            for i, task in enumerate(suite.obj.tasks):
                if task not in self.tasks and task not in invalid:
                    out.append((("suites", suite.name, "tasks", i), f"suite '{suite.name}' names unknown task "
                                f"'{task}'{did_you_mean(task, self.tasks.names())}"))
            for key, folds in suite.obj.folds.items():
                for i, task in enumerate(folds):
                    if task not in self.tasks and task not in invalid:
                        out.append((("suites", suite.name, "folds", key, i), f"suite '{suite.name}' names unknown "
                                    f"fold task '{task}'{did_you_mean(task, self.tasks.names())}"))
        for reg in self.tasks:
            if names is not None and reg.name not in names:
                continue
            task = reg.obj
            local, recipe = task.sources.local, task.sources.recipe
            out.extend(self.unknown_names(task.name, task.head, task.metrics, local and local.format,
                                          recipe and recipe.name))
            if task.head in self.downstreams:
                from benchmark.heads.protocol import head_problems

                out.extend((("tasks", task.name, "head"), p) for p in head_problems(self, task))  # its `validate`
            directions = {self.metrics.get(m).obj.higher_is_better for m in task.score if m in self.metrics}
            if len(directions) > 1:
                out.append((("tasks", task.name, "score"), f"task '{task.name}' averages metrics that disagree on "
                            f"direction ({', '.join(task.score)}); score higher-is-better and lower-is-better "
                            "metrics in separate tasks"))
        return out

    def unknown_names(self, task: str, head: Any, metrics: Any, fmt: Any, loader: Any
                      ) -> list[tuple[tuple[str | int, ...], str]]:
        """The names a task gives that nothing registered (its head, metrics, local data format, dataset loader),
        each with its key. The values may be anything (a tasks file's task that failed the schema is checked too,
        so its names need no second run): only strings are looked up."""
        from benchmark.tasks.schema import CORPUS_LAYOUTS

        at = ("tasks", task)
        out: list[tuple[tuple[str | int, ...], str]] = []
        if isinstance(head, str) and head not in self.downstreams:
            out.append(((*at, "head"), f"task '{task}' uses unknown head '{head}'"
                                       f"{did_you_mean(head, self.downstreams.names())}"))
        for i, m in enumerate(metrics if isinstance(metrics, list) else ()):
            if isinstance(m, str) and m not in self.metrics:
                out.append(((*at, "metrics", i), f"task '{task}' uses unknown metric '{m}'"
                                                 f"{did_you_mean(m, self.metrics.names())}"))
        if isinstance(loader, str) and loader not in self.datasets:
            out.append(((*at, "sources", "recipe", "name"), f"task '{task}' uses unknown dataset loader '{loader}'"))
        if isinstance(fmt, str) and fmt not in CORPUS_LAYOUTS and fmt not in self.formats:
            # (the schema cannot see the registry: a local source names a registered format or a corpus layout)
            out.append(((*at, "sources", "local", "format"), f"task '{task}' uses unknown data format '{fmt}'"
                        f"{did_you_mean(fmt, [*self.formats.names(), *CORPUS_LAYOUTS])} (known: "
                        f"{', '.join(self.formats.names())}; or a corpus layout, docs/tasks.md)"))
        return out

    def suites_of(self, task: str) -> tuple[str, ...]:
        return tuple(s.name for s in self.suites if task in s.obj.tasks)


def expand_tasks(names: Sequence[str], registry: Registry) -> list[TaskSpec]:
    """Suite and task names -> tasks, in order, without repeats. Unknown names get 'did you mean'."""
    out: dict[str, TaskSpec] = {}
    for name in names:
        if name in registry.suites:
            for t in registry.suites.get(name).obj.tasks:
                out.setdefault(t, registry.tasks.get(t).obj)
        elif name in registry.tasks:
            out.setdefault(name, registry.tasks.get(name).obj)
        else:
            choices = registry.tasks.names() + registry.suites.names()
            raise BenchError(f"unknown task or suite '{name}'{did_you_mean(name, choices)} (bench list tasks)")
    return list(out.values())
