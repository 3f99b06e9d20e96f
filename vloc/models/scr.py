"""Scene coordinate regression networks of CrossLoc (Yan et al., CVPR 2022), after DSAC*: a fully convolutional
encoder at output stride 8 and a task decoder (scene coordinates, depth or surface normals, each with an
uncertainty), and the mid-level-representation fusion that feeds frozen depth and normal encoders, beside the coordinate
encoder, to the coordinate decoder."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import pycolmap
import torch
from torch import nn

from vloc.errors import ConfigError, FormatError
from vloc.models.checkpoint import VlocNetwork

STRIDE = 8  # output cell (i, j) sees input pixel (8 j + 4, 8 i + 4)
TASK_CHANNELS = {"coord": 3, "depth": 1, "normal": 2}  # normals as (azimuth, elevation) logits
LOG_UNCERTAINTY_RANGE = (-16.10, 13.82)  # the release's clamp of the log uncertainty (about 1e-7 to 1e6)


@dataclass(frozen=True)
class SCRConf:
    task: str = "coord"  # coord, depth or normal
    widths: tuple[int, ...] = (16, 32, 64, 128)  # the four stem convolutions, strides 1, 2, 2, 2 (release 32 .. 256)
    channels: int = 128  # width of the residual blocks at stride 8 (release "tiny": 128, full: 512)
    extra_blocks: int = 2  # residual blocks added to the encoder and to the decoder (release: 2 each)
    groups: int = 8  # GroupNorm groups (release: 32)
    label_mean: tuple[float, ...] = ()  # added to the task channels: the training labels' mean (zeros if empty)
    image_height: int = 0  # images are resized to this height before the network (0: as they come)

    def __post_init__(self) -> None:
        if self.task not in TASK_CHANNELS:
            raise ConfigError(
                f"unknown scene coordinate regression task '{self.task}'; one of {', '.join(TASK_CHANNELS)}"
            )
        if len(self.widths) != 4:
            raise ConfigError(f"widths must give the 4 stem convolutions, got {self.widths}")
        if self.label_mean and len(self.label_mean) != TASK_CHANNELS[self.task]:
            raise ConfigError(f"label_mean of task {self.task} needs {TASK_CHANNELS[self.task]} values")
        if any(c % self.groups for c in (*self.widths, self.channels)):
            raise ConfigError(f"every width must be a multiple of groups ({self.groups})")
        if self.image_height and self.image_height < 2 * STRIDE:
            raise ConfigError(f"image_height must be 0 or at least {2 * STRIDE}, got {self.image_height}")

    @property
    def out_channels(self) -> int:
        return TASK_CHANNELS[self.task]


def conv_norm_relu(in_channels: int, out_channels: int, kernel: int, stride: int, groups: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2),
        nn.GroupNorm(groups, out_channels),
        nn.ReLU(inplace=True),
    )


class ResidualBlock(nn.Module):
    """3x3, 1x1, 3x3 convolutions with GroupNorm, added to the input (through a 1x1 convolution when the width
    changes); `kernels` = (1, 1, 1) gives the decoder's all-1x1 block."""

    def __init__(self, in_channels: int, out_channels: int, groups: int, kernels: tuple[int, int, int] = (3, 1, 3)):
        super().__init__()
        first, middle, last = kernels
        self.branch = nn.Sequential(
            conv_norm_relu(in_channels, out_channels, first, 1, groups),
            conv_norm_relu(out_channels, out_channels, middle, 1, groups),
            nn.Conv2d(out_channels, out_channels, last, 1, last // 2),
            nn.GroupNorm(groups, out_channels),
        )
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.branch(x) + self.skip(x))


