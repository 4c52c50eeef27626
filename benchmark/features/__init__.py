"""An upstream's features, shared by the heads and the engine: batches of similar length, pooled (per layer, per
example), frame and word features, and the on-disk feature cache keyed by what the upstream reads."""
