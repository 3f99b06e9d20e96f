"""`vloc refine`: feature-metric PnP refinement of query poses against a triangulated model."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Literal

import pycolmap

from vloc.console import track
from vloc.errors import ConfigError, FormatError
from vloc.featuremetric.query_refiner import QueryRefiner, RefineConf
from vloc.geometry.rigid3d import is_finite_pose, pose_record
from vloc.io.model import read_model
from vloc.io.text import log_path, read_poses, read_queries, write_results
from vloc.pnp.map_index import MapIndex, database_images_by_query


def initial_poses(
    init: Literal["poses", "retrieval"], poses_path: Path | None, db_by_query: dict[str, list[str]], index: MapIndex
) -> dict[str, pycolmap.Rigid3d]:
    """Initial poses: from a poses file (PnP results or a prior), or those of each query's top retrieved image."""
    if init == "poses":
        if poses_path is None:
            raise ConfigError("--init poses needs a poses file (PnP results or a prior)")
        poses = read_poses(poses_path)
        for query, pose in poses.items():
            if not is_finite_pose(pose):
                raise FormatError(
                    f"{poses_path}: initial pose of '{query}' is not finite (NaN, inf or zero quaternion)"
                )
        return poses
    return {query: index.images[names[0]].cam_from_world() for query, names in db_by_query.items() if names}


def main(
    conf: RefineConf,
    model_path: Path,
    queries_path: Path,
    pairs_path: Path,
    results: Path,
    *,
    poses_path: Path | None = None,
    init: Literal["poses", "retrieval"] = "poses",
    dense_path: Path | None = None,
    image_root: Path | None = None,
) -> Path:
    """Refine the initial pose of every query; writes `results` and `<results>_log.json`.

    Reference images of a query are its pairs in file order (retrieval rank), or, when the initial poses come
    with a localization log, the database images PnP used, best matched first.
    """
    cameras = read_queries(queries_path)
    index = MapIndex(read_model(model_path, need_points=True))
    db_by_query = database_images_by_query(pairs_path, index, model_path)
    if init == "poses" and poses_path is not None:
        db_by_query.update(_db_images_used(poses_path))
    poses = initial_poses(init, poses_path, db_by_query, index)
    refined, logs = {}, []
    with QueryRefiner(conf, index, image_root, dense_path) as refiner:
        for query in track(sorted(q for q in cameras if q in poses), "refine", len(poses)):
            pose, _, log = refiner.refine(query, cameras[query], poses[query], db_by_query.get(query, []))
            refined[query] = pose
            log.update(name=query, cam_from_world=pose_record(pose))
            logs.append(log)
    summary = {
        "conf": asdict(conf),
        "init": init,
        "num_queries": len(cameras),
        "num_refined": sum(l["accepted"] for l in logs),
    }
    return write_results(results, refined, summary, logs)


def _db_images_used(poses_path: Path) -> dict[str, list[str]]:
    """Database images each query was localized with, from the localization log beside a results file."""
    log_file = log_path(poses_path)
    if not log_file.exists():
        return {}
    try:
        entries = json.loads(log_file.read_text())["queries"]
    except (ValueError, KeyError, TypeError):
        raise FormatError(f"{log_file}: not a vloc localization log") from None
    return {e["name"]: e["db_images_used"] for e in entries if e.get("db_images_used")}
