"""`vloc refine`: feature-metric PnP refinement of query poses against a triangulated model."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pycolmap

from ..errors import ConfigError, FormatError
from ..extract_dense import ExtractDenseConf, PyramidSource, conf_by_name
from ..geometry.camera import Camera
from ..geometry.pose import pose_record
from ..geometry.rigid import Pose
from ..io.model import read_model
from ..io.text import log_path, read_poses, read_queries, write_results
from ..map_index import MapIndex, database_images_by_query
from ..utils import track
from .featuremetric import FeatureMetricConf, FeatureMetricRefiner
from .references import ReferenceCache


@dataclass(frozen=True)
class RefineConf:
    dense: ExtractDenseConf = field(default_factory=lambda: conf_by_name("dsift"))  # used to compute pyramids on the fly
    featuremetric: FeatureMetricConf = field(default_factory=FeatureMetricConf)
    num_db_images: int = 3  # reference images: the first k database images of the query (best matched / retrieved)
    average_references: bool = False  # one reference feature per 3D point (mean of its observations), else one per observation
    # Within `vloc localize`: optimise on the 3D points of the PnP inliers only, not every point the reference images see.
    pnp_inliers_only: bool = True
    # Within `vloc localize`: keep the PnP pose when the refined one reprojects fewer of the query's 2D-3D matches
    # within the RANSAC threshold, i.e. when the dense features disagree with the sparse consensus (logged).
    keep_pnp_inliers: bool = True


class QueryRefiner:
    """Refines poses one query at a time; database reference features are computed once and cached."""

    def __init__(self, conf: RefineConf, index: MapIndex, image_root: Path | None, dense_path: Path | None):
        self.conf = conf
        self.pyramid = PyramidSource(conf.dense, dense_path, image_root)
        self.references = ReferenceCache(index, self.pyramid)
        self.refiner = FeatureMetricRefiner(conf.featuremetric)

    def __enter__(self) -> "QueryRefiner":
        return self

    def __exit__(self, *args) -> None:
        self.pyramid.close()

    def refine(
        self, name: str, camera: pycolmap.Camera, cam_from_world: pycolmap.Rigid3d, db_names: list[str],
        inlier_points: np.ndarray | None = None,
    ) -> tuple[pycolmap.Rigid3d, dict]:
        """Refined pose of one query and its log (timings split into features, references and optimisation).

        inlier_points: indices of the 3D points of its PnP inliers (sorted point3D ids order), used if pnp_inliers_only.
        A query without database images keeps its pose, logged as a failure.
        """
        if not db_names:
            return cam_from_world, {"num_points": 0, "accepted": False, "failure_reason": "no database images paired with the query"}
        start = time.perf_counter()
        query_pyramid = self.pyramid(name)
        features_done = time.perf_counter()
        reference_images = db_names[: self.conf.num_db_images] if self.conf.num_db_images > 0 else db_names
        only = inlier_points if self.conf.pnp_inliers_only else None
        points3D, references = self.references.gather(reference_images, self.conf.average_references, only)
        references_done = time.perf_counter()
        pose, log = self.refiner.refine(
            Pose.from_pycolmap(cam_from_world), Camera.from_pycolmap(camera), points3D, references, query_pyramid
        )
        log.update(
            reference_images=reference_images,
            time_features_s=features_done - start,
            time_references_s=references_done - features_done,
            time_optimization_s=time.perf_counter() - references_done,
        )
        return pose.to_pycolmap(), log


def initial_poses(
    init: Literal["poses", "retrieval"], poses_path: Path | None, db_by_query: dict[str, list[str]], index: MapIndex
) -> dict[str, pycolmap.Rigid3d]:
    """Initial poses: from a poses file (PnP results or a prior), or those of each query's top retrieved image."""
    if init == "poses":
        if poses_path is None:
            raise ConfigError("--init poses needs a poses file (PnP results or a prior)")
        return read_poses(poses_path)
    return {query: index.images[names[0]].cam_from_world() for query, names in db_by_query.items() if names}


def main(
    conf: RefineConf,
    model_path: Path,
    queries_path: Path,
    pairs_path: Path,
    results: Path,
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
            pose, log = refiner.refine(query, cameras[query], poses[query], db_by_query.get(query, []))
            refined[query] = pose
            log.update(name=query, cam_from_world=pose_record(pose))
            logs.append(log)
    summary = {"conf": asdict(conf), "init": init, "num_queries": len(cameras), "num_refined": sum(l["accepted"] for l in logs)}
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
