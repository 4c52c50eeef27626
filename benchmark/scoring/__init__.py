"""Scores: a task's main score (GLUE rule), human-relative and SUPERB-normalised scores, suite aggregates, and the
statistics the report shows (bootstrap CIs, paired permutation tests)."""
