"""`gnnet`: GN-Net dense features (vloc.models.gnnet), at strides 8, 4, 2 for the default widths, from a checkpoint.

`checkpoint="shipped"` is the file shipped in the package (vloc/models/weights/gnnet.pt, trained by
pipelines/train_gnnet.sh on vloc's synthetic scenes only), "random" a network
initialised with the torch seed `seed` (plumbing tests only), anything else a checkpoint file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import ConfigError
from ..models.gnnet import GNNet, GNNetConf, load_checkpoint
from .base import DenseBackbone

SHIPPED_CHECKPOINT = Path(__file__).parents[1] / "models" / "weights" / "gnnet.pt"


@dataclass(frozen=True)
class GNNetBackboneConf:
    checkpoint: str = "shipped"  # "shipped", "random" or a checkpoint file
    seed: int = 0  # checkpoint=random only


class GNNetBackbone(DenseBackbone):
    default_conf = GNNetBackboneConf()

    def _init(self, conf: GNNetBackboneConf) -> None:
        if conf.checkpoint == "random":
            with torch.random.fork_rng(devices=[]):  # leave the caller's random stream untouched
                torch.manual_seed(conf.seed)
                self.net = GNNet(GNNetConf())
        elif conf.checkpoint == "shipped":
            if not SHIPPED_CHECKPOINT.is_file():
                raise ConfigError(
                    f"the shipped GN-Net checkpoint is missing ({SHIPPED_CHECKPOINT}; pipelines/train_gnnet.sh makes it); "
                    "pass --set model.checkpoint=PATH or model.checkpoint=random"
                )
            self.net = load_checkpoint(SHIPPED_CHECKPOINT)
        else:
            self.net = load_checkpoint(Path(conf.checkpoint))
        self.net.eval()

    def _forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        wanted = self.net.conf.in_channels
        if image.shape[1] != wanted:
            image = image.mean(1, keepdim=True) if wanted == 1 else image.expand(-1, wanted, -1, -1)
        return [features[0] for features in self.net(image)]
