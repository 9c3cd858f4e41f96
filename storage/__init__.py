"""Storage: SQLAlchemy async engines, versioned schemas, fencing, Redis access.

Imports nothing from `cluster/` or `services/`: an epoch is a value passed in.
"""
