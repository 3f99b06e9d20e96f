"""What an evaluation compares: thresholds, query names and conditions, from the options or a prepared dataset."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from vloc.errors import ConfigError
from vloc.io.dataset_info import read_dataset_json
from vloc.io.text import read_image_list

UNNAMED_QUERY_LIST = "the query list"  # how messages name a list of query names given without its file


@dataclass(frozen=True)
class EvaluationSetup:
    thresholds: list[tuple[float, float]]  # (metres or model units, degrees)
    queries: list[str] | None  # None: every query of the results or ground truth
    conditions: dict[str, str] | None  # query name -> condition, reported as groups
    query_source: str = UNNAMED_QUERY_LIST  # the file the names come from, for messages


def dataset_conditions(dataset_json: Path | None) -> dict[str, str] | None:
    """The conditions of dataset.json (None without it or when it has none)."""
    return (read_dataset_json(dataset_json)["conditions"] or None) if dataset_json is not None else None


def query_list_file(dataset_json: Path | None, query_list: Path | None) -> Path | None:
    """The query list: the given one, else dataset.json's query_list.txt beside it, else None (all queries)."""
    if query_list is None and dataset_json is not None and (dataset_json.parent / "query_list.txt").exists():
        return dataset_json.parent / "query_list.txt"
    return query_list


def evaluation_setup(
    dataset_json: Path | None, thresholds: list[tuple[float, float]], query_list: Path | None
) -> EvaluationSetup:
    """The given thresholds (else dataset.json's), the query names and the conditions of an evaluation."""
    info = read_dataset_json(dataset_json) if dataset_json is not None else {"thresholds": [], "conditions": {}}
    thresholds = thresholds or info["thresholds"]
    if not thresholds:
        raise ConfigError("no thresholds: give --threshold metres,degrees or --dataset-json")
    for metres, degrees in thresholds:
        if not (0 < metres < math.inf and 0 < degrees < math.inf):
            raise ConfigError(f"threshold ({metres}, {degrees}): both must be positive and finite")
    path = query_list_file(dataset_json, query_list)
    if path is None:
        return EvaluationSetup(thresholds, None, info["conditions"] or None)
    return EvaluationSetup(thresholds, read_image_list(path), info["conditions"] or None, query_source=str(path))
