"""Match files in hloc's layout: one group per pair, `matches0` (int32, -1 unmatched) and scores."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from vloc.errors import FormatError
from vloc.io.h5 import H5Reader, require, write_group


def names_to_pair(name0: str, name1: str, separator: str = "/") -> str:
    """hloc's pair key: '/' in names becomes '-'."""
    return separator.join((name0.replace("/", "-"), name1.replace("/", "-")))


def stored_keys(name0: str, name1: str) -> list[tuple[str, bool]]:
    """Every key a file may hold the pair under, in lookup order, and whether it is stored reversed (hloc writes
    either order; its old files use '_')."""
    return [
        (names_to_pair(first, second, separator), reversed_)
        for separator in ("/", "_")
        for first, second, reversed_ in ((name0, name1, False), (name1, name0, True))
    ]


def check_pair_keys(pairs: list[tuple[str, str]], source: Path) -> None:
    """Fail naming two pairs of `source` that one matches file would store under one key (either order), since
    hloc's keys write '/' in names as '-'."""
    pair_by_key: dict[tuple[str, ...], tuple[str, str]] = {}
    for pair in pairs:
        key = tuple(sorted(name.replace("/", "-") for name in pair))
        other = pair_by_key.setdefault(key, pair)
        if sorted(other) != sorted(pair):
            raise FormatError(
                f"{source}: pairs ({other[0]}, {other[1]}) and ({pair[0]}, {pair[1]}) would share the matches key "
                f"'{'/'.join(key)}' ('/' in names is written '-', as in hloc); rename one of the images"
            )


def write_matches(
    handle: h5py.File,
    name0: str,
    name1: str,
    matches0: np.ndarray,
    scores0: np.ndarray,
    inliers0: np.ndarray | None = None,
    extras: dict[str, np.ndarray] | None = None,
) -> None:
    """Write one pair; `inliers0` marks matches that passed geometric verification, `extras` are further datasets of
    the pair (paths within its group, e.g. `relative_pose/R`)."""
    datasets = {"matches0": np.asarray(matches0, np.int32), "matching_scores0": np.asarray(scores0, np.float16)}
    if inliers0 is not None:
        datasets["inliers0"] = np.asarray(inliers0, bool)
    datasets |= extras or {}
    write_group(handle, names_to_pair(name0, name1), datasets)


class MatchReader(H5Reader):
    """Reads pairs from one file, finding a pair stored in either order (also hloc's old '_' keys)."""

    def find(self, name0: str, name1: str) -> tuple[str, bool] | None:
        """Key of the pair and whether it is stored reversed, or None."""
        return next(((key, reversed_) for key, reversed_ in stored_keys(name0, name1) if key in self.handle), None)

    def __contains__(self, pair: tuple[str, str]) -> bool:
        return self.find(*pair) is not None

    def read(
        self, name0: str, name1: str, verified_only: bool = True, num_keypoints: tuple[int, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Index pairs (M, 2) into the keypoints of name0 and name1, and their scores (M,).

        Where geometric verification recorded `inliers0`, only verified matches are returned unless `verified_only`
        is False. Given the two images' `num_keypoints`, an index beyond them is a one-line error (matches made from
        other features).
        """
        found = self.find(name0, name1)
        if found is None:
            raise FormatError(f"{self.path}: no matches for pair {name0} {name1}")
        key, reversed_ = found
        group = self.handle[key]
        require(group, ("matches0",), self.path, f"pair '{key}'")
        check_pair_datasets(group, self.path, key)
        matches0 = group["matches0"][()].astype(np.int64)
        scores0 = (
            group["matching_scores0"][()].astype(np.float32)
            if "matching_scores0" in group
            else np.ones(len(matches0), np.float32)
        )
        valid = matches0 > -1
        if verified_only and "inliers0" in group:
            valid &= group["inliers0"][()].astype(bool)
        idx0 = np.flatnonzero(valid)
        pairs = np.stack([idx0, matches0[idx0]], -1)
        if reversed_:
            pairs = pairs[:, ::-1]
        if num_keypoints is not None and len(pairs) and (pairs.max(0) >= num_keypoints).any():
            raise FormatError(
                f"{self.path}: matches of ({name0}, {name1}) index keypoints beyond the {num_keypoints[0]} and "
                f"{num_keypoints[1]} given (made from other features?)"
            )
        return np.ascontiguousarray(pairs), scores0[idx0]


def check_pair_datasets(group: h5py.Group, path: Path, key: str) -> None:
    """Fail naming the file and pair unless `matches0` is one integer per keypoint of the first image and the scores
    and inlier flags have its length."""
    matches0 = group["matches0"]
    if matches0.ndim != 1 or not np.issubdtype(matches0.dtype, np.integer):
        raise FormatError(
            f"{path}: pair '{key}' has matches0 of shape {matches0.shape} and type {matches0.dtype}, "
            "expected one integer per keypoint"
        )
    for name in ("matching_scores0", "inliers0"):
        if name in group and group[name].shape != matches0.shape:
            raise FormatError(
                f"{path}: pair '{key}' has {name} of shape {group[name].shape}, matches0 {matches0.shape}"
            )
