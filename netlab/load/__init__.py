"""Vectorised (numpy) models for scale: millions of connections or packets at once."""
