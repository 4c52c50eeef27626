"""One checker for a recipe's options (tasks.yaml `sources.recipe.options`): unknown names and whole-number counts
are refused the same way, in the same words, by every recipe; each recipe adds only its own cross-field rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmark.errors import BenchError


def recipe_options(recipe: str, options: Mapping[str, Any], defaults: Mapping[str, Any],
                   whole: Mapping[str, int], most: int | None = None) -> dict[str, Any]:
    """The options with the defaults filled in. Every name must be one of `defaults`; every option named in `whole`
    must be a whole number (not a bool) of at least its value there (and at most `most` when given)."""
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise BenchError(f"{recipe}: unknown option '{unknown[0]}' (options: {', '.join(defaults)})")
    o = {**defaults, **options}
    for name, least in whole.items():
        v = o[name]
        if not isinstance(v, int) or isinstance(v, bool) or v < least or (most is not None and v > most):
            bound = f"from {least} to {most}" if most is not None else f">= {least}"
            raise BenchError(f"{recipe}: option {name} must be a whole number {bound}, not {v!r}")
    return o
