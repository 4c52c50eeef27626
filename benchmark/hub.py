"""Is the Hugging Face Hub reachable, and is a model already in the local cache? Asked before any job starts."""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "BENCH_OFFLINE")


def offline_requested() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on") for v in OFFLINE_VARS)


@functools.cache
def hub_reachable(timeout: float = 3.0) -> bool:
    """True when a TCP connection to the Hub endpoint opens; False offline (answered in milliseconds here)."""
    if offline_requested():
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    host, port = parsed.hostname or "huggingface.co", parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def model_in_cache(repo_id: str, revision: str | None = None) -> bool:
    """True when the Hub model's config is in the local Hugging Face cache (so it loads offline)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    return isinstance(found, str) and Path(found).is_file()


def looks_like_local_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or os.path.isdir(os.path.expanduser(name))
