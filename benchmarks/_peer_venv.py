"""A peer library (MTEB, accelerate for transformers' Trainer) in its own virtual environment under
`benchmarks/.venvs/NAME` that sees the running interpreter's packages through a `.pth` file (`site.addsitedir` of
each of its site-packages folders), so it reuses the installed torch stack whether the script runs from a venv (the
README's install) or not — `--system-site-packages` would see the base interpreter's packages, not the venv's. The
peer's wheel is downloaded with `pip download --no-deps`, its Requires-Dist read, the wheel installed with
--no-deps and only the missing requirements installed, under a constraints file that pins every installed
distribution to its installed version (so no second torch, transformers or numpy can come in)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false"}



class NotSatisfiable(Exception):
    """A peer cannot be installed next to the current stack; the message says why."""


def run(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


def timed(cmd: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run cmd; return it with its wall seconds and the CPU seconds (user + sys) of it and its children.

    CPU time is the steadier figure on a shared machine: other work's load stretches wall time far more."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = run(cmd, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc, wall, cpu


def run_worker(py: Path, script: str, args: list[str], env: dict[str, str], what: str, prefix: str
               ) -> dict[str, Any]:
    """Run `script`'s peer side in the peer venv's python `py` (`args` + `--_out FILE`), timed: the JSON it writes
    to FILE, with its wall and CPU seconds added. A failure raises with the worker's last lines."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        out = Path(tmp) / "scores.json"
        cmd = [str(py), script, *args, "--_out", str(out)]
        proc, wall, cpu = timed(cmd, {**os.environ, **OFFLINE_ENV, "HF_HOME": str(Path(tmp) / "hf-home"),
                                      **{k: v.replace("{tmp}", tmp) for k, v in env.items()}})
        if proc.returncode != 0:
            raise RuntimeError(f"{what} worker failed ({proc.returncode}):\n{tail(proc, 30)}")
        res: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        res["wall_s"], res["cpu_s"] = wall, cpu
        return res


def tail(proc: subprocess.CompletedProcess[str], n: int = 15) -> str:
    lines = (proc.stdout + proc.stderr).strip().splitlines()[-n:]
    return "\n".join(line if len(line) <= 300 else line[:300] + " ..." for line in lines)


_CHECK = r"""
import json, sys
from importlib import metadata
from packaging.requirements import Requirement
from packaging.version import Version, InvalidVersion
reqs = json.loads(sys.argv[1])
out = []
for line in reqs:
    r = Requirement(line)
    if r.marker is not None and not r.marker.evaluate({"extra": ""}):
        continue
    try:
        have = metadata.version(r.name)
    except metadata.PackageNotFoundError:
        have = None
    ok = have is not None and (not r.specifier or r.specifier.contains(have, prereleases=True))
    out.append({"req": line, "name": r.name, "installed": have, "ok": ok})
pins = []
for d in metadata.distributions():
    name, ver = d.metadata["Name"], d.version
    try:
        Version(ver)
    except (InvalidVersion, TypeError):
        continue
    if name and name.lower() not in ("pip", "setuptools", "wheel"):
        pins.append(f"{name}=={ver}")
print(json.dumps({"reqs": out, "pins": sorted(set(pins))}))
"""


