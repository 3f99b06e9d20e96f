"""hloc -> vloc: an hloc outputs folder (its SfM model, feats-*.h5, pairs-*.txt and matches files) and its queries
file with intrinsics into the files `vloc prepare` writes, and the model without the queries as the map. vloc reads
hloc's features, pairs and matches files as they are; the manifest names those that go with the model."""

from __future__ import annotations

import logging
from pathlib import Path

import pycolmap

from vloc.convert.colmap_import import model_dataset
from vloc.convert.outputs import PREPARED, Loaded, check_outputs, one_of, write_manifest
from vloc.datasets import prepare
from vloc.errors import FormatError, InputError
from vloc.io.features import FeatureReader
from vloc.io.model import points2d_are_keypoints, write_model
from vloc.io.text import read_pairs

logger = logging.getLogger(__name__)

SAMPLED_IMAGES = 5  # model images whose points2D are compared with a features file's keypoints


def find_model(outputs: Path) -> Path:
    """The COLMAP model of an outputs folder (hloc's sfm_* folder): the folder itself or one below it."""
    candidates = [p for p in [outputs, *sorted(outputs.iterdir())] if p.is_dir() and _is_model(p)]
    found = one_of(candidates, outputs, "COLMAP models", "--model")
    if found is None:
        raise InputError(f"{outputs}: no COLMAP model (a folder with images.bin or images.txt); give --model")
    return found


def _is_model(folder: Path) -> bool:
    return any((folder / f"images{ext}").is_file() for ext in (".bin", ".txt"))


def find_queries(outputs: Path) -> Path:
    """The queries file with intrinsics of an outputs folder (hloc writes `*_with_intrinsics.txt`)."""
    found = one_of(sorted(outputs.glob("*with_intrinsics*.txt")), outputs, "queries files", "--queries")
    if found is None:
        raise InputError(f"{outputs}: no queries file with intrinsics (*with_intrinsics*.txt); give --queries")
    return found


def made_from(model: pycolmap.Reconstruction, features: Path) -> bool:
    """Whether the model's points2D are the keypoints of `features` (+0.5: hloc's triangulation) on a few images."""
    sampled = [image for image in model.images.values() if image.num_points3D][:SAMPLED_IMAGES]
    with FeatureReader(features) as reader:
        for image in sampled:
            if image.name not in reader or not points2d_are_keypoints(image, reader.keypoints(image.name)):
                return False
    return bool(sampled)


def files_of(outputs: Path, features: Path, queries: set[str]) -> dict[str, list[dict[str, str]]]:
    """The pairs files of an outputs folder, mapping or query pairs, each with the matches file hloc names after it
    and the features (`<features>_<matcher>_<pairs>.h5`)."""
    found: dict[str, list[dict[str, str]]] = {"mapping_pairs": [], "query_pairs": []}
    for pairs in sorted(outputs.glob("pairs-*.txt")):
        listed = read_pairs(pairs)
        kind = "query_pairs" if listed and listed[0][0] in queries else "mapping_pairs"
        matches = sorted(outputs.glob(f"{features.stem}_*_{pairs.stem}.h5"))
        found[kind].append({"pairs": str(pairs), "matches": ", ".join(map(str, matches))})
    return found


def main(
    outputs: Path,
    out: Path,
    images: Path,
    model: Path | None = None,
    queries: Path | None = None,
    features: Path | None = None,
    thresholds: list[tuple[float, float]] | None = None,
    overwrite: bool = False,
) -> dict:
    """Convert, refusing to replace earlier outputs in `out` unless `overwrite`; the manifest (also convert.json)."""
    if not outputs.is_dir():
        raise InputError(f"{outputs}: hloc outputs folder not found")
    model_path, queries_path = model or find_model(outputs), queries or find_queries(outputs)
    data, reconstruction = model_dataset(model_path, images, None, queries_path, "hloc")
    if features is not None and not made_from(reconstruction, features):
        raise FormatError(f"{features}: its keypoints are not the points2D of the model {model_path}")
    if features is None:
        features = next((f for f in sorted(outputs.glob("feats-*.h5")) if made_from(reconstruction, f)), None)
    with_map = features is not None and reconstruction.num_points3D() > 0
    check_outputs(out, [*PREPARED, *(["model"] if with_map else []), "convert.json"], overwrite)
    prepare(Loaded(data), out, thresholds)
    manifest = {
        "source": "hloc",
        "model": str(model_path),
        "queries": str(queries_path),
        "num_mapping": len(data.mapping),
        "num_queries": len(data.queries),
        "num_ground_truth": sum(n in data.poses for n in data.queries),
    }
    if with_map:
        write_model(reconstruction, out / "model")
        manifest |= {"features": str(features), "model_out": str(out / "model")}
        manifest |= files_of(outputs, features, set(data.queries))
        manifest["num_points3D"] = reconstruction.num_points3D()
    else:
        logger.warning("no features file of %s holds the keypoints of its points: no map written", model_path)
    write_manifest(out, manifest)
    return manifest
