"""vloc -> kapture: a COLMAP model (cameras, cam_from_world poses, 3D points), the queries of an hloc queries file,
and a local-features file with the matches of pairs lists, written as one kapture folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pycolmap

from vloc.convert.outputs import MANIFEST, write_manifest
from vloc.errors import ConfigError, FormatError, InputError
from vloc.io.atomic import atomic_path
from vloc.io.features import FeatureReader
from vloc.io.kapture import RECONSTRUCTION, RECORDS_DATA, SENSORS, camera_values, pose_values, write_table
from vloc.io.kapture_features import DESCRIPTORS, DTYPES, KEYPOINTS, FeatureType, write_feature_type
from vloc.io.kapture_features import write_matches as write_kapture_matches
from vloc.io.matches import MatchReader, check_pair_keys
from vloc.io.model import points2d_are_keypoints, read_model
from vloc.io.text import read_pairs, read_queries

# Keypoints are written in float64 with COLMAP's (and kapture's) convention, x + 0.5: exact, and read back exactly.
KEYPOINTS_DTYPE = np.dtype("<f8")
POINTS2D_TYPE = "colmap"  # the keypoints type of a model's own points2D, exported when no features file is given


def check_output(out: Path, overwrite: bool) -> None:
    """Refuse an existing, non-empty `out` unless `overwrite` and it is a kapture folder vloc wrote (with convert.json
    and no images of its own: sensors/records_data is a link)."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    if not overwrite:
        raise InputError(f"{out}: exists; pass --overwrite to replace it, or choose a new folder")
    data = out / RECORDS_DATA
    if not (out / MANIFEST).is_file() or (data.exists() and not data.is_symlink()):
        raise InputError(f"{out}: is not a kapture folder written by vloc convert; choose a new folder")


def sensors_and_records(
    model: pycolmap.Reconstruction, queries: dict[str, pycolmap.Camera]
) -> tuple[list[list], list[list], list[list], dict[str, int]]:
    """sensors.txt, records_camera.txt and trajectories.txt rows: a camera sensor per model camera (`cameraN`) and per
    distinct query intrinsics (`queryN`), a record per image (timestamp: the image id; queries after), a trajectory
    per registered image; and each image's timestamp."""
    commas = [name for name in [image.name for image in model.images.values()] + list(queries) if "," in name]
    if commas:
        raise FormatError(f"image name {commas[0]!r} holds a comma, which separates the values of kapture's files")
    sensors = [[f"camera{i}", "", "camera", *camera_values(c)] for i, c in sorted(model.cameras.items())]
    records, trajectories, timestamps = [], [], {}
    for image_id, image in sorted(model.images.items()):
        records.append([image_id, f"camera{image.camera_id}", image.name])
        timestamps[image.name] = image_id
        if image.has_pose:
            trajectories.append([image_id, f"camera{image.camera_id}", *pose_values(image.cam_from_world())])
    query_sensors: dict[tuple, str] = {}
    for timestamp, (name, camera) in enumerate(sorted(queries.items()), max(model.images, default=0) + 1):
        key = tuple(camera_values(camera))
        if key not in query_sensors:
            query_sensors[key] = f"query{len(query_sensors) + 1}"
            sensors.append([query_sensors[key], "", "camera", *key])
        records.append([timestamp, query_sensors[key], name])
        timestamps[name] = timestamp
    return sensors, records, trajectories, timestamps


def export_keypoints(
    folder: Path, name: str, features: FeatureReader | None, model: pycolmap.Reconstruction, images: list[str]
) -> dict[str, int]:
    """Write the keypoints (x + 0.5 of the features file, or the model's points2D) of `images`: their counts."""
    keypoint_type = FeatureType(KEYPOINTS, folder, name, KEYPOINTS_DTYPE, 2)
    write_feature_type(keypoint_type)
    counts = {}
    by_name = {image.name: image for image in model.images.values()}
    for image in images:
        if features is None:
            points = np.array([p.xy for p in by_name[image].points2D], np.float64).reshape(-1, 2)
        elif image in features:
            points = features.keypoints(image).astype(np.float64) + 0.5  # hloc -> COLMAP / kapture
        else:
            continue
        keypoint_type.write(image, points)
        counts[image] = len(points)
    return counts


def export_descriptors(folder: Path, keypoints_type: str, features: FeatureReader, images: list[str]) -> None:
    """Write the (N, D) descriptors of `images` (float16 as float32: kapture's reader takes no float16)."""
    descriptor_type = None
    for image in images:
        if "descriptors" not in features.group(image):
            return  # a file of keypoints only
        descriptors = features.read(image).descriptors.T
        dtype = descriptors.dtype if descriptors.dtype.name in DTYPES else np.dtype("float32")
        if descriptor_type is None:
            descriptor_type = FeatureType(
                DESCRIPTORS, folder, keypoints_type, dtype.newbyteorder("<"), descriptors.shape[1], keypoints_type, "L2"
            )
            write_feature_type(descriptor_type)
        elif descriptors.shape[1] != descriptor_type.dsize:
            raise FormatError(f"{features.path}: descriptors of '{image}' have another size than those of other images")
        descriptor_type.write(image, descriptors)


