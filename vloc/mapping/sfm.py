"""`vloc sfm`: structure from motion from scratch (pycolmap incremental mapping) on vloc's features and matches."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pycolmap

from vloc.console import progress_bar, pycolmap_errors_hidden, quiet_pycolmap
from vloc.errors import ConfigError, FormatError
from vloc.io.features import FeatureReader
from vloc.io.matches import MatchReader
from vloc.io.model import check_model_output, write_model
from vloc.io.text import names_in_pairs, read_pairs
from vloc.mapping.database import check_pairs_known, write_keypoints, write_new_images, write_raw_matches


class NoModelError(FormatError):
    """Incremental mapping found no initial pair to start a model from."""


@dataclass(frozen=True)
class SfMConf:
    max_verification_error: float = 4.0  # pixels, two-view RANSAC
    min_num_inliers: int = 15
    num_threads: int = 1  # 2 threads give another model on every run (bundle adjustment); 1 gives the same one
    random_seed: int = 0  # COLMAP's RANSAC and initial-pair choices, for reproducible models

    def __post_init__(self) -> None:
        if not self.max_verification_error > 0 or self.min_num_inliers < 1 or self.num_threads < 1:
            raise ConfigError(
                "sfm: max_verification_error must be positive, min_num_inliers and num_threads at least 1"
            )


def main(
    conf: SfMConf, image_root: Path, pairs_path: Path, features: Path, matches: Path, out: Path
) -> pycolmap.Reconstruction:
    """Reconstruct the images named in the pairs; keeps the largest model and writes it to `out`."""
    check_model_output(out)  # before the work, not only when writing
    quiet_pycolmap()
    pairs = read_pairs(pairs_path)
    names = names_in_pairs(pairs)
    with (
        tempfile.TemporaryDirectory() as work,
        FeatureReader(features) as feature_reader,
        MatchReader(matches) as match_reader,
    ):
        check_pairs_known(pairs, {n for n in names if n in feature_reader}, pairs_path, str(features))
        database_path = Path(work) / "database.db"
        with pycolmap.Database.open(database_path) as database:
            image_ids = write_new_images(database, feature_reader, names)
            write_keypoints(database, feature_reader, image_ids)
            write_raw_matches(database, pairs, image_ids, feature_reader, match_reader)
        verification = pycolmap.TwoViewGeometryOptions()
        verification.min_num_inliers = conf.min_num_inliers
        verification.ransac.max_error = conf.max_verification_error
        verification.ransac.random_seed = conf.random_seed
        clean_pairs = Path(work) / "pairs.txt"  # COLMAP's reader takes neither tabs, comments nor a byte-order mark
        clean_pairs.write_text("".join(f"{a} {b}\n" for a, b in pairs))
        pycolmap.verify_matches(database_path, clean_pairs, options=verification)
        options = pycolmap.IncrementalPipelineOptions()
        options.num_threads = conf.num_threads
        options.min_model_size = min(3, len(names))
        options.random_seed = options.mapper.random_seed = options.triangulation.random_seed = conf.random_seed
        with progress_bar("structure from motion: registered", len(names)) as advance, pycolmap_errors_hidden():
            models = pycolmap.incremental_mapping(
                database_path,
                image_root,
                Path(work),
                options=options,
                initial_image_pair_callback=lambda: advance(2),
                next_image_callback=lambda: advance(1),
            )
    if not models:
        raise NoModelError(f"{matches}: structure from motion found no model (too few verified matches?)")
    largest = max(models.values(), key=lambda m: m.num_reg_images())
    write_model(largest, out)
    return largest


def unregistered(model: pycolmap.Reconstruction, names: list[str]) -> list[str]:
    """Names of images that the model did not register."""
    registered = {image.name for image in model.images.values() if image.has_pose}
    return [n for n in names if n not in registered]
