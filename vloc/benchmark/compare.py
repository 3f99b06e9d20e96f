"""Two runs of a recipe compared file by file: did a change of code change any pose, pair or evaluation?"""

from __future__ import annotations

from pathlib import Path

from vloc.errors import InputError
from vloc.geometry.rigid3d import pose_errors
from vloc.io.text import read_poses

COMPARED = ("results*.txt", "evaluation*.json", "consistency*.json", "retrieval*.json", "pairs*.txt", "dataset.json")


def compared_files(root: Path) -> list[Path]:
    """The outputs of a run that must not change when only the code's structure does, relative to `root`."""
    return sorted({p.relative_to(root) for pattern in COMPARED for p in root.rglob(pattern) if p.is_file()})


def largest_pose_change(before: Path, after: Path) -> dict:
    """The largest translation and rotation change of any query between two results files, and queries in one only."""
    poses_before, poses_after = read_poses(before), read_poses(after)
    common = sorted(poses_before.keys() & poses_after.keys())
    changes = [pose_errors(poses_after[n], poses_before[n]) for n in common]
    return {
        "max_translation": max((t for t, _ in changes), default=0.0),
        "max_rotation_deg": max((r for _, r in changes), default=0.0),
        "only_before": sorted(poses_before.keys() - poses_after.keys()),
        "only_after": sorted(poses_after.keys() - poses_before.keys()),
    }


def compare_runs(before: Path, after: Path) -> dict:
    """Every compared file of `before` against the same path under `after`: identical bytes (each run's own folder
    replaced by a placeholder), different, or missing; results files that differ say by how much."""
    for root in (before, after):
        if not root.is_dir():
            raise InputError(f"{root}: run folder not found")
    report: dict = {"identical": [], "different": {}, "missing": [], "extra": []}
    names_after = set(compared_files(after))
    for name in compared_files(before):
        if name not in names_after:
            report["missing"].append(str(name))
            continue
        text_before = (before / name).read_bytes().replace(str(before.resolve()).encode(), b"<run>")
        text_after = (after / name).read_bytes().replace(str(after.resolve()).encode(), b"<run>")
        if text_before == text_after:
            report["identical"].append(str(name))
        elif name.match("results*.txt"):
            report["different"][str(name)] = largest_pose_change(before / name, after / name)
        else:
            report["different"][str(name)] = {}
    report["extra"] = sorted(str(n) for n in names_after - set(compared_files(before)))
    return report
