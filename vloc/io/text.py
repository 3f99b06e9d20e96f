"""Plain-text files: image lists, pairs, results (poses) and queries with intrinsics, as in hloc.

Files are UTF-8, names are separated by whitespace and a line starting with '#' is a comment, so an image name holds
no whitespace or control character and does not start with '#'; readers and writers refuse any other name.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pycolmap

from vloc.errors import FormatError, InputError
from vloc.geometry.rigid3d import cam_from_world_of, qvec_wxyz, rigid_from_qvec_wxyz
from vloc.io.atomic import atomic_path


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file, so no half-written file is left."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


_WHITESPACE = re.compile(r"\s")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")  # how Python holds file-name bytes that are not UTF-8


def name_problem(name: str) -> str | None:
    """Why `name` cannot be an image name in a text file, or None if it can."""
    if _WHITESPACE.search(name):
        return "contains whitespace, which separates names in text files (pairs, lists, results)"
    if name.startswith("#"):
        return "starts with '#', which marks a comment in text files"
    if _CONTROL.search(name):
        return "contains a control character"
    if _SURROGATE.search(name):
        return "is not valid UTF-8"
    if name.startswith("/"):
        return "is an absolute path; image names are relative to the image folder"
    if ".." in name.split("/"):
        return "has a '..' part, which leaves the image folder"
    return None


def check_names_writable(path: Path, names: list[str]) -> None:
    """Refuse to write a text file naming an image that its readers could not read back."""
    for name in names:
        problem = name_problem(name)
        if problem is not None:
            raise FormatError(f"{path}: cannot write image name {name!r}: it {problem}")


def read_utf8(path: Path) -> str:
    """The text of a UTF-8 file (a leading byte-order mark dropped); one-line errors naming the file."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a text file")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1
        raise FormatError(f"{path}:{line}: not UTF-8 text (byte 0x{error.object[error.start]:02x})") from None


def _numbered_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, stripped line) of each line of a text file that is neither blank nor a '#' comment."""
    lines = enumerate((line.strip() for line in read_utf8(path).splitlines()), 1)
    return [(number, line) for number, line in lines if line and not line.startswith("#")]


def _checked_name(token: str, path: Path, number: int) -> str:
    """`token` of line `number`, which names an image; FormatError if no image name can be that."""
    problem = name_problem(token)
    if problem is not None:
        raise FormatError(f"{path}:{number}: image name {token!r} {problem}")
    return token


def _first_mention(name: str, lines_by_name: dict[str, int], path: Path, number: int) -> str:
    """`name`, recorded as seen on line `number`; FormatError if an earlier line gave it already."""
    if name in lines_by_name:
        raise FormatError(f"{path}:{number}: {name!r} is given twice (first on line {lines_by_name[name]})")
    lines_by_name[name] = number
    return name


def read_image_list(path: Path) -> list[str]:
    """Image names, one per line (the first token of each line, as in hloc query lists); a repeated name is kept
    once, where it first appears."""
    names = (_checked_name(line.split()[0], path, number) for number, line in _numbered_lines(path))
    return list(dict.fromkeys(names))


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """Pairs `name0 name1` per line."""
    pairs = []
    for number, line in _numbered_lines(path):
        tokens = line.split()
        if len(tokens) != 2:
            raise FormatError(f"{path}:{number}: expected 'name0 name1' (names without spaces), got {line!r}")
        pairs.append((_checked_name(tokens[0], path, number), _checked_name(tokens[1], path, number)))
    return pairs


def names_in_pairs(pairs: list[tuple[str, str]]) -> list[str]:
    """Every image named by a list of pairs, sorted."""
    return sorted({name for pair in pairs for name in pair})


def write_pairs(path: Path, pairs: list[tuple[str, str]]) -> None:
    """Write pairs deduplicated (a pair and its reverse are one pair) and sorted."""
    unique = sorted({tuple(p) if p[0] <= p[1] else (p[1], p[0]) for p in pairs if p[0] != p[1]})
    check_names_writable(path, names_in_pairs(unique))
    write_text_atomic(path, "".join(f"{a} {b}\n" for a, b in unique))


def write_directed_pairs(path: Path, pairs: list[tuple[str, str]]) -> None:
    """Write query-to-database pairs in their given order (query first), deduplicated and sorted."""
    check_names_writable(path, names_in_pairs(pairs))
    write_text_atomic(path, "".join(f"{a} {b}\n" for a, b in sorted(set(pairs))))


def read_poses(path: Path) -> dict[str, pycolmap.Rigid3d]:
    """Results file `name qw qx qy qz tx ty tz` (cam_from_world) to poses by name; one line per name, finite values
    and a quaternion that can be normalised."""
    poses = {}
    lines_by_name: dict[str, int] = {}
    for number, line in _numbered_lines(path):
        tokens = line.split()
        if len(tokens) != 8:
            raise FormatError(f"{path}:{number}: expected 'name qw qx qy qz tx ty tz'")
        name = _first_mention(_checked_name(tokens[0], path, number), lines_by_name, path, number)
        poses[name] = _pose(tokens[1:], path, number, name)
    return poses


def read_camera_to_world(path: Path) -> dict[str, pycolmap.Rigid3d]:
    """Camera-to-world 4x4 matrices, `name` and 16 numbers row by row per line (COLMAP / OpenCV camera axes: x right,
    y down, z forward), to cam_from_world poses by name."""
    poses = {}
    for number, line in _numbered_lines(path):
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
        poses[_checked_name(tokens[0], path, number)] = cam_from_world_of(matrix)
    return poses


def _pose(tokens: list[str], path: Path, number: int, name: str) -> pycolmap.Rigid3d:
    """The cam_from_world pose of the 7 numbers of a results line; FormatError unless all are finite and the
    quaternion can be normalised."""
    try:
        qw, qx, qy, qz, tx, ty, tz = map(float, tokens)
    except ValueError:
        raise FormatError(f"{path}:{number}: pose values are not numbers") from None
    if not all(map(math.isfinite, (qw, qx, qy, qz, tx, ty, tz))):
        raise FormatError(f"{path}:{number}: pose of {name!r} is not finite (nan or inf)")
    with np.errstate(over="ignore"):  # a norm that overflows is refused below
        norm = np.linalg.norm([qx, qy, qz, qw])
    if not 0 < norm < math.inf:
        raise FormatError(f"{path}:{number}: quaternion of {name!r} has norm {norm:g} and cannot be normalised")
    return rigid_from_qvec_wxyz([qw, qx, qy, qz], [tx, ty, tz])


def log_path(results: Path) -> Path:
    """Where the per-query log of a results file goes."""
    return results.with_name(results.stem + "_log.json")


def pose_line(name: str, pose: pycolmap.Rigid3d) -> str:
    """One line of hloc's results format: `name qw qx qy qz tx ty tz` (cam_from_world)."""
    values = [*qvec_wxyz(pose), *pose.translation]
    return f"{name} {' '.join(f'{v:.10g}' for v in values)}\n"


