"""SuperPoint (DeTone et al., 2018): learned keypoints and 256-D descriptors, vloc's network. Its released weights
(`superpoint_v1.pth`, under a non-commercial licence) are not shipped: a local file or the torch hub cache."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vloc.extractors.base import Extractor, check_max_keypoints

CHECKPOINT = "superpoint_v1.pth"  # Magic Leap's release, as the torch hub cache names it


@dataclass(frozen=True)
class SuperPointConf:
    max_keypoints: int = 2048
    detection_threshold: float = 0.005  # of the keypoint heatmap
    nms_radius: int = 4  # pixels
    remove_borders: int = 4  # pixels
    weights: str = ""  # a .pth file; empty: <torch hub dir>/checkpoints/superpoint_v1.pth

    def __post_init__(self) -> None:
        check_max_keypoints(self.max_keypoints)


class SuperPoint(Extractor):
    default_conf = SuperPointConf()
    grayscale = True

    def _init(self, conf: SuperPointConf) -> None:
        from vloc.models.checkpoint import load_into, load_state_dict, weights_path
        from vloc.models.superpoint import SuperPointNet  # torch: loaded only by the learned extractors

        self.net = SuperPointNet()
        path = weights_path(conf.weights, CHECKPOINT, "SuperPoint")
        load_into(self.net, load_state_dict(path), path, "SuperPoint")
        self.net.eval()

    def _forward(self, image: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        from vloc.models.superpoint import detect_keypoints, keypoint_heatmap, sample_descriptors

        conf = self.conf
        with torch.inference_mode():
            cell_scores, descriptor_map = self.net(torch.from_numpy(image)[None, None].float() / 255)
            keypoints, scores = detect_keypoints(
                keypoint_heatmap(cell_scores),
                conf.detection_threshold,
                conf.nms_radius,
                conf.remove_borders,
                conf.max_keypoints,
            )
            descriptors = sample_descriptors(descriptor_map, keypoints)
        return {
            "keypoints": keypoints.numpy(),  # pixel centres at integers
            "descriptors": descriptors.numpy().astype(np.float16),
            "scores": scores.numpy(),
        }
