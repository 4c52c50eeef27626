"""Parameter types shared by the command-line modules."""

from __future__ import annotations

from typing import Any

import click


class PathArg(click.Path):
    """click.Path that refuses an empty string (which pathlib would silently read as the current directory)."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("is empty; give a path", param, ctx)
        return super().convert(value, param, ctx)
