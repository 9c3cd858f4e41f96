"""Operator tools: cluster administration, benchmarks, initial data."""
