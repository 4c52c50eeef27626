"""Errors the user can fix. The CLI prints them as one line and exits with code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BenchError(Exception):
    """A problem with the user's input or environment, with a message that says how to fix it."""


class PluginError(BenchError):
    """A plugin registered something invalid (for example a name another plugin already took)."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' — did you mean 'x'?' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return f" — did you mean '{close[0]}'?" if close else ""


class JobFailed(Exception):
    """One job could not finish (training diverged, out of memory, an upstream broke its contract).

    The runner records it as a failed result with this message and goes on with the other jobs. `transient`: a
    rerun of the same command may pass (memory that another process held, a network that was down); the end of
    the run says "rerun" only then. Decided where the error is caught, by its type (`transient_error`), not by
    the words of its message.
    """

    def __init__(self, *args: object, transient: bool = False) -> None:
        super().__init__(*args)
        self.transient = transient


def transient_error(err: BaseException) -> bool:
    """An error that a rerun may not meet again: out of memory, or a connection / timeout error (the builtin
    types, and requests' / urllib3's / httpx's by class name, without importing them)."""
    if out_of_memory(err) or isinstance(err, ConnectionError | TimeoutError):
        return True
    return any(cls.__name__.endswith(("ConnectionError", "Timeout", "TimeoutError", "ConnectError"))
               for cls in type(err).__mro__)


def out_of_memory(err: BaseException) -> bool:
    """True for a CUDA / CPU allocation failure (torch raises several types for it)."""
    if isinstance(err, MemoryError):
        return True
    name = type(err).__name__
    text = str(err).lower()
    return name == "OutOfMemoryError" or (isinstance(err, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text or "failed to allocate" in text))
