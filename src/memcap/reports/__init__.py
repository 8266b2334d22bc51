"""The reporting wing: `sweep` compiles and verifies grids of datasets (resumable JSONL), `fits` fits and
checks slopes, `built` writes the construction's report, `trained` the trained-capacity tables."""
