"""`vloc pairs`: which images to match, exhaustively, by pose proximity, or by covisibility in a model."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pycolmap

from .errors import InputError
from .geometry import camera_center
from .io.text import write_directed_pairs, write_pairs


def exhaustive(names: list[str], out: Path, names_ref: list[str] | None = None) -> Path:
    """All pairs within `names`, or every (query, reference) pair when `names_ref` is given."""
    if not names or (names_ref is not None and not names_ref):
        raise InputError(f"{out}: no images to pair")
    if names_ref is None:
        write_pairs(out, [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]])
    else:
        write_directed_pairs(out, [(a, b) for a in names for b in names_ref if a != b])
    return out


def from_poses(
    poses: dict[str, pycolmap.Rigid3d],
    out: Path,
    num_neighbors: int,
    max_angle_deg: float = 90.0,
    queries: list[str] | None = None,
) -> Path:
    """For each query (default: every posed image), the `num_neighbors` closest cameras within a viewing-angle limit."""
    names = sorted(poses)
    if not names:
        raise InputError(f"{out}: no posed images to pair")
    centers = np.stack([camera_center(poses[n]) for n in names])
    axes = np.stack([poses[n].rotation.matrix()[2] for n in names])  # viewing directions in world
    pairs = []
    for query in queries or names:
        if query not in poses:
            raise InputError(f"{out}: query '{query}' has no pose")
        distance = np.linalg.norm(centers - camera_center(poses[query]), axis=1)
        cos_angle = axes @ poses[query].rotation.matrix()[2]
        distance[(cos_angle < np.cos(np.radians(max_angle_deg))) | (np.array(names) == query)] = np.inf
        for index in np.argsort(distance)[:num_neighbors]:
            if np.isfinite(distance[index]):
                pairs.append((query, names[index]))
    if queries is None:
        write_pairs(out, pairs)
    else:
        write_directed_pairs(out, pairs)
    return out


def covisibility(model: pycolmap.Reconstruction, out: Path, num_neighbors: int) -> Path:
    """For each registered image, the `num_neighbors` images sharing the most 3D points with it."""
    pairs = []
    for image in model.images.values():
        if not image.has_pose:
            continue
        counts: Counter[int] = Counter()
        for point2D in image.points2D:
            if point2D.has_point3D():
                for element in model.points3D[point2D.point3D_id].track.elements:
                    if element.image_id != image.image_id:
                        counts[element.image_id] += 1
        pairs += [(image.name, model.images[i].name) for i, _ in counts.most_common(num_neighbors)]
    if not pairs:
        raise InputError(f"{out}: the model has no covisible images (no 3D points?)")
    write_pairs(out, pairs)
    return out
