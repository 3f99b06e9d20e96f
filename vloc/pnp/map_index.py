"""Lookups in a triangulated model shared by localization and refinement: the 3D point of each keypoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pycolmap

from vloc.errors import FormatError
from vloc.io.matches import check_pair_keys
from vloc.io.text import read_pairs
from vloc.pnp.covisibility import connected_groups


class MapIndex:
    """Fast lookups in a triangulated model: the 3D point of each keypoint of each image, and point positions."""

    def __init__(self, model: pycolmap.Reconstruction):
        self.images = {image.name: image for image in model.images.values()}
        self.sorted_point_ids = np.array(sorted(model.point3D_ids()), np.uint64)
        self.xyz = np.array([model.points3D[int(i)].xyz for i in self.sorted_point_ids]).reshape(-1, 3)
        self._keypoint_points: dict[str, np.ndarray] = {}

    def keypoint_points(self, name: str) -> np.ndarray:
        """Index into `xyz` of each keypoint's 3D point, -1 where it has none."""
        if name not in self._keypoint_points:
            ids = np.array([p.point3D_id for p in self.images[name].points2D], np.uint64)
            index = np.searchsorted(self.sorted_point_ids, ids).clip(max=max(len(self.sorted_point_ids) - 1, 0))
            found = (ids != pycolmap.INVALID_POINT3D_ID) & (
                self.sorted_point_ids[index] == ids if len(self.sorted_point_ids) else False  # a model without points
            )
            self._keypoint_points[name] = np.where(found, index, -1).astype(np.int64)
        return self._keypoint_points[name]

    def observed_points(self, name: str) -> np.ndarray:
        """Indices into `xyz` of the distinct 3D points the image observes, ascending."""
        lookup = self.keypoint_points(name)
        return np.unique(lookup[lookup >= 0])

    def clusters(self, names: list[str]) -> list[list[str]]:
        """Group database images that share 3D points (connected components), largest group first."""
        return connected_groups(names, {n: set(self.observed_points(n).tolist()) for n in names})


def database_images_by_query(pairs_path: Path, index: MapIndex, model_path: Path) -> dict[str, list[str]]:
    """The database images paired with each query, in file order without repeats; fail on an image not in the model
    and on two pairs that a matches file would store under one key."""
    pairs = read_pairs(pairs_path)
    check_pair_keys(pairs, pairs_path)
    by_query: dict[str, list[str]] = {}
    for query, db_name in pairs:
        if db_name not in index.images:
            raise FormatError(f"{pairs_path}: database image '{db_name}' is not in the model {model_path}")
        names = by_query.setdefault(query, [])
        if db_name not in names:
            names.append(db_name)
    return by_query
