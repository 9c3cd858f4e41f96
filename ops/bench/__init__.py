"""Benchmarks: `python -m ops.bench NAME --help`. Each prints figures and can write them as JSON."""
