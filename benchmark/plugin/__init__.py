"""The plugin system: hook specs are public in `benchmark.hookspecs`; here the plugin manager, the registry of
what plugins registered, upstream specs (`NAME:ARG+modifier`), what inputs a job needs, and the plugin scaffold."""
