"""`vloc instances build`: global instance labels of a model's database images, for LBR-style recognition.

Labels come either from per-image masks (one RGB PNG per image, id = B*65536 + G*256 + R, 0 = none) or
from vloc's own generator, which is not LBR's: it clusters the model's 3D points into landmarks (links
between near points whose local-PCA normals agree, connected components, spectral cuts where few links
join two parts, k-means splits of large ones), labels each keypoint by its 3D point and fills a mask
from the nearest labelled keypoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pycolmap
from scipy.cluster.vq import kmeans2
from scipy.sparse import coo_matrix, csr_matrix, diags, tril
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import eigsh
from scipy.spatial import cKDTree

from .config import to_json
from .errors import FormatError, InputError
from .io.h5 import atomic_writer, stamp_config
from .io.instances import write_instance_image
from .io.model import read_model
from .utils import track


@dataclass(frozen=True)
class InstancesConf:
    normal_neighbours: int = 12  # points in the local PCA that estimates each 3D point's normal
    radius: float | None = None  # link distance in model units; None: radius_factor x the median distance
    radius_factor: float = 1.5  # of points to their normal_neighbours-th neighbour
    normal_cos: float = 0.3  # linked points need |cos| of their normals above this
    max_conductance: float = 0.01  # cut a cluster where links across are fewer than this x links of the smaller part
    max_points: int = 2000  # larger clusters are split by k-means on xyz
    min_points: int = 10  # smaller clusters join the cluster of their nearest point within the radius, else drop
    min_images: int = 3  # clusters seen in fewer database images are dropped
    fill_radius: float = 20.0  # pixels: a mask pixel takes the label of the nearest labelled keypoint this close
    seed: int = 0  # of the spectral cuts and k-means splits


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


def pixel_indices(keypoints: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the pixel holding each keypoint (floor of COLMAP coordinates), clipped to the image."""
    rows = np.clip(np.floor(keypoints[:, 1]).astype(np.int64), 0, shape[0] - 1)
    cols = np.clip(np.floor(keypoints[:, 0]).astype(np.int64), 0, shape[1] - 1)
    return rows, cols


def read_remap(path: Path) -> dict[int, int]:
    """`mask_id instance_id` per line, ids >= 0 ('#' starts a comment line)."""
    if not path.is_file():
        raise InputError(f"{path}: remap file not found")
    remap = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            raw, instance = (int(token) for token in line.split())
            if raw < 0 or instance < 0:
                raise ValueError
        except ValueError:
            raise FormatError(f"{path}:{number}: expected 'mask_id instance_id', ids >= 0, got '{line.strip()}'") from None
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
        observations = np.array([(i, e.image_id) for i, point in enumerate(points) for e in point.track.elements], np.int64)
        self.point_labels = cluster_points(conf, xyz, observations)
        self.num_instances = int(self.point_labels.max(initial=0))

    def __call__(self, image: pycolmap.Image, keypoints: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, ...]:
        point_ids = np.array([p.point3D_id if p.has_point3D() else -1 for p in image.points2D], np.int64)
        index = np.searchsorted(self.point_ids, point_ids).clip(max=len(self.point_ids) - 1)
        labels = np.where(self.point_ids[index] == point_ids, self.point_labels[index], 0).astype(np.int32)
        return labels, fill_mask(keypoints, labels, shape, self.conf.fill_radius)


def cluster_points(conf: InstancesConf, xyz: np.ndarray, observations: np.ndarray) -> np.ndarray:
    """Instance id 1..K of each 3D point (0 = dropped); `observations` are (point index, image id) rows."""
    tree = cKDTree(xyz)
    distances, neighbours = tree.query(xyz, k=list(range(1, min(conf.normal_neighbours, len(xyz)) + 1)))
    radius = conf.radius if conf.radius is not None else conf.radius_factor * float(np.median(distances[:, -1]))
    graph = link_graph(tree, point_normals(xyz, neighbours), radius, conf.normal_cos)
    labels = connected_components(graph, directed=False)[1]
    labels = split_weak_links(graph, labels, conf.max_conductance, conf.min_points, conf.seed)
    labels = split_large(labels, xyz, conf.max_points, conf.seed)
    labels = absorb_small(labels, tree, conf.min_points, radius)
    labels = drop_rarely_seen(labels, observations, conf.min_images)
    return compact(labels)


