"""ORB (oriented FAST + rotated BRIEF) from OpenCV: binary descriptors for Hamming matching."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vloc.extractors.base import Extractor, check_max_keypoints


@dataclass(frozen=True)
class ORBConf:
    max_keypoints: int = 4096
    scale_factor: float = 1.2
    num_levels: int = 8
    fast_threshold: int = 10

    def __post_init__(self) -> None:
        check_max_keypoints(self.max_keypoints)


class ORB(Extractor):
    default_conf = ORBConf()

    def _init(self, conf: ORBConf) -> None:
        self.orb = cv2.ORB_create(
            nfeatures=conf.max_keypoints,
            scaleFactor=conf.scale_factor,
            nlevels=conf.num_levels,
            fastThreshold=conf.fast_threshold,
        )

    def _forward(self, image: np.ndarray) -> dict[str, np.ndarray]:
        too_small = min(image.shape[:2]) <= 2 * self.orb.getEdgeThreshold()  # no pixel far enough from the border
        cv_keypoints, descriptors = ((), None) if too_small else self.orb.detectAndCompute(image, None)
        if descriptors is None:
            descriptors = np.zeros((0, 32), np.uint8)
        return {
            "keypoints": np.array([k.pt for k in cv_keypoints], np.float32).reshape(-1, 2),
            "descriptors": np.ascontiguousarray(descriptors.T),  # (32 bytes, N) uint8, packed bits
            "scores": np.array([k.response for k in cv_keypoints], np.float32),
            "scales": np.array([k.size for k in cv_keypoints], np.float32),
            "oris": np.radians(np.array([k.angle for k in cv_keypoints], np.float32)),
        }
