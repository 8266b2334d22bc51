"""The reporting wing: it reads the rows that `memcap.experiments` measured and draws no model itself.
`fits` fits and checks slopes, `built` and `built_tables` write the construction's report on random data,
`datareport` the report on a user's data, `trained` and `capacity` the trained-capacity tables,
`weightbits` built beside trained bits per weight bit. Every report is a list of sections assembled by
`page`, draws through `figures` (PNG, SVG, PDF), writes tables through `tables` (Markdown, CSV, LaTeX) and
records `provenance`."""
