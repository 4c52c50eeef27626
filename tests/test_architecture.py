"""The layout's promises, checked on the source: no import cycles (function-level and type-only imports
included), no module over 400 lines, builtin plugins never import the CLI, the core imports no builtin plugin
module, and the engine never branches on a head's name (heads are registered trainers)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("benchmark", "upstreams", "downstreams")
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str, type_only: bool = True) -> set[str]:
    """Every project module `module` imports, at module level or inside functions, and with `type_only` also the
    imports made only for type checkers (under `if TYPE_CHECKING:`): a cycle through those never fails at run
    time, but it still ties the layers together, and a type checker follows it."""
    out: set[str] = set()
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if not type_only and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                target = _resolve(f"{node.module}.{alias.name}") or _resolve(node.module)
                if target and target != module:
                    out.add(target)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name)
                if target and target != module:
                    out.add(target)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    graph = {m: imports(m) for m in MODULES}
    assert cycles(graph) == []


def test_no_module_over_400_lines() -> None:
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_builtin_plugins_never_import_the_cli() -> None:
    offenders = {m: sorted(t for t in imports(m) if t == "benchmark.cli" or t.startswith("benchmark.cli."))
                 for m in MODULES if m.startswith(("upstreams", "downstreams"))}
    assert {m: t for m, t in offenders.items() if t} == {}


def test_the_core_imports_no_builtin_plugin() -> None:
    """benchmark/ names its builtin plugins only as strings (DEFAULT_PLUGINS); Ray workers load them through the
    plugin manager like the driver."""
    offenders = {m: sorted(t for t in imports(m) if t.split(".")[0] in ("upstreams", "downstreams"))
                 for m in MODULES if m.startswith("benchmark")}
    assert {m: t for m, t in offenders.items() if t} == {}


def test_only_the_command_line_imports_the_command_line() -> None:
    """The CLI sits on top: the engine, tasks, heads, report... never import it (clitools, the public helpers for
    plugin commands, may use its parameter types; `python -m benchmark` starts it)."""
    allowed = ("benchmark.cli", "benchmark.__main__", "benchmark.clitools")
    offenders = {m: sorted(t for t in imports(m) if t == "benchmark.cli" or t.startswith("benchmark.cli."))
                 for m in MODULES if m.startswith("benchmark") and not m.startswith(allowed)}
    assert {m: t for m, t in offenders.items() if t} == {}


RUN_PATH = ("benchmark.cli.run", "benchmark.engine.runner", "benchmark.engine.execution", "benchmark.engine.job",
            "benchmark.engine.results", "benchmark.engine.request")
"""The modules `bench run --upstream ...` crosses from the command line to the result file (docs/architecture.md):
the command builds the request and hands it to the runner, which plans it and has it executed, job by job, each
result written to its file; the request is the typed value every step reads, so it sits below them all."""


def test_one_run_crosses_six_modules_one_way_down() -> None:
    assert len(RUN_PATH) <= 6
    for i, module in enumerate(RUN_PATH):
        assert module in MODULES
        upward = sorted(set(RUN_PATH[:i]) & imports(module))
        assert upward == [], f"{module} imports {upward}, above it on the run path"
    # each step reaches the next one: the path is real, not a list of names
    assert {"benchmark.engine.request", "benchmark.engine.runner"} <= imports("benchmark.cli.run")
    assert "benchmark.engine.request" in imports("benchmark.engine.runner")
    assert "benchmark.engine.execution" in imports("benchmark.engine.runner")
    assert "benchmark.engine.job" in imports("benchmark.engine.execution")
    assert "benchmark.engine.results" in imports("benchmark.engine.execution")
