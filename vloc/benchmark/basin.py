"""Convergence basin of feature-metric refinement (../shared/docs/benchmarks.md): refine from perturbed true poses."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pycolmap
import torch

from vloc.console import track
from vloc.featuremetric.query_refiner import QueryRefiner, RefineConf
from vloc.geometry.pose import Pose
from vloc.geometry.rigid3d import camera_center, pose_errors
from vloc.io.model import read_model
from vloc.io.text import read_poses, read_queries
from vloc.pnp.map_index import MapIndex


def perturbed(pose: pycolmap.Rigid3d, angle_deg: float, distance: float, rng: np.random.Generator) -> pycolmap.Rigid3d:
    """Rotate by angle_deg about a random axis and move the camera centre by distance in a random direction."""
    axis, direction = rng.normal(size=(2, 3))
    true = Pose.from_pycolmap(pose)
    rotated = Pose.exp(torch.tensor(np.r_[axis / np.linalg.norm(axis) * math.radians(angle_deg), 0, 0, 0])) @ true
    center = torch.from_numpy(camera_center(pose) + direction / np.linalg.norm(direction) * distance)
    return Pose(rotated.R, -(rotated.R @ center)).to_pycolmap()


def nearest_database_images(pose: pycolmap.Rigid3d, index: MapIndex, k: int) -> list[str]:
    """The k database images whose camera centres are nearest the query's true centre
    (retrieval is not measured here)."""
    images = list(index.images.values())
    distances = [np.linalg.norm(camera_center(image.cam_from_world()) - camera_center(pose)) for image in images]
    return [images[i].name for i in np.argsort(distances)[:k]]


def convergence_basin(
    refiner: QueryRefiner,
    index: MapIndex,
    cameras: dict[str, pycolmap.Camera],
    truth: dict[str, pycolmap.Rigid3d],
    grid: list[tuple[float, float]],
    threshold: tuple[float, float],
    starts_per_query: int = 1,
    seed: int = 0,
) -> list[dict]:
    """For each (angle, distance) of the grid: the fraction of starts ending within threshold, seconds per start, and
    each start's query with its final errors (translation, rotation in degrees)."""
    rng = np.random.default_rng(seed)
    queries = sorted(q for q in cameras if q in truth)
    rows = []
    for angle, distance in track(grid, "basin", len(grid)):
        ends, names, start_time = [], [], time.perf_counter()
        for query in queries:
            db_names = nearest_database_images(truth[query], index, max(refiner.conf.num_db_images, 1))
            for _ in range(starts_per_query):
                start = perturbed(truth[query], angle, distance, rng)
                pose, _, _ = refiner.refine(query, cameras[query], start, db_names)
                ends.append(pose_errors(pose, truth[query]))
                names.append(query)
        ends = np.array(ends)
        within = (ends[:, 0] <= threshold[0]) & (ends[:, 1] <= threshold[1])
        rows.append(
            {
                "angle_deg": angle,
                "distance": distance,
                "num_starts": len(ends),
                "within_percent": 100 * float(within.mean()),
                "median_translation": float(np.median(ends[:, 0])),
                "median_rotation_deg": float(np.median(ends[:, 1])),
                "seconds_per_start": (time.perf_counter() - start_time) / len(ends),
                "starts": [
                    {"query": name, "translation": float(t), "rotation_deg": float(r), "within": bool(w)}
                    for name, (t, r), w in zip(names, ends, within)
                ],
            }
        )
    return rows


def basin_report(
    conf: RefineConf,
    model: Path,
    queries: Path,
    ground_truth: Path,
    *,
    images: Path | None,
    dense: Path | None,
    cells: list[tuple[float, float]],
    limit: tuple[float, float],
    starts: int,
) -> dict:
    """The convergence basin of every (angle, distance) cell over the queries of a model, as written to JSON."""
    index = MapIndex(read_model(model, need_points=True))
    with QueryRefiner(conf, index, images, dense) as refiner:
        rows = convergence_basin(refiner, index, read_queries(queries), read_poses(ground_truth), cells, limit, starts)
    return {"threshold": limit, "backbone": conf.dense.backbone, "grid": rows}
