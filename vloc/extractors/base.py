"""The local-feature extractor plug-in interface."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from vloc.errors import ConfigError
from vloc.plugins import Plugin


class Extractor(Plugin):
    """A local-feature extractor: `default_conf` (a dataclass), `_init` and `_forward` on one image.

    `_forward` takes a uint8 image (H, W) or (H, W, 3) and returns `keypoints` (N, 2, pixel centres
    at integer coordinates), `descriptors` (D, N) and `scores` (N,); optionally `scales`, `oris`.
    """

    grayscale: ClassVar[bool] = True

    def _forward(self, image: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def __call__(self, image: np.ndarray) -> dict[str, np.ndarray]:
        return self._forward(image)


def check_max_keypoints(max_keypoints: int) -> None:
    """Refuse a max_keypoints below 1, which OpenCV and COLMAP would read as 'no limit' (or reject with a traceback)."""
    if max_keypoints < 1:
        raise ConfigError(f"max_keypoints must be at least 1, got {max_keypoints} (set a large number for no limit)")
