"""The plugin manager: builtin plugins are an import list, third-party ones come from the `bench` entry points.

A third-party plugin that fails to import (SystemExit included), hangs importing (BENCH_PLUGIN_IMPORT_TIMEOUT
seconds, default 10), or raises in one of its hooks, is reported as one line and skipped; it never takes
`bench --help` down with it. `BENCH_DISABLE_PLUGIN_AUTOLOAD=1` turns entry points off, `BENCH_PLUGINS=pkg.mod,...` imports plugin modules by name (no installation needed), and
`BENCH_BLOCK_PLUGINS=a,b` skips the named ones, builtins included (as pytest's `-p no:NAME`).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from benchmark import hookspecs
from benchmark.errors import BenchError
from benchmark.plugin.registry import Registry

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "bench"
DEFAULT_PLUGINS: tuple[str, ...] = (
    "benchmark.tasks.builtin",
    "benchmark.tasks.builtin_formats",
    "downstreams.metrics",
    "downstreams.heads",
    "downstreams.heads_qbe",
    "downstreams.heads_sd",
    "downstreams.heads_sf",
    "downstreams.heads_sv",
    "downstreams.heads_spoken_qa",
    "downstreams.recipes.vader",
    "downstreams.recipes.speech_synth",
    "downstreams.recipes.speech_qbe",
    "downstreams.recipes.speech_sd",
    "downstreams.recipes.speech_sf",
    "downstreams.recipes.speech_sv",
    "downstreams.recipes.images",
    "downstreams.recipes.biosequences",
    "downstreams.recipes.music",
    "downstreams.recipes.tag_samples",
    "downstreams.recipes.fortunes_qa",
    "downstreams.recipes.spoken_qa",
    "downstreams.recipes.nmsqa",
    "downstreams.recipes.multilingual",
    "downstreams.analyses",
    "downstreams.units_cmd",
    "upstreams.text",
    "upstreams.causal",
    "upstreams.speech",
    "upstreams.image",
    "benchmark.engine.executors",
)

# Hooks whose `register` callable is built by the registry, and which registry method builds it.
_REGISTRARS: dict[str, str] = {
    "register_metrics": "metric_registrar",
    "register_downstreams": "downstream_registrar",
    "register_datasets": "dataset_registrar",
    "register_formats": "format_registrar",
    "register_tasks": "task_registrar",
    "register_upstreams": "upstream_registrar",
    "register_executors": "executor_registrar",
}


@dataclass
class PluginInfo:
    name: str
    source: str  # "builtin" or "entry point <dist> <version>"
    registered: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Plugins:
    """The loaded plugins, what they registered, and the ones that failed (one line each)."""

    pm: pluggy.PluginManager
    registry: Registry
    infos: dict[str, PluginInfo]
    failures: list[str]
    shown: int = 0
    """How many of `failures` the CLI has printed (each is shown once per process, before any command runs)."""


def _blocked() -> set[str]:
    return {p.strip() for p in os.environ.get("BENCH_BLOCK_PLUGINS", "").split(",") if p.strip()}


def _import_timeout() -> float:
    try:
        return float(os.environ.get("BENCH_PLUGIN_IMPORT_TIMEOUT", "10"))
    except ValueError:
        raise BenchError("BENCH_PLUGIN_IMPORT_TIMEOUT must be a number of seconds") from None


def _load_in_thread(load: Callable[[], Any], timeout: float) -> Any:
    """`load()` in a daemon thread, so a plugin that hangs at import is given up on after `timeout` seconds
    (the thread is left behind; a daemon does not keep bench from exiting). Anything it raises, SystemExit
    included, is re-raised here; TimeoutError when it did not finish."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["plugin"] = load()
        except BaseException as err:  # (SystemExit from a plugin is its failure, not ours)
            box["error"] = err

    thread = threading.Thread(target=target, name="bench-plugin-import", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"did not finish importing in {timeout:g} s (BENCH_PLUGIN_IMPORT_TIMEOUT)")
    if "error" in box:
        raise box["error"]
    return box["plugin"]


