"""Experiments that compile and verify: `grid` (generated datasets, one JSONL row per verified model,
resumable) and `userdata` (nested random subsets of a user's dataset beside random data of its shape).
The reports read their rows; nothing here draws or writes a page."""
