"""Evaluate image retrieval: recall@k of a ranked pairs file against ground-truth poses of queries and database.

A retrieved image is correct when its camera centre lies within `max_distance` metres of the query's and the
angle between the two optical axes (viewing directions) is at most `max_angle_deg`; roll about the axis is ignored.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pycolmap

from vloc.errors import ConfigError, InputError
from vloc.geometry.rigid3d import camera_center
from vloc.io.model import read_ground_truth
from vloc.io.text import read_pairs, write_text_atomic


def ranked_lists(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Retrieved images of each query (first name of a pair) in file order, which is rank order."""
    ranked: dict[str, list[str]] = {}
    for query, retrieved in pairs:
        ranked.setdefault(query, []).append(retrieved)
    return ranked


def is_correct(query: pycolmap.Rigid3d, retrieved: pycolmap.Rigid3d, max_distance: float, max_angle_deg: float) -> bool:
    """Camera centres within `max_distance` and optical axes within `max_angle_deg` of each other."""
    distance = np.linalg.norm(camera_center(query) - camera_center(retrieved))
    cos_angle = np.clip(query.rotation.matrix()[2] @ retrieved.rotation.matrix()[2], -1.0, 1.0)
    return bool(distance <= max_distance and np.degrees(np.arccos(cos_angle)) <= max_angle_deg)


def evaluate(
    ranked: dict[str, list[str]],
    truth: dict[str, pycolmap.Rigid3d],
    queries: list[str],
    ks: tuple[int, ...] = (1, 5, 10),
    max_distance: float = 0.5,
    max_angle_deg: float = 30.0,
    truth_source: str = "the ground truth",
) -> dict:
    """Recall@k (fraction of queries with a correct image among their first k) and each query's first correct rank."""
    if not ks or min(ks) < 1:
        raise ConfigError(f"recall needs k >= 1, got {list(ks)}")
    first_correct: dict[str, int | None] = {}
    for query in queries:
        if query not in truth:
            raise InputError(f"query {query} has no ground-truth pose in {truth_source}")
        first_correct[query] = None
        for rank, name in enumerate(ranked.get(query, []), 1):
            if name not in truth:
                raise InputError(
                    f"retrieved image {name} (for query {query}) has no ground-truth pose in {truth_source}"
                )
            if is_correct(truth[query], truth[name], max_distance, max_angle_deg):
                first_correct[query] = rank
                break
    ranks = list(first_correct.values())
    return {
        "num_queries": len(queries),
        "max_distance_m": max_distance,
        "max_angle_deg": max_angle_deg,
        "angle": "between optical axes",
        "recall": {str(k): sum(r is not None and r <= k for r in ranks) / max(len(ranks), 1) for k in ks},
        "queries": {
            q: {"first_correct_rank": first_correct[q], "num_retrieved": len(ranked.get(q, []))} for q in queries
        },
    }


def print_report(report: dict) -> None:
    """A rich table: recall at each k, in percent."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"retrieval recall ({report['max_distance_m']:g} m, {report['max_angle_deg']:g} deg)")
    table.add_column("queries", justify="right")
    for k in report["recall"]:
        table.add_column(f"R@{k}", justify="right")
    table.add_row(str(report["num_queries"]), *[f"{100 * r:.1f}%" for r in report["recall"].values()])
    Console().print(table)


def main(
    pairs_path: Path,
    ground_truth: Path,
    *,
    queries: list[str] | None = None,
    ks: tuple[int, ...] = (1, 5, 10),
    max_distance: float = 0.5,
    max_angle_deg: float = 30.0,
    db_ground_truth: Path | None = None,
    out_json: Path | None = None,
) -> dict:
    """Evaluate a retrieval pairs file; ground truth (poses file or model) for queries, and for database images from
    `db_ground_truth` when given (e.g. the reference model). Default queries: the first names of the pairs file."""
    if not pairs_path.exists():
        raise InputError(f"{pairs_path}: pairs file not found")
    ranked = ranked_lists(read_pairs(pairs_path))
    truth = read_ground_truth(db_ground_truth) if db_ground_truth is not None else {}
    truth.update(read_ground_truth(ground_truth))
    sources = " or ".join(str(p) for p in (ground_truth, db_ground_truth) if p is not None)
    queries = list(ranked) if queries is None else queries
    report = evaluate(ranked, truth, queries, ks, max_distance, max_angle_deg, sources)
    print_report(report)
    if out_json is not None:
        write_text_atomic(out_json, json.dumps(report, indent=2) + "\n")
    return report
