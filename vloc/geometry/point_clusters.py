"""Landmarks from a sparse 3D model: clusters of near points whose local surface normals agree.

Links join points closer than a radius with agreeing local-PCA normals; connected components are cut where few
links join two parts (spectral sweep cuts), large clusters are split by k-means, small ones absorbed by a near
cluster, and clusters seen in too few images are dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.cluster.vq import kmeans2
from scipy.sparse import coo_matrix, csr_matrix, diags, tril
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import eigsh
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class PointClusterConf:
    normal_neighbours: int = 12  # points in the local PCA that estimates each 3D point's normal
    radius: float | None = None  # link distance in model units; None: radius_factor x the median distance
    radius_factor: float = 1.5  # of points to their normal_neighbours-th neighbour
    normal_cos: float = 0.3  # linked points need |cos| of their normals above this
    max_conductance: float = 0.01  # cut a cluster where links across are fewer than this x links of the smaller part
    max_points: int = 2000  # larger clusters are split by k-means on xyz
    min_points: int = 10  # smaller clusters join the cluster of their nearest point within the radius, else drop
    min_images: int = 3  # clusters seen in fewer database images are dropped
    seed: int = 0  # of the spectral cuts and k-means splits


def cluster_points(conf: PointClusterConf, xyz: np.ndarray, observations: np.ndarray) -> np.ndarray:
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
