"""Moved to `benchmark.tasks.schema`; this name stays importable (plugins and cited text use it)."""

import sys

import benchmark.tasks.schema

sys.modules[__name__] = benchmark.tasks.schema
