"""bench's distribution is `encoder-bench`, not `bench` (that name on PyPI is an unrelated process monitor): the
project, the scaffold, the example plugins and the docs name it, and nothing depends on `bench`. And
docs/plugins.md as a stranger reads it: the data types built as shown, every upstream attribute bench reads in its
table, the factory's `name=` in its type, devices as the core handles them, and the scaffold's documented scores
reproduced by a real run. (The fresh-venv install of the wheel by its new name is the slow test in
tests/test_scaffold.py.)"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import tomllib
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from benchmark.plugin.scaffold import create, plugin_names, render_files
from benchmark.version import DISTRIBUTION, __version__

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "plugins.md"
EXAMPLES = ("bench-example-plugin", "bench-audio-encoders", "bench-image-encoders")


def _tracked(pattern: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z", "--", pattern], cwd=ROOT, capture_output=True, check=True)
    return [ROOT / p for p in out.stdout.decode().split("\0") if p]


def _requirements(project: dict[str, Any]) -> list[Requirement]:
    table = project.get("project", {})
    reqs = list(table.get("dependencies", []))
    for extra in table.get("optional-dependencies", {}).values():
        reqs.extend(extra)
    reqs.extend(project.get("build-system", {}).get("requires", []))
    return [Requirement(r) for r in reqs]


# -- the distribution's name -------------------------------------------------------------------------------


def test_the_distribution_is_encoder_bench_with_the_bench_command_and_the_same_packages() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert DISTRIBUTION == "encoder-bench"
    assert project["project"]["name"] == DISTRIBUTION and project["project"]["version"] == __version__
    assert project["project"]["scripts"] == {"bench": "benchmark.cli:main"}
    assert project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["benchmark", "upstreams",
                                                                                "downstreams"]


def test_the_scaffold_depends_on_benchs_own_distribution() -> None:
    names = plugin_names("my-enc")
    assert names.bench_dist == "encoder-bench"
    project = tomllib.loads(render_files(names)["pyproject.toml"])
    assert project["project"]["dependencies"] == [f"encoder-bench>={__version__}"]
    assert [canonicalize_name(r.name) for r in _requirements(project)] == ["encoder-bench", "pytest", "hatchling"]


@pytest.mark.parametrize("example", EXAMPLES)
def test_each_example_plugin_depends_on_encoder_bench(example: str) -> None:
    project = tomllib.loads((ROOT / "examples" / example / "pyproject.toml").read_text(encoding="utf-8"))
    names = [canonicalize_name(Requirement(r).name) for r in project["project"]["dependencies"]]
    assert "encoder-bench" in names and "bench" not in names, names


def test_no_project_file_in_the_repository_depends_on_bench() -> None:
    files = _tracked("*pyproject.toml") + _tracked("*pyproject.toml.tmpl")
    assert len(files) >= 5, files  # bench, the three examples, the scaffold's template
    seen = {}
    for path in files:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".tmpl":
            text = render_files(plugin_names("my-enc"))["pyproject.toml"]
        seen[str(path.relative_to(ROOT))] = sorted({canonicalize_name(r.name)
                                                    for r in _requirements(tomllib.loads(text))})
    wrong = {name: reqs for name, reqs in seen.items() if "bench" in reqs}
    assert wrong == {}, f"these depend on `bench`, an unrelated project on PyPI: {wrong}"


# `pip install bench`, `pip install 'bench[ray]'`, `pip install bench dist/*.whl`: each installs the other project.
_INSTALLS_BENCH = re.compile(r"pip install (?:-\S+ )*['\"]?bench(?:\[[a-z,-]+\])?['\"]?(?=[\s`)'\"]|$)", re.M)


def test_no_install_line_installs_the_bench_of_pypi() -> None:
    files = [p for pattern in ("*.md", "*.py", "*.tmpl", ".ci/*") for p in _tracked(pattern)]
    hits = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in files if p.is_file()
            for m in _INSTALLS_BENCH.finditer(p.read_text(encoding="utf-8", errors="replace"))
            if p.name != "test_distribution.py"]
    assert hits == []
    assert _INSTALLS_BENCH.search("pip install 'bench[ray]'") and _INSTALLS_BENCH.search("pip install bench dist/x")
    assert not _INSTALLS_BENCH.search("pip install bench-my-encoder")


def test_the_ray_hint_names_the_distribution() -> None:
    from benchmark.engine.executors import RayExecutorFactory
    from benchmark.engine.ray_executor import INSTALL_HINT

    assert INSTALL_HINT == "the ray executor needs Ray: pip install 'encoder-bench[ray]'"
    assert RayExecutorFactory.description.endswith("; pip install 'encoder-bench[ray]'")


def test_ci_checks_the_installed_distribution_by_its_name() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip show encoder-bench >/dev/null' in ci


def test_the_readme_cpu_only_install_pins_what_pyproject_pins() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [line] = [x for x in readme.splitlines() if "--index-url https://download.pytorch.org/whl/cpu" in x]
    pins = dict(re.findall(r"\b(torch|torchaudio|torchvision)==(\S+)", line))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pinned = {r.name: str(r.specifier).removeprefix("==") for r in map(Requirement, project["project"]["dependencies"])
              if r.name in pins}
    assert pins == pinned and set(pins) == {"torch", "torchaudio", "torchvision"}
    assert line.endswith("--index-url https://download.pytorch.org/whl/cpu && pip install -e . && bench run")
    assert "pip install -e . && bench run" in readme.split(line)[0]  # the default install stays first


# -- docs/plugins.md ---------------------------------------------------------------------------------------


def _section(heading: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n")
    level = heading.split(" ")[0]
    end = text.find(f"\n{level} ", start + len(heading) + 2)
    return text[start:end if end != -1 else None]


def test_the_data_types_section_runs_as_written() -> None:
    section = _section("## Data types")
    [code] = re.findall(r"```python\n(.*?)```", section, re.S)
    for name in ("Examples(", "Unlabeled(", "TaskData(", "HiddenStates(", "AudioClip(", "ImageFile("):
        assert name in code, name
    namespace: dict[str, Any] = {}
    exec(compile(code, f"{DOC}: Data types", "exec"), namespace)  # the asserts inside hold
    assert namespace["data"].evals["test"].inputs == ("dull and long", "great fun")


def test_every_upstream_attribute_bench_reads_is_in_the_table() -> None:
    from benchmark.plugin.specs import _REQUIRED, upstream_info

    section = _section("### `register_upstreams(register)`")
    table = re.findall(r"^\| (.+?) \| (.+?) \|$", section, re.M)
    documented = {name for cell, _ in table for name in re.findall(r"`(\w+)(?:\(.*?\))?`", cell)}

    class Full:
        fingerprint, modality, n_parameters, num_layers, hidden_size = "f", "text", 1, 1, 1
        source, pretraining = "s", {"method": "mlm"}

    read_by_core = set(_REQUIRED) | set(upstream_info(Full())) | {"name", "sample_rate", "downsample_rate",
                                                                    "device", "forward", "reinitialize"}
    assert read_by_core - documented == set()
    required = {name for cell, meaning in table if "*required*" in meaning for name in re.findall(r"`(\w+)`", cell)}
    assert required == set(_REQUIRED)


def test_the_factory_type_has_name_as_the_core_calls_it() -> None:
    from benchmark import interfaces, types
    from benchmark.plugin import specs

    assert interfaces.UpstreamFactory is types.UpstreamFactory
    params = inspect.signature(types.UpstreamFactory.__call__).parameters
    assert [(p, params[p].kind.name) for p in ("arg", "name", "trust_remote_code")] == [
        ("arg", "POSITIONAL_OR_KEYWORD"), ("name", "KEYWORD_ONLY"), ("trust_remote_code", "KEYWORD_ONLY")]
    assert "factory(spec.arg, name=spec.text, trust_remote_code=trust_remote_code" in inspect.getsource(
        specs.build_upstream)
    assert "`factory(spec.arg, name=spec.text, trust_remote_code=...)`" in " ".join(
        _section("### `register_upstreams(register)`").split())


def test_the_scaffolded_encoder_keeps_every_tensor_where_to_moves_it(tmp_path: Path) -> None:
    # docs/plugins.md, Devices: what must move is a parameter, a buffer or a submodule.
    import torch

    made = create("dev-enc", tmp_path / "pkg", check_names=False)
    sys.path.insert(0, str(made.dest / "src"))
    try:
        from bench_dev_enc import EncoderFactory  # type: ignore[import-not-found]

        encoder = EncoderFactory()(None, name="dev-enc")
    finally:
        sys.path.remove(str(made.dest / "src"))
        for mod in [m for m in sys.modules if m.startswith("bench_dev_enc")]:
            del sys.modules[mod]
    loose = [f"{owner}.{attr}" for owner, module in encoder.named_modules()
             for attr, value in vars(module).items() if isinstance(value, torch.Tensor)]
    assert loose == []


# The run docs/plugins.md's step 3 describes, in a fresh process with the scaffold on its path (BENCH_PLUGINS, as
# while writing a plugin). It also records how bench calls the factory and where it moves the upstream.
_RUN = """
import json, sys
import benchmark
import bench_my_encoder as plugin
from bench_my_encoder.encoder import Encoder

