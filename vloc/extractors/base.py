"""The local-feature extractor plug-in interface."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

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
