"""Middlebury multi-view stereo templeRing (../shared/data/middlebury_templeRing)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pycolmap

from vloc.datasets.base import Prepared, require
from vloc.errors import FormatError
from vloc.geometry.rigid3d import rigid_from_matrix
from vloc.io.text import read_image_list, read_utf8


@dataclass
class TempleRing:
    root: Path  # holds images/, templeR_par.txt and splits/
    thresholds: tuple[tuple[float, float], ...] = ((0.001, 0.5), (0.005, 1.0), (0.01, 2.0))

    def load(self) -> Prepared:
        cameras, poses = read_par(require(self.root / "templeR_par.txt", "templeRing parameter file"))
        queries = read_image_list(self.root / "splits" / "query.txt")
        latitudes = read_latitudes(self.root / "templeR_ang.txt") if (self.root / "templeR_ang.txt").is_file() else {}
        return Prepared(
            name="templering",
            image_root=require(self.root / "images", "templeRing images folder"),
            mapping=read_image_list(self.root / "splits" / "mapping.txt"),
            queries=queries,
            cameras=cameras,
            poses=poses,
            thresholds=list(self.thresholds),
            # evaluated per ring of the gantry as well: the two rings' poses fit their images differently well
            conditions={name: f"lat {latitudes[name]:+.0f}" for name in queries if name in latitudes},
        )


def read_latitudes(path: Path) -> dict[str, float]:
    """`latitude longitude name` per line (degrees on the gantry's sphere): latitude by image name."""
    latitudes = {}
    for number, line in enumerate(read_utf8(path).splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        try:
            latitudes[tokens[2]] = float(tokens[0])
        except (IndexError, ValueError):
            raise FormatError(f"{path}:{number}: expected 'latitude longitude name'") from None
    return latitudes


def read_par(path: Path) -> tuple[dict[str, pycolmap.Camera], dict[str, pycolmap.Rigid3d]]:
    """`name K(9) R(9) t(3)` per line after a count line; R, t are world-to-camera (= cam_from_world)."""
    cameras, poses = {}, {}
    for number, line in enumerate(read_utf8(path).splitlines()[1:], 2):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 22:
            raise FormatError(f"{path}:{number}: expected 'name k11..k33 r11..r33 t1 t2 t3'")
        try:
            values = np.array(tokens[1:], np.float64)
        except ValueError:
            raise FormatError(f"{path}:{number}: camera parameters are not numbers") from None
        if not np.isfinite(values).all():
            raise FormatError(f"{path}:{number}: camera parameters are not finite")
        K, rotation, translation = values[:9].reshape(3, 3), values[9:18].reshape(3, 3), values[18:]
        # Middlebury K puts the centre of the top-left pixel at (0, 0); COLMAP puts it at (0.5, 0.5), so the
        # principal point moves by +0.5. The shift equals a 0.02 deg camera rotation, too small for epipolar
        # checks to decide on their own: with OpenCV SIFT (+0.5) on 10 adjacent pairs the median inlier
        # distance under the ground-truth F is 0.1093 px with +0.5 vs 0.1105 px without (pycolmap SIFT:
        # 0.1091 vs 0.1127), consistent with this convention.
        params = [K[0, 0], K[1, 1], K[0, 2] + 0.5, K[1, 2] + 0.5]
        cameras[tokens[0]] = pycolmap.Camera(model="PINHOLE", width=640, height=480, params=params)
        poses[tokens[0]] = rigid_from_matrix(rotation, translation)
    return cameras, poses
