"""Generic adapters: a COLMAP model with an image folder, or an image folder with a poses file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vloc.datasets.base import Prepared, require
from vloc.errors import InputError
from vloc.io.model import model_cameras, model_poses, read_model
from vloc.io.text import read_image_list, read_poses, read_queries

OUTDOOR_THRESHOLDS = ((0.25, 2.0), (0.5, 5.0), (5.0, 10.0))


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
    """An image folder, a poses file (results format) and intrinsics in hloc queries format for every image."""

    image_root: Path
    poses_file: Path
    queries_file: Path  # `name MODEL w h params`, for mapping and query images alike
    mapping_list: Path
    query_list: Path
    thresholds: tuple[tuple[float, float], ...] = OUTDOOR_THRESHOLDS
    name: str = "poses"

    def load(self) -> Prepared:
        return Prepared(
            name=self.name,
            image_root=require(self.image_root, "image folder"),
            mapping=read_image_list(self.mapping_list),
            queries=read_image_list(self.query_list),
            cameras=read_queries(self.queries_file),
            poses=read_poses(self.poses_file),
            thresholds=list(self.thresholds),
        )
