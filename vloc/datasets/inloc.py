"""InLoc (Taira et al., CVPR 2018): perspective cutouts of the RGBD scans of two floors of a university building (DUC1,
DUC2) as the database, each with the scan's 3D point at every pixel, and 356 iPhone 7 photos as queries.

The published layout (the root holds database/ and query/; image names are relative to it, as in hloc's
pairs-query-netvlad40-temporal.txt):
    database/cutouts/<floor>/<scan>/<building>_cutout_<scan>_<yaw>_<pitch>.jpg   1600x1200 views, 36 per scan
    database/cutouts/<floor>/<scan>/<building>_cutout_<scan>_<yaw>_<pitch>.jpg.mat   XYZcut (H, W, 3; NaN: no point)
    database/alignments/<floor>/transformations/<building>_trans_<scan>.txt   lines 8-11: scan frame -> building
    query/iphone7/IMG_<number>.JPG

The cutouts come with no pose file. Each is a pinhole view from its scan's origin (InLoc's own P_db.m poses a cutout
by the scan's alignment and a rotation, with no translation), so its intrinsics and rotation are recovered from its
XYZcut: the rays from the scanner's position in the building to the points of a grid of its pixels fit K R by DLT,
and a cutout whose points are no pinhole view from there is a one-line error. The query camera is InLoc's: a 28 mm
lens on a 36 mm-wide film over the longer side of the image (4032 x 28 / 36 = 3136 px), the principal point at its
centre (InLoc's setup_project_ht_WUSTL.m, hloc's localize_inloc), applied to the stored pixels, EXIF orientation
ignored as InLoc's MATLAB tools do. The server names a query by its file name alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pycolmap

from vloc.console import track
from vloc.datasets.base import Prepared, require
from vloc.errors import FormatError, InputError
from vloc.geometry.projection import view_from_rays
from vloc.geometry.rigid3d import rigid_from_matrix
from vloc.io.images import image_size
from vloc.io.point_maps import InLocPointMaps, PointMap

QUERY_FOLDER = "query/iphone7"
FOCAL_LENGTH_35MM = 28.0  # millimetres, over the 36 mm width of a 35 mm film
GRID_COLUMNS = 64  # pixels across a cutout whose 3D points fit its view
MAX_GRID_ERROR = 2.0  # pixels: a grid pixel further from its point's projection is a wrong point
MIN_GRID_INLIERS = 0.5  # of the grid pixels with a 3D point


@dataclass
class InLoc:
    root: Path  # holds database/ and query/
    thresholds: tuple[tuple[float, float], ...] = ((0.25, 10.0), (0.5, 10.0), (1.0, 10.0))

    def load(self) -> Prepared:
        cutouts = require(self.root / "database" / "cutouts", "InLoc cutouts folder")
        mapping = sorted(str(path.relative_to(self.root)) for path in cutouts.glob("*/*/*.jpg"))
        if not mapping:
            raise InputError(f"{cutouts}: no cutouts (<floor>/<scan>/*.jpg)")
        query_folder = require(self.root / QUERY_FOLDER, "InLoc query folder")
        queries = sorted(
            str(path.relative_to(self.root)) for path in query_folder.iterdir() if path.suffix.lower() == ".jpg"
        )
        if not queries:
            raise InputError(f"{query_folder}: no .JPG query images")
        cameras = {name: query_camera(self.root / name) for name in queries}
        poses = {}
        point_maps = InLocPointMaps(self.root)
        for name in track(mapping, "cutout poses", len(mapping)):
            cameras[name], poses[name] = cutout_view(point_maps.read(name), self.root / name)
        return Prepared(
            name="inloc",
            image_root=self.root,
            mapping=mapping,
            queries=queries,
            cameras=cameras,
            poses=poses,
            thresholds=list(self.thresholds),
            submission_names="basename",
        )


def query_camera(path: Path) -> pycolmap.Camera:
    """InLoc's query intrinsics: focal length 28/36 of the longer side, principal point at the centre."""
    width, height = image_size(path)
    focal = max(width, height) * FOCAL_LENGTH_35MM / 36.0
    return pycolmap.Camera(model="SIMPLE_PINHOLE", width=width, height=height, params=[focal, width / 2, height / 2])


def cutout_view(point_map: PointMap, image: Path) -> tuple[pycolmap.Camera, pycolmap.Rigid3d]:
    """Intrinsics (PINHOLE, zero skew) and cam_from_world of a cutout, a pinhole view from its scan's origin, from
    the points of a grid of its pixels; the cutout's image size scales the map's when they differ."""
    height, width = point_map.points.shape[:2]
    step = max(1, width // GRID_COLUMNS)
    rows, cols = np.mgrid[step // 2 : height : step, step // 2 : width : step]
    points = point_map.points[rows, cols].reshape(-1, 3)
    pixels = np.stack([cols, rows], -1).reshape(-1, 2) + 0.5
    found = np.isfinite(points).all(1)
    where = f"{image}.mat"
    if found.sum() < 16:
        raise FormatError(f"{where}: {found.sum()} of {len(points)} grid pixels have a 3D point, too few for a view")
    centre = point_map.origin
    K, rotation, errors = view_from_rays(pixels[found], point_map.to_world(points[found]) - centre, MAX_GRID_ERROR)
    if (errors < MAX_GRID_ERROR).mean() < MIN_GRID_INLIERS:
        raise FormatError(
            f"{where}: XYZcut is not a pinhole view from its scan's origin (median reprojection error "
            f"{np.median(errors):.3g} px over {found.sum()} grid pixels)"
        )
    size = image_size(image)
    sx, sy = size[0] / width, size[1] / height
    camera = pycolmap.Camera(
        model="PINHOLE", width=size[0], height=size[1], params=[K[0, 0] * sx, K[1, 1] * sy, K[0, 2] * sx, K[1, 2] * sy]
    )
    return camera, rigid_from_matrix(rotation, -rotation @ centre)
