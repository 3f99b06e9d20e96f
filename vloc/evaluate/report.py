"""Show an evaluation report: a rich table in the terminal and cumulative error curves as a PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vloc.io.atomic import atomic_path


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


def plot_cdf(report: dict, conditions: dict[str, str], path: Path) -> None:
    """Cumulative distributions of translation and rotation errors, one curve per group, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unit, scale = length_unit(report)
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for group in report["groups"]:
        names = [n for n in report["queries"] if group == "all" or conditions.get(n) == group]
        for axis, key, factor in ((axes[0], "translation_m", scale), (axes[1], "rotation_deg", 1.0)):
            values = np.sort([report["queries"][n][key] * factor for n in names])
            values = values[np.isfinite(values)]  # failures keep the curve below 100%
            axis.step(values, 100 * np.arange(1, len(values) + 1) / max(len(names), 1), where="post", label=group)
    limits = (
        2 * scale * max((m for m, _ in report["thresholds"]), default=1.0),
        2 * max((d for _, d in report["thresholds"]), default=10.0),
    )
    for axis, label, limit in zip(axes, (f"translation error ({unit})", "rotation error (deg)"), limits):
        axis.set_xlim(0, limit)
        axis.set_xlabel(label)
        axis.set_ylabel("queries (%)")
        axis.set_ylim(0, 100)
        axis.grid(True, alpha=0.3)
        axis.legend()
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, format="png")  # the format is explicit: the temporary name ends in .tmp
    plt.close(figure)
