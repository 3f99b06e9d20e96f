"""Aachen Day-Night v1.1 (visuallocalization.net), in the layout hloc's pipelines/Aachen_v1_1 reads.

The reference model (3D-models/aachen_v_1_1, COLMAP; the release has it binary) poses every database image: db/ and
the v1.1 sequences/. The queries and their intrinsics are hloc's queries files, one per condition. Query poses are
not public: the evaluation server scores them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vloc.datasets.base import Prepared, require
from vloc.datasets.generic import OUTDOOR_THRESHOLDS
from vloc.errors import FormatError, InputError
from vloc.io.model import model_cameras, model_poses, read_model
from vloc.io.text import read_queries

# hloc's README gathers the images in the first, its pipeline reads the second
IMAGE_FOLDERS = ("images/images_upright", "images_upright")
MODEL = "3D-models/aachen_v_1_1"
QUERY_FILES = {
    "day": "queries/day_time_queries_with_intrinsics.txt",
    "night": "queries/night_time_queries_with_intrinsics.txt",
}


@dataclass
class AachenDayNight:
    root: Path  # holds images/images_upright (or images_upright), 3D-models/ and queries/
    thresholds: tuple[tuple[float, float], ...] = OUTDOOR_THRESHOLDS  # the server's

    def load(self) -> Prepared:
        image_root = next((self.root / f for f in IMAGE_FOLDERS if (self.root / f).is_dir()), None)
        if image_root is None:
            raise InputError(f"{self.root}: no {' or '.join(IMAGE_FOLDERS)} folder (Aachen Day-Night v1.1's images)")
        model = read_model(require(self.root / MODEL, "Aachen v1.1 reference model folder"))
        cameras, poses = model_cameras(model), model_poses(model)
        conditions: dict[str, str] = {}
        for condition, relative in QUERY_FILES.items():
            path = require(self.root / relative, f"Aachen v1.1 {condition} query list")
            intrinsics = read_queries(path)
            for name in intrinsics:
                if name in conditions:
                    raise FormatError(f"{path}: query {name} is also a {conditions[name]} query")
                conditions[name] = condition
            cameras |= intrinsics
        mapping = sorted(name for name in poses if name not in conditions)
        return Prepared(
            name="aachen-v1.1",
            image_root=image_root,
            mapping=mapping,
            queries=list(conditions),
            cameras=cameras,
            poses={name: poses[name] for name in mapping},
            thresholds=list(self.thresholds),
            conditions=conditions,
            submission_names="basename",  # hloc's localize_sfm writes the file name alone, as the server reads it
        )
