"""`s2dhm-vgg16`: S2DHM hypercolumns (Germain et al.) of VGG-16 at strides 8 and 4 (coarse to fine).

Taps after relu3_2, pool3, relu4_2, pool4 and relu5_2 (256 + 256 + 512 + 512 + 512 = 2048 channels) are each
L2-normalised per pixel, resized bilinearly to the level's grid (antialiased where it shrinks) and concatenated.
`weights` is a local file: a torchvision VGG-16 state dict (`features.N.*`; other keys ignored) or an S2DHM
checkpoint (optionally under `state_dict`, keys prefixed by `module.`, `model.`, `encoder.` or `features.`).
Input: RGB with ImageNet mean and std; a grey image is repeated to three channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vloc.dense.base import DenseBackbone
from vloc.errors import ConfigError, FormatError, InputError
from vloc.models.checkpoint import load_state_dict
from vloc.models.vgg16 import IMAGENET_MEAN, IMAGENET_STD, vgg16_conv5_3

TAPS = (13, 16, 20, 23, 27)  # torchvision `vgg16().features` indices of relu3_2, pool3, relu4_2, pool4, relu5_2
PREFIXES = ("module.", "model.", "encoder.", "features.")
HOW = "pass --set model.weights=/path/to/vgg16.pth (torchvision VGG-16 or S2DHM checkpoint)"


@dataclass(frozen=True)
class VGG16HypercolumnsConf:
    weights: str = ""  # VGG-16 weights file; "random": seeded random init (plumbing tests only)
    seed: int = 0  # weights=random only
    strides: tuple[int, ...] = (8, 4)  # hypercolumn levels, coarse to fine, in image pixels


def vgg16_relu5_2() -> nn.Sequential:
    """VGG-16 `features` up to relu5_2, with torchvision's layer indices."""
    return vgg16_conv5_3()[: TAPS[-1] + 1]


def strip_prefixes(key: str) -> str:
    """`key` without its leading wrapper prefixes: `module.encoder.0.weight` -> `0.weight`."""
    while key.startswith(PREFIXES):
        key = key[next(len(p) for p in PREFIXES if key.startswith(p)) :]
    return key


def load_vgg16(features: nn.Sequential, path: Path) -> None:
    """Load every convolution of `features` from `path`; FormatError naming the file if they do not all fit."""
    expected = features.state_dict()
    state = {strip_prefixes(k): v for k, v in load_state_dict(path).items()}
    fitting = {k: v for k, v in state.items() if k in expected and v.shape == expected[k].shape}
    if not fitting:
        raise FormatError(f"{path}: no VGG-16 convolution weights fit (expected keys like features.0.weight, 64x3x3x3)")
    missing = [k for k in expected if k not in fitting]
    if missing:
        shown = ", ".join(missing[:4]) + (" ..." if len(missing) > 4 else "")
        raise FormatError(f"{path}: VGG-16 weights incomplete: {shown} missing or of the wrong shape")
    features.load_state_dict(fitting)


class VGG16Hypercolumns(DenseBackbone):
    default_conf = VGG16HypercolumnsConf()
    grayscale = False

    def _init(self, conf: VGG16HypercolumnsConf) -> None:
        if conf.weights == "random":
            with torch.random.fork_rng(devices=[]):  # leave the caller's random stream untouched
                torch.manual_seed(conf.seed)
                self.features = vgg16_relu5_2()
        elif not conf.weights:
            raise ConfigError(f"s2dhm-vgg16 needs VGG-16 weights: {HOW}, or model.weights=random for plumbing tests")
        else:
            path = Path(conf.weights)
            if not path.is_file():
                raise InputError(f"VGG-16 weights not found: {path}; {HOW}")
            self.features = vgg16_relu5_2()
            load_vgg16(self.features, path)
        self.features.eval()
        self.mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    def _forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = (image.expand(-1, 3, -1, -1) - self.mean) / self.std
        taps = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in TAPS:
                taps.append(F.normalize(x, dim=1))
        height, width = image.shape[-2:]
        levels = []
        for stride in self.conf.strides:
            size = (max(1, height // stride), max(1, width // stride))
            resized = [
                F.interpolate(tap, size=size, mode="bilinear", align_corners=False, antialias=True) for tap in taps
            ]
            levels.append(torch.cat(resized, 1)[0])
        return levels
