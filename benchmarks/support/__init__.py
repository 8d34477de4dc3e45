"""What several benchmarks share. Not a benchmark itself: `make bench` runs
`benchmarks/*.py`, not this folder."""