def _register_contained(pm: pluggy.PluginManager, name: str, load: Any, origin: str, failures: list[str]) -> bool:
    """Import and register a plugin the user installed or named; a failure is one line in `failures`, never
    an exception (a stranger's plugin must not take bench down): not even SystemExit, only KeyboardInterrupt."""
    try:
        pm.register(_load_in_thread(load, _import_timeout()), name=name)
        pm.check_pending()
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # (sys.exit() in a plugin must not end bench, silently, with its code)
        failures.append(f"plugin '{name}' ({origin}) failed to load: {type(err).__name__}: {err}")
        if pm.has_plugin(name):
            pm.unregister(name=name)
        return False
    return True


def _named_plugins() -> list[str]:
    """BENCH_PLUGINS=pkg.module,other: plugin modules to import by name, as `python -m pytest -p` does."""
    return [p.strip() for p in os.environ.get("BENCH_PLUGINS", "").split(",") if p.strip()]


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("bench")
    pm.add_hookspecs(hookspecs)
    return pm


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def load_plugins(extra: tuple[Any, ...] = ()) -> Plugins:
    """Import builtin and third-party plugins and run their registration hooks into a fresh Registry.

    `extra` adds plugin objects (modules or instances), used by tests and the Python API.
    """
    pm = _new_manager()
    infos: dict[str, PluginInfo] = {}
    failures: list[str] = []
    blocked = _blocked()
    for modname in DEFAULT_PLUGINS:
        if modname in blocked:
            continue  # a builtin can be blocked too, e.g. to replace it with a plugin of one's own
        # Builtins are part of the product: an import error here is a bug and should surface as one.
        pm.register(importlib.import_module(modname), name=modname)
        infos[modname] = PluginInfo(modname, "builtin")
    if os.environ.get("BENCH_DISABLE_PLUGIN_AUTOLOAD", "") not in ("", "0"):
        log.debug("entry-point plugins disabled by BENCH_DISABLE_PLUGIN_AUTOLOAD")
    else:
        for ep in _entry_points():
            if ep.name in blocked:
                continue
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else "?"
            if _register_contained(pm, ep.name, ep.load, dist, failures):
                infos[ep.name] = PluginInfo(ep.name, f"entry point ({dist})")
    for modname in _named_plugins():
        # Modules the user named in BENCH_PLUGINS (no installation needed); contained like entry points.
        if modname in blocked or pm.has_plugin(modname):
            continue
        if _register_contained(pm, modname, lambda m=modname: importlib.import_module(m), "BENCH_PLUGINS", failures):
            infos[modname] = PluginInfo(modname, "BENCH_PLUGINS")
    for i, plugin in enumerate(extra):
        name = getattr(plugin, "__name__", None) or f"extra-{i}"
        pm.register(plugin, name=name)
        infos[name] = PluginInfo(name, "extra")
    pm.check_pending()
    registry = Registry()
    _run_hooks(pm, registry, infos, failures)
    for name, info in infos.items():
        info.registered = {kind: names for kind, names in registry.registered_by(name).items() if names}
    for problem in registry.check():
        failures.append(problem)
    return Plugins(pm, registry, infos, failures)


def callers(pm: pluggy.PluginManager, hook_name: str) -> Iterator[tuple[str, Callable[..., Any]]]:
    """(plugin name, a caller of that plugin's implementation) for every plugin implementing the hook.

    Order: `tryfirst` implementations first, `trylast` ones last, the others in load order (builtins, entry
    points, BENCH_PLUGINS), so the first plugin to register a name keeps it. Each caller goes through pluggy
    (`pm.subset_hook_caller` without the other plain implementations), so every hook wrapper (`wrapper=True` or
    `hookwrapper=True`) still wraps each plugin's call, and a failure is attributed to the plugin that raised.
    """
    loaded = {name: i for i, (name, _) in enumerate(pm.list_name_plugin())}
    impls = getattr(pm.hook, hook_name).get_hookimpls()
    plain = [i for i in impls if not (i.wrapper or i.hookwrapper)]
    plain.sort(key=lambda i: (0 if i.tryfirst else 2 if i.trylast else 1, loaded.get(i.plugin_name, 0)))
    for impl in plain:
        if pm.has_plugin(impl.plugin_name):  # (not unregistered by an earlier failure)
            yield impl.plugin_name, _only(pm, hook_name, impl.plugin_name)