def point_normals(xyz: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Unit normal of each point: the least-variance direction of its neighbourhood."""
    local = xyz[neighbours] - xyz[neighbours].mean(axis=1, keepdims=True)
    return np.linalg.eigh(np.einsum("nki,nkj->nij", local, local))[1][:, :, 0]


def link_graph(tree: cKDTree, normals: np.ndarray, radius: float, normal_cos: float) -> csr_matrix:
    """Symmetric adjacency of points closer than `radius` whose normals agree (|cos| above `normal_cos`)."""
    pairs = tree.query_pairs(radius, output_type="ndarray")
    pairs = pairs[np.abs(np.sum(normals[pairs[:, 0]] * normals[pairs[:, 1]], axis=1)) > normal_cos]
    rows, cols = np.r_[pairs[:, 0], pairs[:, 1]], np.r_[pairs[:, 1], pairs[:, 0]]
    return coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(tree.n, tree.n)).tocsr()


def split_weak_links(
    graph: csr_matrix, labels: np.ndarray, max_conductance: float, min_points: int, seed: int
) -> np.ndarray:
    """Cut clusters in two, recursively, where few links join the parts (stray points between two buildings)."""
    labels = labels.copy()
    pending = np.unique(labels).tolist()
    while pending:
        label = pending.pop()
        members = np.flatnonzero(labels == label)
        if len(members) < 2 * min_points:
            continue
        subgraph = graph[members][:, members]
        count, pieces = connected_components(subgraph, directed=False)
        if count == 1:
            conductance, side = sweep_cut(subgraph, seed)
            if conductance >= max_conductance or not min_points <= side.sum() <= len(members) - min_points:
                continue
            pieces = side.astype(np.int64)
        new_labels = labels.max() + np.arange(1, pieces.max() + 1)
        labels[members[pieces > 0]] = new_labels[pieces[pieces > 0] - 1]
        pending += [label, *new_labels.tolist()]
    return labels


def sweep_cut(graph: csr_matrix, seed: int) -> tuple[float, np.ndarray]:
    """The least-conductance cut of a connected graph along its Fiedler vector: (conductance, one side)."""
    degree = np.asarray(graph.sum(axis=1)).ravel()
    scale = diags(1 / np.sqrt(degree))
    start = np.random.default_rng(seed).normal(size=len(degree))  # fixed start: the same cut every run
    values, vectors = eigsh(scale @ graph @ scale, k=2, which="LA", v0=start)
    order = np.argsort(vectors[:, np.argmin(values)] / np.sqrt(degree), kind="stable")
    inside = np.asarray(tril(graph[order][:, order], -1).sum(axis=1)).ravel()  # links to earlier points in the order
    volume = np.cumsum(degree[order])
    cut = volume - 2 * np.cumsum(inside)
    conductance = cut[:-1] / np.minimum(volume[:-1], volume[-1] - volume[:-1])
    best = int(np.argmin(conductance))
    side = np.zeros(len(degree), bool)
    side[order[: best + 1]] = True
    return float(conductance[best]), side


def split_large(labels: np.ndarray, xyz: np.ndarray, max_points: int, seed: int) -> np.ndarray:
    """Split each cluster of more than `max_points` points by k-means on xyz."""
    labels = labels.copy()
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) > max_points:
            parts = kmeans2(xyz[members], math.ceil(len(members) / max_points), seed=seed, minit="++")[1]
            labels[members] = np.where(parts == 0, label, labels.max() + parts)
    return labels


def absorb_small(labels: np.ndarray, tree: cKDTree, min_points: int, radius: float) -> np.ndarray:
    """Points of clusters under `min_points` join the cluster of their nearest kept point within `radius`, else -1."""
    small = np.bincount(labels)[labels] < min_points
    if not small.any() or small.all():
        return np.where(small, -1, labels)
    kept = np.flatnonzero(~small)
    distance, nearest = cKDTree(tree.data[kept]).query(tree.data[small], distance_upper_bound=radius)
    result = labels.copy()
    result[small] = np.where(np.isfinite(distance), labels[kept[nearest.clip(max=len(kept) - 1)]], -1)
    return result


def drop_rarely_seen(labels: np.ndarray, observations: np.ndarray, min_images: int) -> np.ndarray:
    """Set to -1 the clusters whose points are seen in fewer than `min_images` images."""
    seen = np.unique(np.stack([labels[observations[:, 0]], observations[:, 1]], axis=1), axis=0)[:, 0]
    counts = np.bincount(seen[seen >= 0], minlength=labels.max() + 1)
    return np.where((labels >= 0) & (counts[labels.clip(min=0)] >= min_images), labels, -1)


def compact(labels: np.ndarray) -> np.ndarray:
    """Relabel non-negative labels 1..K in order of their first point; negative ones become 0."""
    values, first = np.unique(labels[labels >= 0], return_index=True)
    lookup = np.zeros(labels.max(initial=0) + 1, np.int64)
    lookup[values[np.argsort(first)]] = np.arange(1, len(values) + 1)
    return np.where(labels >= 0, lookup[labels.clip(min=0)], 0)


def fill_mask(keypoints: np.ndarray, labels: np.ndarray, shape: tuple[int, int], fill_radius: float) -> np.ndarray:
    """(H, W) int32 map: each pixel takes the label of the nearest labelled keypoint within `fill_radius` pixels."""
    seeds = np.full(shape, 255, np.uint8)
    seed_labels = np.zeros(shape, np.int32)
    rows, cols = pixel_indices(keypoints[labels > 0], shape)
    seeds[rows, cols] = 0
    seed_labels[rows, cols] = labels[labels > 0]
    if not len(rows):
        return seed_labels
    distance, nearest = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    lookup = np.zeros(nearest.max() + 1, np.int32)
    lookup[nearest[rows, cols]] = seed_labels[rows, cols]
    return np.where(distance <= fill_radius, lookup[nearest], 0).astype(np.int32)


def agreement(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Purity, inverse purity and adjusted Rand index of a labelling against the truth; every value (0 too) is a class."""
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
