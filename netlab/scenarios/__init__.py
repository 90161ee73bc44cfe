"""Scenarios that build a machine from the models and run a story on it, one module per chapter."""
