"""DenseFlow (Song et al., NeurIPS 2023) at CPU size: ground features projected to a bird's-eye view on the aerial
tile (flat ground at the camera's height, the prior as pose), a RAFT-style recurrent estimator of the dense flow from
that view to the aerial image with a confidence per pixel, and the planar pose by a confidence-weighted rigid fit.
Also the correlation-only baseline: the view slid and turned over the aerial features, the best placement kept.

CPU-sized, trained from scratch (the release: ImageNet ResNet-18 encoders, RAFT-KITTI weights, 512-pixel tiles at
about 0.2 m/px, stride 8, 12 iterations): 128-pixel tiles at 0.5 m/px, stride 4 (2 m cells), 6 iterations, GroupNorm
throughout; the encoders' stride-2 convolutions centre feature cell m at pixel stride * m + 0.5 rather than
stride * (m + 0.5), a fixed offset the learned layers absorb."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vloc.errors import ConfigError, InputError
from vloc.geometry.rigid2d import Rigid2D, fit_rigid_2d
from vloc.io.crossview import GroundCamera, PlanarPose, TileFrame, cut_tile
from vloc.models.checkpoint import VlocNetwork


@dataclass(frozen=True)
class CrossviewConf:
    ground_height: int = 128  # ground images are resized to this size
    ground_width: int = 384
    tile_size: int = 128  # aerial tile side in pixels
    tile_metres_per_pixel: float = 0.5
    stride: int = 4  # feature cells per side: tile_size / stride
    channels: int = 64
    hidden: int = 64
    context: int = 32
    levels: int = 3  # correlation pyramid
    radius: int = 3
    iterations: int = 6

    def __post_init__(self):
        if self.stride not in (4, 8) or self.channels % 8 or self.hidden % 8:
            raise ConfigError("crossview model: stride 4 or 8, channels and hidden multiples of 8")
        if min(self.levels, self.radius, self.iterations, self.context) < 1 or self.tile_metres_per_pixel <= 0:
            raise ConfigError("crossview model: levels, radius, iterations, context and tile scale must be positive")

    def check(self) -> None:
        """What depends on several fields (checked when the network is built, so overrides may come in any order)."""
        if self.tile_size % self.stride or self.cells % 2 ** (self.levels - 1):
            raise ConfigError(
                f"crossview model: tile_size {self.tile_size} must give stride {self.stride} cells that pool "
                f"{self.levels - 1} times"
            )
        if min(self.ground_height, self.ground_width) < 8 * self.stride:
            raise ConfigError("crossview model: ground images smaller than 8 feature cells")

    @property
    def cells(self) -> int:
        return self.tile_size // self.stride


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(8, channels)


class ResidualBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.norm1, self.norm2 = _norm(cout), _norm(cout)
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)))
        return F.relu(self.norm2(self.conv2(y)) + self.shortcut(x))


def encoder(channels: int, stride: int) -> nn.Sequential:
    """A ResNet-style image encoder to `channels` at `stride` (4 or 8)."""
    layers = [nn.Conv2d(3, 32, 7, 2, 3), _norm(32), nn.ReLU(), ResidualBlock(32, 32), ResidualBlock(32, 48, 2)]
    if stride == 8:
        layers.append(ResidualBlock(48, 64, 2))
    width = layers[-1].conv2.out_channels
    return nn.Sequential(*layers, ResidualBlock(width, channels), nn.Conv2d(channels, channels, 1))


def standardize(images: torch.Tensor) -> torch.Tensor:
    """uint8-range RGB (B, 3, H, W) to zero mean, unit deviation per image and channel: brightness and contrast
    (day or night) are divided out before any learning."""
    mean = images.mean(dim=(2, 3), keepdim=True)
    return (images - mean) / images.std(dim=(2, 3), keepdim=True).clamp(min=1.0)


def ground_plane_sampling(camera: GroundCamera, camera_height: float, conf: CrossviewConf) -> tuple[np.ndarray, ...]:
    """Where each bird's-eye cell (a point of the flat ground on the tile grid, camera at the tile centre looking
    along the columns) lies in the ground image: grid_sample coordinates (A, A, 2) and a validity mask (A, A)."""
    camera = camera.scaled(conf.ground_width, conf.ground_height)
    centres = (np.arange(conf.cells) + 0.5) * conf.stride - conf.tile_size / 2
    forward, right = np.meshgrid(centres * conf.tile_metres_per_pixel, centres * conf.tile_metres_per_pixel)
    if camera.model == "EQUIRECTANGULAR":
        column = camera.width * (0.5 + np.arctan2(right, forward) / (2 * math.pi))
        row = camera.height * (0.5 + np.arctan2(camera_height, np.hypot(forward, right)) / math.pi)
        valid = np.hypot(forward, right) > 0
    else:
        fx, fy, cx, cy = camera.params if camera.model == "PINHOLE" else (camera.params[0], *camera.params)
        ahead = np.maximum(forward, 1e-6)
        column, row = fx * right / ahead + cx, fy * camera_height / ahead + cy
        valid = (forward > 0.5) & (column >= 0) & (column < camera.width) & (row >= 0) & (row < camera.height)
    grid = np.stack([2 * column / camera.width - 1, 2 * row / camera.height - 1], -1)
    return np.where(valid[..., None], grid, -2.0).astype(np.float32), valid


class ConvGRU(nn.Module):
    def __init__(self, hidden: int, inputs: int):
        super().__init__()
        self.gates = nn.Conv2d(hidden + inputs, 2 * hidden, 3, padding=1)
        self.candidate = nn.Conv2d(hidden + inputs, hidden, 3, padding=1)

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        z, r = torch.sigmoid(self.gates(torch.cat([h, x], 1))).chunk(2, 1)
        q = torch.tanh(self.candidate(torch.cat([r * h, x], 1)))
        return (1 - z) * h + z * q


class UpdateBlock(nn.Module):
    """Motion encoder, GRU, and the flow, confidence and convex-upsampling heads of one iteration."""

    def __init__(self, conf: CrossviewConf):
        super().__init__()
        lookups = conf.levels * (2 * conf.radius + 1) ** 2
        self.corr = nn.Sequential(nn.Conv2d(lookups, 96, 1), nn.ReLU(), nn.Conv2d(96, 64, 3, padding=1), nn.ReLU())
        self.flow = nn.Sequential(nn.Conv2d(2, 32, 7, padding=3), nn.ReLU(), nn.Conv2d(32, 16, 3, padding=1), nn.ReLU())
        self.motion = nn.Sequential(nn.Conv2d(80, 62, 3, padding=1), nn.ReLU())
        self.gru = ConvGRU(conf.hidden, 64 + conf.context)
        self.delta = nn.Sequential(nn.Conv2d(conf.hidden, 96, 3, padding=1), nn.ReLU(), nn.Conv2d(96, 2, 3, padding=1))
        self.confidence = nn.Sequential(
            nn.Conv2d(conf.hidden, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 1, 3, padding=1)
        )
        self.mask = nn.Sequential(
            nn.Conv2d(conf.hidden, 96, 3, padding=1), nn.ReLU(), nn.Conv2d(96, conf.stride**2 * 9, 1)
        )

    def forward(
        self, hidden: torch.Tensor, context: torch.Tensor, correlation: torch.Tensor, flow: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The next hidden state, the flow update, the confidence and the upsampling mask."""
        motion = self.motion(torch.cat([self.corr(correlation), self.flow(flow)], 1))
        hidden = self.gru(hidden, torch.cat([motion, flow, context], 1))
        return hidden, self.delta(hidden), torch.sigmoid(self.confidence(hidden)), 0.25 * self.mask(hidden)


