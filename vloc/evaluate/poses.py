"""Evaluate localization results against ground truth: errors, medians and recall, as in docs/benchmarks.md."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pycolmap

from vloc.errors import InputError
from vloc.evaluate.report import plot_cdf, print_report
from vloc.evaluate.setup import UNNAMED_QUERY_LIST, EvaluationSetup
from vloc.geometry.rigid3d import is_finite_pose, pose_errors
from vloc.io.model import read_ground_truth
from vloc.io.text import read_poses, write_text_atomic


@dataclass
class QueryError:
    translation_m: float  # inf for a failed query (no pose)
    rotation_deg: float


def query_errors(
    results: dict[str, pycolmap.Rigid3d], truth: dict[str, pycolmap.Rigid3d], queries: list[str]
) -> dict[str, QueryError]:
    """Errors of every query; a query without a result, or whose result is not finite, gets infinite errors (it is
    failed, never dropped)."""
    errors = {}
    for name in queries:
        if name in results and is_finite_pose(results[name]):
            errors[name] = QueryError(*pose_errors(results[name], truth[name]))
        else:
            errors[name] = QueryError(math.inf, math.inf)
    return errors


def summarize(errors: list[QueryError], thresholds: list[tuple[float, float]]) -> dict:
    """Median errors, recall (percent) at each (metres, degrees) threshold and number of failures."""
    dt = np.array([e.translation_m for e in errors], np.float64)
    dr = np.array([e.rotation_deg for e in errors], np.float64)
    recall = [float(100 * np.mean((dt <= m) & (dr <= d))) if len(dt) else 0.0 for m, d in thresholds]
    return {
        "num_queries": len(errors),
        "num_failed": int(np.sum(~np.isfinite(dt))),
        "median_translation_m": float(np.median(dt)) if len(dt) else math.nan,
        "median_rotation_deg": float(np.median(dr)) if len(dr) else math.nan,
        "recall_percent": recall,
    }


def query_groups(queries: list[str], conditions: dict[str, str] | None) -> dict[str, list[str]]:
    """The queries of each report group: 'all', then one group per condition (in name order)."""
    groups = {"all": list(queries)}
    for condition in sorted({(conditions or {}).get(n) for n in queries} - {None}):
        groups[condition] = [n for n in queries if conditions.get(n) == condition]
    return groups


def evaluate(
    results: dict[str, pycolmap.Rigid3d],
    truth: dict[str, pycolmap.Rigid3d],
    thresholds: list[tuple[float, float]],
    queries: list[str] | None = None,
    conditions: dict[str, str] | None = None,
    source: str = "results",
    truth_source: str = "the ground truth",
    query_source: str = UNNAMED_QUERY_LIST,
) -> dict:
    """The report as a dict: thresholds, per-group summaries ('all' and one per condition), per-query errors."""
    queries = sorted(truth) if queries is None else list(queries)
    for name in results:
        if name not in truth:
            raise InputError(f"{source}: query {name} has no ground-truth pose in {truth_source}")
    for name in queries:
        if name not in truth:
            raise InputError(f"{query_source}: query {name} has no ground-truth pose in {truth_source}")
    not_finite = [name for name, pose in results.items() if not is_finite_pose(pose)]
    if not_finite:
        logging.warning(
            "%d results of %s are not finite poses (first: %s): counted as failed",
            len(not_finite),
            source,
            not_finite[0],
        )
    errors = query_errors(results, truth, queries)
    groups = query_groups(queries, conditions)
    return {
        "thresholds": [list(t) for t in thresholds],
        "groups": {group: summarize([errors[n] for n in names], thresholds) for group, names in groups.items()},
        "queries": {n: {"translation_m": e.translation_m, "rotation_deg": e.rotation_deg} for n, e in errors.items()},
    }


def main(
    results: Path,
    ground_truth: Path,
    setup: EvaluationSetup,
    *,
    out_json: Path | None = None,
    plot: Path | None = None,
    model_units: bool = False,
) -> dict:
    """Evaluate a results file, print a table, optionally write JSON and a CDF plot; return the report.

    model_units: the ground truth has no metric scale (an SfM model); lengths are reported in its units."""
    truth = read_ground_truth(ground_truth)
    poses = read_poses(results)
    report = evaluate(
        poses,
        truth,
        setup.thresholds,
        setup.queries,
        setup.conditions,
        source=str(results),
        truth_source=str(ground_truth),
        query_source=setup.query_source,
    )
    report["model_units"] = model_units
    print_report(report)
    if out_json is not None:
        write_text_atomic(out_json, json.dumps(finite_or_none(report), indent=2) + "\n")
    if plot is not None:
        plot_cdf(report, setup.conditions or {}, plot)
    return report


def finite_or_none(value):
    """JSON has no infinity: failed queries' errors are written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    return value
