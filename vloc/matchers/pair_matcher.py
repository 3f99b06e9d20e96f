"""Matching configurations (presets) and the pair matcher that serves `vloc match` and LBR's on-demand matching."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np

from vloc.config import preset_field
from vloc.errors import ConfigError, FormatError
from vloc.io.features import FeatureReader
from vloc.io.instances import KeypointLabels
from vloc.matchers import MATCHERS, Matcher


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


def conf_by_name(name: str) -> MatchConf:
    """The match conf of the matcher preset `name`, e.g. `nn-ratio-verified`."""
    return MATCHERS.conf(name, "match", partial(MatchConf, name))


def verify_fundamental(keypoints0: np.ndarray, keypoints1: np.ndarray, conf: Verification) -> np.ndarray:
    """Inlier mask of matched keypoint pairs under a RANSAC fundamental matrix (all False below 8 matches)."""
    if len(keypoints0) < 8:
        return np.zeros(len(keypoints0), bool)
    _, mask = cv2.findFundamentalMat(
        keypoints0.astype(np.float64),
        keypoints1.astype(np.float64),
        cv2.USAC_MAGSAC,
        conf.max_error,
        conf.confidence,
        conf.max_iterations,
    )
    return np.zeros(len(keypoints0), bool) if mask is None else mask.ravel().astype(bool)


class _DescriptorCache:
    """Prepared descriptors of recently used images, so that no image is read twice in a row of pairs."""

    def __init__(self, reader: FeatureReader, matcher: Matcher, labels: KeypointLabels | None = None, size: int = 256):
        self.reader, self.matcher, self.labels = reader, matcher, labels
        self.get = lru_cache(maxsize=size)(self._prepare)

    def _prepare(self, name: str) -> tuple[np.ndarray, Any]:
        """Keypoints and prepared descriptors of one image."""
        features = self.reader.read(name)
        if (features.descriptors.dtype == np.uint8) != self.matcher.binary_descriptors:
            kind = "binary (uint8)" if features.descriptors.dtype == np.uint8 else "float"
            raise FormatError(
                f"{self.reader.path}: image '{name}' has {kind} descriptors, which matcher "
                f"{type(self.matcher).__name__} does not match (use --conf hamming for ORB, nn-ratio otherwise)"
            )
        if self.matcher.needs_keypoints:
            features.image_size = np.asarray(self.reader.required_image_size(name))
            return features.keypoints, self.matcher.prepare(features)
        if self.matcher.needs_labels:
            return features.keypoints, self.matcher.prepare(
                features.descriptors, self.labels(name, len(features.keypoints))
            )
        return features.keypoints, self.matcher.prepare(features.descriptors)


def check_pairs(pairs: list[tuple[str, str]], pairs_path: Path, reader0: FeatureReader, reader1: FeatureReader) -> None:
    """Fail naming the first image of a pair that has no features."""
    for name0, name1 in pairs:
        for name, reader in ((name0, reader0), (name1, reader1)):
            if name not in reader:
                raise FormatError(
                    f"{pairs_path}: pair ({name0}, {name1}) names image '{name}' absent from {reader.path}"
                )


def check_descriptors(
    pairs: list[tuple[str, str]], reader0: FeatureReader, reader1: FeatureReader, matcher: Matcher
) -> None:
    """Before any matching, fail naming a pair whose two images have descriptors of different dimensions (features
    of two extractors), or an image whose descriptor length or missing scores the matcher's weights cannot take."""
    size0 = {name: reader0.descriptor_size(name) for name in {name0 for name0, _ in pairs}}
    size1 = {name: reader1.descriptor_size(name) for name in {name1 for _, name1 in pairs}}
    for reader, sizes in ((reader0, size0), (reader1, size1)):
        for name, size in sizes.items():
            if matcher.descriptor_dim is not None and size != matcher.descriptor_dim:
                raise FormatError(
                    f"{reader.path}: image '{name}' has {size}-dimensional descriptors; the weights of matcher "
                    f"{type(matcher).__name__} take {matcher.descriptor_dim}"
                )
            if matcher.needs_scores and not reader.has_scores(name):
                raise FormatError(
                    f"{reader.path}: image '{name}' has no keypoint scores, an input of matcher "
                    f"{type(matcher).__name__}"
                )
    for name0, name1 in pairs:
        if size0[name0] != size1[name1]:
            raise FormatError(
                f"{reader1.path}: image '{name1}' has {size1[name1]}-dimensional descriptors, but '{name0}' of "
                f"{reader0.path} has {size0[name0]}; match features of one extractor"
            )


class MatchedPair(NamedTuple):
    """What matches.h5 stores of one pair (`write_matches`' arguments after the names)."""

    matches0: np.ndarray
    scores0: np.ndarray
    inliers0: np.ndarray | None
    extras: dict[str, np.ndarray] | None


class PairMatcher:
    """Matches an image with others from open feature files, preparing each image's descriptors once."""

    def __init__(self, conf: MatchConf, reader0: FeatureReader, reader1: FeatureReader, labels: KeypointLabels | None):
        self.conf = conf
        self.matcher = MATCHERS.get(conf.matcher)(conf.model)
        if self.matcher.needs_labels and labels is None:
            raise ConfigError(
                f"matcher '{conf.name}' needs instance labels: give the instances file of the database and the "
                "recognitions of the queries (--labels)"
            )
        for reader in {reader0, reader1}:
            self.matcher.check_extractor(reader.extractor(), reader.path)
        self.cache0 = _DescriptorCache(reader0, self.matcher, labels)
        self.cache1 = self.cache0 if reader1 is reader0 else _DescriptorCache(reader1, self.matcher, labels)

    def __call__(self, name0: str, names1: list[str]) -> list[MatchedPair]:
        """matches0, scores0, (with verification) inliers0 and the matcher's extras of `name0` with each of `names1`."""
        keypoints0, desc0 = self.cache0.get(name0)
        others = [self.cache1.get(n) for n in names1]
        results = []
        for (keypoints1, _), (matches0, scores0, extras) in zip(others, self.matcher(desc0, [d for _, d in others])):
            inliers0 = None
            if self.conf.verification.enabled:
                valid = np.flatnonzero(matches0 > -1)
                inliers0 = np.zeros(len(matches0), bool)
                inliers0[valid] = verify_fundamental(
                    keypoints0[valid], keypoints1[matches0[valid]], self.conf.verification
                )
            results.append(MatchedPair(matches0, scores0, inliers0, extras))
        return results
