"""Plain-text files: image lists, pairs, results (poses) and queries with intrinsics, as in hloc."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pycolmap

from vloc.errors import FormatError, InputError
from vloc.geometry.rigid3d import cam_from_world_of, qvec_wxyz
from vloc.io.atomic import atomic_path


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file, so no half-written file is left."""
    with atomic_path(path) as temporary:
        temporary.write_text(text)


def _lines(path: Path) -> list[str]:
    if not path.exists():
        raise InputError(f"{path}: file not found")
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def read_image_list(path: Path) -> list[str]:
    """Image names, one per line (the first token of each line, as in hloc query lists)."""
    return [line.split()[0] for line in _lines(path)]


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """Pairs `name0 name1` per line."""
    pairs = []
    for number, line in enumerate(_lines(path), 1):
        tokens = line.split()
        if len(tokens) < 2:
            raise FormatError(f"{path}:{number}: expected 'name0 name1', got '{line}'")
        pairs.append((tokens[0], tokens[1]))
    return pairs


def names_in_pairs(pairs: list[tuple[str, str]]) -> list[str]:
    """Every image named by a list of pairs, sorted."""
    return sorted({name for pair in pairs for name in pair})


def write_pairs(path: Path, pairs: list[tuple[str, str]]) -> None:
    """Write pairs deduplicated (a pair and its reverse are one pair) and sorted."""
    unique = sorted({tuple(p) if p[0] <= p[1] else (p[1], p[0]) for p in pairs if p[0] != p[1]})
    write_text_atomic(path, "".join(f"{a} {b}\n" for a, b in unique))


def write_directed_pairs(path: Path, pairs: list[tuple[str, str]]) -> None:
    """Write query-to-database pairs in their given order (query first), deduplicated and sorted."""
    write_text_atomic(path, "".join(f"{a} {b}\n" for a, b in sorted(set(pairs))))


def read_poses(path: Path) -> dict[str, pycolmap.Rigid3d]:
    """Results file `name qw qx qy qz tx ty tz` (cam_from_world) to poses by name."""
    poses = {}
    for number, line in enumerate(_lines(path), 1):
        tokens = line.split()
        if len(tokens) != 8:
            raise FormatError(f"{path}:{number}: expected 'name qw qx qy qz tx ty tz'")
        try:
            qw, qx, qy, qz, tx, ty, tz = map(float, tokens[1:])
        except ValueError:
            raise FormatError(f"{path}:{number}: pose values are not numbers") from None
        rotation = pycolmap.Rotation3d(np.array([qx, qy, qz, qw]) / np.linalg.norm([qx, qy, qz, qw]))
        poses[tokens[0]] = pycolmap.Rigid3d(rotation, np.array([tx, ty, tz]))
    return poses


def read_camera_to_world(path: Path) -> dict[str, pycolmap.Rigid3d]:
    """Camera-to-world 4x4 matrices, `name` and 16 numbers row by row per line (COLMAP / OpenCV camera axes: x right,
    y down, z forward), to cam_from_world poses by name."""
    poses = {}
    for number, line in enumerate(_lines(path), 1):
        tokens = line.split()
        try:
            matrix = np.array([float(t) for t in tokens[1:]]).reshape(4, 4)
        except ValueError:
            raise FormatError(f"{path}:{number}: expected 'name' and the 16 numbers of a 4x4 matrix") from None
        rotation = matrix[:3, :3]
        if not np.allclose(matrix[3], [0, 0, 0, 1], atol=1e-6):
            raise FormatError(f"{path}:{number}: the last row of a camera-to-world matrix must be 0 0 0 1")
        if np.abs(rotation.T @ rotation - np.eye(3)).max() > 1e-2 or np.linalg.det(rotation) < 0:
            raise FormatError(f"{path}:{number}: the upper-left 3x3 block is not a rotation (scaled or mirrored)")
        poses[tokens[0]] = cam_from_world_of(matrix)
    return poses


def log_path(results: Path) -> Path:
    """Where the per-query log of a results file goes."""
    return results.with_name(results.stem + "_log.json")


def write_poses(path: Path, poses: dict[str, pycolmap.Rigid3d]) -> None:
    """Write cam_from_world poses in hloc's results format."""
    lines = []
    for name in sorted(poses):
        values = [*qvec_wxyz(poses[name]), *poses[name].translation]
        lines.append(f"{name} {' '.join(f'{v:.10g}' for v in values)}\n")
    write_text_atomic(path, "".join(lines))


def write_results(path: Path, poses: dict[str, pycolmap.Rigid3d], summary: dict, logs: list[dict]) -> Path:
    """Write the poses in hloc's results format and, beside them, the JSON log: the run's summary and one entry per
    query."""
    write_poses(path, poses)
    write_text_atomic(log_path(path), json.dumps({"summary": summary, "queries": logs}, indent=1))
    return path


def check_intrinsics(model: str, width: int, height: int, params: list[float], where: str) -> None:
    """One line at `where` (file:line) for an image size that is not positive, a parameter that is not finite, or a
    focal length that is not positive: such a camera gives wrong poses, not errors."""
    if not (0 < width < 2**31 and 0 < height < 2**31):
        raise FormatError(f"{where}: image size {width}x{height} is not positive (or not below 2^31)")
    if not np.isfinite(params).all():
        raise FormatError(f"{where}: camera parameters {' '.join(f'{v:g}' for v in params)} are not all finite")
    for index in pycolmap.Camera(model=model).focal_length_idxs():
        if index < len(params) and params[index] <= 0:
            raise FormatError(f"{where}: focal length {params[index]:g} is not positive")


def read_queries(path: Path) -> dict[str, pycolmap.Camera]:
    """hloc queries file: `name MODEL width height params...` per line."""
    cameras = {}
    for number, line in enumerate(_lines(path), 1):
        tokens = line.split()
        if len(tokens) > 1 and tokens[1] not in pycolmap.CameraModelId.__members__:
            raise FormatError(f"{path}:{number}: unknown camera model '{tokens[1]}'")
        try:
            width, height, params = int(tokens[2]), int(tokens[3]), [float(t) for t in tokens[4:]]
        except (IndexError, ValueError):
            raise FormatError(f"{path}:{number}: expected 'name MODEL width height params...'") from None
        check_intrinsics(tokens[1], width, height, params, f"{path}:{number}")
        camera = pycolmap.Camera(model=tokens[1], width=width, height=height, params=params)
        if not camera.verify_params():
            raise FormatError(f"{path}:{number}: wrong number of parameters for camera model {tokens[1]}")
        cameras[tokens[0]] = camera
    return cameras


def write_queries(path: Path, cameras: dict[str, pycolmap.Camera]) -> None:
    """Write an hloc queries file."""
    lines = [
        f"{name} {cam.model_name} {cam.width} {cam.height} {' '.join(f'{p:.10g}' for p in cam.params)}\n"
        for name, cam in sorted(cameras.items())
    ]
    write_text_atomic(path, "".join(lines))
