"""GN-Net (von Stumberg et al.): a compact UNet-like CNN giving a coarse-to-fine pyramid of dense feature maps.

The encoder has one level per width in `channels` (strides 1, 2, 4, ...; two 3x3 conv + BatchNorm + ReLU blocks,
max-pool between levels); the decoder upsamples bilinearly, concatenates the encoder's skip and refines.
A 1x1 head per level gives `output_dim` channels at strides 2^(n-1), ..., `finest_stride` (8, 4, 2, 1 for 4 widths).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, FormatError, InputError

ARCHITECTURE = "gnnet"


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
        layers += [nn.Conv2d(channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class GNNet(nn.Module):
    def __init__(self, conf: GNNetConf):
        super().__init__()
        self.conf = conf
        widths, finest = conf.channels, conf.finest_level
        self.encoder = nn.ModuleList(conv_block(c_in, c_out) for c_in, c_out in zip((conf.in_channels,) + widths, widths))
        # decoder[k] refines level len(widths) - 2 - k from the upsampled coarser level and the encoder skip
        self.decoder = nn.ModuleList(
            conv_block(widths[i + 1] + widths[i], widths[i]) for i in range(len(widths) - 2, finest - 1, -1)
        )
        self.heads = nn.ModuleList(nn.Conv2d(widths[i], conf.output_dim, 1) for i in range(len(widths) - 1, finest - 1, -1))

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps (B, output_dim, H / s, W / s) for s = 2^(n-1), ..., finest_stride, from an image (B, in_channels, H, W)."""
        skips = []
        x = image
        for i, block in enumerate(self.encoder):
            x = block(F.max_pool2d(x, 2) if i > 0 else x)
            skips.append(x)
        outputs = [self.heads[0](x)]
        # one decoder block per output level finer than the coarsest: the encoder skips at strides 2^(n-2) .. finest_stride
        for block, head, skip in zip(self.decoder, self.heads[1:], reversed(skips[self.conf.finest_level:-1])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], 1))
            outputs.append(head(x))
        return outputs


def save_checkpoint(path: Path, model: GNNet, conf: GNNetConf, extra: dict[str, Any] | None = None) -> None:
    """Write {architecture, conf, state_dict, extra} to `path` atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = {"architecture": ARCHITECTURE, "conf": asdict(conf), "state_dict": model.state_dict(), "extra": extra or {}}
    temporary = path.with_name(path.name + ".tmp")
    torch.save(checkpoint, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: Path) -> GNNet:
    """The GN-Net stored by `save_checkpoint`; InputError if the file is missing, FormatError if it does not fit."""
    if not path.is_file():
        raise InputError(f"GN-Net checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types (pickle, zip, runtime) for a bad file
        raise _not_gnnet(path, f"unreadable ({type(error).__name__})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("architecture") != ARCHITECTURE:
        found = checkpoint.get("architecture") if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise _not_gnnet(path, f"architecture is {found!r}, not {ARCHITECTURE!r}")
    try:
        conf = GNNetConf(**{k: tuple(v) if isinstance(v, list) else v for k, v in checkpoint["conf"].items()})
        model = GNNet(conf)
    except (ConfigError, KeyError, TypeError, AttributeError, ValueError, RuntimeError) as error:
        raise _not_gnnet(path, f"bad conf ({error})") from None
    state = checkpoint.get("state_dict")
    reason = _mismatch(model.state_dict(), state) if isinstance(state, dict) else "no state_dict"
    if reason:
        raise _not_gnnet(path, reason)
    model.load_state_dict(state)
    return model


def _not_gnnet(path: Path, reason: str) -> FormatError:
    return FormatError(f"{path} is not a GN-Net checkpoint of this architecture: {reason}")


def _mismatch(expected: dict[str, torch.Tensor], state: dict[str, Any]) -> str:
    """A short description of how `state` differs from `expected` in keys or shapes; empty if it fits."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [k for k in expected if k in state and getattr(state[k], "shape", None) != expected[k].shape]
    parts = [f"{what} {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
             for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape of", shapes)) if keys]
    return "; ".join(parts)
