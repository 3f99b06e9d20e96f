"""`vloc triangulate`: 3D points of a model whose poses and cameras are known and held fixed."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pycolmap

from vloc.console import quiet_pycolmap
from vloc.errors import ConfigError, FormatError
from vloc.io.features import FeatureReader
from vloc.io.matches import MatchReader
from vloc.io.model import check_model_output, read_model, write_model
from vloc.io.text import read_pairs
from vloc.mapping.database import (
    check_pairs_known,
    write_keypoints,
    write_pose_verified_matches,
    write_reference_images,
)


@dataclass(frozen=True)
class TriangulationConf:
    max_epipolar_error: float = 4.0  # pixels, verification of matches against the known poses
    min_angle: float = 1.5  # degrees, smallest triangulation angle
    max_reprojection_error: float = 4.0  # pixels, when merging and completing tracks
    num_threads: int = 2
    random_seed: int = 0

    def __post_init__(self) -> None:
        errors = (self.max_epipolar_error, self.max_reprojection_error)
        if not all(e > 0 for e in errors) or not 0 <= self.min_angle < 90 or self.num_threads < 1:
            raise ConfigError(
                "triangulate: max_epipolar_error and max_reprojection_error must be positive, min_angle in [0, 90) "
                "degrees, num_threads at least 1"
            )


def main(
    conf: TriangulationConf,
    reference: Path,
    image_root: Path,
    pairs_path: Path,
    features: Path,
    matches: Path,
    out: Path,
) -> pycolmap.Reconstruction:
    """Triangulate the matched keypoints of the reference model's images; writes the model to `out`."""
    check_model_output(out)  # before the work, not only when writing
    quiet_pycolmap()
    model = read_model(reference)
    pairs = read_pairs(pairs_path)
    check_pairs_known(pairs, {image.name for image in model.images.values()}, pairs_path, f"the model {reference}")
    with (
        tempfile.TemporaryDirectory() as work,
        FeatureReader(features) as feature_reader,
        MatchReader(matches) as match_reader,
    ):
        check_pairs_known(pairs, {n for p in pairs for n in p if n in feature_reader}, pairs_path, str(features))
        database_path = Path(work) / "database.db"
        with pycolmap.Database.open(database_path) as database:
            image_ids = write_reference_images(database, model)
            write_keypoints(database, feature_reader, image_ids)
            verified = write_pose_verified_matches(
                database, pairs, image_ids, feature_reader, match_reader, model, conf.max_epipolar_error
            )
        if verified == 0:
            raise FormatError(f"{matches}: no match agrees with the known poses of {reference}")
        options = pycolmap.IncrementalPipelineOptions()
        options.num_threads = conf.num_threads
        options.random_seed = options.triangulation.random_seed = conf.random_seed
        options.triangulation.min_angle = conf.min_angle
        options.triangulation.merge_max_reproj_error = conf.max_reprojection_error
        options.triangulation.complete_max_reproj_error = conf.max_reprojection_error
        options.mapper.filter_max_reproj_error = conf.max_reprojection_error
        options.mapper.filter_min_tri_angle = conf.min_angle
        model_dir = Path(work) / "model"
        model_dir.mkdir()
        triangulated = pycolmap.triangulate_points(model, database_path, image_root, model_dir, options=options)
    if triangulated.num_points3D() == 0:
        raise FormatError(f"{out}: triangulation produced no 3D points")
    write_model(triangulated, out)
    return triangulated


@dataclass(frozen=True)
class PoseSupport:
    """How well an image's known pose fits the points triangulated from it."""

    name: str
    num_observations: int  # of 3D points; 0: no match agreed with this pose
    median_error: float  # reprojection error in pixels (nan without observations)


def pose_support(model: pycolmap.Reconstruction) -> list[PoseSupport]:
    """Per image of a triangulated model, its observations of 3D points and their median reprojection error."""
    supports = []
    for image in sorted(model.images.values(), key=lambda image: image.name):
        observed = [p for p in image.points2D if p.has_point3D()]
        if not observed:
            supports.append(PoseSupport(image.name, 0, float("nan")))
            continue
        xyz = np.array([model.points3D[p.point3D_id].xyz for p in observed])
        pixels = model.cameras[image.camera_id].img_from_cam(image.cam_from_world() * xyz)  # any camera model
        errors = np.linalg.norm(pixels - np.array([p.xy for p in observed]), axis=1)
        supports.append(PoseSupport(image.name, len(observed), float(np.median(errors))))
    return supports


def pose_support_warnings(supports: list[PoseSupport], num_worst: int = 3) -> list[str]:
    """Lines for the user: images no match supports, and the images whose known poses fit their points worst."""
    lines = []
    unsupported = [s.name for s in supports if s.num_observations == 0]
    if unsupported:
        lines.append(
            f"{len(unsupported)} images have no 3D point: no match agreed with their known pose "
            f"(a wrong pose, or no overlap in the pairs): {', '.join(unsupported)}"
        )
    supported = [s for s in supports if s.num_observations]
    if supported:
        worst = sorted(supported, key=lambda s: -s.median_error)[:num_worst]
        lines.append(
            "largest median reprojection errors (the known poses that fit their points worst): "
            + ", ".join(f"{s.name} {s.median_error:.2f} px" for s in worst)
            + f"; median over images {np.median([s.median_error for s in supported]):.2f} px"
        )
    return lines
