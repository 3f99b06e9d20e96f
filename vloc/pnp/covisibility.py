"""Covisibility in a triangulated model: which images observe the same 3D points, and how many of them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Container, Iterable
from typing import TYPE_CHECKING

import numpy as np
import pycolmap

if TYPE_CHECKING:
    from scipy import sparse


def observation_counts(model: pycolmap.Reconstruction, point3D_ids: Iterable[int]) -> Counter[int]:
    """Observations of the given 3D points per image id (a point given twice counts twice), images in the order
    they are first met along the points' tracks."""
    counts: Counter[int] = Counter()
    for point3D_id in point3D_ids:
        for element in model.points3D[point3D_id].track.elements:
            counts[element.image_id] += 1
    return counts


def most_covisible(counts: Counter[int], exclude: Container[int] = (), num: int | None = None) -> list[int]:
    """The `num` image ids of `counts` (all when None) not in `exclude`, most observations first; ties keep the order
    of `counts`."""
    others = Counter({image_id: count for image_id, count in counts.items() if image_id not in exclude})
    return [image_id for image_id, _ in others.most_common(num)]


def covisible_images(model: pycolmap.Reconstruction, image: pycolmap.Image, num: int) -> list[str]:
    """Names of the `num` other images sharing the most 3D points with `image`, most first."""
    counts = observation_counts(model, (point2D.point3D_id for point2D in image.points2D if point2D.has_point3D()))
    return [model.images[image_id].name for image_id in most_covisible(counts, {image.image_id}, num)]


def connected_groups(names: list[str], points: dict[str, set[int]]) -> list[list[str]]:
    """The images linked, directly or through others, by shared `points` (connected components), largest group
    first; each group starts with its first image in `names`, then the images reached from it."""
    remaining, groups = list(names), []
    while remaining:
        group = [remaining.pop(0)]
        frontier = [group[0]]
        while frontier:
            current = frontier.pop()
            linked = [n for n in remaining if points[current] & points[n]]
            for n in linked:
                remaining.remove(n)
            group += linked
            frontier += linked
        groups.append(group)
    return sorted(groups, key=len, reverse=True)


def shared_point_counts(point_ids: list[np.ndarray]) -> sparse.coo_matrix:
    """Number of 3D points shared by images i < j (upper triangle), from each image's distinct point ids."""
    from scipy import sparse  # 0.1 s to import: only for the stages that count covisibility

    rows = np.repeat(np.arange(len(point_ids)), [len(ids) for ids in point_ids])
    points, cols = np.unique(np.concatenate(point_ids), return_inverse=True)
    visibility = sparse.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(point_ids), len(points)))
    return sparse.triu(visibility @ visibility.T, k=1).tocoo()
