"""dataset.json: what `vloc prepare` knows of a dataset beyond its lists (thresholds, conditions, image root)."""

from __future__ import annotations

import json
from pathlib import Path

from vloc.errors import InputError
from vloc.io.text import write_text_atomic

DATASET_JSON_VERSION = 1


def write_dataset_json(path: Path, info: dict) -> None:
    """Write `info` (JSON-serialisable) with the format version."""
    write_text_atomic(path, json.dumps({"vloc_format": DATASET_JSON_VERSION, **info}, indent=2) + "\n")


def read_dataset_json(path: Path) -> dict:
    """The dataset.json written by `prepare`, thresholds as tuples."""
    if not path.exists():
        raise InputError(f"{path}: dataset.json not found")
    try:
        info = json.loads(path.read_text())
        info["thresholds"] = [(float(m), float(d)) for m, d in info["thresholds"]]
        info.setdefault("conditions", {})
        if not isinstance(info["conditions"], dict):
            raise TypeError(f"conditions is {type(info['conditions']).__name__}, expected query name -> condition")
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(f"{path}: not a dataset.json written by `vloc prepare` ({error})") from None
    return info