def correlation_pyramid(bev: torch.Tensor, aerial: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """All-pairs correlation of (B, C, A, A) features, one (B*A*A, 1, A', A') volume per level (aerial side pooled)."""
    batch, channels, size, _ = bev.shape
    volume = torch.einsum("bchw,bcuv->bhwuv", bev, aerial) / math.sqrt(channels)
    volume = volume.reshape(batch * size * size, 1, size, size)
    pyramid = [volume]
    for _ in range(levels - 1):
        pyramid.append(F.avg_pool2d(pyramid[-1], 2, 2))
    return pyramid


def lookup(pyramid: list[torch.Tensor], coords: torch.Tensor, radius: int) -> torch.Tensor:
    """Correlation values in a (2r+1)^2 window around `coords` (B, 2, A, A; aerial cells as x, y) at every level."""
    batch, _, size, _ = coords.shape
    offsets = torch.arange(-radius, radius + 1, dtype=coords.dtype, device=coords.device)
    dy, dx = torch.meshgrid(offsets, offsets, indexing="ij")
    window = torch.stack([dx, dy], -1).reshape(1, 2 * radius + 1, 2 * radius + 1, 2)
    centres = coords.permute(0, 2, 3, 1).reshape(batch * size * size, 1, 1, 2)
    values = []
    for level, volume in enumerate(pyramid):
        points = (centres + 0.5) / 2**level - 0.5 + window  # cell indices at this level
        extent = volume.shape[-1]
        normalized = (points + 0.5) * 2 / extent - 1
        sampled = F.grid_sample(volume, normalized, align_corners=False, padding_mode="zeros")
        values.append(sampled.reshape(batch, size, size, -1))
    return torch.cat(values, -1).permute(0, 3, 1, 2)


def convex_upsample(values: torch.Tensor, mask: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, D, A, A) to (B, D, fA, fA): each fine pixel a convex combination of its 3x3 coarse neighbours."""
    batch, dims, size, _ = values.shape
    weights = torch.softmax(mask.view(batch, 1, 9, factor, factor, size, size), dim=2)
    patches = F.unfold(values, 3, padding=1).view(batch, dims, 9, 1, 1, size, size)
    fine = (weights * patches).sum(2).permute(0, 1, 4, 2, 5, 3)
    return fine.reshape(batch, dims, factor * size, factor * size)


@dataclass
class FlowEstimate:
    """One iteration's flow from the bird's-eye view to the aerial tile, in tile pixels (B, 2, S, S), its confidence
    (B, 1, S, S), both zero off the view, and where the view is (B, 1, S, S)."""

    flow: torch.Tensor
    confidence: torch.Tensor
    valid: torch.Tensor


@dataclass
class DenseFlowOutput:
    estimates: list[FlowEstimate]  # after each iteration
    correlation: torch.Tensor  # (B, A, A, A, A): bird's-eye cell (row, column) against aerial cell (row, column)


class DenseFlowNetwork(VlocNetwork):
    architecture = "denseflow"
    title = "DenseFlow cross-view network"
    conf_type = CrossviewConf

    def __init__(self, conf: CrossviewConf):
        conf.check()
        super().__init__(conf)
        self.ground_encoder = encoder(conf.channels, conf.stride)
        self.aerial_encoder = encoder(conf.channels, conf.stride)
        self.refine = nn.Sequential(
            nn.Conv2d(conf.channels, conf.channels, 3, padding=1),
            _norm(conf.channels),
            nn.ReLU(),
            ResidualBlock(conf.channels, conf.channels),
            nn.Conv2d(conf.channels, conf.channels, 1),
        )
        self.context = nn.Sequential(
            ResidualBlock(conf.channels, conf.channels), nn.Conv2d(conf.channels, conf.hidden + conf.context, 1)
        )
        self.update = UpdateBlock(conf)

    def features(
        self, ground: torch.Tensor, aerial: torch.Tensor, sampling: torch.Tensor, valid: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Bird's-eye (masked) and aerial features, refined by the shared block, and the raw bird's-eye features."""
        ground_features = self.ground_encoder(standardize(ground))
        bev = F.grid_sample(ground_features, sampling, align_corners=False) * valid
        return self.refine(bev) * valid, self.refine(self.aerial_encoder(standardize(aerial))), bev

    def forward(
        self, ground: torch.Tensor, aerial: torch.Tensor, sampling: torch.Tensor, valid: torch.Tensor
    ) -> DenseFlowOutput:
        """Flow estimates after each iteration for ground images (B, 3, h, w), aerial tiles (B, 3, S, S), bird's-eye
        sampling grids (B, A, A, 2) and validity (B, 1, A, A) from `ground_plane_sampling`."""
        conf = self.conf
        bev, aerial_features, raw = self.features(ground, aerial, sampling, valid)
        pyramid = correlation_pyramid(bev, aerial_features, conf.levels)
        hidden, context = self.context(raw).split([conf.hidden, conf.context], 1)
        hidden, context = torch.tanh(hidden), F.relu(context)
        flow = torch.zeros(ground.shape[0], 2, conf.cells, conf.cells, device=bev.device)  # float32 under autocast
        cells = torch.arange(conf.cells, dtype=torch.float32, device=bev.device)
        grid = torch.stack(torch.meshgrid(cells, cells, indexing="xy"))[None]  # (1, 2, A, A): x, y
        fine_valid = F.interpolate(valid, scale_factor=conf.stride, mode="nearest")
        estimates = []
        for _ in range(conf.iterations):
            correlation = lookup(pyramid, grid + flow.detach(), conf.radius)
            hidden, delta, confidence, mask = self.update(hidden, context, correlation, flow.detach())
            flow = (flow.detach() + delta) * valid
            fine_flow = convex_upsample(flow * conf.stride, mask, conf.stride) * fine_valid
            fine_confidence = convex_upsample(confidence, mask, conf.stride) * fine_valid
            estimates.append(FlowEstimate(fine_flow, fine_confidence, fine_valid))
        return DenseFlowOutput(estimates, pyramid[0].view(ground.shape[0], *(conf.cells,) * 4))


def tile_pixels(size: int) -> torch.Tensor:
    """(S*S, 2) pixel-centre coordinates (u, v) of a tile, row-major."""
    centres = torch.arange(size, dtype=torch.float32) + 0.5
    v, u = torch.meshgrid(centres, centres, indexing="ij")
    return torch.stack([u.reshape(-1), v.reshape(-1)], -1)


def pose_from_flow(estimate: FlowEstimate, weighted: bool = True) -> Rigid2D:
    """The planar motion of the bird's-eye view onto the tile, fitted to the flow correspondences (weights: the
    confidence, or 1 where the view is valid)."""
    batch, _, size, _ = estimate.flow.shape
    source = tile_pixels(size).to(estimate.flow)[None].expand(batch, -1, -1)
    flow = estimate.flow.reshape(batch, 2, -1).transpose(1, 2)
    weights = estimate.confidence * estimate.valid if weighted else estimate.valid
    return fit_rigid_2d(source, source + flow, weights.reshape(batch, -1))


def camera_in_tile(motion: Rigid2D, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera position (B, 2) in tile pixels and heading (B,) in radians from the tile's columns: where the motion
    takes the tile centre, and its angle."""
    centre = torch.full(
        (motion.angle.shape[0], 1, 2), size / 2, dtype=motion.translation.dtype, device=motion.translation.device
    )
    return motion.apply(centre)[:, 0], motion.angle


def correlation_search(
    net: DenseFlowNetwork,
    ground: torch.Tensor,
    aerial: torch.Tensor,
    sampling: torch.Tensor,
    valid: torch.Tensor,
    max_shift: float,
    max_yaw: float,
    yaw_step: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The baseline: the bird's-eye features turned by each angle within +-max_yaw degrees and slid over the aerial
    features within +-max_shift tile pixels; camera position (B, 2) and heading (B,) of the best cosine score
    (shift refined to sub-cell by a parabola through the peak's neighbours)."""
    conf = net.conf
    with torch.no_grad():
        bev, aerial_features, _ = net.features(ground, aerial, sampling, valid)
    bev, aerial_features = F.normalize(bev, dim=1) * valid, F.normalize(aerial_features, dim=1)
    reach = min(int(math.ceil(max_shift / conf.stride)), conf.cells - 1)
    angles = torch.arange(-max_yaw, max_yaw + 1e-6, yaw_step)
    positions, headings = [], []
    for index in range(bev.shape[0]):
        best = (-math.inf, 0.0, 0.0, 0.0)
        padded = F.pad(aerial_features[index : index + 1], (reach,) * 4)
        for angle in angles:
            turned, turned_valid = _turn(bev[index : index + 1], valid[index : index + 1], math.radians(angle))
            scores = F.conv2d(padded, turned)[0, 0] / turned_valid.sum().clamp(min=1)  # (2 reach + 1)^2
            peak = int(scores.argmax())
            row, col = divmod(peak, scores.shape[1])
            if scores[row, col] > best[0]:
                best = (float(scores[row, col]), _parabola(scores, row, col, 1), _parabola(scores, row, col, 0), angle)
        _, dx, dy, angle = best
        shift = torch.tensor([dx - reach, dy - reach]) * conf.stride
        positions.append(torch.full((2,), conf.tile_size / 2) + shift)
        headings.append(torch.tensor(math.radians(float(angle))))
    return torch.stack(positions), torch.stack(headings)


def _turn(features: torch.Tensor, valid: torch.Tensor, angle: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of the view rotated by `angle` about the tile centre (as the camera turned by `angle`)."""
    cos, sin = math.cos(angle), math.sin(angle)
    # output cell a' takes the input at R(-angle) a' (normalised coordinates about the centre)
    theta = torch.tensor([[[cos, sin, 0.0], [-sin, cos, 0.0]]], dtype=features.dtype, device=features.device)
    grid = F.affine_grid(theta, list(features.shape), align_corners=False)
    return F.grid_sample(features, grid, align_corners=False), F.grid_sample(valid, grid, align_corners=False)


def _parabola(scores: torch.Tensor, row: int, col: int, axis: int) -> float:
    """Sub-cell position of the peak along `axis` (0 rows, 1 columns) from its two neighbours."""
    index = [row, col]
    centre = index[axis]
    if centre == 0 or centre == scores.shape[axis] - 1:
        return float(centre)
    before, after = list(index), list(index)
    before[axis] -= 1
    after[axis] += 1
    left, middle, right = float(scores[tuple(before)]), float(scores[row, col]), float(scores[tuple(after)])
    curvature = left - 2 * middle + right
    return centre + (0.5 * (left - right) / curvature if curvature < 0 else 0.0)


@dataclass
class CrossviewInput:
    """One ground view ready for the network: image (3, h, w), tile (3, S, S), bird's-eye sampling (A, A, 2) and
    validity (1, A, A), and where the tile lies on its aerial image."""

    ground: torch.Tensor
    tile: torch.Tensor
    sampling: torch.Tensor
    valid: torch.Tensor
    frame: TileFrame


def prepare_input(
    ground: np.ndarray,
    camera: GroundCamera,
    camera_height: float,
    aerial: np.ndarray,
    aerial_metres_per_pixel: float,
    prior: PlanarPose,
    conf: CrossviewConf,
    where: str = "",
) -> CrossviewInput:
    """The network's input for a ground image (RGB uint8, any size) localized from `prior` on an aerial image
    (`prefiltered` for the conf's tile sampling)."""
    frame = TileFrame(prior, conf.tile_size, conf.tile_metres_per_pixel)
    tile = cut_tile(aerial, aerial_metres_per_pixel, frame, where)
    resized = cv2.resize(ground, (conf.ground_width, conf.ground_height), interpolation=cv2.INTER_AREA)
    sampling, valid = ground_plane_sampling(camera, camera_height, conf)
    if not valid.any():
        raise InputError(f"{where}: the camera sees none of the tile's ground (check its intrinsics and height)")
    return CrossviewInput(
        torch.from_numpy(resized).permute(2, 0, 1).float(),
        torch.from_numpy(tile).permute(2, 0, 1).float(),
        torch.from_numpy(sampling),
        torch.from_numpy(valid[None].astype(np.float32)),
        frame,
    )


def truth_in_tile(frame: TileFrame, pose: PlanarPose) -> Rigid2D:
    """The motion (1 element) that takes the bird's-eye view of a camera at the tile centre to `pose`."""
    u, v, angle = frame.pose_in_tile(pose)
    angle_tensor = torch.tensor([angle], dtype=torch.float32)
    rotation = Rigid2D(angle_tensor, torch.zeros(1, 2))
    centre = torch.full((1, 1, 2), frame.size / 2)
    return Rigid2D(angle_tensor, torch.tensor([[u, v]], dtype=torch.float32) - rotation.apply(centre)[:, 0])


def localize_inputs(
    net: DenseFlowNetwork, inputs: list[CrossviewInput], weighted: bool = True
) -> tuple[list[PlanarPose], FlowEstimate]:
    """Planar poses on the aerial images from the last flow estimate of each input (one batch), and that estimate."""
    device = next(net.parameters()).device
    stacked = [
        torch.stack([getattr(x, key) for x in inputs]).to(device) for key in ("ground", "tile", "sampling", "valid")
    ]
    with torch.no_grad():
        estimate = net(*stacked).estimates[-1]
    position, angle = camera_in_tile(pose_from_flow(estimate, weighted), net.conf.tile_size)
    poses = [
        x.frame.pose_on_aerial(float(p[0]), float(p[1]), float(a))
        for x, p, a in zip(inputs, position.cpu(), angle.cpu())
    ]
    return poses, estimate
