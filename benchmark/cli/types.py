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


class OutputArg(PathArg):
    """A results folder, or an fsspec URL of one (s3://bucket/run, gs://..., file:///abs/dir): see benchmark.storage.
    A URL becomes a benchmark.storage.ObjectPath (file:// a Path); anything else is a path as before."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        from benchmark.errors import BenchError
        from benchmark.storage import is_url, location

        if is_url(value):
            try:
                return location(value)
            except BenchError as err:
                self.fail(str(err), param, ctx)
        return super().convert(value, param, ctx)
