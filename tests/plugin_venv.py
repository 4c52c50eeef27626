"""A fresh virtual environment with bench and plugin packages pip-installed, as a stranger would install them.

Shared by the tests of the example plugin packages (tests/test_example_plugin.py, tests/test_audio_plugin.py). The
venv reuses the packages already installed here (`--system-site-packages`, plus the running venv's site-packages
when the tests themselves run in one, as CI does), so nothing big is installed twice and nothing is downloaded:
pip installs bench and the plugins into it with `--no-deps`, and their dependencies must already be installed here
(bench's `test` extra lists them). Packages are installed from copies, as from a download, so nothing is written
into the repository.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import site
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from benchmark.engine.runner import default_cache_dir

ROOT = Path(__file__).resolve().parent.parent


def run(cmd: list[Any], env: dict[str, str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """Run a command; a non-zero exit fails the test with the command's output."""
    proc = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n"
                    f"--- stderr\n{proc.stderr[-4000:]}", pytrace=False)
    return proc


def build_isolation_flags() -> list[str]:
    """Build with the hatchling installed here when there is one; else pip fetches it for an isolated build."""
    return ["--no-build-isolation"] if importlib.util.find_spec("hatchling") else []


def make_plugin_venv(tmp: Path, packages: Sequence[Path]) -> dict[str, Any]:
    """A venv under `tmp` with bench and copies of `packages` installed; returns its python, bench, env and the
    copies ({"packages": {directory name: copy}})."""
    venv = fresh_venv(tmp)
    python, env = venv["python"], venv["env"]
    copies = copy_packages(tmp, packages)
    run([python, "-m", "pip", "install", "-q", "--no-deps", *build_isolation_flags(), ROOT, *copies.values()], env, tmp)
    assert venv["bench"].is_file(), "pip did not install the bench command into the venv"
    return {**venv, "packages": copies}


def copy_packages(tmp: Path, packages: Sequence[Path]) -> dict[str, Path]:
    """Copies of `packages` under `tmp` (as from a download: nothing is written into the repository)."""
    copies = {}
    for package in packages:
        copies[package.name] = tmp / package.name
        shutil.copytree(package, copies[package.name], ignore=shutil.ignore_patterns(
            "__pycache__", ".pytest_cache", "build", "dist", "*.egg-info"))
    return copies


def fresh_venv(tmp: Path, *, own_pip: bool = True, hide: tuple[str, ...] = ()) -> dict[str, Any]:
    """An empty venv under `tmp` that sees this environment's packages; returns its python, bench (not installed
    yet), env and tmp. own_pip=False leaves out the venv's own pip and (old, bundled) setuptools, so that pip,
    run from this environment, resolves dependencies against this environment's packages alone (torch requires a
    newer setuptools than the venv would bundle). hide: distributions of this environment the venv must not see
    (their files and editable-install hooks are left out of its view), so pip installs them into the venv."""
    venv_dir = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", *([] if own_pip else ["--without-pip"]),
                    str(venv_dir)], check=True, timeout=300)
    bindir = venv_dir / "bin"
    python = bindir / "python"
    if sys.prefix != sys.base_prefix:
        # These tests run inside a venv (CI does): --system-site-packages only reaches the base interpreter's
        # packages, so let the new venv see this one's (torch, transformers, bench's dependencies) as well.
        purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 check=True, capture_output=True, text=True).stdout.strip()
        paths = [p for p in site.getsitepackages() if Path(p).is_dir() and Path(p).is_relative_to(sys.prefix)]
        if hide:
            paths = [str(_view_without(Path(p), hide, tmp / f"parent-view-{i}")) for i, p in enumerate(paths)]
        Path(purelib, "_bench_parent_env.pth").write_text(
            f"import site; list(map(site.addsitedir, {paths!r}))\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "BENCH_DISABLE_PLUGIN_AUTOLOAD", "BENCH_BLOCK_PLUGINS",
                        "BENCH_PLUGINS")}
    env.update(VIRTUAL_ENV=str(venv_dir), PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}",
               BENCH_CACHE=str(default_cache_dir()), HF_HUB_OFFLINE="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return {"python": python, "bench": bindir / "bench", "env": env, "tmp": tmp}


def _view_without(site_dir: Path, hide: tuple[str, ...], view: Path) -> Path:
    """A folder of links to every entry of `site_dir` except those of the hidden distributions (their dist-info,
    and an editable install's .pth and finder), matched by normalised name."""
    names = tuple(h.lower().replace("-", "_") for h in hide)
    view.mkdir(parents=True)
    for entry in site_dir.iterdir():
        if not any(n in entry.name.lower().replace("-", "_") for n in names):
            (view / entry.name).symlink_to(entry)
    return view


def import_from_source(src: Path, module: str) -> Iterator[Any]:
    """Yield plugin `module` imported from a package's source tree (as BENCH_PLUGINS does while one writes a
    plugin); the tree leaves sys.path afterwards. For a module-scoped fixture: `yield from import_from_source(...)`."""
    sys.path.insert(0, str(src))
    try:
        yield importlib.import_module(module)
    finally:
        sys.path.remove(str(src))
