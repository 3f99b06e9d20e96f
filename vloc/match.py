"""`vloc match`: match the local features of every listed pair, optionally with geometric verification."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from .config import choose, preset_field, to_json
from .errors import ConfigError, FormatError
from .io.features import FeatureReader
from .io.h5 import atomic_writer, stamp_config
from .io.instances import KeypointLabels
from .io.matches import MatchReader, write_matches
from .io.text import read_pairs
from .matchers import Matcher, get_matcher
from .matchers.hamming import Hamming
from .matchers.instance_nn import InstanceNearestNeighbor
from .matchers.nearest_neighbor import NearestNeighbor, NearestNeighborConf
from .utils import progress_bar


@dataclass(frozen=True)
class Verification:
    """Fundamental-matrix RANSAC (OpenCV MAGSAC++) over each pair's matches; inliers recorded as `inliers0`."""

    enabled: bool = False
    max_error: float = 2.0  # pixels
    confidence: float = 0.9999
    max_iterations: int = 10000


@dataclass(frozen=True)
class MatchConf:
    name: str = preset_field()
    matcher: str = preset_field()
    model: Any = preset_field()
    verification: Verification = field(default_factory=Verification)

    def output_name(self, pairs: Path) -> str:
        """Self-describing file name, e.g. matches-nn-ratio_pairs-exhaustive.h5."""
        return f"matches-{self.name}_{pairs.stem}.h5"


CONFS = {
    "nn-ratio": lambda: MatchConf("nn-ratio", "nearest_neighbor", NearestNeighbor.default_conf),
    "nn-mutual": lambda: MatchConf("nn-mutual", "nearest_neighbor", NearestNeighborConf(ratio_threshold=None)),
    "nn-ratio-verified": lambda: MatchConf(
        "nn-ratio-verified", "nearest_neighbor", NearestNeighborConf(ratio_threshold=0.8), Verification(enabled=True)
    ),
    "hamming": lambda: MatchConf("hamming", "hamming", Hamming.default_conf),
    "nnml": lambda: MatchConf("nnml", "instance_nn", InstanceNearestNeighbor.default_conf),
}


def conf_by_name(name: str) -> MatchConf:
    return choose(CONFS, name, "match")


def verify_fundamental(keypoints0: np.ndarray, keypoints1: np.ndarray, conf: Verification) -> np.ndarray:
    """Inlier mask of matched keypoint pairs under a RANSAC fundamental matrix (all False below 8 matches)."""
    if len(keypoints0) < 8:
        return np.zeros(len(keypoints0), bool)
    _, mask = cv2.findFundamentalMat(
        keypoints0.astype(np.float64), keypoints1.astype(np.float64), cv2.USAC_MAGSAC,
        conf.max_error, conf.confidence, conf.max_iterations,
    )
    return np.zeros(len(keypoints0), bool) if mask is None else mask.ravel().astype(bool)


class _DescriptorCache:
    """Prepared descriptors of recently used images, so that no image is read twice in a row of pairs."""

    def __init__(self, reader: FeatureReader, matcher: Matcher, labels: KeypointLabels | None = None, size: int = 256):
        self.reader, self.matcher, self.labels, self.size = reader, matcher, labels, size
        self.entries: OrderedDict[str, tuple[np.ndarray, torch.Tensor]] = OrderedDict()

    def get(self, name: str) -> tuple[np.ndarray, torch.Tensor]:
        if name not in self.entries:
            features = self.reader.read(name)
            if (features.descriptors.dtype == np.uint8) != self.matcher.binary_descriptors:
                kind = "binary (uint8)" if features.descriptors.dtype == np.uint8 else "float"
                raise FormatError(
                    f"{self.reader.path}: image '{name}' has {kind} descriptors, which matcher "
                    f"{type(self.matcher).__name__} does not match (use --conf hamming for ORB, nn-ratio otherwise)"
                )
            if self.matcher.needs_labels:
                prepared = self.matcher.prepare(features.descriptors, self.labels(name, len(features.keypoints)))
            else:
                prepared = self.matcher.prepare(features.descriptors)
            self.entries[name] = (features.keypoints, prepared)
            if len(self.entries) > self.size:
                self.entries.popitem(last=False)
        self.entries.move_to_end(name)
        return self.entries[name]


