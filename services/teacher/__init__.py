"""The Teacher service."""
