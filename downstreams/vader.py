"""Moved to `downstreams.recipes.vader`; this name stays importable (plugins and cited text use it)."""

import sys

import downstreams.recipes.vader

sys.modules[__name__] = downstreams.recipes.vader
