"""bench: benchmark self-supervised encoders on text, speech, image and cross-discipline tasks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from benchmark.version import __version__

if TYPE_CHECKING:
    from benchmark.types import Result

__all__ = ["__version__", "run"]


def run(*args: Any, **kwargs: Any) -> list[Result]:
    """Run jobs and return their results; see `benchmark.api.run` for the arguments."""
    from benchmark.api import run as _run

    return _run(*args, **kwargs)
