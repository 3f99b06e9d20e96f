"""A fake InLoc in the published layout, made of the `benchmark_scene` fixture's day renders.

Even frames are database cutouts, one scan each (floor DUC1 for the first half, DUC2 for the rest): a JPG and its
.jpg.mat (scipy.io.savemat, MATLAB v5) holding RGBcut and XYZcut, the rendered scene coordinates in the scan's frame,
whose origin is the camera centre (a cutout is a view from its scan's origin) and whose axes are turned at random; the
scan's alignment file puts the inverse of that in lines 8-11 (P_after_GICP) below another matrix in lines 2-5 (the
alignment before GICP), as InLoc's files are read. Odd frames are the iPhone 7 queries, query/iphone7/IMG_<n>.JPG.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pycolmap
import scipy.io
from scipy.spatial.transform import Rotation


def cutout_name(k: int) -> str:
    floor = "DUC1" if k < 6 else "DUC2"
    return f"database/cutouts/{floor}/{k:03d}/DUC_cutout_{k:03d}_{30 * k}_0.jpg"


def alignment_path(k: int) -> str:
    floor = "DUC1" if k < 6 else "DUC2"
    return f"database/alignments/{floor}/transformations/DUC_trans_{k:03d}.txt"


def alignment_text(world_from_scan: np.ndarray) -> str:
    """An alignment file: a header, the transformation before GICP, a line, a header, P_after_GICP (lines 8-11)."""
    before = world_from_scan.copy()
    before[:3, 3] += [0.3, -0.2, 0.1]  # a coarser alignment, which must not be read
    rows = lambda matrix: "".join(" ".join(f"{v:.12g}" for v in row) + "\n" for row in matrix)  # noqa: E731
    return f"Transformation before GICP\n{rows(before)}GICP fitness 0.0042\nP_after_GICP\n{rows(world_from_scan)}"


def write_cutout(scene: Path, root: Path, k: int, cam_from_world: pycolmap.Rigid3d, seed: int) -> np.ndarray:
    """Cutout k's JPG, .jpg.mat and alignment; returns its scan's world_from_scan (4x4)."""
    world_from_scan = np.eye(4)
    world_from_scan[:3, :3] = Rotation.random(random_state=seed).as_matrix()
    world_from_scan[:3, 3] = cam_from_world.inverse().translation  # the scanner stood at the camera centre
    points = np.load(scene / "geometry" / f"frame_{k:03d}.npz")["scene_coordinates"].astype(np.float64)
    rotation, origin = world_from_scan[:3, :3], world_from_scan[:3, 3]
    xyz = (points - origin) @ rotation  # scan_from_world; NaN (sky) stays NaN
    image = cv2.imread(str(scene / "images" / "day" / f"frame_{k:03d}.png"))
    path = root / cutout_name(k)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    scipy.io.savemat(f"{path}.mat", {"RGBcut": image[..., ::-1], "XYZcut": xyz}, do_compression=True)
    alignment = root / alignment_path(k)
    alignment.parent.mkdir(parents=True, exist_ok=True)
    alignment.write_text(alignment_text(world_from_scan))
    return world_from_scan


def query_name(k: int) -> str:
    return f"query/iphone7/IMG_{731 + k:04d}.JPG"


def build(scene: Path, root: Path) -> dict[str, pycolmap.Rigid3d]:
    """Write the fake dataset into `root`; returns the rendered truth (cam_from_world) by InLoc name."""
    truth = {image.name: image.cam_from_world() for image in pycolmap.Reconstruction(scene / "model").images.values()}
    frames = len([name for name in truth if name.startswith("day/")])
    poses = {}
    for k in range(frames):
        pose = truth[f"day/frame_{k:03d}.png"]
        if k % 2 == 0:
            write_cutout(scene, root, k, pose, seed=k)
            poses[cutout_name(k)] = pose
        else:
            path = root / query_name(k)
            path.parent.mkdir(parents=True, exist_ok=True)
            image = cv2.imread(str(scene / "images" / "day" / f"frame_{k:03d}.png"))
            assert cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
            poses[query_name(k)] = pose
    return poses
