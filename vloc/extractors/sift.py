"""SIFT (difference of Gaussians) from OpenCV or pycolmap, with optional RootSIFT descriptors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import pycolmap

from vloc.config import added_field
from vloc.console import quiet_pycolmap
from vloc.errors import ConfigError
from vloc.extractors.base import Extractor, check_max_keypoints


@dataclass(frozen=True)
class SIFTConf:
    max_keypoints: int = 4096
    rootsift: bool = True
    backend: Literal["opencv", "pycolmap"] = "opencv"
    contrast_threshold: float = 0.02  # OpenCV's units (divided by the 3 layers per octave)
    upright: bool = False  # pycolmap backend only: OpenCV always estimates orientations
    first_octave: int = added_field(-1)  # -1: upsampled 2x first (OpenCV always does); 0: its own size (pycolmap only)

    def __post_init__(self) -> None:
        check_max_keypoints(self.max_keypoints)


def rootsift(descriptors: np.ndarray) -> np.ndarray:
    """L1-normalise, square root: the Hellinger kernel as a dot product (Arandjelovic & Zisserman)."""
    descriptors = descriptors / np.maximum(np.abs(descriptors).sum(1, keepdims=True), 1e-12)
    return np.sqrt(descriptors)


class SIFT(Extractor):
    default_conf = SIFTConf()

    def _init(self, conf: SIFTConf) -> None:
        if conf.upright and conf.backend == "opencv":
            raise ConfigError("SIFT upright=true needs backend=pycolmap (OpenCV always estimates orientations)")
        if conf.first_octave != -1 and conf.backend == "opencv":
            raise ConfigError("SIFT first_octave other than -1 needs backend=pycolmap (OpenCV always upsamples first)")
        if conf.backend == "opencv":
            self.sift = cv2.SIFT_create(
                nfeatures=conf.max_keypoints, contrastThreshold=conf.contrast_threshold, enable_precise_upscale=True
            )
        else:
            quiet_pycolmap()
            options = pycolmap.FeatureExtractionOptions()
            options.sift.max_num_features = conf.max_keypoints
            options.sift.peak_threshold = conf.contrast_threshold / 3
            options.sift.upright = conf.upright
            options.sift.first_octave = conf.first_octave
            options.sift.normalization = pycolmap.Normalization.L1_ROOT if conf.rootsift else pycolmap.Normalization.L2
            options.num_threads = 2
            self.sift = pycolmap.FeatureExtractor.create(options, pycolmap.Device.cpu)

    def _forward(self, image: np.ndarray) -> dict[str, np.ndarray]:
        if self.conf.backend == "opencv":
            cv_keypoints, descriptors = self.sift.detectAndCompute(image, None)
            if descriptors is None:
                descriptors = np.zeros((0, 128), np.float32)
            keypoints = np.array([k.pt for k in cv_keypoints], np.float32).reshape(-1, 2)
            scales = np.array([k.size for k in cv_keypoints], np.float32)
            oris = np.radians(np.array([k.angle for k in cv_keypoints], np.float32))
            scores = np.array([k.response for k in cv_keypoints], np.float32)
            descriptors = rootsift(descriptors.astype(np.float32)) if self.conf.rootsift else descriptors
        else:
            keypoints_colmap, colmap_descriptors = self.sift.extract_from_uint8_array(np.ascontiguousarray(image))
            table = np.asarray(pycolmap.keypoints_to_matrix(keypoints_colmap), np.float32).reshape(-1, 4)
            keypoints = table[:, :2] - 0.5  # COLMAP's pixel centres are at +0.5
            scales, oris = table[:, 2], table[:, 3]
            descriptors = colmap_descriptors.data  # already RootSIFT (L1_ROOT) or L2-normalised, as uint8
            scores = scales.copy()  # COLMAP reports no response; larger blobs first
        descriptors = descriptors.astype(np.float32)
        descriptors /= np.maximum(np.linalg.norm(descriptors, axis=1, keepdims=True), 1e-12)
        return {
            "keypoints": keypoints,
            "descriptors": descriptors.T.astype(np.float16),
            "scores": scores,
            "scales": scales,
            "oris": oris,
        }
