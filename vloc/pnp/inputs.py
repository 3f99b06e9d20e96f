"""The files a localization against a triangulated model reads, named once for every method and evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LocalizationInputs:
    model: Path  # triangulated COLMAP model (its keypoints with 3D points)
    queries: Path  # queries file: name and intrinsics per line
    pairs: Path  # query-to-database pairs (LBR: those of the candidate groups, beside their groups file)
    features: Path  # local features of the queries
    matches: Path  # matches of the query pairs
