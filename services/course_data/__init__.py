"""The Course data service."""