class Encoder(nn.Sequential):
    """Image (B, 3, H, W) to features (B, channels, H/8, W/8)."""

    def __init__(self, conf: SCRConf):
        w0, w1, w2, w3 = conf.widths
        g = conf.groups
        super().__init__(
            conv_norm_relu(3, w0, 3, 1, g),
            conv_norm_relu(w0, w1, 3, 2, g),
            conv_norm_relu(w1, w2, 3, 2, g),
            conv_norm_relu(w2, w3, 3, 2, g),
            ResidualBlock(w3, w3, g),
            ResidualBlock(w3, conf.channels, g),
            *(ResidualBlock(conf.channels, conf.channels, g) for _ in range(conf.extra_blocks)),
        )


class Decoder(nn.Module):
    """Features to the task's values plus a positive uncertainty per cell; the labels' mean is added to the values."""

    def __init__(self, conf: SCRConf):
        super().__init__()
        c, g = conf.channels, conf.groups
        self.blocks = nn.Sequential(
            *(ResidualBlock(c, c, g) for _ in range(conf.extra_blocks)),
            ResidualBlock(c, c, g, kernels=(1, 1, 1)),
            nn.Conv2d(c, c, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, conf.out_channels + 1, 1),
        )
        mean = torch.tensor(conf.label_mean or [0.0] * conf.out_channels, dtype=torch.float32)
        self.register_buffer("label_mean", mean.view(1, -1, 1, 1), persistent=False)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        output = self.blocks(features)
        values, log_uncertainty = output[:, :-1] + self.label_mean, output[:, -1:]
        return values, torch.exp(log_uncertainty.clamp(*LOG_UNCERTAINTY_RANGE))


class SceneCoordinateNetwork(VlocNetwork):
    """One task's network: encoder and decoder. Its output cell (i, j) sees the input pixel (8 j + 4, 8 i + 4)."""

    architecture = "scr"
    title = "scene coordinate regression"
    conf_type = SCRConf

    def __init__(self, conf: SCRConf):
        super().__init__(conf)
        self.encoder = Encoder(conf)
        self.decoder = Decoder(conf)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decoder(self.encoder(image))


class FusionBlock(nn.Module):
    """CrossLoc's mid-level representation: concatenated encoder features through GroupNorm and a 3x3-1x1-3x3 branch,
    added to a 1x1 projection of them."""

    def __init__(self, in_channels: int, out_channels: int, groups: int):
        super().__init__()
        self.branch = nn.Sequential(
            nn.GroupNorm(groups, in_channels),
            conv_norm_relu(in_channels, out_channels, 3, 1, groups),
            conv_norm_relu(out_channels, out_channels, 1, 1, groups),
            conv_norm_relu(out_channels, out_channels, 3, 1, groups),
        )
        self.skip = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.GroupNorm(groups, out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.branch(x) + self.skip(x))


@dataclass(frozen=True)
class FusedSCRConf:
    """The coordinate network's conf and those of the helper networks whose encoders it fuses."""

    coord: SCRConf
    helpers: tuple[SCRConf, ...]

    def __post_init__(self) -> None:
        as_conf = [c if isinstance(c, SCRConf) else SCRConf(**_tuples(c)) for c in (self.coord, *self.helpers)]
        object.__setattr__(self, "coord", as_conf[0])
        object.__setattr__(self, "helpers", tuple(as_conf[1:]))
        if self.coord.task != "coord" or not self.helpers or any(h.task == "coord" for h in self.helpers):
            raise ConfigError("the fusion needs one coordinate network and helper networks of other tasks")
        if any(h.image_height != self.coord.image_height for h in self.helpers):
            raise ConfigError("the fused networks must read images of the same height (image_height)")

    @property
    def task(self) -> str:
        return "coord"

    @property
    def image_height(self) -> int:
        return self.coord.image_height


def _tuples(fields: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}


