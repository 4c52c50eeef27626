"""`bench new-plugin NAME`: the names it derives and refuses, the files it writes, and (slow, the CI step) the
scaffold installed with pip like a stranger's package, passing its own tests and scoring in `bench run`."""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plugin_venv import ROOT, build_isolation_flags, copy_packages, fresh_venv, import_from_source
from plugin_venv import run as run_cmd
from test_cli import bench

from benchmark.errors import BenchError
from benchmark.plugin.scaffold import create, plugin_names, render, render_files
from benchmark.version import __version__

FILES = [".gitignore", "README.md", "pyproject.toml", "src/bench_{m}/__init__.py", "src/bench_{m}/charnames.py",
         "src/bench_{m}/encoder.py", "src/bench_{m}/tasks.yaml", "tests/test_plugin.py"]


def _files(module_suffix: str) -> list[str]:
    return sorted(f.format(m=module_suffix) for f in FILES)


# -- names ------------------------------------------------------------------------------------------------


def test_one_short_name_gives_every_other_name() -> None:
    names = plugin_names("my-enc2")
    assert (names.name, names.dist, names.module, names.task) == ("my-enc2", "bench-my-enc2", "bench_my_enc2",
                                                                  "my-enc2-charnames")
    assert plugin_names("bench-my-enc2") == plugin_names("bench_my-enc2") == names


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("MyEnc", "error: plugin name 'MyEnc' is not valid: use lower-case letters, digits and single hyphens, "
                  "starting with a letter, at most 40 characters (e.g. my-encoder)"),
        ("my_enc", "error: plugin name 'my_enc' is not valid"),
        ("9lives", "error: plugin name '9lives' is not valid"),
        ("my--enc", "error: plugin name 'my--enc' is not valid"),
        ("enc:base", "error: plugin name 'enc:base' is not valid"),
        ("bench-", "error: plugin name 'bench-' is not valid"),
        ("x" * 41, f"error: plugin name '{'x' * 41}' is not valid"),
        ("minilm", "error: upstream 'minilm' already exists (plugin upstreams.text); choose another plugin name"),
        ("bench-bert", "error: upstream 'bert' already exists (plugin upstreams.text); choose another plugin name"),
        ("glue", "error: suite 'glue' already exists (plugin benchmark.tasks.builtin); choose another plugin name"),
    ],
)
def test_bad_or_taken_names_are_one_line_and_exit_2(name: str, message: str, tmp_path: Path) -> None:
    r = bench("new-plugin", name, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith(message) and r.stderr.count("\n") == 1, r.stderr
    assert list(tmp_path.iterdir()) == [], "nothing is written when the name is refused"


def test_a_module_that_is_already_importable_is_refused(tmp_path: Path) -> None:
    # tests/bench_testplugin.py is importable here (the tests directory is on sys.path): a plugin 'testplugin'
    # would install a second module of that name.
    with pytest.raises(BenchError, match=r"^a Python module 'bench_testplugin' is already installed"):
        create("testplugin", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_non_empty_or_file_destination_is_refused(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine", encoding="utf-8")
    r = bench("new-plugin", "fresh-enc", "--dest", str(tmp_path / "taken"))
    assert r.returncode == 2
    assert r.stderr == f"error: {tmp_path / 'taken'} already exists and is not empty; give another --dest or remove it\n"
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["notes.txt"]
    (tmp_path / "afile").write_text("", encoding="utf-8")
    r = bench("new-plugin", "fresh-enc", "--dest", str(tmp_path / "afile"))
    assert r.returncode == 2 and "afile" in r.stderr and r.stderr.count("\n") == 1
    (tmp_path / "empty").mkdir()
    made = create("fresh-enc", tmp_path / "empty", check_names=False)  # an empty directory is fine
    assert list(made.files) == _files("fresh_enc")


# -- files ------------------------------------------------------------------------------------------------


def test_the_command_writes_the_package_and_says_what_next(tmp_path: Path) -> None:
    r = bench("new-plugin", "my-enc", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    dest = tmp_path / "bench-my-enc"  # the default destination: the distribution's name
    written = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert written == _files("my_enc")
    for rel in written:
        assert f"  {rel}\n" in r.stdout
    for line in ('pip install -e ".[test]"', "pytest", "bench validate my-enc",
                 "bench run --upstream my-enc --tasks my-enc-charnames"):
        assert re.search(rf"^  {re.escape(line)}(\s|$)", r.stdout, re.M), (line, r.stdout)


def test_rendered_files_are_complete_and_valid() -> None:
    files = render_files(plugin_names("my-enc"))
    for rel, text in files.items():
        assert not re.search(r"\{\{\s*\w+\s*\}\}", text), rel
        if rel.endswith(".py"):
            compile(text, rel, "exec")  # a syntax error would only show in the user's first pytest
    project = tomllib.loads(files["pyproject.toml"])
    assert project["project"]["name"] == "bench-my-enc" and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["hatch"]["version"] == {"path": "src/bench_my_enc/__init__.py"}
    assert project["project"]["entry-points"]["bench"] == {"my-enc": "bench_my_enc"}
    assert project["project"]["dependencies"] == ["encoder-bench>=0.1.0"]  # not `bench`: another project on PyPI
    assert project["project"]["optional-dependencies"]["test"] == ["pytest>=8"]
    assert project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["src/bench_my_enc"]
    assert "replace it with your model" in files["src/bench_my_enc/encoder.py"].lower()
    assert "python -m twine upload dist/*" in files["README.md"]


def test_unknown_placeholders_are_a_template_bug() -> None:
    assert render("{{name}} = {{module}}", {"name": "a", "module": "b"}) == "a = b"
    with pytest.raises(ValueError, match="unknown placeholder"):
        render("{{nmae}}", {"name": "a"})


# -- the generated package, imported in-process -------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    made = create("inproc-enc", tmp_path_factory.mktemp("scaffold") / "pkg", check_names=False)
    yield from import_from_source(made.dest / "src", made.names.module)
    for name in [m for m in sys.modules if m == made.names.module or m.startswith(made.names.module + ".")]:
        del sys.modules[name]


def test_generated_upstream_passes_the_contract_check(generated: Any) -> None:
    from benchmark.testing import check_upstream

    upstream = generated.EncoderFactory()(None, name="inproc-enc")
    report = check_upstream(upstream)
    report.raise_for_failures()
    assert len(report.checks) == 18
    assert upstream.fingerprint == "inproc-enc-v1:dim=128:layers=2:seed=0"
    assert (upstream.num_layers, upstream.hidden_size, upstream.modality) == (2, 128, "text")


def test_generated_task_file_validates_and_registers(generated: Any) -> None:
    from benchmark.plugin.manager import load_plugins

    plugins = load_plugins(extra=(generated,))
    assert plugins.failures == []
    registry = plugins.registry
    task = registry.tasks.get("inproc-enc-charnames")
    assert task.plugin == generated.__name__
    assert (task.obj.head, task.obj.labels) == ("classification", ["letter", "mark", "number", "punctuation",
                                                                   "symbol"])
    assert task.obj.sources.recipe.name == "inproc-enc-charnames"
    assert registry.suites.get("inproc-enc").obj.tasks == ["inproc-enc-charnames"]
    assert registry.upstreams.get("inproc-enc").meta["modality"] == "text"
    assert registry.check() == []
    with pytest.raises(BenchError, match=r"^upstream 'inproc-enc' already exists \(plugin bench_inproc_enc\)"):
        create("inproc-enc", Path("never-written"), plugins=plugins)  # a second scaffold of an installed name


# -- end to end (the CI step) -----------------------------------------------------------------------------


@pytest.mark.slow
def test_scaffold_installs_passes_its_own_tests_and_runs(tmp_path: Path) -> None:
    r = bench("new-plugin", "scaffolded", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # As a stranger installs a published plugin: bench's wheel lies in a package index of its own (a folder), and
    # pip installs only the plugin, pulling bench through the plugin's dependency on the encoder-bench
    # distribution (a dependency on `bench` would find nothing there: on PyPI it is another project).
    venv = fresh_venv(tmp_path / "venv-root", own_pip=False, hide=("encoder-bench",))  # pip must install it
    env, cwd = venv["env"], venv["tmp"]
    package = copy_packages(cwd, [tmp_path / "bench-scaffolded"])["bench-scaffolded"]
    index = cwd / "index"
    run_cmd([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *build_isolation_flags(), "-w", index, ROOT],
            env, cwd)
    assert [w.name for w in index.iterdir()] == [f"encoder_bench-{__version__}-py3-none-any.whl"]
    run_cmd([venv["python"], "-m", "pip", "install", "-q", "--no-index", "--find-links", index,
             *build_isolation_flags(), package], env, cwd)
    shown = run_cmd([venv["python"], "-m", "pip", "show", "encoder-bench", "bench-scaffolded"], env, cwd).stdout
    fields = [dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
              for block in shown.split("\n---\n")]
    assert [(f["Name"], f["Version"], f["Location"]) for f in fields] == [
        ("encoder-bench", __version__, str(_purelib(venv["python"]))), ("bench-scaffolded", "0.1.0",
                                                                           str(_purelib(venv["python"])))]
    assert fields[1]["Requires"] == "encoder-bench"
    assert venv["bench"].is_file(), "the encoder-bench wheel did not install the bench command"

    proc = run_cmd([venv["python"], "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], env, package)
    summary = proc.stdout.strip().splitlines()[-1]
    assert re.search(r"^9 passed in ", summary), summary  # nothing failed, nothing skipped

    plugins = json.loads(run_cmd([venv["bench"], "plugins", "--json"], env, cwd).stdout)
    entry = next(p for p in plugins["plugins"] if p["name"] == "scaffolded")
    assert entry["source"] == "entry point (bench-scaffolded 0.1.0)"  # hatchling read the version from __version__
    assert entry["registered"] == {"upstreams": ["scaffolded"], "tasks": ["scaffolded-charnames"],
                                   "suites": ["scaffolded"], "datasets": ["scaffolded-charnames"]}

    out = cwd / "results"
    run_cmd([venv["bench"], "run", "--upstream", "scaffolded", "--tasks", "scaffolded-charnames", "--output", out,
             "--seeds", "0"], env, cwd)
    [file] = out.glob("*.json")
    result = json.loads(file.read_text(encoding="utf-8"))
    assert (result["upstream"], result["task"], result["seed"], result["suite"]) == (
        "scaffolded", "scaffolded-charnames", 0, ["scaffolded"])
    assert result["upstream_info"]["fingerprint"] == "scaffolded-v1:dim=128:layers=2:seed=0"
    assert result["upstream_info"]["source"] == "bench-scaffolded 0.1.0"  # __version__, one place to bump
    assert result["n_examples"]["test"] == 600 and result["n_examples"]["train"] == 1500
    accuracy = result["scores"]["accuracy"]
    assert 40.0 < accuracy <= 100.0, f"accuracy {accuracy}: chance is 20% on five balanced classes"
    assert result["main_score"] == accuracy
    assert result["task_info"]["data_revision"].startswith("unicode-") and len(result["layer_weights"]) == 3


def _purelib(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(run_cmd([python, "-c", code], {**os.environ}, Path.cwd()).stdout.strip())
