"""Parse and build upstream specs: `NAME`, `NAME:ARG` and the seed variants `NAME+rand`, `NAME+re-emb`."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from benchmark.errors import BenchError
from benchmark.interfaces import DeclaresMissing, DeclaresNeeds, TellsFingerprint
from benchmark.plugin.registry import Registry

# modifier -> the scope passed to Upstream.reinitialize
MODIFIERS: dict[str, str] = {"rand": "all", "re-emb": "embeddings"}
VARIANT_SEED = 0
"""The random draw behind +rand / +re-emb is fixed, so that seeds vary only the head (and features are shared)."""


@dataclass(frozen=True)
class UpstreamSpec:
    text: str
    name: str
    arg: str | None
    modifiers: tuple[str, ...]
    series: str | None = None
    """For one checkpoint of `NAME@DIR`: that text (the curve it belongs to); its step is `step`."""
    step: int | None = None


def parse_upstream(text: str) -> UpstreamSpec:
    """'bert:roberta-base+re-emb' -> name 'bert', arg 'roberta-base', modifiers ('re-emb',)."""
    raw = text.strip()
    if not raw:
        raise BenchError("empty upstream name (bench list upstreams)")
    mods: list[str] = []
    rest = raw
    while "+" in rest:
        head, _, tail = rest.rpartition("+")
        if tail not in MODIFIERS:
            if ":" in head or not head:
                break  # a '+' inside a model path or id belongs to the argument
            raise BenchError(f"unknown upstream modifier '+{tail}' in '{raw}' (known: "
                             f"{', '.join('+' + m for m in MODIFIERS)})")
        mods.insert(0, tail)
        rest = head
    name, sep, arg = rest.partition(":")
    if sep and not arg:
        raise BenchError(f"upstream '{raw}': nothing after ':' (use NAME:HUB_ID_OR_PATH)")
    return UpstreamSpec(raw, name, arg or None, tuple(mods))


_SERIES = re.compile(r"^([A-Za-z0-9_.-]+)@(.+)$")
_STEP = re.compile(r"(\d+)(?!.*\d)")


def checkpoint_step(entry: Path) -> int | None:
    """A checkpoint's pre-training step: the `step` its bench_pretraining.json records, else the last number in
    its name (step-000500, checkpoint-1500, epoch_3.pt); None if neither says."""
    record = entry / "bench_pretraining.json"
    if record.is_file():
        import json

        try:
            step = json.loads(record.read_text(encoding="utf-8")).get("step")
            if isinstance(step, int):
                return step
        except (OSError, ValueError, AttributeError):
            pass
    found = _STEP.search(entry.name)
    return int(found.group(1)) if found else None


def expand_upstream(text: str) -> list[UpstreamSpec]:
    """`NAME@DIR` -> one `NAME:DIR/ENTRY` spec per checkpoint in DIR (entries with a step, in step order), each
    remembering its series and step; anything else -> [parse_upstream(text)]."""
    found = _SERIES.match(text.strip())
    if not found:
        return [parse_upstream(text)]
    name, folder = found.group(1), Path(found.group(2)).expanduser()
    if not folder.is_dir():
        raise BenchError(f"upstream '{text}': '{folder}' is not a folder of checkpoints (NAME@DIR evaluates every "
                         "checkpoint in DIR, e.g. bert@runs/mlm after bench pretrain mlm --out runs/mlm)")
    steps = sorted((step, entry) for entry in folder.iterdir() if not entry.name.startswith(".")
                   and (step := checkpoint_step(entry)) is not None)
    if not steps:
        raise BenchError(f"upstream '{text}': no checkpoints in '{folder}' (entries named with their step, e.g. "
                         "step-000500/ or checkpoint-1500/)")
    if len({s for s, _ in steps}) != len(steps):
        raise BenchError(f"upstream '{text}': two checkpoints in '{folder}' have the same step")
    series = f"{name}@{folder}"
    return [UpstreamSpec(f"{name}:{entry}", name, str(entry), (), series, step) for step, entry in steps]


def check_upstream_spec(spec: UpstreamSpec, registry: Registry) -> str | None:
    """Raise for an unknown name; return what the upstream lacks to load now (None when it can load: its factory
    has no `missing`, or `missing` says nothing lacks). Not the contract check: that is benchmark.testing's
    check_upstream, on a built upstream."""
    return ask_factory(spec, registry, "missing", None)


def ask_factory(spec: UpstreamSpec, registry: Registry, method: Literal["missing", "needs"], default: Any) -> Any:
    """The factory's optional `method(arg[, modifiers=...])` for this spec (`missing`: DeclaresMissing, `needs`:
    DeclaresNeeds in benchmark.interfaces), or `default` when the factory has none. Raises for an unknown
    upstream name."""
    factory = registry.upstreams.get(spec.name).obj
    has = DeclaresMissing if method == "missing" else DeclaresNeeds
    if not isinstance(factory, has):
        return default
    fn = getattr(factory, method)
    return fn(spec.arg, **_modifiers_for(fn, spec))


def _modifiers_for(fn: Any, spec: UpstreamSpec) -> dict[str, Any]:
    """`modifiers=(...)` for a factory method that declares that parameter (it may build +rand without weights)."""
    import inspect

    try:
        return {"modifiers": spec.modifiers} if "modifiers" in inspect.signature(fn).parameters else {}
    except (TypeError, ValueError):
        return {}


def build_upstream(spec: UpstreamSpec, registry: Registry, *, trust_remote_code: bool = False) -> Any:
    """Construct the upstream and apply its modifiers."""
    factory = registry.upstreams.get(spec.name).obj
    upstream = factory(spec.arg, name=spec.text, trust_remote_code=trust_remote_code,
                       **_modifiers_for(factory, spec))
    for mod in spec.modifiers:
        reinit = getattr(upstream, "reinitialize", None)
        if reinit is None:
            raise BenchError(f"upstream '{spec.name}' does not support '+{mod}' (it has no reinitialize method)")
        reinit(MODIFIERS[mod], VARIANT_SEED)
    return upstream


_REQUIRED = {"num_layers": int, "hidden_size": int, "n_parameters": int, "fingerprint": str, "modality": str}


def check_built(upstream: Any, spec: UpstreamSpec, plugin: str) -> None:
    """The attributes every job reads: a plugin whose upstream lacks one fails its jobs with one clear line."""
    from benchmark.errors import JobFailed

    for attr, kind in _REQUIRED.items():
        value = getattr(upstream, attr, None)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise JobFailed(f"upstream '{spec.text}' (plugin '{plugin}') breaks the upstream contract: '{attr}' is "
                            f"{value!r}, not {kind.__name__} (benchmark.testing.check_upstream shows every check)")
    if not callable(getattr(upstream, "forward", None)):
        raise JobFailed(f"upstream '{spec.text}' (plugin '{plugin}') breaks the upstream contract: no forward()")


def check_hidden(upstream: Any, hidden: Any, n: int) -> None:
    """Cheap per-batch checks of what forward() returned (shapes and mask), so a broken plugin upstream fails its
    job with one line instead of a shape error deep inside the head."""
    from benchmark.errors import JobFailed
    from benchmark.types import HiddenStates

    name = getattr(upstream, "name", type(upstream).__name__)

    def fail(what: str) -> JobFailed:
        return JobFailed(f"upstream '{name}' breaks the upstream contract: {what} (benchmark.testing.check_upstream "
                         "shows every check)")

    if not isinstance(hidden, HiddenStates):
        raise fail(f"forward() returned {type(hidden).__name__}, not HiddenStates")
    want = upstream.num_layers + 1
    if len(hidden.layers) != want:
        raise fail(f"{len(hidden.layers)} hidden layers for num_layers={upstream.num_layers} (expected {want})")
    mask = hidden.mask
    if getattr(mask, "ndim", None) != 2 or mask.shape[0] != n:
        raise fail(f"mask of shape {tuple(getattr(mask, 'shape', ()))} for a batch of {n} (expected (batch, time))")
    for i, layer in enumerate(hidden.layers):
        shape = tuple(getattr(layer, "shape", ()))
        if len(shape) != 3 or shape[0] != n or shape[1] != mask.shape[1] or shape[2] != upstream.hidden_size:
            raise fail(f"layer {i} has shape {shape}; expected ({n}, {mask.shape[1]}, {upstream.hidden_size})")


def upstream_info(upstream: Any) -> dict[str, Any]:
    """The facts a result records about an upstream."""
    info = {"fingerprint": upstream.fingerprint, "modality": upstream.modality,
            "n_parameters": int(upstream.n_parameters), "num_layers": int(upstream.num_layers),
            "hidden_size": int(upstream.hidden_size), "source": getattr(upstream, "source", None)}
    pretraining = getattr(upstream, "pretraining", None)  # a checkpoint's own record of how it was pretrained
    if isinstance(pretraining, dict) and pretraining:
        info["pretraining"] = pretraining
    return info


def announced_fingerprint(spec: UpstreamSpec, registry: Registry) -> str | None:
    """The fingerprint the upstream will have, from its factory without loading the model (None when the factory
    cannot tell: `factory.fingerprint(arg, scopes, seed)` is optional)."""
    factory = registry.upstreams.get(spec.name).obj
    scopes = tuple(MODIFIERS[m] for m in spec.modifiers)
    return factory.fingerprint(spec.arg, scopes, VARIANT_SEED) if isinstance(factory, TellsFingerprint) else None


def _save_sidecar(path: Path, text: str) -> None:
    """Write a cache sidecar whole (write_text_atomic: a private temporary, then one rename; two runs may load the
    same upstream at once). It only saves a later load: a failure never fails a job."""
    from benchmark.engine.results import write_text_atomic  # (here: the engine imports this module)

    with contextlib.suppress(OSError, BenchError):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)


class LazyUpstream:
    """Stands in for a frozen upstream until something needs the model itself.

    A factory that can tell its fingerprint without loading (`factory.fingerprint(arg, scopes, seed)`) lets a
    job whose features are all in the cache run without ever loading the model: a second seed or learning
    rate costs only the head. The facts recorded in results come from a small sidecar written the first time
    the model was loaded (cache_dir/upstreams/).
    """

    def __init__(self, spec: UpstreamSpec, registry: Registry, load: Any, cache_dir: Any) -> None:
        import hashlib
        from pathlib import Path

        self._spec, self._load, self._model = spec, load, None
        self._fingerprint = announced_fingerprint(spec, registry)
        key = hashlib.sha256((self._fingerprint or spec.text).encode()).hexdigest()[:24]
        self._info_path = Path(cache_dir) / "upstreams" / f"{key}.json"

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def get(self) -> Any:
        if self._model is None:
            import json

            self._model = self._load()
            if self._fingerprint is not None and self._model.fingerprint != self._fingerprint:
                raise RuntimeError(f"upstream '{self._spec.text}': fingerprint {self._model.fingerprint} differs from "
                                   f"the one its factory announced ({self._fingerprint})")
            _save_sidecar(self._info_path, json.dumps(upstream_info(self._model)))
        return self._model

    @property
    def fingerprint(self) -> str:
        return self._fingerprint if self._fingerprint is not None else self.get().fingerprint

    def info(self) -> dict[str, Any]:
        if self._model is None and self._fingerprint is not None:
            import json

            try:
                data = json.loads(self._info_path.read_text(encoding="utf-8"))
                if data.get("fingerprint") == self._fingerprint:
                    return data
            except (OSError, ValueError):
                pass
        return upstream_info(self.get())

    def single_token_words(self) -> list[str]:
        """The upstream's single-token words (symbol tasks), from a sidecar when the model is not loaded, so a
        symbol task whose mapped features are cached still runs without loading the model."""
        import json

        path = self._info_path.with_suffix(".words.json")
        if self._model is None and self._fingerprint is not None:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if data.get("fingerprint") == self._fingerprint:
                    return list(data["words"])
            except (OSError, ValueError, KeyError):
                pass
        model = self.get()
        get = getattr(model, "single_token_words", None)
        if get is None:
            raise AttributeError("single_token_words")
        words = list(get())
        _save_sidecar(path, json.dumps({"fingerprint": model.fingerprint, "words": words}))
        return words

    def __call__(self, inputs: Any) -> Any:
        return self.get()(inputs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.get(), name)
