"""Generic adapters: a COLMAP model with an image folder, or an image folder with a poses file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vloc.datasets.base import Prepared, require
from vloc.errors import ConfigError, InputError
from vloc.io.model import model_cameras, model_poses, read_model
from vloc.io.text import read_camera_to_world, read_image_list, read_poses, read_queries

OUTDOOR_THRESHOLDS = ((0.25, 2.0), (0.5, 5.0), (5.0, 10.0))
POSE_READERS = {"results": read_poses, "c2w-matrix": read_camera_to_world}  # --poses-format


@dataclass
class ColmapImages:
    """Every image of `model` below `image_root`; queries are the names in `queries_list`, mapping the rest."""

    model: Path
    image_root: Path
    queries_list: Path
    thresholds: tuple[tuple[float, float], ...] = OUTDOOR_THRESHOLDS
    name: str = "colmap"

    def load(self) -> Prepared:
        model = read_model(self.model)
        poses = model_poses(model)
        queries = read_image_list(self.queries_list)
        missing = [n for n in queries if n not in poses]
        if missing:
            raise InputError(f"{self.queries_list}: query {missing[0]} is not a posed image of {self.model}")
        query_set = set(queries)
        return Prepared(
            name=self.name,
            image_root=require(self.image_root, "image folder"),
            mapping=sorted(n for n in poses if n not in query_set),
            queries=queries,
            cameras=model_cameras(model),
            poses=poses,
            thresholds=list(self.thresholds),
        )


@dataclass
class PosesFile:
    """The plain layout: an image folder, a poses file (hloc results format, or camera-to-world matrices) and
    intrinsics in hloc queries format, for every image in one file or for the queries in a second one."""

    image_root: Path
    poses_file: Path
    queries_file: Path  # `name MODEL w h params`, for mapping and query images alike (or mapping only)
    mapping_list: Path
    query_list: Path
    thresholds: tuple[tuple[float, float], ...] = OUTDOOR_THRESHOLDS
    name: str = "poses"
    poses_format: str = "results"  # a key of POSE_READERS
    query_intrinsics: Path | None = None  # the queries' intrinsics, when not in `queries_file`

    def load(self) -> Prepared:
        if self.poses_format not in POSE_READERS:
            raise ConfigError(f"poses format must be one of {', '.join(POSE_READERS)}, not '{self.poses_format}'")
        cameras = read_queries(self.queries_file)
        if self.query_intrinsics is not None:
            cameras |= read_queries(self.query_intrinsics)
        return Prepared(
            name=self.name,
            image_root=require(self.image_root, "image folder"),
            mapping=read_image_list(self.mapping_list),
            queries=read_image_list(self.query_list),
            cameras=cameras,
            poses=POSE_READERS[self.poses_format](self.poses_file),
            thresholds=list(self.thresholds),
        )
