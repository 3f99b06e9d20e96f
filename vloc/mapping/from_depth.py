"""`vloc points-from-depth`: a map for `vloc localize` from per-pixel 3D points instead of triangulation. Each keypoint
of a database image where the image's point map has a 3D point becomes a 3D point observed by that image alone, in a
COLMAP model with the reference's cameras and poses (hloc localizes InLoc so, reading the points at query time)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pycolmap

from vloc.console import quiet_pycolmap, track
from vloc.errors import FormatError
from vloc.io.features import FeatureReader
from vloc.io.matches import MatchReader
from vloc.io.model import check_model_output, read_model, write_model
from vloc.io.point_maps import PointMaps
from vloc.io.text import read_pairs

GREY = np.full(3, 128, np.uint8)  # points take no colour from the images


@dataclass(frozen=True)
class FromDepthConf:
    # Where bilinear interpolation meets a pixel without a point, take the nearest pixel's point (hloc's
    # interpolate_scan does, to give more keypoints a point); false: no point there.
    nearest_fallback: bool = True


def interpolate_points(
    points: np.ndarray, keypoints: np.ndarray, nearest_fallback: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The 3D point of an (H, W, 3) point map at each keypoint (N, 2; pixel centres at integers, hloc's convention)
    and whether it has one. Bilinear between the four nearest pixel centres (a keypoint in the outer half pixel takes
    the border's), which gives none where any of the four has none, unless `nearest_fallback` takes the nearest
    pixel's point there."""
    height, width = points.shape[:2]
    x = np.clip(keypoints[:, 0].astype(np.float64), 0, width - 1)
    y = np.clip(keypoints[:, 1].astype(np.float64), 0, height - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), max(width - 2, 0))
    y0 = np.minimum(np.floor(y).astype(np.int64), max(height - 2, 0))
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    ax, ay = (x - x0)[:, None], (y - y0)[:, None]
    top = points[y0, x0] * (1 - ax) + points[y0, x1] * ax
    bottom = points[y1, x0] * (1 - ax) + points[y1, x1] * ax
    interpolated = top * (1 - ay) + bottom * ay  # NaN where any of the four is NaN, whatever its weight
    if nearest_fallback:
        missing = ~np.isfinite(interpolated).all(1)
        nearest = points[np.rint(y[missing]).astype(np.int64), np.rint(x[missing]).astype(np.int64)]
        interpolated[missing] = nearest
    return interpolated, np.isfinite(interpolated).all(1)


def map_coordinates(keypoints: np.ndarray, image_size: tuple[int, int], map_shape: tuple[int, int]) -> np.ndarray:
    """Keypoints of an image of `image_size` (w, h) in the pixels of a point map of `map_shape` (H, W)."""
    scale = np.array([map_shape[1] / image_size[0], map_shape[0] / image_size[1]])
    return keypoints if (scale == 1).all() else (keypoints + 0.5) * scale - 0.5


def matched_keypoints(pairs_path: Path, matches_path: Path, names: set[str]) -> dict[str, np.ndarray]:
    """The keypoints of each database image of the query pairs that some query matches (sorted indices)."""
    matched = defaultdict(list)
    with MatchReader(matches_path) as matches:
        for query, db_name in read_pairs(pairs_path):
            if db_name not in names:
                raise FormatError(f"{pairs_path}: database image '{db_name}' is not in the reference model")
            matched[db_name].append(matches.read(query, db_name)[0][:, 1])
    return {name: np.unique(np.concatenate(indices)).astype(np.int64) for name, indices in matched.items()}


def main(
    conf: FromDepthConf,
    reference: Path,
    features: Path,
    point_maps: PointMaps,
    out: Path,
    pairs: Path | None = None,
    matches: Path | None = None,
) -> pycolmap.Reconstruction:
    """Write to `out` the reference model with every keypoint of its images as a 2D point, those with a 3D point in
    their image's point map observing it. With `pairs` and `matches` (of the queries), only the database images of
    the pairs get their keypoints, and only their keypoints that a query matches get 3D points: what localization
    reads, without reading every image's point map."""
    check_model_output(out)  # before the work, not only when writing
    quiet_pycolmap()
    model = read_model(reference)
    images = sorted(model.images.values(), key=lambda image: image.name)
    selected = None if pairs is None else matched_keypoints(pairs, matches, {image.name for image in images})
    result = pycolmap.Reconstruction()
    for camera in model.cameras.values():
        result.add_camera_with_trivial_rig(camera)
    with FeatureReader(features) as feature_reader:
        for image in track(images, "points from depth", len(images)):
            with_keypoints = selected is None or image.name in selected
            if with_keypoints and image.name not in feature_reader:
                raise FormatError(f"{features}: no keypoints of the database image '{image.name}'")
            keypoints = feature_reader.keypoints(image.name) if with_keypoints else np.zeros((0, 2), np.float32)
            result.add_image_with_trivial_frame(
                pycolmap.Image(
                    name=image.name,
                    keypoints=keypoints.astype(np.float64) + 0.5,
                    camera_id=image.camera_id,
                    image_id=image.image_id,
                ),
                image.cam_from_world(),
            )
            if len(keypoints):
                indices = None if selected is None else selected[image.name]
                add_points(result, image, keypoints, point_maps, conf, indices, features)
    if result.num_points3D() == 0:
        raise FormatError(f"{out}: no keypoint of {reference}'s images has a 3D point in its point map")
    write_model(result, out)
    return result


def add_points(
    result: pycolmap.Reconstruction,
    image: pycolmap.Image,
    keypoints: np.ndarray,
    point_maps: PointMaps,
    conf: FromDepthConf,
    indices: np.ndarray | None,
    features: Path,
) -> None:
    """A 3D point for each keypoint (of `indices`, default all) where the image's point map has one."""
    if indices is None:
        indices = np.arange(len(keypoints))
    elif len(indices) and indices.max() >= len(keypoints):
        raise FormatError(f"matches of '{image.name}' index keypoints absent from {features}")
    point_map = point_maps.read(image.name)
    camera = result.cameras[image.camera_id]
    coordinates = map_coordinates(keypoints[indices], (camera.width, camera.height), point_map.points.shape[:2])
    points, valid = interpolate_points(point_map.points, coordinates, conf.nearest_fallback)
    for index, xyz in zip(indices[valid], point_map.to_world(points[valid])):
        observation = pycolmap.Track()
        observation.add_element(image.image_id, int(index))
        result.add_point3D(xyz, observation, GREY)
