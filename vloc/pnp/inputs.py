"""The files a localization against a triangulated model reads, named once for every method and evaluation."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from vloc.errors import InputError


@dataclass(frozen=True)
class LocalizationInputs:
    model: Path  # triangulated COLMAP model (its keypoints with 3D points)
    queries: Path  # queries file: name and intrinsics per line
    pairs: Path  # query-to-database pairs (LBR: those of the candidate groups, beside their groups file)
    features: Path  # local features of the queries
    matches: Path  # matches of the query pairs


def check_queries_paired(queries: Collection[str], paired: Collection[str], pairs: Path, queries_path: Path) -> None:
    """A one-line error when `pairs` pairs none of the queries; a warning line counting those it does not pair (each
    is then logged as failed)."""
    unpaired = [query for query in queries if query not in paired]
    if queries and len(unpaired) == len(queries):
        raise InputError(f"{pairs}: pairs none of the {len(queries)} queries of {queries_path}")
    if unpaired:
        logging.warning("%d of %d queries of %s have no pairs in %s", len(unpaired), len(queries), queries_path, pairs)
