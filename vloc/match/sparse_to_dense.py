"""Sparse-to-dense matching (S2DHM): map keypoints with 3D points, described by the database image's dense
features, are searched for in the query's dense feature map; the hits become query keypoints and 2D-3D matches.

For each pair (query, database image): the descriptor of every keypoint of the database image that has a 3D
point is sampled from that image's dense map at the search level and correlated with every cell of the query's
map there; the best cell is kept if it passes a ratio test against its best rival outside the peak, and if searching
back from it in the database image lands near the keypoint (cycle consistency). The hit is then refined level by
level in a small window of each finer map, and to sub-cell precision by a parabola through the finest similarities.
Outputs, in hloc's layouts: a keypoints file of the queries (the hits of all their pairs, concatenated) and a
matches file whose matches0 of pair (query, db) map those keypoints to the database image's keypoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch

from vloc.config import to_json
from vloc.console import progress_bar
from vloc.dense.base import DenseLevel
from vloc.dense.interpolation import interpolate_bilinear
from vloc.dense.pyramid import ExtractDenseConf, PyramidSource, conf_by_name
from vloc.errors import ConfigError, FormatError
from vloc.io.features import FeatureReader, Features, write_features
from vloc.io.h5 import atomic_writer, list_groups_with, stamp_config
from vloc.io.matches import write_matches
from vloc.io.model import read_model
from vloc.pnp.map_index import MapIndex, database_images_by_query


@dataclass(frozen=True)
class SparseToDenseConf:
    dense: ExtractDenseConf = field(
        default_factory=lambda: conf_by_name("dsift")
    )  # used to compute pyramids on the fly
    search_stride: float = 4.0  # exhaustive correlation on the pyramid level whose stride is nearest this (pixels)
    # Keep a hit when its descriptor distance is below `ratio` times that of its best rival: the best cell outside
    # `exclusion_radius` cells of the hit (S2DHM takes the k-th best cell, k proportional to the map size, to step
    # over the peak's own neighbours; the radius says that directly and does not change with the image size).
    ratio: float = 0.7
    exclusion_radius: int = 2
    refine_radius: int = 2  # window half-size, in cells, searched on each finer level
    subcell: bool = True  # parabola fit of the similarity around the finest hit
    min_similarity: float = 0.0
    # Cycle consistency: the query hit, searched back in the database image's map at the search level, must land
    # within this many pixels of the keypoint (None: off). Removes most hits of images that do not overlap the query.
    cycle_radius: float | None = 8.0

    def __post_init__(self) -> None:
        if not 0 < self.ratio <= 1 or self.exclusion_radius < 1 or self.refine_radius < 0:
            raise ConfigError("sparse-to-dense needs 0 < ratio <= 1, exclusion_radius >= 1 and refine_radius >= 0")


def search_level(pyramid: list[DenseLevel], stride: float) -> int:
    """Index of the level whose (mean) stride is nearest `stride`."""
    return int(np.argmin([abs(float(level.stride.mean()) - stride) for level in pyramid]))


def cell_of(pixels: torch.Tensor, stride: torch.Tensor) -> torch.Tensor:
    """Continuous cell indices (col, row) of COLMAP pixels on a map of this stride."""
    return pixels / stride.to(pixels.dtype) - 0.5


def pixel_of(cells: torch.Tensor, stride: torch.Tensor) -> torch.Tensor:
    return (cells + 0.5) * stride.to(cells.dtype)


def describe(level: DenseLevel, pixels: torch.Tensor) -> torch.Tensor:
    """Unit descriptors (N, C) sampled bilinearly from a database map at COLMAP pixels."""
    cells = cell_of(pixels, level.stride).float()
    return torch.nn.functional.normalize(interpolate_bilinear(level.features, cells), dim=1)


def window_cells(centres: torch.Tensor, radius: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat indices (N, K) of the cells within `radius` (square window, clamped to the map) of integer centres
    (N, 2) = (col, row), with their columns and rows stacked as (N, K, 2)."""
    offsets = torch.arange(-radius, radius + 1)
    dy, dx = torch.meshgrid(offsets, offsets, indexing="ij")
    cols = (centres[:, :1].round().long() + dx.reshape(1, -1)).clamp(0, width - 1)
    rows = (centres[:, 1:].round().long() + dy.reshape(1, -1)).clamp(0, height - 1)
    return rows * width + cols, torch.stack([cols, rows], -1)


