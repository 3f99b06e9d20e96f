"""Per-query feature-metric refinement: dense pyramids, cached database references and the optimiser together."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pycolmap

from vloc.dense.pyramid import ExtractDenseConf, PyramidSource, conf_by_name
from vloc.featuremetric.references import ReferenceCache
from vloc.featuremetric.refiner import FeatureMetricConf, FeatureMetricRefiner
from vloc.geometry.camera import Camera
from vloc.geometry.pose import Pose
from vloc.pnp.map_index import MapIndex


@dataclass(frozen=True)
class RefineConf:
    dense: ExtractDenseConf = field(
        default_factory=lambda: conf_by_name("dsift")
    )  # used to compute pyramids on the fly
    featuremetric: FeatureMetricConf = field(default_factory=FeatureMetricConf)
    num_db_images: int = 3  # reference images: the first k database images of the query (best matched / retrieved)
    average_references: bool = (
        False  # one reference feature per 3D point (mean of its observations), else one per observation
    )
    # Within `vloc localize`: optimise on the 3D points of the PnP inliers only,
    # not every point the reference images see.
    pnp_inliers_only: bool = True
    # Within `vloc localize` the refined pose is fused with the PnP pose by their covariances (the PnP pose's from its
    # inliers' reprojection residuals, the refined one's from its points' gradients). Keep the PnP pose where the two
    # disagree: their squared Mahalanobis distance under the sum of the covariances above this (16.81: the 99 %
    # quantile of chi-square with 6 degrees of freedom; inf: no test).
    max_pose_change_chi2: float = 16.81
    # Within `vloc localize`: keep the PnP pose when the fused one reprojects fewer of the query's 2D-3D matches
    # within the RANSAC threshold, i.e. when the dense features disagree with the sparse consensus (logged).
    keep_pnp_inliers: bool = True


class QueryRefiner:
    """Refines poses one query at a time; database reference features are computed once and cached."""

    def __init__(self, conf: RefineConf, index: MapIndex, image_root: Path | None, dense_path: Path | None):
        self.conf = conf
        self.pyramid = PyramidSource(conf.dense, dense_path, image_root)
        self.references = ReferenceCache(index, self.pyramid)
        self.refiner = FeatureMetricRefiner(conf.featuremetric)

    def __enter__(self) -> QueryRefiner:
        return self

    def __exit__(self, *args) -> None:
        self.pyramid.close()

    def refine(
        self,
        name: str,
        camera: pycolmap.Camera,
        cam_from_world: pycolmap.Rigid3d,
        db_names: list[str],
        inlier_points: np.ndarray | None = None,
    ) -> tuple[pycolmap.Rigid3d, np.ndarray, dict]:
        """Refined pose of one query, its covariance (6, 6, left update exp(omega, v); inf where not refined) and its
        log (timings split into features, references and optimisation).

        inlier_points: indices of the 3D points of its PnP inliers (sorted point3D ids order), used if pnp_inliers_only.
        A query without database images keeps its pose, logged as a failure.
        """
        if not db_names:
            return (
                cam_from_world,
                np.full((6, 6), np.inf),
                {
                    "num_points": 0,
                    "accepted": False,
                    "failure_reason": "no database images paired with the query",
                },
            )
        start = time.perf_counter()
        query_pyramid = self.pyramid(name)
        features_done = time.perf_counter()
        reference_images = db_names[: self.conf.num_db_images] if self.conf.num_db_images > 0 else db_names
        only = inlier_points if self.conf.pnp_inliers_only else None
        points3D, references = self.references.gather(reference_images, self.conf.average_references, only)
        references_done = time.perf_counter()
        pose, covariance, log = self.refiner.refine(
            Pose.from_pycolmap(cam_from_world), Camera.from_pycolmap(camera), points3D, references, query_pyramid
        )
        log.update(
            reference_images=reference_images,
            time_features_s=features_done - start,
            time_references_s=references_done - features_done,
            time_optimization_s=time.perf_counter() - references_done,
        )
        return pose.to_pycolmap(), covariance.numpy(), log
