"""LBR's `seg` recognizer: a segmentation network trained on the map (`vloc train recognizer`) names the instances a
query sees by their presence probability and labels its pixels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vloc.errors import ConfigError, FormatError
from vloc.io.features import Features
from vloc.io.images import resize_max
from vloc.models.checkpoint import load_checkpoint
from vloc.models.recognizer import RecognizerNet
from vloc.recognizers.base import Recognition, Recognizer


@dataclass(frozen=True)
class SegConf:
    checkpoint: str = ""  # recognizer.pt written by `vloc train recognizer`
    max_side: int = 320  # the query is downscaled to this longer side (as in training)
    min_score: float = 0.2  # presence probability
    max_instances: int = 10


class Segmentation(Recognizer):
    default_conf = SegConf()

    def _init(self, conf: SegConf) -> None:
        if not conf.checkpoint:
            raise ConfigError(
                "the seg recognizer needs its checkpoint: --set checkpoint=OUT/recognizer.pt (vloc train recognizer)"
            )
        self.net, _ = load_checkpoint(Path(conf.checkpoint), RecognizerNet)
        trained, expected = self.net.conf.num_instances, self.instances.num_instances
        if trained != expected:
            raise FormatError(
                f"checkpoint {conf.checkpoint} was trained for {trained} instances, the map has {expected}"
            )

    def _input(self, image: np.ndarray) -> torch.Tensor:
        small, _ = resize_max(image, self.conf.max_side)
        return torch.from_numpy(small).permute(2, 0, 1).float()[None] / 255

    @torch.inference_mode()
    def recognize(self, image: np.ndarray, features: Features) -> Recognition:
        pixels, presence = self.net(self._input(image))
        label_map = F.interpolate(pixels, image.shape[:2], mode="bilinear", align_corners=False)[0].argmax(0)
        scores = torch.sigmoid(presence[0]).numpy()
        order = np.argsort(-scores, kind="stable")[: self.conf.max_instances]
        order = order[scores[order] >= self.conf.min_score]
        return Recognition(
            order.astype(np.int64) + 1, scores[order].astype(np.float32), label_map.numpy().astype(np.int64)
        )

    def describe(self, image: np.ndarray) -> np.ndarray:
        """The query's global descriptor (D,): the L2-normalised max pool of the encoder's features."""
        with torch.inference_mode():
            return self.net.describe(self._input(image))[0].numpy()
