"""Reference features of 3D points, sampled once per database image from its dense pyramid and cached."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from vloc.dense.base import DenseLevel
from vloc.dense.interpolation import sample_values
from vloc.errors import FormatError
from vloc.pnp.map_index import MapIndex

PyramidOf = Callable[[str], list[DenseLevel]]  # image name -> its dense pyramid


class ReferenceCache:
    """Per database image: the model points it observes and their features at every pyramid level."""

    def __init__(self, index: MapIndex, pyramid_of: PyramidOf):
        self.index = index
        self.xyz = torch.from_numpy(index.xyz)
        self.pyramid_of = pyramid_of
        self._cache: dict[str, tuple[torch.Tensor, list[torch.Tensor]]] = {}

    def observations(self, name: str) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Point indices (M,) into index.xyz observed by a database image and their features (M, C) per level."""
        if name not in self._cache:
            point_index = self.index.keypoint_points(name)
            observed = point_index >= 0
            indices = torch.from_numpy(point_index[observed])
            xy = np.array([p.xy for p in self.index.images[name].points2D]).reshape(-1, 2)
            pixels = torch.from_numpy(xy[observed].astype(np.float64))
            features = []
            for level in self.pyramid_of(name):
                sampled, valid = sample_values(level.features, pixels, level.stride)
                features.append(
                    torch.where(valid[:, None], sampled.double(), torch.nan)
                )  # NaN: outside this level's map
            self._cache[name] = (indices, features)
        return self._cache[name]

    def gather(
        self, db_names: list[str], average: bool, only: np.ndarray | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """3D points (N, 3) seen by db_names (restricted to the point indices `only`)
        and their reference features per level.

        Averaged over the observations (and re-normalised) or one entry per observation.
        """
        if not db_names:
            raise FormatError("no database images to take reference features from")
        entries = [self.observations(name) for name in db_names]
        indices = torch.cat([i for i, _ in entries])
        num_levels = len(entries[0][1])
        if any(len(f) != num_levels for _, f in entries):
            raise FormatError(f"dense pyramids of {', '.join(db_names)} have different numbers of levels")
        per_level = [torch.cat([f[k] for _, f in entries]) for k in range(num_levels)]
        if only is not None:
            wanted = torch.from_numpy(np.isin(indices.numpy(), only))
            indices, per_level = indices[wanted], [f[wanted] for f in per_level]
        if not average:
            keep = torch.stack([f.isfinite().all(1) for f in per_level]).all(0)
            return self.xyz[indices[keep]], [f[keep] for f in per_level]
        unique, inverse = torch.unique(indices, return_inverse=True)
        averaged = []
        for features in per_level:
            sums = torch.zeros(len(unique), features.shape[1], dtype=features.dtype).index_add_(0, inverse, features)
            averaged.append(sums / sums.norm(dim=1, keepdim=True).clamp(min=1e-12))
        keep = torch.stack([f.isfinite().all(1) for f in averaged]).all(0)
        return self.xyz[unique[keep]], [f[keep] for f in averaged]
