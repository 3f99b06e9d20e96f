"""Local and global feature files in hloc's layout: one group per image name."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from vloc.errors import FormatError
from vloc.io.h5 import ImageGroupsReader, list_groups_with, open_for_reading, require, write_group


@dataclass
class Features:
    """Keypoints of one image: pixel centres at integer coordinates (hloc / OpenCV convention)."""

    keypoints: np.ndarray  # (N, 2) float32
    descriptors: np.ndarray  # (D, N)
    scores: np.ndarray  # (N,) float32
    image_size: np.ndarray  # (w, h)
    scales: np.ndarray | None = None  # (N,) in pixels of the original image
    oris: np.ndarray | None = None  # (N,) radians


def write_features(handle: h5py.File, name: str, features: Features) -> None:
    """Write one image's features into an open file."""
    datasets = {
        "keypoints": np.asarray(features.keypoints, np.float32),
        "descriptors": features.descriptors,
        "scores": np.asarray(features.scores, np.float32),
        "image_size": np.asarray(features.image_size, np.int32),
    }
    for key in ("scales", "oris"):
        if getattr(features, key) is not None:
            datasets[key] = np.asarray(getattr(features, key), np.float32)
    write_group(handle, name, datasets)


def list_images(path: Path) -> list[str]:
    """Names of the images in a local-features file."""
    with open_for_reading(path) as handle:
        return list_groups_with(handle, "keypoints")


class FeatureReader(ImageGroupsReader):
    """Reads features of many images from one file, keeping the file open."""

    dataset = "keypoints"
    contents = "features"

    def keypoints(self, name: str) -> np.ndarray:
        """The (N, 2) keypoints of image `name`; a one-line error naming the file for another shape."""
        keypoints = self.group(name)["keypoints"][()]
        if keypoints.ndim != 2 or keypoints.shape[1] != 2:
            raise FormatError(f"{self.path}: image '{name}' has keypoints of shape {keypoints.shape}, expected (N, 2)")
        return keypoints.astype(np.float32)

    def config_stamp(self) -> str | None:
        """The configuration the file was written with, as stamped; None where it has none (hloc files)."""
        stamp = self.handle.attrs.get("config")
        return None if stamp is None else str(stamp)

    def extractor(self) -> str | None:
        """The extractor that wrote the file, from its configuration stamp; None where it has none (hloc files)."""
        try:
            return json.loads(self.handle.attrs.get("config", "{}")).get("extractor")
        except (json.JSONDecodeError, AttributeError):
            return None

    def descriptor_size(self, name: str) -> int:
        """The dimension D of the (D, N) descriptors of image `name`, read without loading them."""
        group = self.group(name)
        require(group, ("descriptors",), self.path, f"image '{name}'")
        shape = group["descriptors"].shape
        if len(shape) != 2:
            raise FormatError(f"{self.path}: image '{name}' has descriptors of shape {shape}, expected (D, N)")
        return shape[0]

    def has_scores(self, name: str) -> bool:
        """Whether image `name` has detection scores (`read` gives ones where it has not)."""
        return "scores" in self.group(name)

    def image_size(self, name: str) -> tuple[int, int] | None:
        """(width, height) of the image `name` was extracted from; None where the file does not say (hloc files)."""
        group = self.group(name)
        if "image_size" not in group:
            return None
        size = group["image_size"][()]
        if size.shape != (2,) or not (size > 0).all():
            raise FormatError(f"{self.path}: image '{name}' has image_size {size.tolist()}, expected (width, height)")
        return int(size[0]), int(size[1])

    def required_image_size(self, name: str) -> tuple[int, int]:
        """(width, height) of the image `name` was extracted from; one line naming the file when it does not say."""
        size = self.image_size(name)
        if size is None:
            require(self.group(name), ("image_size",), self.path, f"image '{name}'")
        return size

    def read(self, name: str) -> Features:
        group = self.group(name)
        require(group, ("keypoints", "descriptors"), self.path, f"image '{name}'")
        keypoints = self.keypoints(name)
        descriptors = group["descriptors"][()]
        if descriptors.ndim != 2 or descriptors.shape[1] != len(keypoints):
            raise FormatError(
                f"{self.path}: image '{name}' has {len(keypoints)} keypoints "
                f"but descriptors of shape {descriptors.shape}"
            )
        scores = group["scores"][()] if "scores" in group else np.ones(len(keypoints), np.float32)
        if scores.shape != (len(keypoints),):
            raise FormatError(
                f"{self.path}: image '{name}' has {len(keypoints)} keypoints but scores of shape {scores.shape}"
            )
        size = group["image_size"][()] if "image_size" in group else np.zeros(2, np.int32)
        return Features(keypoints, descriptors, scores.astype(np.float32), size)