def exhaustive_search(
    query: DenseLevel, descriptors: torch.Tensor, conf: SparseToDenseConf
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Best cell (N, 2) = (col, row), its similarity (N,) and the ratio-test verdict (N,) for each descriptor."""
    _, height, width = query.features.shape
    similarity = descriptors @ query.features.reshape(len(query.features), -1)  # (N, H W)
    best = torch.from_numpy(similarity.numpy().argmax(1))  # NumPy's argmax: 3x faster than torch's max(1)
    best_similarity = similarity[torch.arange(len(best)), best]
    cells = torch.stack([best % width, best // width], 1)
    neighbourhood, _ = window_cells(cells, conf.exclusion_radius, height, width)
    rival = similarity.scatter_(1, neighbourhood, -1.0).amax(1)  # in place: a copy of (N, H W) took a fifth of the time
    distances = (2 - 2 * torch.stack([best_similarity, rival])).clamp(min=0).sqrt()  # of unit vectors
    accepted = (distances[0] <= conf.ratio * distances[1]) & (best_similarity > conf.min_similarity)
    return cells.float(), best_similarity, accepted


def window_search(
    query: DenseLevel, descriptors: torch.Tensor, centres: torch.Tensor, radius: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best integer cell (N, 2) within `radius` cells of each centre, and its similarity (N,)."""
    channels, height, width = query.features.shape
    flat, cells = window_cells(centres, radius, height, width)
    candidates = query.features.reshape(channels, -1).T[flat]  # (N, K, C)
    similarity = torch.einsum("nkc,nc->nk", candidates, descriptors)
    best_similarity, best = similarity.max(1)
    return cells[torch.arange(len(best)), best].float(), best_similarity


def subcell_offset(query: DenseLevel, descriptors: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """Offsets (N, 2) in [-0.5, 0.5] from integer cells to the vertex of a parabola through the 3 similarities per
    axis; 0 on the map border or where the similarity is not peaked."""
    _, height, width = query.features.shape
    flat = query.features.reshape(len(query.features), -1).T
    cells = cells.long()
    limits = torch.tensor([width - 1, height - 1])
    offsets = torch.zeros(cells.shape)
    for axis, size in enumerate((width, height)):
        step = torch.zeros(2, dtype=torch.long)
        step[axis] = 1
        minus, centre, plus = (
            (flat[(neighbour[:, 1] * width + neighbour[:, 0])] * descriptors).sum(1)
            for neighbour in (torch.minimum((cells + sign * step).clamp(min=0), limits) for sign in (-1, 0, 1))
        )
        curvature = minus - 2 * centre + plus
        inside = (cells[:, axis] > 0) & (cells[:, axis] < size - 1) & (curvature < 0)
        offsets[:, axis] = torch.where(
            inside, (0.5 * (minus - plus) / curvature.clamp(max=-1e-9)).clamp(-0.5, 0.5), 0.0
        )
    return offsets


def match_pair(
    query: list[DenseLevel],
    descriptors: list[torch.Tensor],
    conf: SparseToDenseConf,
    database_map: DenseLevel | None = None,
    keypoints: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Query pixels (N, 2, COLMAP), similarities (N,) and verdicts (N,) of N database descriptors per level.

    With the database image's search-level map and its keypoints (COLMAP pixels), hits must also be cycle-consistent.
    """
    start = search_level(query, conf.search_stride)
    cells, similarity, accepted = exhaustive_search(query[start], descriptors[start], conf)
    if conf.cycle_radius is not None and database_map is not None:
        tested = accepted.nonzero()[:, 0]  # the hits the ratio test kept
        hits = describe(query[start], pixel_of(cells[tested], query[start].stride))
        back, _, _ = exhaustive_search(database_map, hits, conf)
        accepted[tested] = (pixel_of(back, database_map.stride) - keypoints[tested]).norm(dim=1) <= conf.cycle_radius
    level = query[start]
    for finer, finer_descriptors in zip(query[start + 1 :], descriptors[start + 1 :]):
        centres = cell_of(pixel_of(cells, level.stride), finer.stride)
        cells, similarity = window_search(finer, finer_descriptors, centres, conf.refine_radius)
        level = finer
    if conf.subcell:
        cells = cells + subcell_offset(level, descriptors[-1], cells)
    return pixel_of(cells, level.stride), similarity, accepted


@dataclass
class DatabaseImage:
    """What matching needs of a database image: keypoints with a 3D point, their descriptors per level,
    the search map."""

    keypoint_indices: np.ndarray
    keypoints: torch.Tensor  # (N, 2) COLMAP pixels
    descriptors: list[torch.Tensor]
    search_map: DenseLevel


class DatabaseImages:
    """Database images prepared once and cached (a few megabytes each), as queries revisit them."""

    def __init__(self, index: MapIndex, pyramids: PyramidSource, search_stride: float):
        self.index, self.pyramids, self.search_stride = index, pyramids, search_stride
        self.entries: dict[str, DatabaseImage] = {}

    def __call__(self, name: str) -> DatabaseImage:
        if name not in self.entries:
            keypoint_indices = np.flatnonzero(self.index.keypoint_points(name) >= 0)
            points2D = self.index.images[name].points2D
            keypoints = torch.tensor(np.array([points2D[i].xy for i in keypoint_indices]).reshape(-1, 2)).float()
            pyramid = self.pyramids(name)
            descriptors = [describe(level, keypoints) for level in pyramid]
            self.entries[name] = DatabaseImage(
                keypoint_indices, keypoints, descriptors, pyramid[search_level(pyramid, self.search_stride)]
            )
        return self.entries[name]


def check_pyramids(
    query: list[DenseLevel], descriptors: list[torch.Tensor], source: Path, names: tuple[str, str]
) -> None:
    if len(query) != len(descriptors) or any(len(level.features) != d.shape[1] for level, d in zip(query, descriptors)):
        raise FormatError(
            f"{source}: images '{names[0]}' and '{names[1]}' have pyramids of different shapes (mixed extractions?)"
        )


def refuse_extracted_features(path: Path) -> None:
    """Fail rather than replace a features file that `vloc extract` wrote (its keypoints have descriptors)."""
    if not path.exists():
        return
    with FeatureReader(path) as reader:
        names = list_groups_with(reader.handle, "keypoints")
        if names and reader.handle[names[0]].get("descriptors", np.zeros((0, 0))).shape[0] > 0:
            raise ConfigError(
                f"{path} holds extracted features, which sparse-to-dense would replace: name another keypoints file"
            )


def main(
    conf: SparseToDenseConf,
    pairs_path: Path,
    model_path: Path,
    matches_out: Path,
    keypoints_out: Path,
    dense_path: Path | None = None,
    image_root: Path | None = None,
) -> tuple[Path, Path]:
    """Match every (query, database image) pair of `pairs_path`; writes the query keypoints and the matches.

    Dense pyramids come from `dense_path`, or are computed from the images below `image_root`. Both outputs are
    written whole (a query's keypoints depend on all its pairs), atomically.
    """
    refuse_extracted_features(keypoints_out)
    index = MapIndex(read_model(model_path, need_points=True))
    by_query = database_images_by_query(pairs_path, index, model_path)
    source = dense_path or image_root
    with (
        PyramidSource(conf.dense, dense_path, image_root) as pyramids,
        atomic_writer(keypoints_out, resume=False) as keypoints_file,
        atomic_writer(matches_out, resume=False) as matches_file,
        progress_bar("sparse-to-dense", sum(map(len, by_query.values()))) as advance,
    ):
        database = DatabaseImages(index, pyramids, conf.search_stride)
        for handle, path in ((keypoints_file, keypoints_out), (matches_file, matches_out)):
            stamp_config(handle, path, to_json(conf))
        for query, db_names in by_query.items():
            query_pyramid = pyramids(query)
            hits = []
            for db_name in db_names:
                image = database(db_name)
                check_pyramids(query_pyramid, image.descriptors, source, (query, db_name))
                with torch.no_grad():
                    pixels, similarity, accepted = match_pair(
                        query_pyramid, image.descriptors, conf, image.search_map, image.keypoints
                    )
                keep = accepted.numpy()
                hits.append(
                    PairHits(db_name, pixels.numpy()[keep], similarity.numpy()[keep], image.keypoint_indices[keep])
                )
                advance(1)
            write_query(keypoints_file, matches_file, query, query_pyramid, hits)
    return matches_out, keypoints_out


@dataclass
class PairHits:
    """Accepted hits of one pair: query pixels (COLMAP), similarities and the database keypoints they match."""

    db_name: str
    pixels: np.ndarray
    similarities: np.ndarray
    db_keypoints: np.ndarray


def write_query(
    keypoints_file: h5py.File, matches_file: h5py.File, query: str, pyramid: list[DenseLevel], hits: list[PairHits]
) -> None:
    """The hits of all pairs of one query as its keypoints (hloc convention: pixel centres at integers) and one
    matches0 per pair pointing its own hits to the database keypoints."""
    pixels = np.concatenate([h.pixels for h in hits] or [np.zeros((0, 2))]).astype(np.float32)
    scores = np.concatenate([h.similarities for h in hits] or [np.zeros(0)]).astype(np.float32)
    finest = pyramid[-1]
    size = np.round(np.array(finest.features.shape[:0:-1]) * finest.stride.numpy()).astype(np.int32)
    write_features(keypoints_file, query, Features(pixels - 0.5, np.zeros((0, len(pixels)), np.float32), scores, size))
    start = 0
    for pair in hits:
        block = slice(start, start + len(pair.pixels))
        matches0, scores0 = np.full(len(pixels), -1, np.int64), np.zeros(len(pixels), np.float32)
        matches0[block], scores0[block] = pair.db_keypoints, pair.similarities
        write_matches(matches_file, query, pair.db_name, matches0, scores0)
        start = block.stop
