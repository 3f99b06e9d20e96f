"""Visual vocabulary for VLAD: k-means centroids in RootSIFT space and a PCA (optionally whitening) of the database
VLADs."""

from __future__ import annotations

import io
import json
import logging
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from .errors import FormatError, InputError
from .io.images import load_for_extraction
from .utils import track

logger = logging.getLogger(__name__)
FORMAT = "vloc-vocabulary-1"


@dataclass(frozen=True)
class VocabularyConf:
    num_clusters: int = 64
    pca_dim: int | None = 512  # None: no PCA, VLADs keep num_clusters * 128 dimensions
    # Scale the principal axes to unit variance. Without it the PCA keeps the centred cosine similarities. On a small
    # map whitening magnifies the noise of the weakest axes: 7-Scenes hard (100 images) retrieves at (0.5 m, 30 deg)
    # 90.8% at rank 1 whitened, 93.8% not; but the synthetic street's night queries (80 images) 97.5% vs 92.5%.
    whiten: bool = True
    max_descriptors: int = 200_000  # random sample of database RootSIFT descriptors for k-means
    pca_images: int = 4000  # at most this many database images train the PCA
    iterations: int = 10  # Lloyd iterations
    init: Literal["kmeans++", "random"] = "kmeans++"
    seed: int = 0
    alpha: float = 0.5  # signed power normalisation of the VLADs (the PCA is learnt after it)


@dataclass(frozen=True)
class Vocabulary:
    conf: VocabularyConf
    centroids: np.ndarray  # (K, 128) float32
    pca_mean: np.ndarray | None = None  # (K * 128,)
    pca_projection: np.ndarray | None = None  # (K * 128, d), orthonormal columns
    eigenvalues: np.ndarray | None = None  # (d,), variance of the training VLADs along each column

    def project(self, vectors: np.ndarray) -> np.ndarray:
        """Centre (N, K * 128) VLADs and project them onto the principal axes, whitened if conf.whiten (not
        re-normalised); unchanged without PCA."""
        if self.pca_projection is None:
            return vectors
        projected = (vectors - self.pca_mean) @ self.pca_projection
        if self.conf.whiten:
            projected = projected / np.sqrt(self.eigenvalues + 1e-9 * self.eigenvalues.max())
        return projected.astype(np.float32)


def save_vocabulary(vocabulary: Vocabulary, path: Path) -> Path:
    """Write a vocabulary as .npz through a temporary file."""
    empty = np.zeros(0, np.float32)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        vloc_format=np.array(FORMAT),
        config=np.array(json.dumps(asdict(vocabulary.conf), sort_keys=True)),
        centroids=vocabulary.centroids.astype(np.float32),
        pca_mean=empty if vocabulary.pca_mean is None else vocabulary.pca_mean.astype(np.float32),
        pca_projection=empty if vocabulary.pca_projection is None else vocabulary.pca_projection.astype(np.float32),
        eigenvalues=empty if vocabulary.eigenvalues is None else vocabulary.eigenvalues.astype(np.float32),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, path)
    return path


def load_vocabulary(path: Path) -> Vocabulary:
    """Read a vocabulary written by `save_vocabulary`; one-line errors for a missing or malformed file."""
    if not path.is_file():
        raise InputError(f"{path}: vocabulary file not found (build one with `vloc vocab build`)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        if str(arrays.get("vloc_format")) != FORMAT:
            raise ValueError(f"not a {FORMAT} file")
        conf = VocabularyConf(**json.loads(str(arrays["config"])))
        centroids = arrays["centroids"]
        has_pca = arrays["pca_projection"].size > 0
        dim = centroids.shape[0] * centroids.shape[1]
        if centroids.shape != (conf.num_clusters, 128) or (has_pca and arrays["pca_projection"].shape[0] != dim):
            raise ValueError("inconsistent array shapes")
    except (OSError, ValueError, KeyError, TypeError) as error:  # np.load raises these for non-npz or broken files
        raise FormatError(f"{path}: not a readable vocabulary file ({error})") from None
    pca = [arrays[k] if has_pca else None for k in ("pca_mean", "pca_projection", "eigenvalues")]
    return Vocabulary(conf, centroids, *pca)


def nearest_centroid(points: torch.Tensor, centroids: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    """Index of the nearest centroid of each point (squared Euclidean distance)."""
    norms = (centroids**2).sum(1)
    return torch.cat([(norms - 2 * part @ centroids.T).argmin(1) for part in points.split(chunk)])


def kmeans(points: torch.Tensor, conf: VocabularyConf) -> torch.Tensor:
    """Lloyd's k-means from k-means++ or random seeds (fixed by `conf.seed`); empty clusters are re-seeded."""
    if len(points) < conf.num_clusters:
        raise InputError(
            f"only {len(points)} local descriptors for {conf.num_clusters} clusters; add images or lower num_clusters")
    generator = torch.Generator().manual_seed(conf.seed)
    if conf.init == "random":
        centroids = points[torch.randperm(len(points), generator=generator)[: conf.num_clusters]].clone()
    else:
        chosen = [int(torch.randint(len(points), (1,), generator=generator))]
        distances = ((points - points[chosen[0]]) ** 2).sum(1)
        for _ in range(1, conf.num_clusters):
            weights = distances if distances.sum() > 0 else torch.ones_like(distances)
            chosen.append(int(torch.multinomial(weights, 1, generator=generator)))
            distances = torch.minimum(distances, ((points - points[chosen[-1]]) ** 2).sum(1))
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


def _rootsift(image_root: Path, names: list[str], resize_max: int | None, description: str):
    from .extractors.sift import SIFT

    sift = SIFT(SIFT.default_conf)
    for name in track(names, description, len(names)):
        image, _, _ = load_for_extraction(image_root / name, True, resize_max)
        yield sift(image)["descriptors"].T.astype(np.float32)


def build(conf: VocabularyConf, image_root: Path, names: list[str], resize_max: int | None) -> Vocabulary:
    """Learn the k-means vocabulary, then the PCA of the VLADs, from the RootSIFT of `names`."""
    from .global_descriptors.vlad import vlad_vector  # vlad imports this module

    if not names:
        raise InputError(f"{image_root}: no images to build a vocabulary from")
    rng = np.random.default_rng(conf.seed)
    per_image = math.ceil(conf.max_descriptors / len(names))
    sample = []
    for descriptors in _rootsift(image_root, names, resize_max, "vocabulary: k-means sample"):
        keep = rng.choice(len(descriptors), min(per_image, len(descriptors)), replace=False)
        sample.append(descriptors[np.sort(keep)])
    centroids = kmeans(torch.from_numpy(np.concatenate(sample)), conf).numpy()
    if not conf.pca_dim:
        return Vocabulary(conf, centroids)
    pca_names = sorted(rng.choice(names, min(conf.pca_images, len(names)), replace=False).tolist())
    rootsift = _rootsift(image_root, pca_names, resize_max, "vocabulary: PCA")
    vlads = [vlad_vector(d, centroids, conf.alpha) for d in rootsift]
    return Vocabulary(conf, centroids, *learn_pca(np.stack(vlads), conf.pca_dim))


def conf_of(settings: object) -> VocabularyConf:
    """The vocabulary fields of a configuration that extends VocabularyConf (as VLAD's does)."""
    return VocabularyConf(**{f.name: getattr(settings, f.name) for f in fields(VocabularyConf)})