def _only(pm: pluggy.PluginManager, hook_name: str, name: str) -> Callable[..., Any]:
    """The hook as pluggy calls it, with plugin `name`'s implementation its only plain one (wrappers kept)."""
    return pm.subset_hook_caller(hook_name, remove_plugins=[
        i.plugin for i in getattr(pm.hook, hook_name).get_hookimpls()
        if i.plugin_name != name and not (i.wrapper or i.hookwrapper)])


def culprit(pm: pluggy.PluginManager, hook_name: str, err: BaseException, called: str) -> str:
    """The plugin whose code raised `err` while `called`'s implementation ran: `called` itself, or a hook wrapper
    around it (the innermost hook implementation on the traceback)."""
    code = {getattr(i.function, "__code__", None): i.plugin_name for i in getattr(pm.hook, hook_name).get_hookimpls()}
    found = called
    tb = err.__traceback__
    while tb is not None:
        found = code.get(tb.tb_frame.f_code, found)
        tb = tb.tb_next
    return found


def _run_hooks(pm: pluggy.PluginManager, registry: Registry, infos: dict[str, PluginInfo], failures: list[str]) -> None:
    """Call each registration hook plugin by plugin, each with a `register` that records the plugin, so a
    failure is attributed and contained: a third-party plugin that raises (in its hook, or in a hook wrapper
    around another plugin's) is rolled back and unregistered; a builtin's failure is a bug and raises."""
    for hook_name, registrar in _REGISTRARS.items():
        for name, call in callers(pm, hook_name):
            for _attempt in range(2):  # a second time only when a failing wrapper stopped `name` from running
                if name not in infos:
                    break
                before = registry.registered_by(name)
                try:
                    call(register=getattr(registry, registrar)(name))
                    break
                except KeyboardInterrupt:
                    raise
                except BaseException as err:  # (a plugin's SystemExit too)
                    bad = culprit(pm, hook_name, err, name)
                    if bad not in infos or infos[bad].source == "builtin":
                        raise
                    why = str(err) if isinstance(err, BenchError) else f"{type(err).__name__}: {err}"
                    failures.append(f"plugin '{bad}' skipped: {hook_name} failed: {why}")
                    registry.remove_plugin(bad)
                    infos.pop(bad)
                    pm.unregister(name=bad)
                    if bad == name or registry.registered_by(name) != before:
                        break
                    call = _only(pm, hook_name, name)


Tree = dict[tuple[str, ...], Any]


def command_tree(cli: Any) -> Tree:
    """Every command under a click group by its path (('pretrain', 'mlm') is `bench pretrain mlm`)."""
    out: Tree = {}
    for name, command in list(getattr(cli, "commands", {}).items()):
        out[(name,)] = command
        out.update({(name, *path): sub for path, sub in command_tree(command).items()})
    return out


def reset_commands(cli: Any, tree: Tree) -> None:
    """Put the command tree back to `tree` (the core's, before any plugin added to it)."""
    for path, group in {(): cli, **{p: c for p, c in tree.items() if hasattr(c, "commands")}}.items():
        group.commands = {p[-1]: c for p, c in tree.items() if p[:-1] == path}


def _undo(cli: Any, before: Tree, *, keep_new: bool) -> list[tuple[str, ...]]:
    """Restore every command of `before` that a plugin replaced or removed (and drop what it added unless
    `keep_new`); returns the paths it had taken over."""
    after = command_tree(cli)
    changed = [p for p, c in before.items() if after.get(p) is not c]
    outer = [p for p in changed if not any(p[:i] in changed for i in range(1, len(p)))]
    for path in outer:
        (cli if len(path) == 1 else before[path[:-1]]).commands[path[-1]] = before[path]
    if not keep_new:
        added = [p for p in after if p not in before]
        for path in added:
            if path[:-1] not in added:  # (a command inside an added group goes with it)
                (cli if len(path) == 1 else after[path[:-1]]).commands.pop(path[-1], None)
    return outer


