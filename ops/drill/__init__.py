"""Fault drills on a local cluster: `python -m ops.drill NAME --runs N` (see `ops/drill/__main__.py`).

Each drill starts real node processes (the `ops.localcluster` kit), sends a load as
careful clients would while it strikes a fault, then lets the independent checker
(`ops.drill.checker`) compare what the clients were told with Redis and the ledger.
The tests in `tests/drills/` run each drill briefly; the long versions are for operators.
"""
