"""Learning a VLAD vocabulary: k-means centroids of database RootSIFT, then a PCA of the database VLADs."""

from __future__ import annotations

import logging
import math

import numpy as np
import torch

from vloc.console import track
from vloc.errors import InputError
from vloc.global_descriptors.rootsift import RootSIFTSource
from vloc.global_descriptors.vlad import vlad_vector
from vloc.global_descriptors.vocabulary import Vocabulary, VocabularyConf

logger = logging.getLogger(__name__)


def nearest_centroid(points: torch.Tensor, centroids: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    """Index of the nearest centroid of each point (squared Euclidean distance)."""
    norms = (centroids**2).sum(1)
    return torch.cat([(norms - 2 * part @ centroids.T).argmin(1) for part in points.split(chunk)])


def _squared_distances(points: torch.Tensor, point: torch.Tensor, buffer: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distance of each of `points` to `point`, through a reused buffer of their shape (six times
    faster than allocating the differences on every call, and the same numbers)."""
    torch.sub(points, point, out=buffer)
    return buffer.square_().sum(1)


def kmeans(points: torch.Tensor, conf: VocabularyConf) -> torch.Tensor:
    """Lloyd's k-means from k-means++ or random seeds (fixed by `conf.seed`); empty clusters are re-seeded."""
    if len(points) < conf.num_clusters:
        raise InputError(
            f"only {len(points)} local descriptors for {conf.num_clusters} clusters; add images or lower num_clusters"
        )
    generator = torch.Generator().manual_seed(conf.seed)
    if conf.init == "random":
        centroids = points[torch.randperm(len(points), generator=generator)[: conf.num_clusters]].clone()
    else:
        chosen, buffer = [int(torch.randint(len(points), (1,), generator=generator))], torch.empty_like(points)
        distances = _squared_distances(points, points[chosen[0]], buffer)
        for _ in range(1, conf.num_clusters):
            weights = distances if distances.sum() > 0 else torch.ones_like(distances)
            chosen.append(int(torch.multinomial(weights, 1, generator=generator)))
            distances = torch.minimum(distances, _squared_distances(points, points[chosen[-1]], buffer))
        centroids = points[chosen].clone()
    for _ in range(conf.iterations):
        assignment = nearest_centroid(points, centroids)
        counts = torch.bincount(assignment, minlength=conf.num_clusters)
        sums = torch.zeros_like(centroids).index_add_(0, assignment, points)
        empty = counts == 0
        centroids = sums / counts.clamp(min=1)[:, None]
        if empty.any():
            centroids[empty] = points[torch.randint(len(points), (int(empty.sum()),), generator=generator)]
    return centroids


def learn_pca(vectors: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, (D, d) projection and eigenvalues of the top d = min(dim, N - 1, D) principal axes of (N, D) vectors."""
    data = torch.from_numpy(vectors.astype(np.float64))
    mean = data.mean(0)
    _, singular, right = torch.linalg.svd(data - mean, full_matrices=False)
    dim_kept = min(dim, len(vectors) - 1, vectors.shape[1])
    if dim_kept < dim:
        logger.warning("PCA keeps %d dimensions, not %d: only %d training vectors", dim_kept, dim, len(vectors))
    eigenvalues = singular[:dim_kept] ** 2 / max(len(vectors) - 1, 1)
    return mean.numpy(), right[:dim_kept].T.contiguous().numpy(), eigenvalues.numpy()


def _rootsift(source: RootSIFTSource, names: list[str], description: str):
    """(N, 128) float32 RootSIFT of each image, under a progress bar."""
    for name in track(names, description, len(names)):
        yield source.get(name).astype(np.float32)


def build(conf: VocabularyConf, names: list[str], rootsift: RootSIFTSource) -> Vocabulary:
    """Learn the k-means vocabulary, then the PCA of the VLADs, from the RootSIFT of `names` (which `rootsift` keeps
    in memory, for the extraction that follows)."""
    if not names:
        raise InputError(f"{rootsift.image_root}: no images to build a vocabulary from")
    rng = np.random.default_rng(conf.seed)
    per_image = math.ceil(conf.max_descriptors / len(names))
    sample = []
    for descriptors in _rootsift(rootsift, names, "vocabulary: k-means sample"):
        keep = rng.choice(len(descriptors), min(per_image, len(descriptors)), replace=False)
        sample.append(descriptors[np.sort(keep)])
    centroids = kmeans(torch.from_numpy(np.concatenate(sample)), conf).numpy()
    if not conf.pca_dim:
        return Vocabulary(conf, centroids)
    pca_names = sorted(rng.choice(names, min(conf.pca_images, len(names)), replace=False).tolist())
    vlads = [vlad_vector(d, centroids, conf.alpha) for d in _rootsift(rootsift, pca_names, "vocabulary: PCA")]
    return Vocabulary(conf, centroids, *learn_pca(np.stack(vlads), conf.pca_dim))
