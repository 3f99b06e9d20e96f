"""The matcher plug-in interface."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np

from vloc.plugins import Plugin


class PairMatches(NamedTuple):
    """One pair's matches0 (N0,) int64 (-1 unmatched), scores0 (N0,), and what else the matcher records per pair
    (datasets written into the pair's group of matches.h5, e.g. IMP's iterations)."""

    matches0: np.ndarray
    scores0: np.ndarray
    extras: dict[str, np.ndarray] | None = None


class Matcher(Plugin):
    """Matches the descriptors of one image with those of several others.

    `prepare` turns stored descriptors (D, N) into what the matcher consumes (float32 arrays here; a learned matcher
    may build tensors), once per image; `_forward(desc0, [desc1, ...])` returns, per other image, matches0 (N0,)
    int64 (-1 unmatched) and scores0 (N0,), or a `PairMatches`.
    """

    binary_descriptors: ClassVar[bool] = False  # packed uint8 bit strings (ORB) rather than float vectors
    needs_labels: ClassVar[bool] = False  # `prepare(descriptors, labels)` with the keypoints' instance labels
    needs_keypoints: ClassVar[bool] = False  # `prepare(features)`: keypoints and image size too (learned matchers)
    needs_scores: ClassVar[bool] = False  # the features' detection scores are an input (IMP)
    descriptor_dim: int | None = None  # the descriptor length a trained matcher's weights take (None: any)

    def check_extractor(self, extractor: str | None, path: Path) -> None:
        """Refuse a features file (written by `extractor`, None: unknown) whose features this matcher cannot match."""

    def prepare(self, descriptors: np.ndarray) -> Any:
        return np.asarray(descriptors, np.float32)

    def _forward(self, desc0: Any, descs1: list[Any]) -> list[tuple[np.ndarray, np.ndarray] | PairMatches]:
        raise NotImplementedError

    def __call__(self, desc0: Any, descs1: list[Any]) -> list[PairMatches]:
        num0 = desc0.shape[-1]
        unmatched = PairMatches(np.full(num0, -1, np.int64), np.zeros(num0, np.float32))
        nonempty = [i for i, d in enumerate(descs1) if d.shape[-1] > 0]
        results = [unmatched] * len(descs1)
        if num0 > 0 and nonempty:
            for i, result in zip(nonempty, self._forward(desc0, [descs1[i] for i in nonempty])):
                results[i] = PairMatches(*result)
        return results
