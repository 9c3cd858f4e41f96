"""The Queue buffer service."""
