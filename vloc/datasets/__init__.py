"""Dataset adapters: small dataclasses of paths whose `load()` gives a `Prepared`, written to files by `prepare`."""

from .base import Dataset, Prepared, prepare, read_dataset_json
from .generic import ColmapImages, PosesFile
from .seven_scenes import SevenScenes
from .synthetic import Synthetic
from .temple_ring import TempleRing

__all__ = [
    "Dataset", "Prepared", "prepare", "read_dataset_json",
    "SevenScenes", "TempleRing", "Synthetic", "ColmapImages", "PosesFile",
]
