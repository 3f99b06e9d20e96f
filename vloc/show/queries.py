"""The localized queries to draw: their poses, the number that colours each one (inliers, or error against the ground
truth) and their hover text."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pycolmap

from vloc.errors import FormatError, InputError
from vloc.geometry.rigid3d import pose_errors
from vloc.io.model import read_ground_truth
from vloc.io.text import log_path, read_poses


@dataclass
class Queries:
    poses: dict[str, pycolmap.Rigid3d]  # cam_from_world by name
    colour_values: dict[str, float] | None  # None: one colour for all
    colour_label: str
    small_is_good: bool
    hover: dict[str, str]


def read_log_entries(results: Path) -> dict[str, dict]:
    """Per-query entries of the JSON log beside a results file, by name ({} without a log)."""
    path = log_path(results)
    if not path.exists():
        return {}
    try:
        return {entry["name"]: entry for entry in json.loads(path.read_text())["queries"]}
    except (ValueError, KeyError, TypeError):
        raise FormatError(f"{path}: not a localization log (no 'queries' list of entries with a 'name')") from None


def position_errors(
    poses: dict[str, pycolmap.Rigid3d], truth: dict[str, pycolmap.Rigid3d], ground_truth: Path
) -> dict[str, tuple[float, float]]:
    """(camera-centre distance, rotation angle in degrees) of every pose against the ground truth."""
    missing = sorted(set(poses) - set(truth))
    if missing:
        raise InputError(f"{ground_truth}: no ground-truth pose for query {missing[0]} ({len(missing)} missing)")
    return {name: pose_errors(pose, truth[name]) for name, pose in poses.items()}


def hover_text(name: str, entry: dict, error: tuple[float, float] | None) -> str:
    """Name, inliers, position uncertainty and errors of one query, as lines of hover text."""
    lines = [f"query {name}"]
    if "num_inliers" in entry:
        lines.append(f"{entry['num_inliers']} inliers")
    if entry.get("fallback"):
        lines.append(f"fallback: pose of {entry.get('fallback_image')}")
    if entry.get("position_std") is not None:
        lines.append(f"position std {entry['position_std']:.3g}")
    if error is not None:
        lines.append(f"position error {error[0]:.3g}, rotation error {error[1]:.2f} deg")
    return "<br>".join(lines)


def read_queries(results: Path, ground_truth: Path | None) -> Queries:
    """Poses of a results file, coloured by position error when ground truth is given, else by PnP inliers from
    its log (a query the log has no inliers for, a fallback, counts 0), else all alike."""
    poses = read_poses(results)
    entries = read_log_entries(results)
    errors = position_errors(poses, read_ground_truth(ground_truth), ground_truth) if ground_truth else None
    hover = {name: hover_text(name, entries.get(name, {}), errors[name] if errors else None) for name in poses}
    if errors is not None:
        return Queries(poses, {n: e[0] for n, e in errors.items()}, "position error", True, hover)
    if any("num_inliers" in entries.get(name, {}) for name in poses):
        inliers = {name: float(entries.get(name, {}).get("num_inliers", 0)) for name in poses}
        return Queries(poses, inliers, "inliers", False, hover)
    return Queries(poses, None, "", False, hover)
