"""Moved to `benchmark.media.image`; this name stays importable (plugins and cited text use it)."""

import sys

import benchmark.media.image

sys.modules[__name__] = benchmark.media.image
