from __future__ import annotations

import importlib.metadata
import inspect
import re
import sys
import types
from pathlib import Path

import pytest

from benchmark import hookspecs
from benchmark.errors import BenchError
from benchmark.hookspecs import hookimpl
from benchmark.plugin import manager as plugins
from benchmark.plugin.manager import load_plugins

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"


def _plugin(name: str, **hooks) -> types.ModuleType:
    mod = types.ModuleType(name)
    for hook, fn in hooks.items():
        setattr(mod, hook, hookimpl(fn))
    return mod


def _fake_entry_points(monkeypatch: pytest.MonkeyPatch, modules: dict[str, types.ModuleType | Exception]) -> None:
    """Pretend these modules are installed under the `bench` entry-point group."""
    eps = []
    for name, mod in modules.items():
        modname = f"fake_bench_plugin_{name}"
        if isinstance(mod, Exception):
            monkeypatch.setitem(sys.modules, modname, None)  # importing it now raises ImportError
        else:
            monkeypatch.setitem(sys.modules, modname, mod)
        eps.append(importlib.metadata.EntryPoint(name=name, value=modname, group="bench"))
    monkeypatch.setattr(plugins, "_entry_points", lambda: eps)


def test_builtins_register_everything_with_their_plugin(registry) -> None:
    assert registry.upstreams.get("minilm").plugin == "upstreams.text"
    assert registry.tasks.get("sst2").plugin == "benchmark.tasks.builtin"
    assert registry.metrics.get("matthews").plugin == "downstreams.metrics"
    assert registry.downstreams.get("regression").plugin == "downstreams.heads"
    assert registry.datasets.get("vader").plugin == "downstreams.recipes.vader"


def test_unknown_names_suggest_the_closest(registry) -> None:
    with pytest.raises(BenchError, match=r"unknown upstream 'minlm' — did you mean 'minilm'\? \(bench list upstreams\)"):
        registry.upstreams.get("minlm")
    with pytest.raises(BenchError, match=r"unknown task 'sst-2' — did you mean 'sst2'\?"):
        registry.tasks.get("sst-2")
    with pytest.raises(BenchError, match=r"unknown metric 'acuracy' — did you mean 'accuracy'\?"):
        registry.metrics.get("acuracy")


def test_third_party_plugin_registers_through_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    def register_upstreams(register):
        register("toy", lambda arg, **kw: None, description="a toy", modality="text")

    _fake_entry_points(monkeypatch, {"toyplugin": _plugin("toy", register_upstreams=register_upstreams)})
    loaded = load_plugins()
    assert loaded.registry.upstreams.get("toy").plugin == "toyplugin"
    assert loaded.infos["toyplugin"].registered == {"upstreams": ["toy"]}
    assert loaded.infos["toyplugin"].source.startswith("entry point")
    assert loaded.failures == []


def test_duplicate_name_is_an_error_naming_both_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    def register_upstreams(register):
        register("minilm", lambda arg, **kw: None)

    _fake_entry_points(monkeypatch, {"copycat": _plugin("copycat", register_upstreams=register_upstreams)})
    loaded = load_plugins()
    assert loaded.failures == [
        "plugin 'copycat' skipped: register_upstreams failed: upstream 'minilm' is registered by both plugin "
        "'upstreams.text' and plugin 'copycat'; uninstall or block one of them (BENCH_BLOCK_PLUGINS=copycat)"
    ]
    assert loaded.registry.upstreams.get("minilm").plugin == "upstreams.text"
    assert "copycat" not in loaded.infos


def test_plugin_failing_at_import_or_in_a_hook_is_reported_and_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    def register_tasks(register):
        raise RuntimeError("no data here")

    def register_upstreams(register):
        register("half", lambda arg, **kw: None)  # registered before the failure: must be rolled back

    _fake_entry_points(monkeypatch, {
        "broken_import": ImportError("x"),
        "broken_hook": _plugin("bh", register_tasks=register_tasks, register_upstreams=register_upstreams),
        "fine": _plugin("fine", register_upstreams=lambda register: register("fine-up", lambda a, **k: None)),
    })
    loaded = load_plugins()
    assert len(loaded.failures) == 2
    assert loaded.failures[0].startswith("plugin 'broken_import' (?) failed to load: ModuleNotFoundError")
    assert loaded.failures[1] == "plugin 'broken_hook' skipped: register_tasks failed: RuntimeError: no data here"
    assert all("\n" not in f for f in loaded.failures)
    assert "half" not in loaded.registry.upstreams
    assert "fine-up" in loaded.registry.upstreams


