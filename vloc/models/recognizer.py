"""LBR's instance recognizer: a compact segmentation CNN with a pyramid-pooling decoder and a global presence head.

The encoder has one stage per width (two 3x3 conv + BatchNorm + ReLU blocks; stride 2 until `output_stride`, then
dilation); the PSPNet-style decoder pools its output at `bins` cells per side, fuses the upsampled pools with it and
gives per-pixel logits of K + 1 classes (0 = no instance). The global max pool of the encoder output, L2-normalised,
is a global descriptor; with the global average pool (which tells how much of the image an instance covers) it feeds
the presence head (K multi-label logits).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vloc.errors import ConfigError
from vloc.models.checkpoint import VlocNetwork


@dataclass(frozen=True)
class RecognizerNetConf:
    num_instances: int = 16  # K: the map's instance ids 1..K
    widths: tuple[int, ...] = (16, 32, 64, 128)  # encoder stages
    output_stride: int = 8  # the encoder's stride; later stages dilate instead
    decoder_width: int = 64
    bins: tuple[int, ...] = (1, 2, 3, 6)  # pyramid pooling: cells per side

    def __post_init__(self):
        if self.num_instances < 1:
            raise ConfigError(f"recognizer num_instances must be at least 1, got {self.num_instances}")
        if not self.widths or self.output_stride < 1 or not self.bins:
            raise ConfigError("recognizer widths and bins must not be empty, output_stride must be at least 1")


def conv_norm(
    in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1, kernel: int = 3
) -> nn.Sequential:
    """Convolution, BatchNorm, ReLU."""
    padding = dilation * (kernel // 2)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride, padding, dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class RecognizerNet(VlocNetwork):
    architecture = "recognizer"
    title = "recognizer"
    conf_type = RecognizerNetConf

    def __init__(self, conf: RecognizerNetConf):
        super().__init__(conf)
        stages, channels, stride, dilation = [], 3, 1, 1
        for width in conf.widths:
            step = 2 if stride < conf.output_stride else 1
            dilation *= 1 if step == 2 else 2
            stride *= step
            stages.append(
                nn.Sequential(conv_norm(channels, width, step, dilation), conv_norm(width, width, dilation=dilation))
            )
            channels = width
        self.stride = stride
        self.encoder = nn.Sequential(*stages)
        # no BatchNorm on the pooled cells: a 1x1 cell of a batch of one has no statistics
        self.pools = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, conf.decoder_width, 1), nn.ReLU(inplace=True)) for _ in conf.bins
        )
        self.fuse = conv_norm(channels + len(conf.bins) * conf.decoder_width, conf.decoder_width)
        self.pixel_head = nn.Conv2d(conf.decoder_width, conf.num_instances + 1, 1)
        self.presence_head = nn.Linear(2 * channels, conf.num_instances)

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """Encoder features (B, C, H / s, W / s) of RGB images (B, 3, H, W) in [0, 1], each standardised first (one
        mean and deviation per image), so that a global gain (night) changes little."""
        mean, std = image.mean((1, 2, 3), keepdim=True), image.std((1, 2, 3), keepdim=True)
        return self.encoder((image - mean) / (std + 1e-2))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixel logits (B, K + 1, H / s, W / s) and presence logits (B, K)."""
        features = self.encode(image)
        size = features.shape[-2:]
        pooled = [
            F.interpolate(pool(F.adaptive_avg_pool2d(features, bins)), size, mode="bilinear", align_corners=False)
            for pool, bins in zip(self.pools, self.conf.bins)
        ]
        pixels = self.pixel_head(self.fuse(torch.cat([features, *pooled], 1)))
        presence = self.presence_head(torch.cat([features.amax((2, 3)), features.mean((2, 3))], 1))
        return pixels, presence

    def describe(self, image: torch.Tensor) -> torch.Tensor:
        """Global descriptors (B, C): the L2-normalised max pool of the encoder features."""
        return F.normalize(self.encode(image).amax((2, 3)), dim=1)
