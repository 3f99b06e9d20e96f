"""Errors of planar poses against a cross-view dataset's ground truth: mean and median distance and yaw, recall
within 1/3/5 m (distance, lateral, longitudinal) and 1/3/5 deg, per condition, beside those of the priors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vloc.errors import FormatError, InputError
from vloc.io.crossview import CrossviewDataset, PlanarPose
from vloc.io.text import read_utf8

THRESHOLDS = (1.0, 3.0, 5.0)


def read_planar_poses(path: Path) -> dict[str, PlanarPose]:
    """Lines `image x y yaw_deg` as written by `vloc crossview localize`."""
    poses = {}
    for number, line in enumerate(read_utf8(path).splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, *numbers = line.split()
        try:
            if len(numbers) != 3:
                raise ValueError
            poses[name] = PlanarPose(*(float(n) for n in numbers))
        except ValueError:
            raise FormatError(f"{path}:{number}: expected 'image x y yaw_deg'") from None
    return poses


def summarize(errors: list[dict[str, float]]) -> dict[str, float]:
    """Mean, median and recall at THRESHOLDS (percent) of the error rows."""
    table = {key: np.array([e[key] for e in errors]) for key in errors[0]}
    summary = {"views": len(errors)}
    for key in ("distance_m", "yaw_deg", "lateral_m", "longitudinal_m"):
        summary[f"mean_{key}"] = float(table[key].mean())
        summary[f"median_{key}"] = float(np.median(table[key]))
        for threshold in THRESHOLDS:
            summary[f"recall_{key}_{threshold:g}"] = float(100 * np.mean(table[key] <= threshold))
    return summary


def evaluate(dataset: CrossviewDataset, results: Path) -> dict[str, dict[str, dict[str, float]]]:
    """{condition (and 'all'): {'estimate': summary, 'prior': summary}} over the views in `results`."""
    poses = read_planar_poses(results)
    by_image = {v.image: v for v in dataset.views}
    unknown = [name for name in poses if name not in by_image]
    if unknown:
        raise InputError(f"{results}: {unknown[0]!r} is not a view of {dataset.root / 'crossview.json'}")
    rows: dict[str, list[tuple[dict, dict]]] = {}
    for name, pose in poses.items():
        view = by_image[name]
        if view.pose is None or view.prior is None:
            raise InputError(f"{dataset.root / 'crossview.json'}: view {name} has no ground truth or prior")
        row = (pose.errors_to(view.pose), view.prior.errors_to(view.pose))
        rows.setdefault(view.condition or "all", []).append(row)
        if view.condition:
            rows.setdefault("all", []).append(row)
    if not rows:
        raise InputError(f"{results}: no poses to evaluate")
    return {
        condition: {"estimate": summarize([r[0] for r in pairs]), "prior": summarize([r[1] for r in pairs])}
        for condition, pairs in sorted(rows.items())
    }
