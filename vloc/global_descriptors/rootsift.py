"""The RootSIFT that VLAD describes an image with: SIFT's default settings on the image as preprocessed for the global
descriptor, read from a local-features file where that file holds the same, else extracted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vloc.config import to_json
from vloc.errors import ConfigError
from vloc.extractors.sift import SIFT
from vloc.io.features import FeatureReader
from vloc.io.images import Preprocessing, fitted_size, load_for_extraction

VLAD_SIFT = SIFT.default_conf  # the SIFT whose RootSIFT VLAD describes images with
KEPT_BYTES = 2**30  # RootSIFT kept in memory between the vocabulary's passes and the extraction: about 1000 images


class RootSIFTSource:
    """(N, 128) float16 RootSIFT of the images below `image_root`, extracted once: those extracted are kept in memory
    while it holds less than KEPT_BYTES; `local_features` (of `vloc extract local --conf sift`) gives those of the
    images it holds extracted from the same pixels (at the same size), so that they are not extracted again."""

    def __init__(self, image_root: Path, preprocessing: Preprocessing, local_features: Path | None = None):
        self.image_root, self.preprocessing = image_root, preprocessing
        self.sift = SIFT(VLAD_SIFT)
        self.kept: dict[str, np.ndarray] = {}
        self.kept_bytes = 0
        self.features = None if local_features is None else FeatureReader(local_features)
        self.features_resize = None if self.features is None else _sift_resize(self.features)

    def __enter__(self) -> RootSIFTSource:
        return self

    def __exit__(self, *args) -> None:
        if self.features is not None:
            self.features.close()

    def get(self, name: str, image: np.ndarray | None = None) -> np.ndarray:
        """The RootSIFT of image `name` (preprocessed `image`, read when not given and needed), kept in memory."""
        descriptors = self.kept.get(name)
        if descriptors is None:
            descriptors = self._read(name)
            if descriptors is None:
                descriptors = self._extract(name, image)
                if self.kept_bytes < KEPT_BYTES:
                    self.kept[name] = descriptors
                    self.kept_bytes += descriptors.nbytes
        return descriptors

    def pop(self, name: str, image: np.ndarray | None = None) -> np.ndarray:
        """The RootSIFT of image `name`, no longer kept in memory."""
        descriptors = self.kept.pop(name, None)
        if descriptors is not None:
            self.kept_bytes -= descriptors.nbytes
            return descriptors
        descriptors = self._read(name)
        return self._extract(name, image) if descriptors is None else descriptors

    def _read(self, name: str) -> np.ndarray | None:
        """From the local features, where they hold the image extracted at the size VLAD extracts it."""
        if self.features is None or name not in self.features:
            return None
        size = self.features.image_size(name)
        if size is None or fitted_size(*size, self.features_resize) != fitted_size(
            *size, self.preprocessing.resize_max
        ):
            return None
        return self.features.read(name).descriptors.T

    def _extract(self, name: str, image: np.ndarray | None) -> np.ndarray:
        if image is None:
            image, _, _ = load_for_extraction(self.image_root / name, True, self.preprocessing)
        return self.sift(image)["descriptors"].T


def _sift_resize(features: FeatureReader) -> int | None:
    """The resize_max of a local-features file written by VLAD's SIFT; ConfigError if another extractor or other
    settings wrote it."""
    stamp = json.loads(features.handle.attrs.get("config", "{}"))
    if stamp.get("extractor") != "sift" or stamp.get("model") != json.loads(to_json(VLAD_SIFT)):
        raise ConfigError(
            f"{features.path}: VLAD reuses features of `vloc extract local --conf sift` with its default settings, "
            f"not those of {stamp.get('extractor', 'an unknown extractor')} {stamp.get('model', '')}".rstrip()
        )
    return stamp.get("preprocessing", {}).get("resize_max")
