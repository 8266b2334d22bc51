"""Localization benchmarks with exact ground truth: which FFN units of a compiled model store each example
(the construction's record), which ones change its output when zeroed (the exact executor), the
localization methods of the literature run on the float64 module, and their scores (docs/localization.md)."""
