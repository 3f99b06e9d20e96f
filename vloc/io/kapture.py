"""kapture folders (format 1.1, naver/kapture's kapture_format.adoc): sensors, rigs, trajectories, camera records, 3D
points and observations. Text files are UTF-8 comma-separated values, `#` starts a comment, and the first line of
sensors.txt says the format version. Poses are world-to-device (cam_from_world, as COLMAP's), quaternions w first.
Keypoints, descriptors and matches are in `vloc.io.kapture_features`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pycolmap

from vloc.errors import FormatError, InputError
from vloc.geometry.rigid3d import qvec_wxyz, rigid_from_qvec_wxyz
from vloc.io.text import camera_from_fields, name_problem, read_utf8

VERSION = "1.1"
READABLE_VERSIONS = ("1.0", "1.1")
VERSION_LINE = re.compile(r"#\s*kapture format\s*:\s*(\d+\.\d+)")
SENSORS = Path("sensors")
RECORDS_DATA = SENSORS / "records_data"  # images: the paths of records_camera.txt are relative to it
RECONSTRUCTION = Path("reconstruction")
UNKNOWN_CAMERA = "UNKNOWN_CAMERA"  # a camera without intrinsics


@dataclass(frozen=True)
class CameraRecord:
    """One image: when it was taken, by which camera sensor, and its path below sensors/records_data."""

    timestamp: int
    sensor: str
    name: str


@dataclass
class Kapture:
    """The sensors part of a kapture folder, as far as cameras are concerned."""

    root: Path
    cameras: dict[str, pycolmap.Camera | None]  # camera sensors by id; None for UNKNOWN_CAMERA
    records: list[CameraRecord]
    trajectories: dict[tuple[int, str], pycolmap.Rigid3d] = field(default_factory=dict)  # device_from_world
    rigs: dict[str, dict[str, pycolmap.Rigid3d]] = field(default_factory=dict)  # rig -> sensor -> sensor_from_rig

    def cam_from_world(self, record: CameraRecord) -> pycolmap.Rigid3d | None:
        """The pose of a record: its camera's own trajectory entry, else through a rig holding the camera: the rig's
        pose at that time, or that of another camera of the rig (as kapture's rigs_recover does)."""
        pose = self.trajectories.get((record.timestamp, record.sensor))
        if pose is not None:
            return pose
        for rig, sensors in self.rigs.items():
            if record.sensor not in sensors:
                continue
            rig_from_world = self.trajectories.get((record.timestamp, rig))
            posed = [s for s in sensors if (record.timestamp, s) in self.trajectories]
            if rig_from_world is None and posed:
                rig_from_world = sensors[posed[0]].inverse() * self.trajectories[record.timestamp, posed[0]]
            if rig_from_world is not None:
                return sensors[record.sensor] * rig_from_world
        return None


def read_table(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) of each line of a kapture text file that is neither blank nor a comment."""
    rows = []
    for number, line in enumerate(read_utf8(path).splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            rows.append((number, [value.strip() for value in line.split(",")]))
    return rows


def format_version(path: Path) -> str | None:
    """The version in the `# kapture format: X.Y` first line of a file, None without one."""
    first = read_utf8(path).partition("\n")[0]
    match = VERSION_LINE.match(first.strip())
    return match.group(1) if match else None


def read_kapture(root: Path) -> Kapture:
    """The cameras, camera records, trajectories and rigs of a kapture folder; one line naming the file and line for
    anything vloc cannot read."""
    if not root.is_dir():
        raise InputError(f"{root}: kapture folder not found")
    sensors_file = root / SENSORS / "sensors.txt"
    if not sensors_file.is_file():
        raise FormatError(f"{root}: not a kapture folder (no {SENSORS / 'sensors.txt'})")
    version = format_version(sensors_file)
    if version is not None and version not in READABLE_VERSIONS:
        raise FormatError(f"{sensors_file}: kapture format {version}; vloc reads {', '.join(READABLE_VERSIONS)}")
    cameras = read_sensors(sensors_file)
    records_file = root / SENSORS / "records_camera.txt"
    if not records_file.is_file():
        raise FormatError(f"{root}: kapture folder without camera records ({SENSORS / 'records_camera.txt'})")
    kapture = Kapture(root, cameras, read_records(records_file, cameras))
    rigs_file, trajectories_file = root / SENSORS / "rigs.txt", root / SENSORS / "trajectories.txt"
    if rigs_file.is_file():
        kapture.rigs = read_rigs(rigs_file, cameras)
    if trajectories_file.is_file():
        kapture.trajectories = read_trajectories(trajectories_file)
    return kapture


def check_reconstruction_layout(root: Path) -> None:
    """Refuse kapture 1.0's reconstruction layout (one keypoints type, directly in keypoints/; observations without
    a keypoints type), which 1.1 replaced."""
    reconstruction = root / RECONSTRUCTION
    legacy = [reconstruction / kind / f"{kind}.txt" for kind in ("keypoints", "descriptors")]
    legacy = [path for path in legacy if path.is_file()]
    observations = reconstruction / "observations.txt"
    if observations.is_file() and VERSION not in (
        format_version(observations),
        format_version(root / SENSORS / "sensors.txt"),
    ):
        legacy.append(observations)
    if legacy:
        raise FormatError(
            f"{legacy[0]}: kapture 1.0's reconstruction layout; upgrade the folder to 1.1 with kapture's "
            "kapture_upgrade_1_0_to_1_1.py"
        )


def read_sensors(path: Path) -> dict[str, pycolmap.Camera | None]:
    """Camera sensors by id (`sensor_id, name, camera, MODEL, width, height, params...`); other sensors are skipped."""
    cameras: dict[str, pycolmap.Camera | None] = {}
    for number, fields in read_table(path):
        where = f"{path}:{number}"
        if len(fields) < 3:
            raise FormatError(f"{where}: expected 'sensor_id, name, sensor_type, [sensor_params]+'")
        sensor, sensor_type, params = fields[0], fields[2], fields[3:]
        if sensor in cameras:
            raise FormatError(f"{where}: sensor '{sensor}' is given twice")
        if sensor_type == "camera":
            cameras[sensor] = _camera(params, where)
    return cameras


def _camera(params: list[str], where: str) -> pycolmap.Camera | None:
    """A camera from `MODEL, width, height, params...` (COLMAP's models and parameter order)."""
    if not params:
        raise FormatError(f"{where}: camera without a model")
    if params[0] == UNKNOWN_CAMERA:
        return None
    return camera_from_fields(params, where, f"'{params[0]}, width, height, params...' as numbers")


def read_records(path: Path, cameras: dict[str, pycolmap.Camera | None]) -> list[CameraRecord]:
    """`timestamp, device_id, image_path` per line; the device must be a camera of sensors.txt, the path an image
    name vloc's text files can hold, each path once."""
    records, seen = [], {}
    for number, fields in read_table(path):
        where = f"{path}:{number}"
        if len(fields) != 3:
            raise FormatError(f"{where}: expected 'timestamp, device_id, image_path'")
        timestamp, sensor, name = _timestamp(fields[0], where), fields[1], fields[2]
        if sensor not in cameras:
            raise FormatError(f"{where}: device '{sensor}' is not a camera of sensors.txt")
        problem = name_problem(name)
        if problem is not None:
            raise FormatError(f"{where}: image path {name!r} {problem}")
        if name in seen:
            raise FormatError(f"{where}: image '{name}' is recorded twice (first on line {seen[name]})")
        seen[name] = number
        records.append(CameraRecord(timestamp, sensor, name))
    return records


def read_trajectories(path: Path) -> dict[tuple[int, str], pycolmap.Rigid3d]:
    """`timestamp, device_id, qw, qx, qy, qz, tx, ty, tz` per line: device_from_world."""
    poses = {}
    for number, fields in read_table(path):
        where = f"{path}:{number}"
        if len(fields) != 9:
            raise FormatError(f"{where}: expected 'timestamp, device_id, qw, qx, qy, qz, tx, ty, tz'")
        poses[_timestamp(fields[0], where), fields[1]] = _pose(fields[2:], where)
    return poses


def read_rigs(path: Path, cameras: dict[str, pycolmap.Camera | None]) -> dict[str, dict[str, pycolmap.Rigid3d]]:
    """`rig_id, sensor_id, qw, qx, qy, qz, tx, ty, tz` per line: sensor_from_rig."""
    rigs: dict[str, dict[str, pycolmap.Rigid3d]] = {}
    for number, fields in read_table(path):
        where = f"{path}:{number}"
        if len(fields) != 9:
            raise FormatError(f"{where}: expected 'rig_id, sensor_id, qw, qx, qy, qz, tx, ty, tz'")
        if fields[0] in cameras:
            raise FormatError(f"{where}: rig '{fields[0]}' is also a sensor of sensors.txt")
        rigs.setdefault(fields[0], {})[fields[1]] = _pose(fields[2:], where)
    return rigs


def _timestamp(value: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise FormatError(f"{where}: timestamp {value!r} is not an integer") from None


def _pose(values: list[str], where: str) -> pycolmap.Rigid3d:
    """A pose from `qw, qx, qy, qz, tx, ty, tz`; kapture allows a rotation or translation left empty, vloc does not."""
    if "" in values:
        raise FormatError(f"{where}: pose without rotation or translation; vloc needs both")
    try:
        qw, qx, qy, qz, tx, ty, tz = (float(value) for value in values)
    except ValueError:
        raise FormatError(f"{where}: pose values are not numbers") from None
    norm = np.linalg.norm([qx, qy, qz, qw])
    if not (np.isfinite([qw, qx, qy, qz, tx, ty, tz]).all() and norm > 0):
        raise FormatError(f"{where}: pose is not finite or its quaternion is zero")
    return rigid_from_qvec_wxyz([qw, qx, qy, qz], [tx, ty, tz])


def read_points3d(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """3D points `X, Y, Z[, R, G, B]` per line: (N, 3) float64 positions and (N, 3) uint8 colours or None."""
    rows = read_table(path)
    widths = {len(fields) for _, fields in rows}
    if not widths <= {3} and not widths <= {6}:
        raise FormatError(f"{path}: expected 'X, Y, Z' or 'X, Y, Z, R, G, B' on every line")
    try:
        values = np.array([[float(v) for v in fields] for _, fields in rows], np.float64).reshape(len(rows), -1)
    except ValueError:
        raise FormatError(f"{path}: 3D point values are not numbers") from None
    if not np.isfinite(values).all():
        raise FormatError(f"{path}: 3D points are not all finite")
    colours = values[:, 3:6].clip(0, 255).round().astype(np.uint8) if values.shape[1] == 6 else None
    return values[:, :3], colours


def read_observations(path: Path, keypoints_type: str, num_points: int) -> dict[int, list[tuple[str, int]]]:
    """The observations of keypoints of `keypoints_type` by 3D point index: (image path, keypoint index) pairs, from
    `point3d_id, keypoints_type, [image_path, feature_id]*` lines."""
    observations: dict[int, list[tuple[str, int]]] = {}
    for number, fields in read_table(path):
        where = f"{path}:{number}"
        if len(fields) < 2 or len(fields) % 2:
            raise FormatError(f"{where}: expected 'point3d_id, keypoints_type, [image_path, feature_id]*'")
        if fields[1] != keypoints_type:
            continue
        try:
            point, indices = int(fields[0]), [int(v) for v in fields[3::2]]
        except ValueError:
            raise FormatError(f"{where}: point and feature ids must be integers") from None
        if not 0 <= point < num_points:
            raise FormatError(f"{where}: 3D point {point} is not a line of points3d.txt ({num_points} points)")
        if min(indices, default=0) < 0:
            raise FormatError(f"{where}: negative feature id")
        observations.setdefault(point, []).extend(zip(fields[2::2], indices))
    return observations


def write_table(path: Path, columns: str, rows: list[list]) -> None:
    """A kapture text file: the version line, `# columns`, then one comma-separated row per line (floats exact)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# kapture format: {VERSION}\n", f"# {columns}\n"]
    lines += [", ".join(_text(value) for value in row) + "\n" for row in rows]
    path.write_text("".join(lines), encoding="utf-8")


def _text(value) -> str:
    """A value as kapture text; floats with every digit (repr), so that they read back exactly."""
    return repr(float(value)) if isinstance(value, (float, np.floating)) else str(value)


def pose_values(pose: pycolmap.Rigid3d) -> list[float]:
    """qw, qx, qy, qz, tx, ty, tz of a pose."""
    return [*qvec_wxyz(pose), *pose.translation]


def camera_values(camera: pycolmap.Camera) -> list:
    """MODEL, width, height, params... of a camera (sensors.txt)."""
    return [camera.model_name, camera.width, camera.height, *camera.params]
