"""Learned networks of vloc and their checkpoints (architectures, saving, loading)."""
