"""Evaluate localization results against ground truth: errors, medians and recall, as in docs/benchmarks.md."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pycolmap

from .errors import InputError
from .geometry.pose import pose_errors
from .io.model import model_poses, read_model
from .io.text import read_poses, write_text_atomic


@dataclass
class QueryError:
    translation_m: float  # inf for a failed query (no pose)
    rotation_deg: float


def load_ground_truth(path: Path) -> dict[str, pycolmap.Rigid3d]:
    """cam_from_world by name from a poses file (results format) or a COLMAP model folder."""
    if path.is_dir():
        return model_poses(read_model(path))
    if not path.exists():
        raise InputError(f"{path}: ground truth not found")
    return read_poses(path)


def query_errors(
    results: dict[str, pycolmap.Rigid3d], truth: dict[str, pycolmap.Rigid3d], queries: list[str]
) -> dict[str, QueryError]:
    """Errors of every query; a query without a result gets infinite errors (it is failed, never dropped)."""
    errors = {}
    for name in queries:
        if name in results:
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


def evaluate(
    results: dict[str, pycolmap.Rigid3d],
    truth: dict[str, pycolmap.Rigid3d],
    thresholds: list[tuple[float, float]],
    queries: list[str] | None = None,
    conditions: dict[str, str] | None = None,
    source: str = "results",
) -> dict:
    """The report as a dict: thresholds, per-group summaries ('all' and one per condition), per-query errors."""
    queries = sorted(truth) if queries is None else list(queries)
    for name in list(results) + queries:
        if name not in truth:
            raise InputError(f"{source}: query {name} has no ground-truth pose")
    errors = query_errors(results, truth, queries)
    groups = {"all": summarize(list(errors.values()), thresholds)}
    for condition in sorted(set((conditions or {}).get(n) for n in queries) - {None}):
        groups[condition] = summarize([errors[n] for n in queries if conditions.get(n) == condition], thresholds)
    return {
        "thresholds": [list(t) for t in thresholds],
        "groups": groups,
        "queries": {n: {"translation_m": e.translation_m, "rotation_deg": e.rotation_deg} for n, e in errors.items()},
    }


def main(
    results: Path,
    ground_truth: Path,
    thresholds: list[tuple[float, float]],
    queries: list[str] | None = None,
    conditions: dict[str, str] | None = None,
    out_json: Path | None = None,
    plot: Path | None = None,
) -> dict:
    """Evaluate a results file, print a table, optionally write JSON and a CDF plot; return the report."""
    if not results.exists():
        raise InputError(f"{results}: results file not found")
    truth = load_ground_truth(ground_truth)
    if queries is None:
        queries = sorted(truth)
    missing = [n for n in queries if n not in truth]
    if missing:
        raise InputError(f"query {missing[0]} has no ground-truth pose in {ground_truth}")
    poses = read_poses(results)
    for name in poses:
        if name not in truth:
            raise InputError(f"{results}: query {name} has no ground-truth pose in {ground_truth}")
    report = evaluate(poses, truth, thresholds, queries, conditions, str(results))
    print_report(report)
    if out_json is not None:
        write_text_atomic(out_json, json.dumps(_finite_or_none(report), indent=2) + "\n")
    if plot is not None:
        plot_cdf(report, conditions or {}, plot)
    return report


def _finite_or_none(value):
    """JSON has no infinity: failed queries' errors are written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value


def length_unit(thresholds: list[tuple[float, float]]) -> tuple[str, float]:
    """mm below 1 cm thresholds, cm below 1 m, else m."""
    finest = min((m for m, _ in thresholds), default=1.0)
    return ("mm", 1000.0) if finest < 0.01 else ("cm", 100.0) if finest < 1.0 else ("m", 1.0)


def print_report(report: dict) -> None:
    """A rich table: one row per group."""
    from rich.console import Console
    from rich.table import Table

    thresholds = [tuple(t) for t in report["thresholds"]]
    unit, scale = length_unit(thresholds)
    table = Table(title="localization errors")
    for column in ["group", "queries", "failed", f"median t ({unit})", "median R (deg)"]:
        table.add_column(column, justify="right")
    for m, d in thresholds:
        table.add_column(f"{m * scale:g}{unit}, {d:g}deg", justify="right")
    for group, s in report["groups"].items():
        table.add_row(
            group, str(s["num_queries"]), str(s["num_failed"]),
            f"{s['median_translation_m'] * scale:.2f}", f"{s['median_rotation_deg']:.3f}",
            *[f"{r:.1f}%" for r in s["recall_percent"]],
        )
    Console().print(table)


def plot_cdf(report: dict, conditions: dict[str, str], path: Path) -> None:
    """Cumulative distributions of translation and rotation errors, one curve per group, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unit, scale = length_unit([tuple(t) for t in report["thresholds"]])
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for group in report["groups"]:
        names = [n for n in report["queries"] if group == "all" or conditions.get(n) == group]
        for axis, key, factor in ((axes[0], "translation_m", scale), (axes[1], "rotation_deg", 1.0)):
            values = np.sort([report["queries"][n][key] * factor for n in names])
            values = values[np.isfinite(values)]  # failures keep the curve below 100%
            axis.step(values, 100 * np.arange(1, len(values) + 1) / max(len(names), 1), where="post", label=group)
    limits = (2 * scale * max((m for m, _ in report["thresholds"]), default=1.0),
              2 * max((d for _, d in report["thresholds"]), default=10.0))
    for axis, label, limit in zip(axes, (f"translation error ({unit})", "rotation error (deg)"), limits):
        axis.set_xlim(0, limit)
        axis.set_xlabel(label)
        axis.set_ylabel("queries (%)")
        axis.set_ylim(0, 100)
        axis.grid(True, alpha=0.3)
        axis.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    figure.savefig(tmp, dpi=100)
    plt.close(figure)
    tmp.replace(path)
