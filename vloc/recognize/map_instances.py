"""`vloc instances build`: global instance labels of a model's database images, for LBR-style recognition.

Labels come either from per-image masks (one RGB PNG per image, id = B*65536 + G*256 + R, 0 = none) or
from vloc's own generator, which is not LBR's: it clusters the model's 3D points into landmarks (links
between near points whose local-PCA normals agree, connected components, spectral cuts where few links
join two parts, k-means splits of large ones), labels each keypoint by its 3D point and fills a mask
from the nearest labelled keypoint (see vloc/geometry/point_clusters.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pycolmap

from vloc.config import to_json
from vloc.console import track
from vloc.errors import FormatError, InputError
from vloc.geometry.label_maps import fill_mask, pixel_indices
from vloc.geometry.point_clusters import PointClusterConf, cluster_points
from vloc.io.h5 import atomic_writer, stamp_config
from vloc.io.instances import write_instance_image
from vloc.io.model import read_model
from vloc.io.text import read_utf8


@dataclass(frozen=True)
class InstancesConf:
    clusters: PointClusterConf = field(default_factory=PointClusterConf)  # the generator's landmarks
    fill_radius: float = 20.0  # pixels: a mask pixel takes the label of the nearest labelled keypoint this close


def main(conf: InstancesConf, model: Path, out: Path, masks: Path | None = None, remap: Path | None = None) -> Path:
    """Label the keypoints and pixels of the model's images, from `masks` if given, else generated; write `out`."""
    reconstruction = read_model(model, need_points=masks is None)
    images = sorted((image for image in reconstruction.images.values() if image.has_pose), key=lambda image: image.name)
    cameras = {image.name: reconstruction.cameras[image.camera_id] for image in images}
    shapes = {name: (camera.height, camera.width) for name, camera in cameras.items()}
    if masks is not None:
        labeller: MaskLabeller | GeneratedLabeller = MaskLabeller(masks, read_remap(remap) if remap else None, shapes)
    else:
        labeller = GeneratedLabeller(conf, reconstruction)
    labelled = with_points = 0
    with atomic_writer(out, resume=False) as handle:
        stamp_config(handle, out, to_json(conf))
        for image in track(images, "Labelling images"):
            labels, mask = labeller(image, keypoint_array(image), shapes[image.name])
            has_point = np.array([p.has_point3D() for p in image.points2D], bool)
            labelled += int(np.count_nonzero(labels[has_point]))
            with_points += int(has_point.sum())
            present = np.union1d(np.unique(mask), np.unique(labels))
            write_instance_image(handle, image.name, labels, mask, present[present > 0])
        handle.attrs["num_instances"] = labeller.num_instances
        handle.attrs["source"] = "masks" if masks is not None else "generated"
        handle.attrs["labelled_fraction"] = labelled / max(with_points, 1)
        handle.create_dataset("instance_ids", data=np.arange(1, labeller.num_instances + 1, dtype=np.int32))
        if isinstance(labeller, MaskLabeller):
            handle.create_dataset("original_ids", data=labeller.original_ids)
    return out


def keypoint_array(image: pycolmap.Image) -> np.ndarray:
    """(N, 2) keypoints of a model image, COLMAP convention (pixel centres at +0.5)."""
    return np.array([p.xy for p in image.points2D], np.float64).reshape(-1, 2)


