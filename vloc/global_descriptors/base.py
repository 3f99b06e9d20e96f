"""The global-descriptor plug-in interface, and where learned weights are looked for."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from vloc.plugins import Plugin

if TYPE_CHECKING:
    import torch


class GlobalDescriptor(Plugin):
    """A global descriptor: `default_conf` (a dataclass), `_init` and `_forward` on one uint8 image.

    `_forward` takes an image (H, W) if `grayscale`, else RGB (H, W, 3), and returns an L2-normalised (D,) vector.
    """

    grayscale: ClassVar[bool] = False

    def _forward(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, image: np.ndarray) -> np.ndarray:
        import torch  # VLAD needs none: the learned descriptors load it

        with torch.inference_mode():
            return np.asarray(self._forward(image), np.float32)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """RGB uint8 (H, W, 3) -> float (1, 3, H, W) with ImageNet's mean and standard deviation."""
    import torch

    from vloc.models.vgg16 import IMAGENET_MEAN, IMAGENET_STD

    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255
    return ((tensor - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None])[None]