class FusedCoordinateNetwork(VlocNetwork):
    """The coordinate network's encoder (trained on) beside the frozen encoders of other tasks, fused, into the
    coordinate network's decoder."""

    architecture = "scr-fused"
    title = "fused scene coordinate regression"
    conf_type = FusedSCRConf

    def __init__(self, conf: FusedSCRConf):
        super().__init__(conf)
        self.encoder = Encoder(conf.coord)
        self.frozen = nn.ModuleList(Encoder(helper) for helper in conf.helpers)
        self.frozen.requires_grad_(False)
        channels = conf.coord.channels + sum(h.channels for h in conf.helpers)
        self.fusion = FusionBlock(channels, conf.coord.channels, conf.coord.groups)
        self.decoder = Decoder(conf.coord)

    @classmethod
    def from_networks(
        cls, coordinates: SceneCoordinateNetwork, helpers: list[SceneCoordinateNetwork]
    ) -> FusedCoordinateNetwork:
        """The fusion of trained networks: their encoders, and the coordinate network's decoder."""
        fused = cls(FusedSCRConf(coordinates.conf, tuple(h.conf for h in helpers)))
        fused.encoder.load_state_dict(coordinates.encoder.state_dict())
        fused.decoder.load_state_dict(coordinates.decoder.state_dict())
        for frozen, helper in zip(fused.frozen, helpers):
            frozen.load_state_dict(helper.encoder.state_dict())
        return fused

    def train(self, mode: bool = True) -> FusedCoordinateNetwork:
        super().train(mode)
        self.frozen.eval()  # frozen encoders keep their normalisation as trained
        return self

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            helpers = [encoder(image) for encoder in self.frozen]
        return self.decoder(self.fusion(torch.cat([self.encoder(image), *helpers], dim=1)))


def normal_angles(logits: torch.Tensor) -> torch.Tensor:
    """(azimuth, elevation) logits to angles in (-pi, pi): pi (2 sigmoid(logit) - 1)."""
    return math.pi * (2 * torch.sigmoid(logits) - 1)


def normal_vectors(angles: torch.Tensor) -> torch.Tensor:
    """(azimuth, elevation) angles (B, 2, h, w) to camera-frame unit normals (B, 3, h, w): (sin e, cos e sin a, -cos e
    cos a), the inverse of the labels' (atan2(y, -z), asin(x))."""
    azimuth, elevation = angles[:, 0], angles[:, 1]
    return torch.stack([elevation.sin(), elevation.cos() * azimuth.sin(), -elevation.cos() * azimuth.cos()], dim=1)


def cell_centres(height: int, width: int) -> torch.Tensor:
    """(2, h, w) positions (x, y) that the output cells see: the centres of input pixels (8 j + 4, 8 i + 4), in
    COLMAP's convention (a pixel's centre at + 0.5), that of the calibration matrices of `pinhole_matrix`."""
    y, x = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return torch.stack([x, y]).float() * STRIDE + STRIDE / 2 + 0.5


def pinhole_matrix(camera: pycolmap.Camera) -> np.ndarray:
    """K of a pinhole camera (SIMPLE_PINHOLE or PINHOLE); a one-line error for a camera with distortion."""
    if camera.model_name not in ("SIMPLE_PINHOLE", "PINHOLE"):
        raise FormatError(f"scene coordinate regression needs pinhole cameras, got {camera.model_name}")
    return camera.calibration_matrix()


def input_size(width: int, height: int, image_height: int) -> tuple[int, int]:
    """The (width, height) an image is resized to for a network reading `image_height` (0: its own size)."""
    if not image_height:
        return width, height
    return max(1, round(width * image_height / height)), image_height


def network_input(image: np.ndarray, K: np.ndarray, image_height: int) -> tuple[torch.Tensor, np.ndarray]:
    """An RGB uint8 image (H, W, 3) as the network reads it: resized to `image_height`, cropped to multiples of 8, as
    a (3, h, w) tensor in [0, 1]; and the calibration matrix of that image."""
    height, width = image.shape[:2]
    size = input_size(width, height, image_height)
    if size != (width, height):
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    scale = np.diag([size[0] / width, size[1] / height, 1.0])
    crop_height, crop_width = (s - s % STRIDE for s in image.shape[:2])
    tensor = torch.from_numpy(np.ascontiguousarray(image[:crop_height, :crop_width])).permute(2, 0, 1).float() / 255
    return tensor, scale @ K
