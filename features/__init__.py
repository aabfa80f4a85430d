"""Per-pixel feature extraction: images -> float32 feature stacks (H, W, F)."""
