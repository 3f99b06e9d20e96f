"""Nearest-neighbour search over global descriptors at scale (faiss indexes)."""
