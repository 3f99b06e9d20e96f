"""COLMAP -> vloc: a model folder and its images into the files `vloc prepare` writes, and the model itself (without
the queries) as the map to localize against; with its database, the keypoints, descriptors and verified matches the
model was made from, in hloc's layout and pixel convention."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pycolmap

from vloc.convert.outputs import PREPARED, Loaded, check_outputs, require_file, write_manifest
from vloc.datasets import ColmapImages, Prepared, prepare
from vloc.datasets.base import require
from vloc.datasets.generic import OUTDOOR_THRESHOLDS
from vloc.errors import FormatError, InputError
from vloc.io.h5 import atomic_writer, write_group
from vloc.io.matches import write_matches
from vloc.io.model import model_cameras, model_poses, read_model, write_model
from vloc.io.text import read_queries, write_directed_pairs, write_pairs

logger = logging.getLogger(__name__)

FEATURES, MATCHES = "feats-colmap.h5", "matches-colmap.h5"


def model_dataset(
    model_path: Path, images: Path, query_list: Path | None, query_intrinsics: Path | None, name: str
) -> tuple[Prepared, pycolmap.Reconstruction]:
    """The dataset of a model: queries are the images of `query_list` (posed images of the model: their poses are
    the ground truth) and of `query_intrinsics` (an hloc queries file: their intrinsics, and their model poses where
    they have one); the mapping images are the model's other posed images. And the model without the queries."""
    model = read_model(model_path)
    if query_list is not None:
        data = ColmapImages(model_path, images, query_list, name=name).load()
    else:
        poses = model_poses(model)
        root = require(images, "image folder")
        data = Prepared(name, root, sorted(poses), [], model_cameras(model), poses, list(OUTDOOR_THRESHOLDS))
    if query_intrinsics is not None:
        cameras = read_queries(query_intrinsics)
        data.queries += [n for n in cameras if n not in data.queries]
        data.mapping = [n for n in data.mapping if n not in cameras]
        data.cameras |= cameras
    if not data.queries:
        raise InputError(f"{model_path}: no queries; give --queries (posed images of the model) or --query-intrinsics")
    for query in data.queries:
        image = model.find_image_with_name(query)
        if image is not None and image.has_pose:
            model.deregister_frame(image.frame_id)  # the map must not see the queries
    return data, model


def import_database(
    database: Path, data: Prepared, out: Path
) -> tuple[dict[str, int], list[tuple[str, str]], list[tuple[str, str]]]:
    """Write the keypoints (moved by -0.5 to hloc's convention) and descriptors of the dataset's images, and the
    inlier matches of their verified pairs; the keypoint counts, the mapping pairs and the (query, mapping) pairs."""
    require_file(database, "COLMAP database")  # opening a missing database would create it
    wanted = set(data.mapping) | set(data.queries)
    try:
        with pycolmap.Database.open(database) as db:
            names = {image.image_id: image.name for image in db.read_all_images() if image.name in wanted}
            counts = import_keypoints(db, names, data.cameras, out / FEATURES, database)
            mapping_pairs, query_pairs = import_verified_matches(
                db, names, counts, set(data.mapping), out / MATCHES, database
            )
    except (RuntimeError, ValueError) as error:
        raise FormatError(f"{database}: not a readable COLMAP database ({error})") from None
    return counts, mapping_pairs, query_pairs


def import_keypoints(
    db: pycolmap.Database, names: dict[int, str], cameras: dict[str, pycolmap.Camera], path: Path, database: Path
) -> dict[str, int]:
    """A features file of the keypoints (hloc's convention) and descriptors of the images `names`; their counts."""
    counts: dict[str, int] = {}
    with atomic_writer(path, resume=False) as handle:
        handle.attrs["converted_from"] = str(database)
        for image_id, name in names.items():
            keypoints = db.read_keypoints(image_id)[:, :2] - 0.5
            datasets = {
                "keypoints": keypoints.astype(np.float32),
                "descriptors": descriptors_of(db.read_descriptors(image_id)),
                "image_size": np.array([cameras[name].width, cameras[name].height], np.int32),
            }
            write_group(handle, name, datasets)
            counts[name] = len(keypoints)
    return counts


