"""`vloc triangulate`: 3D points of a model whose poses and cameras are known and held fixed."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pycolmap

from .colmap_database import check_pairs_known, write_keypoints, write_pose_verified_matches, write_reference_images
from .errors import FormatError
from .io.features import FeatureReader
from .io.matches import MatchReader
from .io.model import read_model, write_model
from .io.text import read_pairs
from .utils import quiet_pycolmap


@dataclass(frozen=True)
class TriangulationConf:
    max_epipolar_error: float = 4.0  # pixels, verification of matches against the known poses
    min_angle: float = 1.5  # degrees, smallest triangulation angle
    max_reprojection_error: float = 4.0  # pixels, when merging and completing tracks
    num_threads: int = 2
    random_seed: int = 0


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
    quiet_pycolmap()
    model = read_model(reference)
    pairs = read_pairs(pairs_path)
    check_pairs_known(pairs, {image.name for image in model.images.values()}, pairs_path, f"the model {reference}")
    with tempfile.TemporaryDirectory() as work, FeatureReader(features) as feature_reader, MatchReader(matches) as match_reader:
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
