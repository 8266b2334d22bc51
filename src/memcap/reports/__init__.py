"""The reporting wing: `sweep` compiles and verifies grids of datasets (resumable JSONL; `userdata` makes
the grids of a user's file), `fits` fits and checks slopes, `built` and `built_tables` write the
construction's report on random data, `datareport` the report on a user's data, `trained` and `capacity` the
trained-capacity tables. Every report is a list of sections assembled by `page`, draws through `figures`
(PNG, SVG, PDF), writes tables through `tables` (Markdown, CSV, LaTeX) and records `provenance`."""
