"""Downstream heads: the head-kind protocol a plugin implements (re-exported here, the public import path) and the
shared machinery head kinds build on: the featurizer (layer weights), the training loop and model selection,
frames, words and QA spans."""

from benchmark.heads.protocol import (
    CONSUMES,
    BaseHead,
    Consumes,
    HeadJob,
    HeadKind,
    HeadRun,
    is_head_kind,
    kind_of,
)

__all__ = ["CONSUMES", "BaseHead", "Consumes", "HeadJob", "HeadKind", "HeadRun", "is_head_kind", "kind_of"]
