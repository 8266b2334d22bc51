"""Hypothesis strategies for memcap's property tests (shipped in the package, as zarr does)."""
