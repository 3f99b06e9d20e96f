"""GN-Net (von Stumberg et al.): a compact UNet-like CNN giving a coarse-to-fine pyramid of dense feature maps.

The encoder has one level per width in `channels` (strides 1, 2, 4, ...; two 3x3 conv + BatchNorm + ReLU blocks,
max-pool between levels); the decoder upsamples bilinearly, concatenates the encoder's skip and refines.
A 1x1 head per level gives `output_dim` channels at strides 2^(n-1), ..., `finest_stride` (8, 4, 2, 1 for 4 widths).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vloc.errors import ConfigError
from vloc.models.checkpoint import VlocNetwork


@dataclass(frozen=True)
class GNNetConf:
    in_channels: int = 1  # 1: grey, 3: RGB, values in [0, 1]
    output_dim: int = 32
    channels: tuple[int, ...] = (16, 32, 64, 128)  # encoder widths at strides 1, 2, 4, 8
    finest_stride: int = 1  # 1 or 2: the decoder goes up to full resolution, or stops at half

    def __post_init__(self):
        if self.finest_stride not in (1, 2):
            raise ConfigError(f"GN-Net finest_stride must be 1 or 2, got {self.finest_stride}")

    @property
    def finest_level(self) -> int:
        """Index into `channels` of the encoder level the finest output comes from (log2 of finest_stride)."""
        return self.finest_stride.bit_length() - 1


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 convolutions, each followed by BatchNorm and ReLU."""
    layers: list[nn.Module] = []
    for channels in (in_channels, out_channels):
        layers += [
            nn.Conv2d(channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


class GNNet(VlocNetwork):
    architecture = "gnnet"
    title = "GN-Net"
    conf_type = GNNetConf

    def __init__(self, conf: GNNetConf):
        super().__init__(conf)
        widths, finest = conf.channels, conf.finest_level
        self.encoder = nn.ModuleList(
            conv_block(c_in, c_out) for c_in, c_out in zip((conf.in_channels,) + widths, widths)
        )
        # decoder[k] refines level len(widths) - 2 - k from the upsampled coarser level and the encoder skip
        self.decoder = nn.ModuleList(
            conv_block(widths[i + 1] + widths[i], widths[i]) for i in range(len(widths) - 2, finest - 1, -1)
        )
        self.heads = nn.ModuleList(
            nn.Conv2d(widths[i], conf.output_dim, 1) for i in range(len(widths) - 1, finest - 1, -1)
        )

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps (B, output_dim, H / s, W / s) for s = 2^(n-1), ..., finest_stride,
        from an image (B, in_channels, H, W)."""
        skips = []
        x = image
        for i, block in enumerate(self.encoder):
            x = block(F.max_pool2d(x, 2) if i > 0 else x)
            skips.append(x)
        outputs = [self.heads[0](x)]
        # one decoder block per output level finer than the coarsest:
        # the encoder skips at strides 2^(n-2) .. finest_stride
        for block, head, skip in zip(self.decoder, self.heads[1:], reversed(skips[self.conf.finest_level : -1])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], 1))
            outputs.append(head(x))
        return outputs
