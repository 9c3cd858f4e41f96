"""The Login service."""
