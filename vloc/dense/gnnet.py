"""`gnnet`: GN-Net dense features (vloc.models.gnnet), at strides 8, 4, 2, 1 for the default widths, from a checkpoint,
plus coarser levels Gaussian-pooled from the network's coarsest (strides 32 and 16 by default).

`checkpoint="shipped"` is the file shipped in the package (vloc/models/weights/gnnet.pt, trained by
pipelines/train_gnnet.sh on vloc's synthetic scenes only), "random" a network
initialised with the torch seed `seed` (plumbing tests only), anything else a checkpoint file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from vloc.dense.base import DenseBackbone, l2_normalize
from vloc.dense.filters import blur_downsample
from vloc.errors import ConfigError
from vloc.models.checkpoint import load_checkpoint
from vloc.models.gnnet import GNNet, GNNetConf

SHIPPED_CHECKPOINT = Path(__file__).parents[1] / "models" / "weights" / "gnnet.pt"


@dataclass(frozen=True)
class GNNetBackboneConf:
    checkpoint: str = "shipped"  # "shipped", "random" or a checkpoint file
    seed: int = 0  # checkpoint=random only
    # Levels added above the network's coarsest map, each a Gaussian pooling (sigma 1 cell) of the one below at half
    # its resolution: their smooth features widen the convergence basin of refinement (the network's own levels
    # are trained to be discriminative within a few cells).
    pooled_levels: int = 2


class GNNetBackbone(DenseBackbone):
    default_conf = GNNetBackboneConf()

    def _init(self, conf: GNNetBackboneConf) -> None:
        if conf.pooled_levels < 0:
            raise ConfigError(f"gnnet pooled_levels must be at least 0, got {conf.pooled_levels}")
        if conf.checkpoint == "random":
            with torch.random.fork_rng(devices=[]):  # leave the caller's random stream untouched
                torch.manual_seed(conf.seed)
                self.net = GNNet(GNNetConf())
        elif conf.checkpoint == "shipped":
            if not SHIPPED_CHECKPOINT.is_file():
                raise ConfigError(
                    f"the shipped GN-Net checkpoint is missing ({SHIPPED_CHECKPOINT}; "
                    "pipelines/train_gnnet.sh makes it); "
                    "pass --set model.checkpoint=PATH or model.checkpoint=random"
                )
            self.net, _ = load_checkpoint(SHIPPED_CHECKPOINT, GNNet)
        else:
            self.net, _ = load_checkpoint(Path(conf.checkpoint), GNNet)
        self.net.eval()

    def _forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        wanted = self.net.conf.in_channels
        if image.shape[1] != wanted:
            image = image.mean(1, keepdim=True) if wanted == 1 else image.expand(-1, wanted, -1, -1)
        maps = [features[0] for features in self.net(image)]
        coarse, pooled = l2_normalize(maps[0]), []
        for _ in range(self.conf.pooled_levels):
            coarse = blur_downsample(coarse[None], 2, 1.0)[0]
            pooled.insert(0, coarse)
        return pooled + maps