def import_verified_matches(
    db: pycolmap.Database,
    names: dict[int, str],
    counts: dict[str, int],
    mapping: set[str],
    path: Path,
    database: Path,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """A matches file of the inlier matches of the verified pairs of `names` (a query first; no pair of two queries);
    the mapping pairs and the (query, mapping image) pairs."""
    mapping_pairs, query_pairs = [], []
    pair_ids, geometries = db.read_two_view_geometries()
    with atomic_writer(path, resume=False) as handle:
        handle.attrs["converted_from"] = str(database)
        for pair_id, geometry in zip(pair_ids, geometries):
            ids = pycolmap.pair_id_to_image_pair(pair_id)
            if not all(i in names for i in ids) or len(geometry.inlier_matches) == 0:
                continue
            pair, inliers = tuple(names[i] for i in ids), geometry.inlier_matches
            kind = len(mapping & set(pair))
            if kind == 0:
                continue  # two queries
            if kind == 1 and pair[0] in mapping:
                pair, inliers = pair[::-1], inliers[:, ::-1]
            for name, column in zip(pair, inliers.T):
                if column.max() >= counts[name]:
                    raise FormatError(
                        f"{database}: a verified match of {pair[0]} and {pair[1]} names keypoint {column.max()} of "
                        f"{name}, which has {counts[name]} (a corrupt database)"
                    )
            matches0 = np.full(counts[pair[0]], -1, np.int32)
            matches0[inliers[:, 0]] = inliers[:, 1]
            write_matches(handle, *pair, matches0, (matches0 > -1).astype(np.float32))
            (mapping_pairs if kind == 2 else query_pairs).append(pair)
    return mapping_pairs, query_pairs


def descriptors_of(descriptors: pycolmap.FeatureDescriptors) -> np.ndarray:
    """(D, N) descriptors of a database row: SIFT's bytes as they are; a learned extractor's float32, which COLMAP
    stores as bytes."""
    if descriptors.type in (pycolmap.FeatureExtractorType.SIFT, pycolmap.FeatureExtractorType.UNDEFINED):
        return np.ascontiguousarray(descriptors.data.T)
    return np.ascontiguousarray(descriptors.to_float().data.T)


def check_points2d(model: pycolmap.Reconstruction, counts: dict[str, int], database: Path) -> None:
    """Fail unless every image with 3D points has as many points2D as keypoints in the database."""
    for image in model.images.values():
        if image.num_points3D and image.num_points2D() != counts.get(image.name):
            raise FormatError(
                f"{database}: image '{image.name}' has {counts.get(image.name, 0)} keypoints but "
                f"{image.num_points2D()} points2D in the model: not the database the model was made from"
            )


def main(
    model_path: Path,
    out: Path,
    images: Path,
    query_list: Path | None = None,
    query_intrinsics: Path | None = None,
    database: Path | None = None,
    thresholds: list[tuple[float, float]] | None = None,
    overwrite: bool = False,
) -> dict:
    """Convert, refusing to replace earlier outputs in `out` unless `overwrite`; the manifest (also convert.json)."""
    data, model = model_dataset(model_path, images, query_list, query_intrinsics, "colmap")
    with_map = database is not None and model.num_points3D() > 0  # a map needs the keypoints its points2D are
    extra = [FEATURES, MATCHES, "pairs-mapping.txt", "pairs-query.txt"] if database is not None else []
    extra += ["model"] if with_map else []
    check_outputs(out, [*PREPARED, *extra, "convert.json"], overwrite)
    manifest = {
        "source": "colmap",
        "model": str(model_path),
        "num_mapping": len(data.mapping),
        "num_queries": len(data.queries),
        "num_ground_truth": sum(n in data.poses for n in data.queries),
    }
    if database is not None:
        counts, mapping_pairs, query_pairs = import_database(database, data, out)
        if with_map:
            check_points2d(model, counts, database)
        write_pairs(out / "pairs-mapping.txt", mapping_pairs)
        write_directed_pairs(out / "pairs-query.txt", query_pairs)
        manifest |= {
            "database": str(database),
            "conventions": "keypoints moved by -0.5 px from COLMAP's convention to hloc's",
            "features": str(out / FEATURES),
            "matches": str(out / MATCHES),
            "num_mapping_pairs": len(mapping_pairs),
            "num_query_pairs": len(query_pairs),
        }
    prepare(Loaded(data), out, thresholds)
    if with_map:
        write_model(model, out / "model")
        manifest |= {"model_out": str(out / "model"), "num_points3D": model.num_points3D()}
    write_manifest(out, manifest)
    return manifest