def check_pairs(pairs: list[tuple[str, str]], pairs_path: Path, reader0: FeatureReader, reader1: FeatureReader) -> None:
    """Fail naming the first image of a pair that has no features."""
    for name0, name1 in pairs:
        for name, reader in ((name0, reader0), (name1, reader1)):
            if name not in reader:
                raise FormatError(f"{pairs_path}: pair ({name0}, {name1}) names image '{name}' absent from {reader.path}")


class PairMatcher:
    """Matches an image with others from open feature files, preparing each image's descriptors once."""

    def __init__(self, conf: MatchConf, reader0: FeatureReader, reader1: FeatureReader, labels: KeypointLabels | None):
        self.conf = conf
        self.matcher = get_matcher(conf.matcher)(conf.model)
        if self.matcher.needs_labels and labels is None:
            raise ConfigError(
                f"matcher '{conf.name}' needs instance labels: give the instances file of the database and the "
                "recognitions of the queries (--labels)"
            )
        self.cache0 = _DescriptorCache(reader0, self.matcher, labels)
        self.cache1 = self.cache0 if reader1 is reader0 else _DescriptorCache(reader1, self.matcher, labels)

    def __call__(self, name0: str, names1: list[str]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        """matches0, scores0 and (with verification) inliers0 of `name0` with each of `names1`."""
        keypoints0, desc0 = self.cache0.get(name0)
        others = [self.cache1.get(n) for n in names1]
        results = []
        for (keypoints1, _), (matches0, scores0) in zip(others, self.matcher(desc0, [desc for _, desc in others])):
            inliers0 = None
            if self.conf.verification.enabled:
                valid = np.flatnonzero(matches0 > -1)
                inliers0 = np.zeros(len(matches0), bool)
                inliers0[valid] = verify_fundamental(keypoints0[valid], keypoints1[matches0[valid]], self.conf.verification)
            results.append((matches0, scores0, inliers0))
        return results


def main(
    conf: MatchConf,
    pairs_path: Path,
    features: Path,
    out: Path,
    features_ref: Path | None = None,
    overwrite: bool = False,
    labels: list[Path] | None = None,
) -> Path:
    """Match every pair of `pairs_path`; the second image's features come from `features_ref` if given.

    Instance-wise matchers (nnml) read keypoint labels from `labels`: instance and recognitions files.
    """
    pairs = read_pairs(pairs_path)
    with contextlib.ExitStack() as stack:
        reader0 = stack.enter_context(FeatureReader(features))
        reader1 = reader0 if features_ref is None else stack.enter_context(FeatureReader(features_ref))
        label_source = stack.enter_context(KeypointLabels(labels)) if labels else None
        matcher = PairMatcher(conf, reader0, reader1, label_source)
        check_pairs(pairs, pairs_path, reader0, reader1)
        done: set[tuple[str, str]] = set()
        if out.exists() and not overwrite:
            with MatchReader(out) as existing:
                done = {p for p in pairs if p in existing}
        todo = sorted({p for p in pairs if p not in done})
        by_first: dict[str, list[str]] = {}
        for name0, name1 in todo:
            by_first.setdefault(name0, []).append(name1)
        with atomic_writer(out, resume=not overwrite) as handle, progress_bar("match", len(todo)) as advance:
            stamp_config(handle, out, to_json(conf))
            for name0, names1 in by_first.items():
                for name1, (matches0, scores0, inliers0) in zip(names1, matcher(name0, names1)):
                    write_matches(handle, name0, name1, matches0, scores0, inliers0)
                advance(len(names1))
    return out
