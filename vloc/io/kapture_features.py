"""kapture's keypoints, descriptors and matches. Each type is a folder holding a one-line description
(keypoints.txt: `name, dtype, dsize`; descriptors.txt: `name, dtype, dsize, keypoints_type, metric_type`) and one raw
little-endian array per image below it (`<image path>.kpt`, `<image path>.desc`: a row per keypoint) or per image pair
(`<image0>.overlapping/<image1>.matches`, image0 < image1: float64 rows `index0, index1, score`).

Keypoint rows start with x, y; kapture's format puts the image's top-left corner at (0, 0), as COLMAP does, and its
COLMAP converters copy COLMAP's keypoints unchanged: pixel centres at +0.5, where hloc's are at integers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vloc.errors import FormatError, InputError
from vloc.io.kapture import read_table, write_table

KEYPOINTS, DESCRIPTORS = "keypoints", "descriptors"
EXTENSIONS = {KEYPOINTS: ".kpt", DESCRIPTORS: ".desc"}
MATCHES_EXTENSION, OVERLAPPING = ".matches", ".overlapping"
DTYPES = ("float32", "float64", "uint8", "int32", "float", "int")  # what kapture's own reader accepts


@dataclass(frozen=True)
class FeatureType:
    """What a keypoints or descriptors folder holds: the name it gives, the element type, the values per row, and for
    descriptors the keypoints type they describe and their metric."""

    kind: str  # KEYPOINTS or DESCRIPTORS
    folder: Path
    name: str
    dtype: np.dtype
    dsize: int
    keypoints_type: str = ""
    metric: str = ""

    def path(self, image: str) -> Path:
        """The array file of one image."""
        return self.folder / f"{image}{EXTENSIONS[self.kind]}"

    def read(self, image: str) -> np.ndarray:
        """(N, dsize) array of one image."""
        path = self.path(image)
        if not path.is_file():
            raise InputError(f"{path}: {self.kind} of image '{image}' not found")
        values = np.fromfile(path, dtype=self.dtype)
        if values.size % self.dsize:
            raise FormatError(f"{path}: {values.size} values are not rows of {self.dsize} ({self.folder.name})")
        return values.reshape(-1, self.dsize)

    def write(self, image: str, array: np.ndarray) -> None:
        if array.ndim != 2 or array.shape[1] != self.dsize:
            raise ValueError(f"{self.kind} of '{image}' must have shape (N, {self.dsize}), not {array.shape}")
        path = self.path(image)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.ascontiguousarray(array, self.dtype).tofile(path)

    def images(self) -> set[str]:
        """Every image this folder holds an array of."""
        extension = EXTENSIONS[self.kind]
        return {str(p.relative_to(self.folder))[: -len(extension)] for p in self.folder.rglob(f"*{extension}")}


def read_feature_type(folder: Path, kind: str) -> FeatureType:
    """The description of a keypoints or descriptors folder; one line naming the file when it is absent or wrong."""
    description = folder / f"{kind}.txt"
    if not folder.is_dir():
        raise InputError(f"{folder}: {kind} folder not found")
    if not description.is_file():
        raise FormatError(f"{folder}: not a kapture {kind} folder (no {kind}.txt)")
    if (folder / f"{kind}.tar").exists():
        raise FormatError(f"{folder / f'{kind}.tar'}: kapture tar archives are not read; extract it into {folder}")
    rows = read_table(description)
    expected = 3 if kind == KEYPOINTS else 5
    if len(rows) != 1 or len(rows[0][1]) != expected:
        columns = "name, dtype, dsize" + ("" if kind == KEYPOINTS else ", keypoints_type, metric_type")
        raise FormatError(f"{description}: expected one line '{columns}'")
    number, fields = rows[0]
    if fields[1] not in DTYPES:
        raise FormatError(f"{description}:{number}: dtype {fields[1]!r} is not one of {', '.join(DTYPES)}")
    try:
        dsize = int(fields[2])
    except ValueError:
        dsize = 0
    if dsize <= 0 or (kind == KEYPOINTS and dsize < 2):
        raise FormatError(f"{description}:{number}: dsize {fields[2]!r} is not a positive integer (2 or more for x, y)")
    return FeatureType(kind, folder, fields[0], np.dtype(fields[1]).newbyteorder("<"), dsize, *fields[3:])


def write_feature_type(feature_type: FeatureType) -> None:
    """Write keypoints.txt or descriptors.txt into the type's folder."""
    columns = "name, dtype, dsize" + ("" if feature_type.kind == KEYPOINTS else ", keypoints_type, metric_type")
    row = [feature_type.name, feature_type.dtype.name, feature_type.dsize]
    if feature_type.kind == DESCRIPTORS:
        row += [feature_type.keypoints_type, feature_type.metric]
    write_table(feature_type.folder / f"{feature_type.kind}.txt", columns, [row])


def matches_path(folder: Path, image0: str, image1: str) -> Path:
    """The matches file of a pair, the lexicographically smaller image first."""
    first, second = sorted((image0, image1))
    return folder / f"{first}{OVERLAPPING}" / f"{second}{MATCHES_EXTENSION}"


def list_pairs(folder: Path) -> list[tuple[str, str]]:
    """The image pairs a matches folder holds files of, sorted."""
    if not folder.is_dir():
        raise InputError(f"{folder}: matches folder not found")
    if (folder / "matches.tar").exists():
        raise FormatError(f"{folder / 'matches.tar'}: kapture tar archives are not read; extract it into {folder}")
    pairs = []
    for path in folder.rglob(f"*{MATCHES_EXTENSION}"):
        first, separator, second = str(path.relative_to(folder))[: -len(MATCHES_EXTENSION)].partition(f"{OVERLAPPING}/")
        if not separator:
            raise FormatError(f"{path}: a matches file outside an '<image>{OVERLAPPING}' folder")
        pairs.append((first, second))
    return sorted(pairs)


def read_matches(folder: Path, image0: str, image1: str) -> np.ndarray:
    """(M, 3) float64 rows `index0, index1, score` of a pair, indices into the keypoints of image0 and image1 (in that
    order, whichever order the file stores them in)."""
    path = matches_path(folder, image0, image1)
    values = np.fromfile(path, dtype="<f8")
    if values.size % 3:
        raise FormatError(f"{path}: {values.size} values are not rows of 3 (index0, index1, score)")
    matches = values.reshape(-1, 3)
    if not (np.isfinite(matches).all() and (matches[:, :2] >= 0).all() and (matches[:, :2] % 1 == 0).all()):
        raise FormatError(f"{path}: keypoint indices are not all non-negative integers, or a score is not finite")
    return matches if image0 <= image1 else matches[:, [1, 0, 2]]


def write_matches(folder: Path, image0: str, image1: str, indices: np.ndarray, scores: np.ndarray) -> None:
    """Write the matches of a pair: `indices` (M, 2) into the keypoints of image0 and image1, stored in the order
    kapture expects."""
    if image0 > image1:
        indices = indices[:, ::-1]
    path = matches_path(folder, image0, image1)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.column_stack([indices, scores]).astype("<f8").tofile(path)
