"""`bench new-plugin NAME`: write a third-party plugin package that works before its author changes a line.

The files come from templates shipped as package data (`benchmark/assets/plugin-template/`, so they are in the
wheel): every `*.tmpl` file is written without that suffix, with `{{key}}` placeholders in its text and path
filled from `PluginNames`. Plain `str` replacement of a fixed set of keys, never a template engine: a scaffold is
data, and an unknown key is a bug in the template, caught by the tests. A `dot-` prefix becomes `.`: a real
`.gitignore` in the template folder would be read by git as one of bench's own.

One short NAME gives every other name, so that what the user types in `bench run` matches what PyPI shows:
`myenc` -> distribution `bench-myenc`, import package `bench_myenc` (the prefix keeps it clear of the standard
library and of other packages), entry point, upstream and suite `myenc`, task and dataset loader
`myenc-charnames`. A name that is taken (by a builtin, an installed plugin, or an importable module) is refused
before anything is written: the scaffold's own tests would fail on it, and bench would skip the plugin.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import re
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError
from benchmark.paths import make_dir
from benchmark.version import DISTRIBUTION, __version__

TEMPLATE = ("assets", "plugin-template")
MAX_NAME = 40
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True)
class PluginNames:
    """Every name of one scaffolded plugin, derived from the short name."""

    name: str  # the upstream, the entry point (the plugin's name in `bench plugins`) and the suite
    dist: str  # the distribution on PyPI: pip install bench-NAME
    module: str  # the import package under src/
    task: str  # the task and the dataset loader its recipe names
    bench_version: str  # the lowest bench the scaffold is known to work with
    bench_dist: str = DISTRIBUTION  # bench's own distribution, what the plugin depends on (not `bench` on PyPI)

    def placeholders(self) -> dict[str, str]:
        return {"name": self.name, "dist": self.dist, "module": self.module, "task": self.task,
                "bench_version": self.bench_version, "bench_dist": self.bench_dist}


@dataclass(frozen=True)
class Scaffold:
    """What `create` wrote: the names, the package directory and its files (relative, sorted)."""

    names: PluginNames
    dest: Path
    files: tuple[str, ...]


def plugin_names(name: str) -> PluginNames:
    """The names for NAME (`myenc` or `bench-myenc`); a BenchError says what a valid NAME looks like."""
    short = name.strip()
    for prefix in ("bench-", "bench_"):
        if short.startswith(prefix):
            short = short[len(prefix):]  # `bench new-plugin bench-myenc` means the same plugin as `myenc`
    if not _NAME.match(short) or len(short) > MAX_NAME:
        raise BenchError(f"plugin name '{name}' is not valid: use lower-case letters, digits and single hyphens, "
                         f"starting with a letter, at most {MAX_NAME} characters (e.g. my-encoder)")
    return PluginNames(name=short, dist=f"bench-{short}", module="bench_" + short.replace("-", "_"),
                       task=f"{short}-charnames", bench_version=__version__)


def check_free(names: PluginNames, plugins: Any | None = None) -> None:
    """Refuse names another plugin registered or another installed module has (`plugins`: a loaded
    `benchmark.plugin.manager.Plugins`; by default the current process's)."""
    if plugins is None:
        from benchmark.plugin.manager import get_plugins

        plugins = get_plugins()
    registry = plugins.registry
    wanted = (("upstream", registry.upstreams, names.name), ("suite", registry.suites, names.name),
              ("task", registry.tasks, names.task), ("suite", registry.suites, names.task),
              ("dataset loader", registry.datasets, names.task))
    for kind, table, wanted_name in wanted:
        if wanted_name in table:
            owner = table.get(wanted_name).plugin
            raise BenchError(f"{kind} '{wanted_name}' already exists (plugin {owner}); choose another plugin name")
    if names.name in plugins.infos:
        raise BenchError(f"a plugin named '{names.name}' is already installed ({plugins.infos[names.name].source}); "
                         "choose another plugin name")
    if importlib.util.find_spec(names.module) is not None:
        raise BenchError(f"a Python module '{names.module}' is already installed; choose another plugin name")


def _template_root() -> Traversable:
    root = importlib.resources.files("benchmark")
    for part in TEMPLATE:
        root = root.joinpath(part)
    return root


def _walk(node: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    out = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.name == "__pycache__":
            continue
        if child.is_dir():
            out.extend(_walk(child, f"{prefix}{child.name}/"))
        elif child.name.endswith(".tmpl"):
            out.append((prefix + child.name, child))
    return out


def render(text: str, values: dict[str, str]) -> str:
    """Fill `{{key}}` placeholders; a key not in `values` is a bug in the template (ValueError)."""

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise ValueError(f"unknown placeholder {{{{{key}}}}} in the plugin template")
        return values[key]

    return _PLACEHOLDER.sub(fill, text)


def _target(template_path: str, values: dict[str, str]) -> str:
    parts = render(template_path.removesuffix(".tmpl"), values).split("/")
    return "/".join("." + p[len("dot-"):] if p.startswith("dot-") else p for p in parts)


def render_files(names: PluginNames) -> dict[str, str]:
    """{relative path: text} of the scaffold for `names`, in memory."""
    values = names.placeholders()
    return {_target(path, values): render(node.read_text(encoding="utf-8"), values)
            for path, node in _walk(_template_root())}


def create(name: str, dest: str | Path | None = None, *, plugins: Any | None = None,
           check_names: bool = True) -> Scaffold:
    """Write the plugin package for NAME into `dest` (default ./bench-NAME), which must not exist or be empty.

    check_names=False skips the look-up of taken names (tests that scaffold a plugin twice in one process).
    Everything is rendered before the first file is written, so a refusal leaves nothing behind."""
    names = plugin_names(name)
    target = Path(dest) if dest is not None else Path(names.dist)
    if target.exists() and not target.is_dir():
        raise BenchError(f"{target} exists and is not a directory; give another --dest")
    if target.is_dir() and any(target.iterdir()):
        raise BenchError(f"{target} already exists and is not empty; give another --dest or remove it")
    if check_names:
        check_free(names, plugins)
    files = render_files(names)
    make_dir(target)  # its parent must exist (benchmark.paths); the package's own folders are made below
    for rel, text in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    return Scaffold(names, target, tuple(sorted(files)))
