"""Candidate groups of instance-guided retrieval (LBR): per query, database images to localize against together,
in order.

Stored as JSON beside the pairs file they come from (`pairs.txt` -> `pairs.groups.json`); the pairs file itself
stays an ordinary hloc pairs file listing every pair of every group.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from vloc.errors import FormatError, InputError
from vloc.io.text import write_text_atomic

FORMAT = "vloc-groups-1"


@dataclass
class CandidateGroup:
    """Database images of one recognised instance (or a single retrieved image when `instance` is None)."""

    db_images: list[str]
    instance: int | None = None
    score: float | None = None  # recognition score of the instance


def groups_path(pairs: Path) -> Path:
    return pairs.with_name(pairs.stem + ".groups.json")


def write_groups(path: Path, groups: dict[str, list[CandidateGroup]]) -> None:
    document = {"vloc_format": FORMAT, "queries": {q: [asdict(g) for g in gs] for q, gs in groups.items()}}
    write_text_atomic(path, json.dumps(document, indent=1) + "\n")


def read_groups(path: Path) -> dict[str, list[CandidateGroup]]:
    """Groups of every query, in trial order; fail in one line on a missing or foreign file."""
    if not path.exists():
        raise InputError(f"{path}: candidate groups file not found (written by vloc pairs instances)")
    try:
        document = json.loads(path.read_text())
        if document.get("vloc_format") != FORMAT:
            raise ValueError("not a vloc groups file")
        return {q: [CandidateGroup(**g) for g in gs] for q, gs in document["queries"].items()}
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise FormatError(f"{path}: not a candidate groups file ({error})") from None
