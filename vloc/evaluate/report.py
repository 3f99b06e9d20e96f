"""Show an evaluation report: a rich table in the terminal and cumulative error curves as a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vloc.io.atomic import atomic_path

if TYPE_CHECKING:  # matplotlib is imported only when a plot is drawn
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def length_unit(report: dict) -> tuple[str, float]:
    """The unit lengths are shown in and its scale from the report's: mm below 1 cm thresholds, cm below 1 m, else m;
    'units' for ground truth without a metric scale (an SfM model)."""
    if report.get("model_units"):
        return "units", 1.0
    finest = min((m for m, _ in report["thresholds"]), default=1.0)
    return ("mm", 1000.0) if finest < 0.01 else ("cm", 100.0) if finest < 1.0 else ("m", 1.0)


def print_report(report: dict) -> None:
    """A rich table: one row per group."""
    from rich.console import Console
    from rich.table import Table

    unit, scale = length_unit(report)
    table = Table(title="localization errors")
    for column in ["group", "queries", "failed", f"median t ({unit})", "median R (deg)"]:
        table.add_column(column, justify="right")
    for m, d in report["thresholds"]:
        table.add_column(f"{m * scale:g}{unit}, {d:g}deg", justify="right")
    length_format = ".3g" if unit == "units" else ".2f"  # model units may be far from 1
    for group, s in report["groups"].items():
        table.add_row(
            group,
            str(s["num_queries"]),
            str(s["num_failed"]),
            f"{s['median_translation_m'] * scale:{length_format}}",
            f"{s['median_rotation_deg']:.3f}",
            *[f"{r:.1f}%" for r in s["recall_percent"]],
        )
    Console().print(table)


GROUP_STYLES = ["--", "-.", ":"]  # the conditions' line styles, in turn; 'all' is solid black


def group_errors(report: dict, conditions: dict[str, str], key: str, factor: float) -> dict[str, np.ndarray]:
    """Each group's errors of one kind (`key`), scaled by `factor`, failures (inf) included."""
    groups = {}
    for group in report["groups"]:
        names = [n for n in report["queries"] if group == "all" or conditions.get(n) == group]
        groups[group] = np.array([report["queries"][n][key] * factor for n in names], np.float64)
    return groups


def log_range(groups: dict[str, np.ndarray], thresholds: list[float]) -> tuple[float, float]:
    """x-limits of a log axis that show every finite error and every threshold, with a margin."""
    values = np.concatenate([*groups.values(), thresholds])
    values = values[np.isfinite(values) & (values > 0)]
    return float(values.min()) / 2, float(values.max()) * 2


def plot_group(axis: Axes, errors: np.ndarray, low: float, group: str, index: int) -> None:
    """One cumulative curve: the share of the group's queries (failures included) under each error, errors below
    the axis's lower limit (exact zeros) drawn at it."""
    values = np.sort(np.maximum(errors[np.isfinite(errors)], low))
    share = 100 * np.arange(1, len(values) + 1) / max(len(errors), 1)
    style = {"color": "black", "linewidth": 2} if group == "all" else {"linestyle": GROUP_STYLES[index % 3]}
    label = f"{group} ({len(errors)} queries, {int(np.sum(~np.isfinite(errors)))} failed)"
    axis.step(np.concatenate([[low], values]), np.concatenate([[0], share]), where="post", label=label, **style)


def mark_thresholds(axis: Axes, thresholds: list[float], unit: str) -> None:
    """A dotted vertical line at each threshold, its value written along it."""
    for value in thresholds:
        axis.axvline(value, color="grey", linestyle=":", linewidth=1, gid="threshold")
        axis.text(value, 98, f" {value:g} {unit}", rotation=90, va="top", ha="right", fontsize=8, color="grey")


def cdf_figure(report: dict, conditions: dict[str, str]) -> Figure:
    """Cumulative distributions of translation and rotation errors on log axes that show every error and every
    threshold (marked), one curve per group, as a matplotlib Figure."""
    from matplotlib.figure import Figure

    unit, scale = length_unit(report)
    figure = Figure(figsize=(11, 4.5))
    axes = figure.subplots(1, 2)
    kinds = [
        ("translation_m", scale, [m * scale for m, _ in report["thresholds"]], unit, "translation error"),
        ("rotation_deg", 1.0, [d for _, d in report["thresholds"]], "deg", "rotation error"),
    ]
    for axis, (key, factor, thresholds, kind_unit, label) in zip(axes, kinds):
        groups = group_errors(report, conditions, key, factor)
        low, high = log_range(groups, thresholds)
        for index, (group, errors) in enumerate(groups.items()):
            plot_group(axis, errors, low, group, index - 1)
        mark_thresholds(axis, thresholds, kind_unit)
        axis.set_xscale("log")
        axis.set_xlim(low, high)
        axis.set_ylim(0, 100)
        axis.set_xlabel(f"{label} ({kind_unit}, log scale)")
        axis.set_ylabel("queries with a smaller error (%)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(loc="lower right", fontsize=8)
    figure.suptitle("Cumulative localization errors; dotted lines: the thresholds")
    figure.tight_layout()
    return figure


def plot_cdf(report: dict, conditions: dict[str, str], path: Path) -> None:
    """Write the cumulative error curves of `cdf_figure` as a PNG."""
    with atomic_path(path) as temporary:
        cdf_figure(report, conditions).savefig(temporary, dpi=100, format="png")  # the temporary name ends in .tmp
