"""The recognizer plug-in interface: which global instances a query image sees, best first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vloc.geometry.label_maps import fill_mask
from vloc.io.features import FeatureReader, Features
from vloc.io.instances import InstanceReader
from vloc.plugins import Plugin


@dataclass
class Recognition:
    """Instances recognised in one query, best first, and a label map at the image's resolution (0 = none)."""

    instances: np.ndarray  # (M,) int64
    scores: np.ndarray  # (M,) float32, descending
    label_map: np.ndarray  # (H, W) int64


class Recognizer(Plugin):
    """Recognises the database's global instances in query images.

    Built once per map from its conf, the database labels (`instances.h5`) and, for recognizers that match
    local features, the database features; `recognize(image, features)` takes the query's RGB image (H, W, 3)
    uint8 and its local features.
    """

    def __init__(self, conf: Any, instances: InstanceReader, db_features: FeatureReader | None):
        self.instances = instances
        self.db_features = db_features
        super().__init__(conf)

    def recognize(self, image: np.ndarray, features: Features) -> Recognition:
        raise NotImplementedError


def label_map_from_keypoints(
    keypoints: np.ndarray, labels: np.ndarray, width: int, height: int, radius: float
) -> np.ndarray:
    """Dense (H, W) label map: each pixel takes the label of its nearest labelled keypoint within `radius` px.

    Keypoints follow the features-file convention (pixel centres at integer coordinates)."""
    return fill_mask(np.asarray(keypoints) + 0.5, np.asarray(labels), (height, width), radius).astype(np.int64)
