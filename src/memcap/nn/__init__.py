"""PyTorch: `model` is the one model file (built and trained models alike); `export` hands built models to
PyTorch in float64, `lens` to TransformerLens."""