def add_commands(pm: pluggy.PluginManager, cli: Any, failures: list[str]) -> None:
    """Let plugins add click commands (`register_commands(cli)`), one plugin at a time. A plugin that raises is
    reported in one line and what it added is taken back; a plugin command whose name is taken (by a core
    command such as run or report, or by an earlier plugin's) is refused in one line and the first one stays."""
    def fail(line: str) -> None:
        if line not in failures:  # `bench` adds plugin commands once per main(); tests call main more than once
            failures.append(line)

    owners: dict[tuple[str, ...], str] = {}
    for name, call in callers(pm, "register_commands"):
        before = command_tree(cli)
        for _attempt in range(2):  # a second time only when a failing hook wrapper stopped `name` from running
            try:
                call(cli=cli)
                break
            except KeyboardInterrupt:
                raise
            except BaseException as err:  # (a plugin's SystemExit too)
                _undo(cli, before, keep_new=False)
                bad = culprit(pm, "register_commands", err, name)
                fail(f"plugin '{bad}' failed in register_commands: {type(err).__name__}: {err}")
                if bad == name or not pm.has_plugin(bad):
                    break
                pm.unregister(name=bad)  # a broken wrapper: the plugin it wrapped gets its commands without it
                call = _only(pm, "register_commands", name)
        for path in _undo(cli, before, keep_new=True):
            who = f"plugin '{owners[path]}'" if path in owners else "bench itself"
            fail(f"plugin '{name}' failed in register_commands: command 'bench {' '.join(path)}' is already there "
                 f"(from {who}); the plugin's was not added")
        owners.update({p: name for p in command_tree(cli) if p not in before})


def add_task_files(plugins: Plugins, paths: list[Path]) -> None:
    """Register the tasks and suites of the user's own tasks YAML files (`--tasks-file`), validated as strictly
    as the builtin tasks.yaml. Any problem (bad YAML, schema, a name already taken, an unknown head / metric /
    dataset loader / suite member) is a BenchError: the user chose these files, so they must be right. Every
    problem of every file is in that one error, each at its file and line (benchmark.tasks.located.report);
    nothing of these files stays registered then."""
    from benchmark.tasks.located import Problem, report
    from benchmark.tasks.task_file import given_names, read_tasks_file

    registry = plugins.registry
    found: dict[str, tuple[Any, list[Problem]]] = {}
    added: list[str] = []
    for path in dict.fromkeys(paths):
        owner = f"tasks file {path}"
        if owner in plugins.infos:
            continue  # added already (the same run request planned twice in one process)
        try:
            parsed = read_tasks_file(path)  # only what stops the reading is raised here
        except BenchError:
            _forget(plugins, added)
            raise
        problems = list(parsed.problems)
        for section, kind, table, items in (("tasks", "task", registry.tasks, parsed.tasks),
                                            ("suites", "suite", registry.suites, parsed.suites)):
            for item in items:
                if item.name in table:
                    problems.append(Problem((section, item.name), f"{kind} '{item.name}' is already defined by "
                                                                  f"{table.get(item.name).plugin}; rename it"))
                else:
                    table.add(item.name, item, owner, item.description)
        added.append(owner)
        plugins.infos[owner] = PluginInfo(owner, "tasks file", {k: v for k, v in registry.registered_by(owner).items() if v})
        mine = {*plugins.infos[owner].registered.get("tasks", ()), *plugins.infos[owner].registered.get("suites", ())}
        problems += [Problem(loc, text) for loc, text in registry.problems(mine, parsed.invalid)]
        for name, body in parsed.invalid_tasks:  # their names too, so fixing the schema needs no second run
            problems += [Problem(loc, text) for loc, text in registry.unknown_names(name, *given_names(body))]
        found[parsed.origin] = (parsed.node, problems)
    if any(listed for _, listed in found.values()):
        _forget(plugins, added)
        raise BenchError(report(found))


def _forget(plugins: Plugins, owners: list[str]) -> None:
    """Unregister refused tasks files: nothing of them stays (an API caller may fix one and call again)."""
    for owner in owners:
        plugins.registry.remove_plugin(owner)
        del plugins.infos[owner]


_cached: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide plugin set, loaded on first use."""
    global _cached
    if _cached is None:
        _cached = load_plugins()
    return _cached


def reset_plugins() -> None:
    """Forget the loaded plugins (tests change the environment and reload)."""
    global _cached
    _cached = None