def write_poses(path: Path, poses: dict[str, pycolmap.Rigid3d]) -> None:
    """Write cam_from_world poses in hloc's results format."""
    check_names_writable(path, list(poses))
    write_text_atomic(path, "".join(pose_line(name, poses[name]) for name in sorted(poses)))


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


def camera_from_fields(fields: list[str], where: str, expected: str) -> pycolmap.Camera:
    """A camera from `MODEL width height params...` (COLMAP's models and parameter order; sizes may be written as
    floats, as kapture does); one line at `where` (file:line) naming what is wrong, `expected` the line's format."""
    if fields and fields[0] not in pycolmap.CameraModelId.__members__:
        raise FormatError(f"{where}: unknown camera model {fields[0]!r}")
    try:
        model, width, height = fields[0], _whole_number(fields[1]), _whole_number(fields[2])
        params = [float(value) for value in fields[3:]]
    except (IndexError, ValueError):
        raise FormatError(f"{where}: expected {expected}") from None
    check_intrinsics(model, width, height, params, where)
    camera = pycolmap.Camera(model=model, width=width, height=height, params=params)
    if not camera.verify_params():
        raise FormatError(f"{where}: wrong number of parameters for camera model {model}")
    return camera


def _whole_number(value: str) -> int:
    number = float(value)
    if not number.is_integer():
        raise ValueError(value)
    return int(number)


def read_queries(path: Path, required: bool = False) -> dict[str, pycolmap.Camera]:
    """hloc queries file: `name MODEL width height params...` per line; if `required`, one at least."""
    cameras = {}
    lines_by_name: dict[str, int] = {}
    for number, line in _numbered_lines(path):
        tokens = line.split()
        name = _first_mention(_checked_name(tokens[0], path, number), lines_by_name, path, number)
        cameras[name] = camera_from_fields(tokens[1:], f"{path}:{number}", "'name MODEL width height params...'")
    if required and not cameras:
        raise FormatError(f"{path}: no queries")
    return cameras


def write_queries(path: Path, cameras: dict[str, pycolmap.Camera]) -> None:
    """Write an hloc queries file."""
    check_names_writable(path, list(cameras))
    lines = [
        f"{name} {cam.model_name} {cam.width} {cam.height} {' '.join(f'{p:.10g}' for p in cam.params)}\n"
        for name, cam in sorted(cameras.items())
    ]
    write_text_atomic(path, "".join(lines))
