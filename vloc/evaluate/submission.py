"""The file an evaluation server takes (visuallocalization.net): every query of a prepared dataset once, named as the
server names it, `name qw qx qy qz tx ty tz` (cam_from_world, COLMAP's convention)."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from vloc.errors import ConfigError, InputError
from vloc.io.dataset_info import read_dataset_json
from vloc.io.text import log_path, pose_line, read_image_list, read_poses, write_text_atomic

NAMINGS = ("as-is", "basename", "parent/basename")


def server_name(name: str, naming: str) -> str:
    """The name a server gives image `name` (a path relative to the dataset's image root)."""
    if naming not in NAMINGS:
        raise ConfigError(f"unknown submission naming '{naming}'; choose one of {', '.join(NAMINGS)}")
    path = PurePosixPath(name)
    if naming == "basename":
        return path.name
    if naming == "parent/basename":
        return f"{path.parent.name}/{path.name}" if path.parent.name else path.name
    return name


def _fallback_queries(results: Path) -> list[str]:
    """Queries whose pose in `results` is a fallback (the pose of their top database image), from its log."""
    log = log_path(results)
    if not log.exists():
        return []
    try:
        entries = json.loads(log.read_text())["queries"]
        return [entry["name"] for entry in entries if entry.get("fallback")]
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{log}: not the log of a vloc results file") from None


def main(results: Path, dataset_json: Path, out: Path, allow_missing: bool = False) -> dict:
    """Write the submission of `results` for the dataset `vloc prepare` wrote beside `dataset_json`, and OUT.json
    beside it (counts, missing and fallback queries); returns that summary."""
    naming = read_dataset_json(dataset_json).get("submission_names", "as-is")
    queries = read_image_list(dataset_json.parent / "query_list.txt")
    poses = read_poses(results)
    unknown = sorted(set(poses) - set(queries))
    if unknown:
        raise InputError(
            f"{results}: {len(unknown)} poses of images that are not queries of {dataset_json.parent}, "
            f"e.g. {unknown[0]}"
        )
    missing = [name for name in queries if name not in poses]
    if missing and not allow_missing:
        raise InputError(
            f"{results}: {len(missing)} of {len(queries)} queries have no pose (first: {missing[0]}); localize with "
            "--set fallback_to_top_image=true, or pass --allow-missing to leave them out of the submission"
        )
    lines, named = [], {}
    for name in queries:
        if name in missing:
            continue
        submitted = server_name(name, naming)
        if submitted in named:
            raise InputError(
                f"{dataset_json}: queries {named[submitted]} and {name} are both '{submitted}' on the "
                f"server ({naming} naming)"
            )
        named[submitted] = name
        lines.append(pose_line(submitted, poses[name]))
    summary = {
        "results": str(results),
        "naming": naming,
        "num_queries": len(queries),
        "num_submitted": len(lines),
        "missing": missing,
        "fallbacks": _fallback_queries(results),
    }
    write_text_atomic(out, "".join(lines))
    write_text_atomic(out.with_suffix(".json"), json.dumps(summary, indent=1) + "\n")
    return summary
