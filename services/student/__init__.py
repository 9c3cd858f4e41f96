"""The Student service."""