def read_remap(path: Path) -> dict[int, int]:
    """`mask_id instance_id` per line, ids >= 0 ('#' starts a comment line)."""
    if not path.is_file():
        raise InputError(f"{path}: remap file not found")
    remap = {}
    for number, line in enumerate(read_utf8(path).splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            raw, instance = (int(token) for token in line.split())
            if raw < 0 or instance < 0:
                raise ValueError
        except ValueError:
            raise FormatError(
                f"{path}:{number}: expected 'mask_id instance_id', ids >= 0, got '{line.strip()}'"
            ) from None
        remap[raw] = instance
    return remap


class MaskLabeller:
    """Keypoint labels and masks from one RGB PNG per image, ids remapped, then made compact 1..K."""

    def __init__(self, folder: Path, remap: dict[int, int] | None, shapes: dict[str, tuple[int, int]]):
        self.folder, self.remap = folder, remap
        raw = set()
        for name, shape in track(shapes.items(), "Reading masks", len(shapes)):
            raw.update(np.unique(self.read(name, shape)).tolist())
        self.original_ids = np.array(sorted(raw - {0}), np.int64)
        self.num_instances = len(self.original_ids)

    def read(self, name: str, shape: tuple[int, int]) -> np.ndarray:
        """The (remapped) ids of an image's mask, (H, W) int64, 0 = none."""
        path = self.folder / Path(name).with_suffix(".png")
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
        if bgr is None:
            raise InputError(f"{path}: mask not found or unreadable")
        if bgr.shape[:2] != shape:
            raise FormatError(f"{path}: mask is {bgr.shape[1]}x{bgr.shape[0]}, the camera {shape[1]}x{shape[0]}")
        ids = bgr[..., 0].astype(np.int64) * 65536 + bgr[..., 1].astype(np.int64) * 256 + bgr[..., 2]
        if self.remap is None:
            return ids
        values, inverse = np.unique(ids, return_inverse=True)
        missing = [v for v in values.tolist() if v != 0 and v not in self.remap]
        if missing:
            raise FormatError(f"{path}: mask id {missing[0]} is not in the remap file")
        return np.array([self.remap[v] if v else 0 for v in values.tolist()], np.int64)[inverse.reshape(ids.shape)]

    def __call__(self, image: pycolmap.Image, keypoints: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, ...]:
        raw = self.read(image.name, shape)
        mask = np.where(raw > 0, np.searchsorted(self.original_ids, raw) + 1, 0).astype(np.int32)
        return mask[pixel_indices(keypoints, shape)], mask


class GeneratedLabeller:
    """Keypoint labels from clusters of the model's 3D points; masks filled from the nearest labelled keypoint."""

    def __init__(self, conf: InstancesConf, model: pycolmap.Reconstruction):
        self.conf = conf
        self.point_ids = np.array(sorted(model.point3D_ids()), np.int64)
        points = [model.points3D[int(i)] for i in self.point_ids]
        xyz = np.array([point.xyz for point in points])
        observations = np.array(
            [(i, e.image_id) for i, point in enumerate(points) for e in point.track.elements], np.int64
        )
        self.point_labels = cluster_points(conf.clusters, xyz, observations)
        self.num_instances = int(self.point_labels.max(initial=0))

    def __call__(self, image: pycolmap.Image, keypoints: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, ...]:
        point_ids = np.array([p.point3D_id if p.has_point3D() else -1 for p in image.points2D], np.int64)
        index = np.searchsorted(self.point_ids, point_ids).clip(max=len(self.point_ids) - 1)
        labels = np.where(self.point_ids[index] == point_ids, self.point_labels[index], 0).astype(np.int32)
        return labels, fill_mask(keypoints, labels, shape, self.conf.fill_radius)


def agreement(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Purity, inverse purity and adjusted Rand index of a labelling against the truth;
    every value (0 too) is a class."""
    rows = np.unique(predicted, return_inverse=True)[1].ravel()
    cols = np.unique(truth, return_inverse=True)[1].ravel()
    table = np.zeros((rows.max() + 1, cols.max() + 1), np.int64)
    np.add.at(table, (rows, cols), 1)
    n = table.sum()

    def pairs(counts: np.ndarray) -> float:
        return float(np.sum(counts * (counts - 1) / 2))

    index, expected = pairs(table), pairs(table.sum(1)) * pairs(table.sum(0)) / pairs(np.array([n]))
    maximum = (pairs(table.sum(1)) + pairs(table.sum(0))) / 2
    return {
        "purity": float(table.max(1).sum() / n),
        "inverse_purity": float(table.max(0).sum() / n),
        "ari": 1.0 if maximum == expected else (index - expected) / (maximum - expected),
    }