calls, moves = [], []
call, to = plugin.EncoderFactory.__call__, Encoder.to
plugin.EncoderFactory.__call__ = lambda self, arg, **kw: calls.append([arg, kw]) or call(self, arg, **kw)
Encoder.to = lambda self, *a, **kw: moves.append([str(x) for x in a]) or to(self, *a, **kw)
results = benchmark.run(["my-encoder", "minilm"], "my-encoder-charnames", seeds=[0, 1, 2], output=sys.argv[1],
                        cache_dir=sys.argv[2])
print(json.dumps({"scores": [[r.upstream, r.seed, r.main_score] for r in results], "calls": calls,
                  "moves": moves, "source": results[0].upstream_info["source"]}))
"""


@pytest.mark.skipif(unicodedata.unidata_version != "14.0.0",
                    reason="the documented scores are Python 3.11's (Unicode 14.0): the task's data come from it")
def test_the_documented_scaffold_scores_are_what_a_fresh_run_gives(tmp_path: Path) -> None:
    made = create("my-encoder", tmp_path / "bench-my-encoder", check_names=False)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(made.dest / "src"), str(ROOT)]),
           "BENCH_PLUGINS": "bench_my_encoder", "HF_HUB_OFFLINE": "1",
           # One thread: the same scores as two (measured), and other work on the cores cannot make torch's
           # threads wait on each other (254 s instead of 49 s at a load average of 7 on two cores).
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", _RUN, str(tmp_path / "results"), str(tmp_path / "cache")],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    scores = {(up, seed): round(score, 1) for up, seed, score in out["scores"]}
    assert scores == {("my-encoder", 0): 73.5, ("my-encoder", 1): 76.5, ("my-encoder", 2): 75.8,
                      ("minilm", 0): 88.7, ("minilm", 1): 87.8, ("minilm", 2): 88.5}
    doc = " ".join(DOC.read_text(encoding="utf-8").split())
    assert ("run in step 3 gives the seeded encoder 73.5, 76.5 and 75.8 (seeds 0, 1, 2) and `minilm` 88.7, 87.8 "
            "and 88.5 (tests/test_distribution.py reproduces these numbers)") in doc
    # Frozen features are extracted once, so the model is built once: with name= the whole spec, then moved
    # by bench to the run's device (the docs' "Devices").
    assert out["calls"] == [[None, {"name": "my-encoder", "trust_remote_code": False}]]
    assert out["moves"] == [["cpu"]]
    assert out["source"] == "bench-my-encoder 0.1.0"


def test_minilm_single_token_words_is_the_documented_count() -> None:
    from benchmark.plugin.manager import get_plugins
    from benchmark.plugin.specs import build_upstream, parse_upstream

    upstream = build_upstream(parse_upstream("minilm"), get_plugins().registry)
    assert len(upstream.single_token_words()) == 21_719
    assert "(21,719 for MiniLM)" in DOC.read_text(encoding="utf-8")