def requirements_of(wheel: Path) -> list[str]:
    """Requires-Dist lines of a wheel, without the extras-only ones."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(meta).decode("utf-8")
    reqs = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Requires-Dist:")]
    return [r for r in reqs if "extra ==" not in r and "extra==" not in r]


def ensure_peer(venv: Path, spec: str, dist: str, probe: str) -> tuple[Path, str]:
    """The peer venv's python and the peer's version, installing it first if needed. spec: the pip requirement
    (e.g. "mteb==2.26.24"); dist: its wheel's name prefix ("mteb"); probe: python code that imports the peer and
    prints its version, torch's version and torch's file, space-separated."""
    py = venv / "bin" / "python"
    if py.exists():
        proc = run([str(py), "-c", probe], env={**os.environ, **OFFLINE_ENV})
        if proc.returncode == 0 and proc.stdout.split()[1] == torch_version():
            return py, proc.stdout.split()[0]
    print(f"[setup] creating {venv} (sees this interpreter's packages, reuses torch {torch_version()})", flush=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    proc = run([sys.executable, "-m", "venv", "--clear", str(venv)])
    if proc.returncode != 0:
        raise NotSatisfiable(f"python -m venv failed:\n{tail(proc)}")
    see_parent(py)
    pip = [str(py), "-m", "pip", "--disable-pip-version-check"]
    with tempfile.TemporaryDirectory(prefix=f"peer-{dist}-wheel-") as tmp:
        proc = run(pip + ["download", "--no-deps", "-q", "-d", tmp, spec], timeout=600)
        wheels = sorted(Path(tmp).glob(f"{dist}-*.whl"))
        if proc.returncode != 0 or not wheels:
            raise NotSatisfiable(f"pip download {spec} --no-deps failed:\n{tail(proc)}")
        wheel = wheels[0]
        reqs = requirements_of(wheel)
        proc = run([str(py), "-c", _CHECK, json.dumps(reqs)])
        if proc.returncode != 0:
            raise NotSatisfiable(f"could not check {dist}'s requirements:\n{tail(proc)}")
        check = json.loads(proc.stdout)
        print(f"[setup] {wheel.name} requires:", flush=True)
        for r in check["reqs"]:
            print(f"  {'ok     ' if r['ok'] else 'MISSING'} {r['req']:<40} installed: {r['installed'] or '-'}")
        missing = [r for r in check["reqs"] if not r["ok"]]
        blocked = [r for r in missing if r["installed"] is not None]
        if blocked:
            raise NotSatisfiable(f"{dist} needs versions that conflict with the installed stack (not replaced, "
                                 "to keep one torch): " + ", ".join(f"{r['req']} (installed {r['installed']})"
                                                                     for r in blocked))
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("\n".join(check["pins"]) + "\n", encoding="utf-8")
        if missing:
            print(f"[setup] installing the missing ones, every installed distribution pinned: "
                  f"{', '.join(r['req'] for r in missing)}", flush=True)
            proc = run(pip + ["install", "-q", "-c", str(constraints)] + [r["req"] for r in missing], timeout=900)
            if proc.returncode != 0:
                raise NotSatisfiable(f"installing {dist}'s missing requirements failed:\n{tail(proc)}")
        proc = run(pip + ["install", "-q", "--no-deps", str(wheel)], timeout=600)
        if proc.returncode != 0:
            raise NotSatisfiable(f"installing {wheel.name} failed:\n{tail(proc)}")
    proc = run([str(py), "-c", probe], env={**os.environ, **OFFLINE_ENV})
    if proc.returncode != 0:
        raise NotSatisfiable(f"{dist} installed but does not import:\n{tail(proc)}")
    version, venv_torch, torch_file = proc.stdout.split()[:3]
    if venv_torch != torch_version() or Path(torch_file).resolve().is_relative_to(venv.resolve()):
        raise NotSatisfiable(f"the {dist} venv has its own torch {venv_torch} ({torch_file}), "
                             f"not the system's {torch_version()}")
    check = run(pip + ["check"])
    if check.returncode != 0:
        print(f"[setup] note, pip check in the {dist} venv:\n{tail(check)}", flush=True)
    print(f"[setup] {dist} {version} ready in {venv}", flush=True)
    return py, version


def parent_site_dirs() -> list[str]:
    """The running interpreter's package folders (a venv's own, and the base ones a --system-site-packages venv
    sees), in its order."""
    import site

    dirs = [*site.getsitepackages(), *([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])]
    dirs += [p for p in sys.path if p.rstrip("/").endswith(("site-packages", "dist-packages"))]
    return [d for d in dict.fromkeys(dirs) if Path(d).is_dir()]


def see_parent(py: Path) -> None:
    """Make the venv of `py` see this interpreter's packages after its own: a .pth file whose `import` line
    runs site.addsitedir on each folder, so their own .pth files (editable installs) count too, and pip
    treats what is there as installed."""
    proc = run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    if proc.returncode != 0:
        raise NotSatisfiable(f"the new venv's python does not start:\n{tail(proc)}")
    own = Path(proc.stdout.strip())
    line = "import site; " + "; ".join(f"site.addsitedir({d!r})" for d in parent_site_dirs())
    (own / "zz_bench_parent.pth").write_text(line + "\n", encoding="utf-8")


def torch_version() -> str:
    from importlib import metadata
    return metadata.version("torch")


def ensure_gitignored() -> None:
    """Add benchmarks/.venvs/ to the repo's .gitignore (a targeted append) unless git already ignores it."""
    root = HERE.parent
    probe = run(["git", "check-ignore", "-q", str(HERE / ".venvs" / "x")], cwd=root)
    if probe.returncode != 1:  # 0: already ignored; other: not a git checkout
        return
    gitignore = root / ".gitignore"
    text = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
    if "benchmarks/.venvs/" not in text.splitlines():
        with gitignore.open("a", encoding="utf-8") as f:
            f.write(("" if text.endswith("\n") or not text else "\n") + "benchmarks/.venvs/\n")
