"""Is the Hugging Face Hub reachable, is a model already in the local cache, and fetching one. Asked before any job
starts; downloads happen only in `bench prefetch` and in the loaders of a run that may use the network."""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

OFFLINE_VARS = ("BENCH_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
HUB = "the Hugging Face Hub"
WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
"""The weight files `from_pretrained` looks for, in its order of preference (a sharded model has an index)."""


def offline_requested() -> bool:
    """True when any offline variable is set: bench then stays off the Hub (HF_HUB_OFFLINE and its kin) or off every
    network (BENCH_OFFLINE, as `--offline`)."""
    return offline_variable() is not None


def offline_variable() -> str | None:
    """`NAME=VALUE` of the first offline variable that is set, or None."""
    return next((f"{v}={os.environ[v]}" for v in OFFLINE_VARS if _true(os.environ.get(v, ""))), None)


def no_network_requested() -> bool:
    """True when BENCH_OFFLINE is set: no network at all, the package index (PyPI) included."""
    return _true(os.environ.get("BENCH_OFFLINE", ""))


def _true(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def hub_reachable() -> bool:
    """False when offline is asked for (BENCH_OFFLINE, HF_HUB_OFFLINE...) or the Hub endpoint does not answer."""
    return not offline_requested() and _endpoint_answers(endpoint())


@functools.cache
def _endpoint_answers(url: str, timeout: float = 3.0) -> bool:
    """True when a TCP connection to the endpoint opens (answered in milliseconds when there is no network)."""
    parsed = urlparse(url)
    host, port = parsed.hostname or "huggingface.co", parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def model_in_cache(repo_id: str, revision: str | None = None) -> bool:
    """True when the Hub model's config is in the local Hugging Face cache (so it loads offline)."""
    return _cached(repo_id, "config.json", revision)


def looks_like_local_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or os.path.isdir(os.path.expanduser(name))


def model_cached(repo_id: str) -> bool:
    """True when the Hub model's config and weights are in the local Hugging Face cache (at its `main` ref)."""
    return model_in_cache(repo_id) and any(_cached(repo_id, f) for f in WEIGHTS)


def _cached(repo_id: str, filename: str, revision: str | None = None) -> bool:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, revision=revision)
    return isinstance(found, str) and Path(found).is_file()


SKIP_PREFIXES = ("onnx/", "openvino/", "coreml/", "tf_", "flax_", "rust_", "tflite", "ggml")
SKIP_SUFFIXES = (".h5", ".msgpack", ".ot", ".onnx", ".onnx_data", ".tflite", ".mlmodel", ".gguf", ".ckpt")


def model_files(files: Sequence[str]) -> list[str]:
    """The files of a Hub model repository that `from_pretrained` of the PyTorch model, its tokenizer and its
    feature extractor read: top-level configs, tokenizer and vocabulary files, code (for --trust-remote-code) and
    one set of weights, safetensors if the repository has them, else PyTorch .bin. TensorFlow, Flax, ONNX and the
    like (often as large again as the weights) are left out."""
    top = [f for f in files if "/" not in f and not f.startswith(SKIP_PREFIXES) and not f.endswith(SKIP_SUFFIXES)]
    weights = [f for f in top if f.endswith(".safetensors") or f == "model.safetensors.index.json"]
    if not weights:
        weights = [f for f in top if f.endswith(".bin") and f.startswith("pytorch_model")]
    rest = [f for f in top if not f.endswith((".safetensors", ".bin")) and f != "model.safetensors.index.json"
            and f.endswith((".json", ".txt", ".model", ".py", ".tiktoken", ".vocab", ".spm", ".bpe"))]
    return sorted(set(rest) | set(weights))


def download_model(repo_id: str) -> Path:
    """Download a Hub model's PyTorch weights, config and tokenizer into the Hugging Face cache (HF_HOME), at the
    `main` ref; returns the snapshot directory (its name is the commit, which the upstream's fingerprint records)."""
    from huggingface_hub import HfApi, snapshot_download

    info = HfApi().model_info(repo_id, revision="main")
    files = model_files([s.rfilename for s in info.siblings or ()])
    if "config.json" not in files or not any(f in files for f in WEIGHTS):
        raise RuntimeError(f"'{repo_id}' has no config.json and PyTorch weights (model.safetensors or "
                           "pytorch_model.bin): not a model transformers can load")
    return Path(snapshot_download(repo_id, revision="main", allow_patterns=files))


def use_no_network() -> None:
    """Make transformers, datasets and huggingface_hub read only their caches from now on, in this process and in
    the processes it starts (they read HF_HUB_OFFLINE when first imported, so an imported one is told directly)."""
    import sys

    os.environ["HF_HUB_OFFLINE"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = True
    config = sys.modules.get("datasets.config")
    if config is not None:
        config.HF_HUB_OFFLINE = True
        config.HF_DATASETS_OFFLINE = True
