"""Moved to `benchmark.engine.runner`; this name stays importable (plugins and cited text use it)."""

import sys

import benchmark.engine.runner

sys.modules[__name__] = benchmark.engine.runner
