"""A tiny map for the conversion tests, built in a few milliseconds: 4 posed mapping images on two cameras, 2 query
images, 3D points seen through hloc-convention keypoints (the model's points2D are those keypoints + 0.5, as after
vloc's or hloc's triangulation), random descriptors, matches of the mapping and query pairs, and the image files."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import cv2
import numpy as np
import pycolmap

from vloc.io.features import Features, write_features
from vloc.io.h5 import atomic_writer
from vloc.io.matches import write_matches
from vloc.io.model import build_posed_model, write_model
from vloc.io.text import write_directed_pairs, write_pairs, write_queries

MAPPING = ["db/a.png", "db/b.png", "db/c.png", "db/d.png"]
QUERIES = ["query/q1.png", "query/q2.png"]
CAMERAS = {  # round values: exact in the 10 digits of a queries file
    "wide": pycolmap.Camera(model="SIMPLE_RADIAL", width=64, height=48, params=[50.0, 32.0, 24.0, 0.015625]),
    "tele": pycolmap.Camera(model="PINHOLE", width=64, height=48, params=[80.5, 81.25, 31.5, 23.75]),
    "phone": pycolmap.Camera(model="SIMPLE_PINHOLE", width=48, height=64, params=[60.0, 24.0, 32.0]),
}
CAMERA_OF = {"db/a.png": "wide", "db/b.png": "wide", "db/c.png": "tele", "db/d.png": "tele"}
QUERY_CAMERAS = {"query/q1.png": "phone", "query/q2.png": "wide"}
DESCRIPTOR_SIZE = 8


def pose(angle: float, x: float) -> pycolmap.Rigid3d:
    """A camera at (x, 0, -4) looking along +z, turned by `angle` radians about y."""
    rotation = pycolmap.Rotation3d(np.array([0.0, angle, 0.0]))
    return pycolmap.Rigid3d(rotation, -(rotation.matrix() @ np.array([x, 0.0, -4.0])))


def build(out: Path, seed: int = 0) -> dict[str, Path]:
    """Write the tiny map into `out`; the paths of its files."""
    rng = np.random.default_rng(seed)
    paths = {
        "images": out / "images",
        "model": out / "model",
        "features": out / "feats-toy.h5",
        "queries": out / "queries.txt",
        "pairs_mapping": out / "pairs-mapping.txt",
        "matches_mapping": out / "matches-mapping.h5",
        "pairs_query": out / "pairs-query.txt",
        "matches_query": out / "matches-query.h5",
    }
    cameras = {name: CAMERAS[CAMERA_OF[name]] for name in MAPPING}
    poses = {name: pose(0.1 * i - 0.15, 0.5 * i - 0.75) for i, name in enumerate(MAPPING)}
    model = build_posed_model(cameras, poses)
    xyz = rng.uniform([-1.5, -1, -0.5], [1.5, 1, 0.5], (40, 3))
    keypoints, tracks = {}, {}
    for image in model.images.values():
        camera = model.cameras[image.camera_id]
        projected = camera.img_from_cam(image.cam_from_world() * xyz)  # COLMAP: pixel centres at +0.5
        visible = np.flatnonzero((projected > 1).all(1) & (projected < [camera.width - 1, camera.height - 1]).all(1))
        extra = rng.uniform(1, [camera.width - 1, camera.height - 1], (7, 2))  # keypoints without a 3D point
        points = np.concatenate([projected[visible], extra]).astype(np.float32)
        keypoints[image.name] = points - np.float32(0.5)  # hloc's convention
        image.points2D = pycolmap.Point2DList([pycolmap.Point2D(xy) for xy in points.astype(np.float64)])
        for index, point in enumerate(visible):
            tracks.setdefault(int(point), []).append((image.image_id, index))
    for point, track in sorted(tracks.items()):
        if len(track) >= 2:
            elements = pycolmap.Track()
            for image_id, index in track:
                elements.add_element(image_id, index)
            model.add_point3D(xyz[point], elements, rng.integers(0, 256, 3).astype(np.uint8))
    write_model(model, paths["model"])
    for name in QUERIES:
        camera = CAMERAS[QUERY_CAMERAS[name]]
        keypoints[name] = rng.uniform(0, [camera.width, camera.height], (12, 2)).astype(np.float32)
    with atomic_writer(paths["features"], resume=False) as handle:
        for name, points in keypoints.items():
            camera = CAMERAS[CAMERA_OF.get(name) or QUERY_CAMERAS[name]]
            descriptors = rng.normal(size=(DESCRIPTOR_SIZE, len(points))).astype(np.float32)
            scores = rng.uniform(size=len(points)).astype(np.float32)
            write_features(handle, name, Features(points, descriptors, scores, np.array([camera.width, camera.height])))
    mapping_pairs = list(combinations(MAPPING, 2))
    query_pairs = [(query, name) for query in QUERIES for name in MAPPING[:3]]
    write_pairs(paths["pairs_mapping"], mapping_pairs)
    write_directed_pairs(paths["pairs_query"], query_pairs)
    for pairs, matches in ((mapping_pairs, paths["matches_mapping"]), (query_pairs, paths["matches_query"])):
        with atomic_writer(matches, resume=False) as handle:
            for name0, name1 in pairs:
                num0, num1 = len(keypoints[name0]), len(keypoints[name1])
                matches0 = np.full(num0, -1)
                chosen = rng.choice(num0, min(num0, num1) // 2, replace=False)
                matches0[chosen] = rng.choice(num1, len(chosen), replace=False)
                write_matches(handle, name0, name1, matches0, rng.uniform(size=num0))
    write_queries(paths["queries"], {name: CAMERAS[QUERY_CAMERAS[name]] for name in QUERIES})
    for index, name in enumerate(MAPPING + QUERIES):
        camera = CAMERAS[CAMERA_OF.get(name) or QUERY_CAMERAS[name]]
        image = rng.integers(0, 256, (camera.height, camera.width), np.uint8)
        (paths["images"] / name).parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(paths["images"] / name), image), index
    return paths
