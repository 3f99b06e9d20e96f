"""Homography pairs (homographies.json): two images related by a homography, the 3x3 matrix mapping the first image's
pixels to the second's (hloc's convention: pixel centres at integers, as OpenCV warps)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vloc.errors import InputError
from vloc.io.text import read_utf8, write_text_atomic

FORMAT = "vloc-homographies-1"


@dataclass(frozen=True)
class HomographyPair:
    """Images `image0` and `image1` (names relative to the folder's images/), `H` maps image0's pixels to image1's."""

    image0: str
    image1: str
    H: np.ndarray

    def to_json(self) -> dict:
        return {"image0": self.image0, "image1": self.image1, "H": self.H.tolist()}


def write_homographies(root: Path, pairs: list[HomographyPair], config: dict) -> None:
    """Write `root`/homographies.json atomically, with the config that generated the pairs."""
    info = {"vloc_format": FORMAT, "config": config, "pairs": [pair.to_json() for pair in pairs]}
    write_text_atomic(root / "homographies.json", json.dumps(info, indent=1) + "\n")


def read_homographies(root: Path) -> list[HomographyPair]:
    """The pairs of `root`/homographies.json; one line naming the file and the entry where something is wrong."""
    path = root / "homographies.json"
    if not path.exists():
        raise InputError(f"{path}: not found (not a vloc synth-homographies folder)")
    try:
        info = json.loads(read_utf8(path))
    except ValueError as error:
        raise InputError(f"{path}: not JSON ({error})") from None
    if not isinstance(info, dict) or info.get("vloc_format") != FORMAT or not isinstance(info.get("pairs"), list):
        raise InputError(f"{path}: not a {FORMAT} file with a list of pairs")
    pairs = []
    for index, entry in enumerate(info["pairs"]):
        try:
            H = np.array(entry["H"], np.float64)
            pair = HomographyPair(str(entry["image0"]), str(entry["image1"]), H)
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{path}: pair {index} needs image0, image1 and a 3x3 H") from None
        if H.shape != (3, 3) or not np.isfinite(H).all() or abs(np.linalg.det(H)) < 1e-12:
            raise InputError(f"{path}: pair {index} ({pair.image0}, {pair.image1}): H is not an invertible 3x3 matrix")
        pairs.append(pair)
    if not pairs:
        raise InputError(f"{path}: no pairs")
    return pairs