def test_autoload_can_be_disabled_and_plugins_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_entry_points(monkeypatch, {"toyplugin": _plugin("toy", register_upstreams=lambda register: register("toy", lambda a, **k: None))})
    monkeypatch.setenv("BENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "toy" not in load_plugins().registry.upstreams
    monkeypatch.delenv("BENCH_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.setenv("BENCH_BLOCK_PLUGINS", "other,toyplugin")
    assert "toy" not in load_plugins().registry.upstreams
    monkeypatch.delenv("BENCH_BLOCK_PLUGINS")
    assert "toy" in load_plugins().registry.upstreams


def test_every_hook_is_documented_with_its_exact_signature() -> None:
    text = DOCS.read_text(encoding="utf-8")
    hooks = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_")]
    assert len(hooks) >= 6
    for name in hooks:
        fn = getattr(hookspecs, name)
        params = ", ".join(inspect.signature(fn).parameters)
        heading = f"### `{name}({params})`"
        assert heading in text, f"docs/plugins.md lacks the heading {heading!r}"
        # and the hook's own one-line docstring is quoted in the docs
        assert inspect.getdoc(fn).split(":")[0] in text
    documented = set(re.findall(r"^### `(register_\w+)\(", text, flags=re.M))
    assert documented == set(hooks), "docs/plugins.md documents hooks that do not exist"


def test_the_block_list_and_bench_plugins_work_for_builtins_and_named_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent))
    monkeypatch.setenv("BENCH_PLUGINS", "bench_testplugin,no_such_plugin_module")
    loaded = load_plugins()
    assert loaded.registry.upstreams.get("char").plugin == "bench_testplugin"
    assert loaded.infos["bench_testplugin"].source == "BENCH_PLUGINS"
    assert loaded.failures == ["plugin 'no_such_plugin_module' (BENCH_PLUGINS) failed to load: ModuleNotFoundError: "
                               "No module named 'no_such_plugin_module'"]
    # named modules load even with autoload off: the user chose them by name
    monkeypatch.setenv("BENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "char" in load_plugins().registry.upstreams
    # a builtin can be blocked like any plugin: here replaced by nothing, and the rest of bench still works
    monkeypatch.setenv("BENCH_BLOCK_PLUGINS", "upstreams.text,bench_testplugin")
    blocked = load_plugins()
    assert "minilm" not in blocked.registry.upstreams and "char" not in blocked.registry.upstreams
    assert "upstreams.text" not in blocked.infos and "sst2" in blocked.registry.tasks


def test_a_failing_named_plugin_is_one_warning_line_and_bench_works(tmp_path: Path) -> None:
    import subprocess

    (tmp_path / "crashy_plugin.py").write_text("raise RuntimeError('boom at import')\n")
    env = {**__import__("os").environ, "BENCH_PLUGINS": "crashy_plugin", "PYTHONPATH": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "benchmark", "list", "upstreams"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0 and "minilm" in r.stdout
    assert r.stderr.strip() == ("warning: plugin 'crashy_plugin' (BENCH_PLUGINS) failed to load: RuntimeError: boom "
                                "at import")


def test_hooks_go_through_pluggy_so_tryfirst_trylast_and_wrappers_work() -> None:
    calls: list[str] = []

    def plain(tag: str, **opts) -> types.ModuleType:
        mod = types.ModuleType(tag)

        def register_upstreams(register):
            calls.append(tag)
            register(f"{tag}-up", lambda arg, **kw: None)

        mod.register_upstreams = hookimpl(**opts)(register_upstreams)
        return mod

    def around(register):  # a new-style wrapper: wraps each plugin's call
        calls.append("<")
        result = yield
        calls.append(">")
        return result

    def old_style(register):  # and an old-style hookwrapper too
        calls.append("(")
        yield
        calls.append(")")

    wrapper = types.ModuleType("wrapper")
    wrapper.register_upstreams = hookimpl(wrapper=True)(around)
    hookwrapper = types.ModuleType("hookwrapper")
    hookwrapper.register_upstreams = hookimpl(hookwrapper=True)(old_style)
    loaded = load_plugins(extra=(plain("last", trylast=True), plain("plain"), plain("first", tryfirst=True),
                                 wrapper, hookwrapper))
    assert [c for c in calls if c.isalpha()] == ["first", "plain", "last"]  # builtins go in load order, unmarked
    text = " ".join(calls)
    for tag in ("first", "plain", "last"):
        assert f"< ( {tag} ) >" in text or f"( < {tag} > )" in text
    assert loaded.registry.upstreams.get("last-up").plugin == "last"  # each call still gets its own register
    assert loaded.failures == []


def test_a_plugin_command_never_replaces_a_core_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import click

    from benchmark.cli import app as cli_mod

    def clash(cli):
        @cli.command(name="run")
        def hijack():
            """Not bench's run."""

        @cli.command(name="hello")
        def hello():
            click.echo("hello")

    def also_hello(cli):
        cli.add_command(click.Command("hello", callback=lambda: None))

    loaded = load_plugins(extra=(_plugin("clash", register_commands=clash),
                                 _plugin("again", register_commands=also_hello)))
    monkeypatch.setattr(plugins, "get_plugins", lambda: loaded)
    core_run = cli_mod.cli.commands["run"]
    try:
        cli_mod._add_plugin_commands()
        assert cli_mod.cli.commands["run"] is core_run
        assert cli_mod.cli.commands["hello"].callback.__name__ == "hello"  # the first plugin's stays
        assert {"mlm", "simclr", "byol"} <= set(cli_mod.cli.commands["pretrain"].commands)
        assert loaded.failures == [
            "plugin 'clash' failed in register_commands: command 'bench run' is already there (from bench itself); "
            "the plugin's was not added",
            "plugin 'again' failed in register_commands: command 'bench hello' is already there (from plugin "
            "'clash'); the plugin's was not added"]
    finally:
        plugins.reset_commands(cli_mod.cli, cli_mod._CORE_COMMANDS)
    assert "hello" not in cli_mod.cli.commands and cli_mod.cli.commands["pretrain"].commands == {}


def test_a_clashing_plugin_command_is_one_warning_line_and_the_core_command_stays(tmp_path: Path) -> None:
    import subprocess

    (tmp_path / "greedy_plugin.py").write_text(
        "import click\nfrom benchmark.hookspecs import hookimpl\n\n@hookimpl\ndef register_commands(cli):\n"
        "    cli.add_command(click.Command('list', callback=lambda: print('mine')))\n")
    env = {**__import__("os").environ, "BENCH_PLUGINS": "greedy_plugin", "PYTHONPATH": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "benchmark", "list", "executors"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0 and "local" in r.stdout and "mine" not in r.stdout
    assert r.stderr.strip() == ("warning: plugin 'greedy_plugin' failed in register_commands: command 'bench list' "
                                "is already there (from bench itself); the plugin's was not added")


def test_plugins_and_the_core_import_each_other_only_through_core_interfaces() -> None:
    """Builtin plugins never import the CLI (they use benchmark.clitools) and the core imports no plugin module;
    upstreams and downstreams do not import each other (they meet in the registry)."""
    import ast

    root = Path(__file__).resolve().parent.parent

    def imports(path: Path) -> set[str]:
        out = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                out.add(node.module)
            elif isinstance(node, ast.Import):
                out.update(a.name for a in node.names)
        return out

    for pkg, banned in (("upstreams", ("benchmark.cli.app", "downstreams")),
                        ("downstreams", ("benchmark.cli.app", "upstreams")),
                        ("benchmark", ("upstreams", "downstreams"))):
        for path in sorted((root / pkg).glob("*.py")):
            bad = sorted(m for m in imports(path) if any(m == b or m.startswith((f"{b}.", f"{b}_")) for b in banned))
            assert not bad, f"{path.relative_to(root)} imports {bad}"


def test_a_failing_hook_wrapper_is_blamed_and_the_plugins_it_wrapped_still_register() -> None:
    def broken(register):
        raise RuntimeError("wrapper bug")
        yield  # a generator: pluggy's wrapper protocol

    wrapper = types.ModuleType("badwrap")
    wrapper.register_upstreams = hookimpl(wrapper=True)(broken)
    loaded = load_plugins(extra=(wrapper,))
    assert loaded.failures == ["plugin 'badwrap' skipped: register_upstreams failed: RuntimeError: wrapper bug"]
    assert loaded.registry.upstreams.get("minilm").plugin == "upstreams.text" and "badwrap" not in loaded.infos
