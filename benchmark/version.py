"""The version of bench, in a module of its own so that any module can read it without importing the package's
`__init__` (which imports the Python API).

The command and the import packages are `bench` / `benchmark`, but the distribution on the package index is
DISTRIBUTION: `bench` there is an unrelated project (a process monitor), so a plugin that declared a dependency
on `bench` would install that one. Everything that names bench's distribution (the scaffold's dependency, the
example plugins, install hints, docs) uses this name.
"""

from __future__ import annotations

__version__ = "0.1.0"
DISTRIBUTION = "encoder-bench"
