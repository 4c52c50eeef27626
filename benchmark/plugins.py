"""Moved to `benchmark.plugin.manager`; this name stays importable (plugins and cited text use it)."""

import sys

import benchmark.plugin.manager

sys.modules[__name__] = benchmark.plugin.manager