def export_matches(folder: Path, pairs_and_matches: list[tuple[Path, Path]], counts: dict[str, int]) -> int:
    """Write the matches of every listed pair (those geometric verification kept, where it ran); the pairs written."""
    written: set[tuple[str, str]] = set()
    for pairs_path, matches_path in pairs_and_matches:
        pairs = read_pairs(pairs_path)
        check_pair_keys(pairs, pairs_path)
        with MatchReader(matches_path) as reader:
            for pair in pairs:
                key = tuple(sorted(pair))
                if key in written or pair[0] == pair[1]:
                    continue
                missing = [name for name in pair if name not in counts]
                if missing:
                    raise FormatError(f"{pairs_path}: image '{missing[0]}' has no keypoints in the kapture written")
                indices, scores = reader.read(*pair)
                write_kapture_matches(folder, *pair, indices, scores)
                written.add(key)
    return len(written)


def export_features(
    staging: Path, name: str, model: pycolmap.Reconstruction, features: Path | None, model_path: Path, images: list[str]
) -> dict[str, int]:
    """Write the keypoints and descriptors of `images` from `features`, or the model's points2D as keypoints (where
    it has some) without; the keypoint count of each image written."""
    if features is None:
        if not any(image.num_points2D() for image in model.images.values()):
            return {}  # a posed model without keypoints
        return export_keypoints(staging / RECONSTRUCTION / KEYPOINTS / name, name, None, model, images)
    with FeatureReader(features) as reader:
        check_points2d(model, reader, model_path)
        counts = export_keypoints(staging / RECONSTRUCTION / KEYPOINTS / name, name, reader, model, images)
        if counts:
            export_descriptors(staging / RECONSTRUCTION / DESCRIPTORS / name, name, reader, list(counts))
    return counts


def export_points(path: Path, keypoints_type: str, model: pycolmap.Reconstruction) -> None:
    """points3d.txt and observations.txt of the model's points, observed through the keypoints written (the model's
    points2D, index for index: see `check_points2d`)."""
    names = {image_id: image.name for image_id, image in model.images.items()}
    point_rows, observation_rows = [], []
    for index, point_id in enumerate(sorted(model.point3D_ids())):
        point = model.points3D[point_id]
        point_rows.append([*point.xyz, *point.color.tolist()])
        seen = [value for e in point.track.elements for value in (names[e.image_id], e.point2D_idx)]
        observation_rows.append([index, keypoints_type, *seen])
    write_table(path / RECONSTRUCTION / "points3d.txt", "X, Y, Z, R, G, B", point_rows)
    write_table(
        path / RECONSTRUCTION / "observations.txt",
        "point3d_id, keypoints_type, [image_path, feature_id]*",
        observation_rows,
    )


def check_points2d(model: pycolmap.Reconstruction, features: FeatureReader, model_path: Path) -> None:
    """Fail unless the model's points2D are the features' keypoints (+0.5), so observations index the right ones."""
    for image in model.images.values():
        if not image.num_points3D:
            continue
        keypoints = features.keypoints(image.name) if image.name in features else np.zeros((0, 2))
        if not points2d_are_keypoints(image, keypoints):
            raise FormatError(
                f"{model_path}: the points2D of '{image.name}' are not the keypoints of {features.path}: give the "
                "features the model was triangulated from, or none to export its points2D as keypoints"
            )


def main(
    model_path: Path,
    out: Path,
    images: Path | None = None,
    features: Path | None = None,
    pairs_and_matches: tuple[tuple[Path, Path], ...] = (),
    queries: Path | None = None,
    keypoints_type: str | None = None,
    overwrite: bool = False,
) -> dict:
    """Write the kapture folder `out` (atomically: all of it or nothing); the manifest, also in `out`/convert.json."""
    if pairs_and_matches and features is None:
        raise ConfigError("matches need the features file they index (--features)")
    if images is not None and not images.is_dir():
        raise InputError(f"{images}: image folder not found")
    model = read_model(model_path)
    query_cameras = read_queries(queries) if queries is not None else {}
    in_model = sorted(set(query_cameras) & {image.name for image in model.images.values()})
    if in_model:
        raise InputError(f"{queries}: query '{in_model[0]}' is an image of the model {model_path}")
    name = keypoints_type or (features.stem.removeprefix("feats-") if features is not None else POINTS2D_TYPE)
    check_output(out, overwrite)
    sensors, records, trajectories, timestamps = sensors_and_records(model, query_cameras)
    manifest = {
        "source": str(model_path),
        "conventions": "trajectories are cam_from_world (world to device); keypoints are x + 0.5 of hloc's, COLMAP's "
        "convention (the image's top-left corner at 0, 0)",
        "num_images": len(model.images),
        "num_queries": len(query_cameras),
    }
    with atomic_path(out) as staging:
        write_table(staging / SENSORS / "sensors.txt", "sensor_device_id, name, sensor_type, [sensor_params]+", sensors)
        write_table(staging / SENSORS / "records_camera.txt", "timestamp, device_id, image_path", records)
        write_table(
            staging / SENSORS / "trajectories.txt", "timestamp, device_id, qw, qx, qy, qz, tx, ty, tz", trajectories
        )
        if images is not None:
            os.symlink(images.resolve(), staging / RECORDS_DATA)
        counts = export_features(staging, name, model, features, model_path, list(timestamps))
        manifest |= {"keypoints_type": name, "num_images_with_keypoints": len(counts)}
        if pairs_and_matches:
            matches_folder = staging / RECONSTRUCTION / "matches" / name
            manifest["num_matched_pairs"] = export_matches(matches_folder, list(pairs_and_matches), counts)
        if model.num_points3D():
            export_points(staging, name, model)
            manifest["num_points3D"] = model.num_points3D()
        write_manifest(staging, manifest)
    return manifest
