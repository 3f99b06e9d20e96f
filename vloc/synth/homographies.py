"""`vloc synth-homographies`: real photographs and random homographic warps of them under photometric changes, so
that a matcher can be trained with exact ground truth for every keypoint (SuperGlue's and LightGlue's pre-training).
Pairs: each photograph with each of its warps, and every two warps of one photograph."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from vloc.console import track
from vloc.errors import ConfigError, InputError
from vloc.io.homographies import HomographyPair, read_homographies, write_homographies
from vloc.io.images import fitted_size, list_image_names, read_image, write_png
from vloc.io.text import read_utf8


@dataclass(frozen=True)
class HomographySynthConfig:
    """What `vloc synth-homographies` draws; photograph k of the sorted list is warped with the seed (seed, k)."""

    seed: int = 0
    warps_per_image: int = 3
    max_side: int = 640  # photographs are resized so that their longer side is at most this
    max_rotation_deg: float = 30.0
    max_scale: float = 1.5  # zoom in or out by up to this factor (log-uniform)
    max_translation: float = 0.1  # of the image's width and height
    max_perspective: float = 0.15  # each corner moves independently by up to this share of width and height
    photometric: bool = True  # gamma, contrast, brightness, blur and noise drawn per warp

    def __post_init__(self):
        if self.warps_per_image < 1 or self.max_side < 64 or self.max_scale < 1:
            raise ConfigError("synth-homographies needs warps_per_image >= 1, max_side >= 64 and max_scale >= 1")
        if not 0 <= self.max_perspective < 0.25 or not 0 <= self.max_translation < 0.5:
            raise ConfigError("synth-homographies needs 0 <= max_perspective < 0.25 and 0 <= max_translation < 0.5")


def random_homography(rng: np.random.Generator, width: int, height: int, conf: HomographySynthConfig) -> np.ndarray:
    """A homography of pixels (3x3) moving the image corners by a rotation and zoom about the centre, a shift, and an
    independent perspective jitter of each corner."""
    size = np.array([width, height], np.float64)
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64) * (size - 1)
    centre = (size - 1) / 2
    angle = np.radians(rng.uniform(-1, 1) * conf.max_rotation_deg)
    zoom = conf.max_scale ** rng.uniform(-1, 1)
    rotation = zoom * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shift = rng.uniform(-1, 1, 2) * conf.max_translation * size
    jitter = rng.uniform(-1, 1, (4, 2)) * conf.max_perspective * size
    moved = (corners - centre) @ rotation.T + centre + shift + jitter
    return cv2.getPerspectiveTransform(corners.astype(np.float32), moved.astype(np.float32)).astype(np.float64)


def photometric_change(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """`image` (uint8) under a random gamma, contrast, brightness, Gaussian blur and sensor noise."""
    values = (image.astype(np.float32) / 255) ** np.exp(rng.uniform(-0.35, 0.35))
    values = values * rng.uniform(0.7, 1.3) + rng.uniform(-0.15, 0.15)
    blur = rng.uniform(0, 1.2)
    if blur > 0.3:
        values = cv2.GaussianBlur(values, (0, 0), blur)
    values = values + rng.normal(0, rng.uniform(0, 0.02), values.shape).astype(np.float32)
    return (np.clip(values, 0, 1) * 255).round().astype(np.uint8)


def _photograph_pairs(
    folder: Path, name: str, index: int, conf: HomographySynthConfig, out: Path
) -> list[HomographyPair]:
    """Write photograph `name` of `folder` (resized) and its warps under `out`/images; their pairs."""
    rng = np.random.default_rng(np.random.SeedSequence([conf.seed, index]))
    image = read_image(folder / name, grayscale=False)
    width, height = fitted_size(image.shape[1], image.shape[0], conf.max_side)
    if (width, height) != (image.shape[1], image.shape[0]):
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    stem = f"{folder.name}/{Path(name).with_suffix('').as_posix()}"
    views, homographies = [f"{stem}.png"], [np.eye(3)]
    write_png(out / "images" / views[0], image)
    for k in range(conf.warps_per_image):
        H = random_homography(rng, width, height, conf)
        warped = cv2.warpPerspective(image, H, (width, height), flags=cv2.INTER_LINEAR)
        views.append(f"{stem}-warp{k}.png")
        homographies.append(H)
        write_png(out / "images" / views[-1], photometric_change(rng, warped) if conf.photometric else warped)
    return [
        HomographyPair(views[i], views[j], homographies[j] @ np.linalg.inv(homographies[i]))
        for i in range(len(views))
        for j in range(i + 1, len(views))
    ]


def main(conf: HomographySynthConfig, folders: list[Path], out: Path) -> list[HomographyPair]:
    """Warp every photograph below `folders` into `out`/images/<folder name>/ and write `out`/homographies.json; a
    folder already holding pairs of another config or other photographs is refused."""
    names = [folder.name for folder in folders]
    if len(set(names)) < len(names):
        raise InputError(f"synth-homographies: two photograph folders are named alike ({', '.join(names)})")
    photographs = [(folder, name) for folder in folders for name in list_image_names(folder)]
    stamp = asdict(conf) | {"photographs": [f"{folder.name}/{name}" for folder, name in photographs]}
    existing = out / "homographies.json"
    if existing.exists():
        read_homographies(out)  # a broken file: its one-line error
        if json.loads(read_utf8(existing))["config"] != stamp:
            raise ConfigError(f"{out}: holds homography pairs of another config or photographs; pick another folder")
    pairs = []
    for index, (folder, name) in enumerate(track(photographs, "synth-homographies")):
        pairs += _photograph_pairs(folder, name, index, conf, out)
    write_homographies(out, pairs, stamp)
    return pairs
