"""Per-pixel 3D point maps of database images, read from the files of the datasets that ship them: InLoc's cutouts
(`<cutout>.jpg.mat` holding XYZcut, the scan's points seen at each pixel in the scan's frame, placed in the building by
the scan's alignment file) and vloc synth scenes (`geometry/<frame>.npz` holding scene_coordinates, world frame)."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

import h5py
import numpy as np

from vloc.errors import ConfigError, FormatError, InputError
from vloc.io.text import read_utf8


@dataclass(frozen=True)
class PointMap:
    """The 3D point seen at each pixel, (H, W, 3) with NaN where none (pixel (col j, row i) centred at (j + 0.5,
    i + 0.5), COLMAP's convention), in a frame of its own, and the affine transform from that frame to the world."""

    points: np.ndarray
    world_from_map: np.ndarray  # (3, 4)

    def to_world(self, points: np.ndarray) -> np.ndarray:
        """Points (N, 3) of the map's frame in the world frame."""
        return points @ self.world_from_map[:, :3].T + self.world_from_map[:, 3]

    @property
    def origin(self) -> np.ndarray:
        """Where the map frame's origin lies in the world: for a scan, the scanner's position."""
        return self.world_from_map[:, 3].copy()


class PointMaps(Protocol):
    def read(self, name: str) -> PointMap: ...


def check_points(points: np.ndarray, path: Path, key: str) -> np.ndarray:
    """`points` as float64 if it is an (H, W, 3) array of numbers, else a one-line error naming the file."""
    if points.ndim != 3 or points.shape[2] != 3 or not np.issubdtype(points.dtype, np.number):
        raise FormatError(f"{path}: {key} has shape {points.shape} ({points.dtype}), expected (H, W, 3) numbers")
    return points.astype(np.float64)


def read_mat_points(path: Path, key: str = "XYZcut") -> np.ndarray:
    """The (H, W, 3) array `key` of a MATLAB file: v5/v7 through scipy, v7.3 (HDF5, stored column-major) through
    h5py."""
    if not path.is_file():
        raise InputError(f"{path}: point map not found")
    if h5py.is_hdf5(path):
        return check_points(_read_v73(path, key), path, key)
    import scipy.io  # 0.18 s to import: only for InLoc's point maps, not with every dataset adapter

    try:
        contents = scipy.io.loadmat(path, variable_names=[key])
    except (scipy.io.matlab.MatReadError, ValueError, TypeError, OSError, NotImplementedError) as error:
        raise FormatError(f"{path}: not a readable MATLAB file ({error})") from None
    if key not in contents:
        raise FormatError(f"{path}: no array '{key}' in this MATLAB file")
    return check_points(contents[key], path, key)


def _read_v73(path: Path, key: str) -> np.ndarray:
    """The array `key` of a MATLAB v7.3 file in MATLAB's axis order (HDF5 stores it column-major: axes reversed)."""
    try:
        with h5py.File(path, "r") as handle:
            if key not in handle or not isinstance(handle[key], h5py.Dataset):
                raise FormatError(f"{path}: no array '{key}' in this MATLAB v7.3 file")
            return handle[key][()].T
    except OSError as error:
        raise FormatError(f"{path}: not a readable MATLAB v7.3 file ({error})") from None


def read_npz_points(path: Path, key: str = "scene_coordinates") -> np.ndarray:
    """The (H, W, 3) array `key` of a .npz file."""
    if not path.is_file():
        raise InputError(f"{path}: point map not found")
    try:
        with np.load(path) as contents:
            if key not in contents:
                raise FormatError(f"{path}: no array '{key}'")
            return check_points(contents[key], path, key)
    except (ValueError, OSError, zipfile.BadZipFile) as error:
        raise FormatError(f"{path}: not a readable .npz file ({error})") from None


ALIGNMENT_ROWS = range(7, 11)  # 0-based lines of P_after_GICP; lines 2-5 hold the transformation before GICP


def read_scan_alignment(path: Path) -> np.ndarray:
    """The 4x4 transformation from a scan's frame to the building's, P_after_GICP of an InLoc (WUSTL) alignment
    file: lines 8 to 11, as InLoc's load_WUSTL_transformation.m and hloc read them."""
    if not path.is_file():
        raise InputError(f"{path}: scan alignment not found")
    lines = read_utf8(path).splitlines()
    rows = []
    for number in ALIGNMENT_ROWS:
        try:
            row = np.array(lines[number].split(), np.float64) if number < len(lines) else np.zeros(0)
        except ValueError:
            row = np.zeros(0)
        if row.shape != (4,) or not np.isfinite(row).all():
            raise FormatError(f"{path}:{number + 1}: expected 4 numbers, a row of P_after_GICP (lines 8 to 11)")
        rows.append(row)
    matrix = np.array(rows)
    if not np.allclose(matrix[3], [0, 0, 0, 1]) or abs(np.linalg.det(matrix[:3, :3])) < 1e-9:
        raise FormatError(f"{path}: P_after_GICP (lines 8 to 11) is not an invertible transformation")
    return matrix


def inloc_alignment_path(root: Path, name: str) -> Path:
    """The alignment file of an InLoc cutout's scan: database/cutouts/<floor>/<scan>/<building>_cutout_<scan>_... ->
    database/alignments/<floor>/transformations/<building>_trans_<scan>.txt."""
    parts = PurePosixPath(name).parts
    if len(parts) < 3 or "_cutout_" not in parts[-1]:
        raise FormatError(f"{root / name}: not an InLoc cutout name (<floor>/<scan>/<building>_cutout_<scan>_...)")
    floor, scan, building = parts[-3], parts[-2], parts[-1].split("_cutout_")[0]
    return root / "database" / "alignments" / floor / "transformations" / f"{building}_trans_{scan}.txt"


@dataclass(frozen=True)
class InLocPointMaps:
    """XYZcut of ROOT/<name>.mat, in the frame of its scan, whose alignment places it in the building."""

    root: Path

    def read(self, name: str) -> PointMap:
        alignment = read_scan_alignment(inloc_alignment_path(self.root, name))
        return PointMap(read_mat_points(self.root / f"{name}.mat"), alignment[:3])


@dataclass(frozen=True)
class SynthPointMaps:
    """scene_coordinates of ROOT/geometry/<frame>.npz for the image <condition>/<frame>.png of a vloc synth scene."""

    root: Path

    def read(self, name: str) -> PointMap:
        path = self.root / "geometry" / f"{PurePosixPath(name).stem}.npz"
        return PointMap(read_npz_points(path), np.hstack([np.eye(3), np.zeros((3, 1))]))


POINT_MAP_LAYOUTS = {"inloc": InLocPointMaps, "synth": SynthPointMaps}


def point_maps(root: Path, layout: str = "auto") -> PointMaps:
    """The point maps below `root` in `layout` (inloc, synth, or auto: by what `root` holds)."""
    if layout == "auto":
        if (root / "database" / "alignments").is_dir():
            layout = "inloc"
        elif (root / "geometry").is_dir():
            layout = "synth"
        else:
            raise InputError(
                f"{root}: neither an InLoc folder (database/alignments/) nor a vloc synth scene (geometry/)"
            )
    if layout not in POINT_MAP_LAYOUTS:
        raise ConfigError(f"unknown point-map layout '{layout}'; choose auto, {', '.join(POINT_MAP_LAYOUTS)}")
    return POINT_MAP_LAYOUTS[layout](root)
