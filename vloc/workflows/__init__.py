"""Workflows: one command that chains stages (`vloc map`: photos to a model)."""
