"""kapture -> vloc: a mapping kapture (and query kaptures) into the files `vloc prepare` writes; its keypoints and
descriptors into a features file (hloc's layout and pixel convention), its matches into a matches file and pairs lists,
its 3D points and observations into a model the localizer reads."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pycolmap

from vloc.convert.outputs import (
    PREPARED,
    Loaded,
    check_outputs,
    common_image_root,
    image_sources,
    link_images,
    write_manifest,
)
from vloc.datasets import Prepared, prepare
from vloc.datasets.generic import OUTDOOR_THRESHOLDS
from vloc.errors import ConfigError, FormatError, InputError
from vloc.io.h5 import atomic_writer, write_group
from vloc.io.kapture import (
    RECONSTRUCTION,
    RECORDS_DATA,
    Kapture,
    check_reconstruction_layout,
    read_kapture,
    read_observations,
    read_points3d,
)
from vloc.io.kapture_features import DESCRIPTORS, KEYPOINTS, FeatureType, list_pairs, read_feature_type, read_matches
from vloc.io.matches import write_matches
from vloc.io.model import build_posed_model, write_model
from vloc.io.text import read_image_list, write_directed_pairs, write_pairs

logger = logging.getLogger(__name__)

# Where (0, 0) lies in the kapture keypoints, and what to add to reach hloc's convention (pixel centres at integers).
KEYPOINT_ORIGINS = {"corner": -0.5, "centre": 0.0}


@dataclass
class KaptureImages:
    """The images of the kaptures read: the map (posed), the queries, their cameras, poses and image folders."""

    mapping: list[str]
    queries: list[str]
    cameras: dict[str, pycolmap.Camera]
    poses: dict[str, pycolmap.Rigid3d]  # cam_from_world: every mapping image, the queries that have one
    roots: dict[str, Path]  # the records_data folder of each image
    kaptures: list[Kapture] = field(default_factory=list)  # the mapping kapture first
    unposed: list[str] = field(default_factory=list)  # images of the mapping kapture without a pose, not queries


@dataclass
class FeatureSources:
    """The keypoints, descriptors and matches folders to import, and the keypoints type observations name."""

    keypoints_type: str
    keypoints: list[FeatureType]
    descriptors: list[FeatureType]
    matches: list[Path]


def read_images(mapping: Path, queries: list[Path], query_list: Path | None) -> KaptureImages:
    """Mapping images: the posed images of `mapping` not in `query_list`. Queries: those listed and every image of
    the `queries` kaptures; their poses, where given, are ground truth. Other images without a pose are left out."""
    kaptures = [read_kapture(mapping), *(read_kapture(path) for path in queries)]
    listed = set(read_image_list(query_list)) if query_list is not None else set()
    images = KaptureImages([], [], {}, {}, {}, kaptures)
    where: dict[str, Path] = {}
    for kapture in kaptures:
        for record in kapture.records:
            if record.name in where:
                raise FormatError(f"{kapture.root}: image '{record.name}' is also an image of {where[record.name]}")
            where[record.name] = kapture.root
            camera = kapture.cameras[record.sensor]
            if camera is None:
                raise FormatError(f"{kapture.root}: camera '{record.sensor}' of '{record.name}' has no intrinsics")
            pose = kapture.cam_from_world(record)
            if kapture is not kaptures[0] or record.name in listed:
                images.queries.append(record.name)
            elif pose is not None:
                images.mapping.append(record.name)
            else:
                images.unposed.append(record.name)
                continue
            images.cameras[record.name] = camera
            images.roots[record.name] = kapture.root / RECORDS_DATA
            if pose is not None:
                images.poses[record.name] = pose
    unknown = sorted(name for name in listed if where.get(name) != kaptures[0].root)
    if unknown:
        raise InputError(f"{query_list}: query '{unknown[0]}' is not an image of {mapping}")
    if not images.mapping:
        raise InputError(f"{mapping}: no posed image to map with (trajectories.txt)")
    if not images.queries:
        raise InputError(f"{mapping}: no query image; give --query-kapture, or --queries naming some of its images")
    if images.unposed:
        logger.warning("%d images of %s have no pose and are not queries: left out", len(images.unposed), mapping)
    images.mapping.sort()
    return images


def find_features(
    kaptures: list[Path],
    keypoints_type: str | None = None,
    keypoints: Path | None = None,
    descriptors: Path | None = None,
    matches: tuple[Path, ...] = (),
) -> FeatureSources | None:
    """The features to import: those of `keypoints_type` (the only type there, by default) in each kapture's
    reconstruction/, or the folders given (kept outside the kaptures, as kapture-localization's local_features/);
    None where there are none."""
    for kapture in kaptures:
        check_reconstruction_layout(kapture)
    if keypoints is not None:
        keypoint_types = [read_feature_type(keypoints, KEYPOINTS)]
        name = keypoints_type or (keypoints.parent.name if keypoints.name == KEYPOINTS else keypoints.name)
        beside = keypoints.parent / DESCRIPTORS  # local_features/<type>/{keypoints,descriptors}
        if descriptors is None and keypoints.name == KEYPOINTS and (beside / f"{DESCRIPTORS}.txt").is_file():
            descriptors = beside
    else:
        name = keypoints_type or _only_type(kaptures)
        if name is None:
            if descriptors is not None or matches:
                raise ConfigError("descriptors and matches need their keypoints: give --keypoints")
            return None
        folders = [k / RECONSTRUCTION / KEYPOINTS / name for k in kaptures]
        keypoint_types = [read_feature_type(f, KEYPOINTS) for f in folders if f.is_dir()]
        if not keypoint_types:
            raise InputError(f"{kaptures[0]}: no kapture given holds keypoints of type '{name}'")
    if descriptors is not None:
        descriptor_types = [read_feature_type(descriptors, DESCRIPTORS)]
    else:
        descriptor_types = [d for k in kaptures if (d := _descriptors_of(k, name)) is not None]
    if len({(d.dtype, d.dsize) for d in descriptor_types}) > 1:
        raise FormatError(
            f"{descriptor_types[1].folder}: descriptors of another type or size than {descriptor_types[0].folder}"
        )
    matches_folders = list(matches) or [
        folder for k in kaptures if (folder := k / RECONSTRUCTION / "matches" / name).is_dir()
    ]
    return FeatureSources(name, keypoint_types, descriptor_types, matches_folders)


def _only_type(kaptures: list[Path]) -> str | None:
    """The keypoints type of the kaptures' reconstruction/ when there is one, None when there is none."""
    types = sorted(
        {
            f.name
            for k in kaptures
            for f in (k / RECONSTRUCTION / KEYPOINTS).glob("*")
            if (f / "keypoints.txt").is_file()
        }
    )
    if len(types) > 1:
        raise ConfigError(
            f"{kaptures[0]}: keypoints of several types ({', '.join(types)}); choose with --keypoints-type"
        )
    return types[0] if types else None


def _descriptors_of(kapture: Path, keypoints_type: str) -> FeatureType | None:
    """The descriptors folder of a kapture that describes `keypoints_type`: the one named so, or the only one."""
    found = [
        read_feature_type(folder, DESCRIPTORS)
        for folder in sorted((kapture / RECONSTRUCTION / DESCRIPTORS).glob("*"))
        if (folder / f"{DESCRIPTORS}.txt").is_file()
    ]
    found = [d for d in found if d.keypoints_type == keypoints_type]
    named = [d for d in found if d.folder.name == keypoints_type]
    if len(found) > 1 and not named:
        folders = ", ".join(d.folder.name for d in found)
        raise FormatError(
            f"{kapture}: several descriptors of keypoints '{keypoints_type}' ({folders}); give --descriptors"
        )
    return (named or found or [None])[0]


def read_keypoints(sources: FeatureSources, names: list[str], offset: float) -> dict[str, np.ndarray]:
    """(N, 2) float32 keypoints in hloc's convention of each image that has some, from the first folder holding it."""
    keypoints = {}
    for name in names:
        found = next((t for t in sources.keypoints if t.path(name).is_file()), None)
        if found is not None:
            keypoints[name] = (found.read(name)[:, :2].astype(np.float64) + offset).astype(np.float32)
    return keypoints


def write_features(
    path: Path, sources: FeatureSources, keypoints: dict[str, np.ndarray], cameras: dict[str, pycolmap.Camera]
) -> None:
    """A local-features file in hloc's layout: keypoints, descriptors (D, N) where the kapture has them, image size."""
    with atomic_writer(path, resume=False) as handle:
        handle.attrs["converted_from"] = ", ".join(str(t.folder) for t in sources.keypoints)
        for name, points in keypoints.items():
            datasets = {"keypoints": points, "image_size": np.array([cameras[name].width, cameras[name].height])}
            if sources.descriptors:
                found = next((t for t in sources.descriptors if t.path(name).is_file()), sources.descriptors[0])
                descriptors = found.read(name)
                if len(descriptors) != len(points):
                    raise FormatError(f"{found.path(name)}: {len(descriptors)} descriptors for {len(points)} keypoints")
                datasets["descriptors"] = np.ascontiguousarray(descriptors.T)
            write_group(handle, name, datasets)


def import_matches(
    path: Path, sources: FeatureSources, keypoints: dict[str, np.ndarray], images: KaptureImages
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Write the matches of every pair whose images both have keypoints into a matches file (one match per keypoint of
    the first image: the best scored); the mapping pairs and the (query, mapping image) pairs."""
    mapping = set(images.mapping)
    mapping_pairs, query_pairs, skipped, repeated = [], [], 0, 0
    done: set[tuple[str, str]] = set()
    with atomic_writer(path, resume=False) as handle:
        handle.attrs["converted_from"] = ", ".join(map(str, sources.matches))
        for folder in sources.matches:
            for first, second in list_pairs(folder):
                kind = len(mapping & {first, second})
                if first not in keypoints or second not in keypoints or kind == 0:
                    skipped += 1  # an image without keypoints, not in the dataset, or two queries
                    continue
                pair = (first, second) if kind == 2 or second in mapping else (second, first)
                if pair in done:
                    continue  # also in an earlier matches folder
                done.add(pair)
                matches = read_matches(folder, *pair)
                matches0, scores0, dropped = _one_match_per_keypoint(matches, *(len(keypoints[n]) for n in pair))
                if matches0 is None:
                    raise FormatError(
                        f"{folder}: a match of ({pair[0]}, {pair[1]}) indexes a keypoint that does not exist"
                    )
                repeated += dropped
                write_matches(handle, *pair, matches0, scores0)
                (mapping_pairs if kind == 2 else query_pairs).append(pair)
    if skipped:
        logger.warning(
            "%d matched pairs skipped: an image without keypoints or outside the dataset, or two queries", skipped
        )
    if repeated:
        logger.warning(
            "%d matches dropped: a keypoint of the first image matched twice (the best score kept)", repeated
        )
    return mapping_pairs, query_pairs


def _one_match_per_keypoint(matches: np.ndarray, num0: int, num1: int) -> tuple[np.ndarray | None, np.ndarray, int]:
    """hloc's matches0 (the match of each keypoint of image 0, -1 for none) and scores from kapture rows; None where
    an index is out of range; how many rows a better match of the same keypoint replaced."""
    index0, index1, scores = matches[:, 0].astype(np.int64), matches[:, 1].astype(np.int64), matches[:, 2]
    if (index0 >= num0).any() or (index1 >= num1).any():
        return None, scores, 0
    order = np.argsort(-scores, kind="stable")
    _, first = np.unique(index0[order], return_index=True)
    kept = order[first]
    matches0, scores0 = np.full(num0, -1, np.int64), np.zeros(num0, np.float32)
    matches0[index0[kept]], scores0[index0[kept]] = index1[kept], scores[kept]
    return matches0, scores0, len(index0) - len(kept)


def import_points(
    kapture: Path, keypoints_type: str, images: KaptureImages, keypoints: dict[str, np.ndarray]
) -> pycolmap.Reconstruction | None:
    """The posed model of the mapping images with the kapture's 3D points seen through keypoints of `keypoints_type`
    (points2D: every keypoint, in COLMAP's convention); None where the kapture has no points."""
    points_file, observations_file = (
        kapture / RECONSTRUCTION / "points3d.txt",
        kapture / RECONSTRUCTION / "observations.txt",
    )
    if not points_file.is_file():
        return None
    if not observations_file.is_file():
        logger.warning("%s has no observations.txt: its 3D points are not imported", kapture)
        return None
    xyz, colours = read_points3d(points_file)
    observations = read_observations(observations_file, keypoints_type, len(xyz))
    model = build_posed_model(images.cameras, {n: images.poses[n] for n in images.mapping})
    by_name = {image.name: image for image in model.images.values()}
    for name, image in by_name.items():
        points = keypoints.get(name, np.zeros((0, 2), np.float32)).astype(np.float64) + 0.5  # hloc -> COLMAP
        image.points2D = pycolmap.Point2DList([pycolmap.Point2D(xy) for xy in points])
    observed_by: dict[tuple[str, int], int] = {}
    for point, seen in sorted(observations.items()):
        track = pycolmap.Track()
        for name, index in seen:
            if name not in by_name:
                continue  # a query image, or one outside the dataset
            if index >= len(keypoints.get(name, ())):
                raise FormatError(
                    f"{observations_file}: point {point} observes keypoint {index} of '{name}', which has "
                    f"{len(keypoints.get(name, ()))}"
                )
            if (name, index) in observed_by:
                raise FormatError(
                    f"{observations_file}: keypoint {index} of '{name}' observes points "
                    f"{observed_by[name, index]} and {point}"
                )
            observed_by[name, index] = point
            track.add_element(by_name[name].image_id, index)
        if track.length():
            colour = colours[point] if colours is not None else np.zeros(3, np.uint8)
            model.add_point3D(xyz[point], track, colour)
    return model


def output_names(keypoints_type: str) -> dict[str, str]:
    """The files a kapture's features become."""
    return {
        "features": f"feats-kapture-{keypoints_type}.h5",
        "matches": f"matches-kapture-{keypoints_type}.h5",
        "pairs_mapping": "pairs-mapping.txt",
        "pairs_query": "pairs-query.txt",
        "model": "model",
    }


def main(
    mapping: Path,
    out: Path,
    queries: tuple[Path, ...] = (),
    query_list: Path | None = None,
    keypoints_type: str | None = None,
    keypoints: Path | None = None,
    descriptors: Path | None = None,
    matches: tuple[Path, ...] = (),
    keypoint_origin: str = "corner",
    thresholds: list[tuple[float, float]] | None = None,
    overwrite: bool = False,
) -> dict:
    """Convert, refusing to replace earlier outputs in `out` unless `overwrite`; the manifest (also convert.json)."""
    if keypoint_origin not in KEYPOINT_ORIGINS:
        raise ConfigError(f"keypoint origin must be one of {', '.join(KEYPOINT_ORIGINS)}, not '{keypoint_origin}'")
    offset = KEYPOINT_ORIGINS[keypoint_origin]
    images = read_images(mapping, list(queries), query_list)
    sources = find_features([mapping, *queries], keypoints_type, keypoints, descriptors, matches)
    root = common_image_root(images.roots)
    names = output_names(sources.keypoints_type) if sources else {}
    check_outputs(out, [*PREPARED, *names.values(), *([] if root else ["images"]), "convert.json"], overwrite)
    keypoints = read_keypoints(sources, images.mapping + images.queries, offset) if sources else {}
    if sources and not keypoints:
        raise InputError(f"{sources.keypoints[0].folder}: no keypoints of the dataset's images")

    if root is None:
        root = link_images(image_sources(images.roots), out / "images")
    data = Prepared(
        "kapture", root, images.mapping, images.queries, images.cameras, images.poses, list(OUTDOOR_THRESHOLDS)
    )
    prepare(Loaded(data), out, thresholds)
    manifest = {
        "source": "kapture",
        "kaptures": [str(k.root) for k in images.kaptures],
        "conventions": "kapture trajectories are cam_from_world (world to device), as vloc's; keypoints moved by "
        f"{offset:+g} px to hloc's convention (pixel centres at integers)",
        "num_mapping": len(images.mapping),
        "num_queries": len(images.queries),
        "num_ground_truth": sum(n in images.poses for n in images.queries),
        "num_left_out_unposed": len(images.unposed),
        "image_root": str(root),
    }
    if sources is not None:
        manifest |= import_features(sources, images, keypoints, out, names)
    write_manifest(out, manifest)
    return manifest


def import_features(
    sources: FeatureSources,
    images: KaptureImages,
    keypoints: dict[str, np.ndarray],
    out: Path,
    names: dict[str, str],
) -> dict:
    """Write the features (`keypoints` in hloc's convention), matches, pairs and points of a kapture; what was
    written, for the manifest."""
    written = {"keypoints_type": sources.keypoints_type, "num_images_with_keypoints": len(keypoints)}
    write_features(out / names["features"], sources, keypoints, images.cameras)
    written["features"] = str(out / names["features"])
    if sources.matches:
        mapping_pairs, query_pairs = import_matches(out / names["matches"], sources, keypoints, images)
        write_pairs(out / names["pairs_mapping"], mapping_pairs)
        write_directed_pairs(out / names["pairs_query"], query_pairs)
        written |= {
            "matches": str(out / names["matches"]),
            "num_mapping_pairs": len(mapping_pairs),
            "num_query_pairs": len(query_pairs),
        }
    model = import_points(images.kaptures[0].root, sources.keypoints_type, images, keypoints)
    if model is not None:
        write_model(model, out / names["model"])
        written |= {"model": str(out / names["model"]), "num_points3D": model.num_points3D()}
    return written
