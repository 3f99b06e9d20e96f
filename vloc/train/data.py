"""Image pairs with ground-truth pixel correspondences for training dense features (GN-Net), as torch Datasets.

`RGBDPairs` back-projects the pixels of image 0 with its depth, reprojects them into image 1 and keeps those whose
depth agrees with image 1's depth map; `SyntheticPairs` is that on a `vloc synth` folder. `ColmapPairs` pairs the
images of a COLMAP model by shared 3D points and uses their observations. A sample is a dict: image0, image1 (float
(1, H, W) grey or (3, H, W) RGB in [0, 1]), points0, points1 ((N, 2) float32 COLMAP pixels, centres at +0.5), name0,
name1. Pairs are enumerated at construction; images and depth maps are read per sample.
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np
import pycolmap
import torch
from torch.utils.data import Dataset

from vloc.dense.filters import gaussian_blur
from vloc.errors import ConfigError, FormatError, InputError
from vloc.geometry.camera import Camera
from vloc.geometry.pose import Pose
from vloc.geometry.rigid3d import relative_pose
from vloc.io.images import read_image, resize_max
from vloc.io.model import read_model
from vloc.pnp.covisibility import shared_point_counts

# Pair enumeration compares depths on a grid `overlap_stride` times coarser than the image, where the nearest sample
# can be a few pixels from the reprojection: a looser relative tolerance than per pixel keeps slanted surfaces.
OVERLAP_TOLERANCE = 0.1


@dataclass(frozen=True)
class AugmentConf:
    """Appearance changes drawn independently for each image of a pair; strengths are maxima of uniform draws."""

    enabled: bool = False
    brightness: float = 0.2  # additive offset in [-b, b]
    contrast: float = 0.3  # factor in [1 - c, 1 + c] about the image mean
    saturation: float = 0.3  # RGB only: factor in [1 - s, 1 + s] on the difference to grey
    colour: float = 0.1  # RGB only: per-channel gain in [1 - c, 1 + c]
    gamma: float = 0.4  # exponent log-uniform in [1 / (1 + g), 1 + g]
    noise_std: float = 0.03  # Gaussian noise of standard deviation uniform in [0, noise_std]
    blur_sigma: float = 1.5  # Gaussian blur of sigma uniform in [0.3, blur_sigma] pixels ...
    blur_probability: float = 0.3  # ... with this probability

    def __post_init__(self):
        strengths = (
            self.brightness,
            self.contrast,
            self.saturation,
            self.colour,
            self.gamma,
            self.noise_std,
            self.blur_sigma,
        )
        if min(strengths) < 0 or max(self.contrast, self.saturation, self.colour) >= 1:
            raise ConfigError("augment strengths must be >= 0, and contrast, saturation and colour below 1")
        if not 0 <= self.blur_probability <= 1:
            raise ConfigError(f"augment blur_probability must be in [0, 1], got {self.blur_probability}")


@dataclass(frozen=True)
class PairsConf:
    max_points: int = 512  # correspondences per sample at most (a random subset)
    min_correspondences: int = 100  # a pair is kept with at least this many (RGB-D: estimated at construction)
    min_overlap: float = 0.15  # RGB-D: share of each image's valid pixels that must be seen, unoccluded, by the other
    depth_tolerance: float = 0.01  # relative: reprojected depth vs the depth map of image 1 (occlusion check)
    overlap_stride: int = 8  # RGB-D pair enumeration checks one pixel in stride x stride
    max_side: int | None = None  # downscale images (and correspondences) to this longer side
    grayscale: bool = True
    augment: AugmentConf = field(default_factory=AugmentConf)
    seed: int = 0

    def __post_init__(self):
        if self.max_points < 1 or self.min_correspondences < 1 or self.overlap_stride < 1:
            raise ConfigError("pairs max_points, min_correspondences and overlap_stride must be at least 1")
        if not 0 <= self.min_overlap <= 1 or self.depth_tolerance <= 0:
            raise ConfigError("pairs min_overlap must be in [0, 1] and depth_tolerance above 0")
        if self.max_side is not None and self.max_side < 16:
            raise ConfigError(f"pairs max_side must be at least 16, got {self.max_side}")


def uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * torch.rand((), generator=generator, dtype=torch.float64).item()


def augment(image: torch.Tensor, conf: AugmentConf, generator: torch.Generator) -> torch.Tensor:
    """A (C, H, W) image in [0, 1] with random appearance changes; the same generator state gives the same result."""
    if image.shape[0] == 3:
        grey = (image * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(0, keepdim=True)
        image = grey + (image - grey) * uniform(generator, 1 - conf.saturation, 1 + conf.saturation)
        gains = 1 + conf.colour * (2 * torch.rand(3, generator=generator) - 1)
        image = image * gains[:, None, None]
    mean = image.mean()
    image = mean + (image - mean) * uniform(generator, 1 - conf.contrast, 1 + conf.contrast)
    image = image + uniform(generator, -conf.brightness, conf.brightness)
    log_gamma = math.log1p(conf.gamma)
    image = image.clamp(0, 1) ** math.exp(uniform(generator, -log_gamma, log_gamma))
    blur, sigma = uniform(generator, 0, 1), uniform(generator, 0.3, max(conf.blur_sigma, 0.3))
    if blur < conf.blur_probability and conf.blur_sigma > 0:
        image = gaussian_blur(image[None], sigma)[0]
    noise = torch.randn(image.shape, generator=generator, dtype=image.dtype)
    return (image + noise * uniform(generator, 0, conf.noise_std)).clamp(0, 1)


class PairDataset(Dataset):
    """Map-style dataset over `pairs` (image names); subclasses give all correspondences of a pair at full size."""

    def __init__(self, image_root: Path, conf: PairsConf):
        self.image_root = image_root
        self.conf = conf
        self.pairs: list[tuple[str, str]] = []
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.pairs)

    def set_epoch(self, epoch: int) -> None:
        """Draw other point subsets and augmentations in each epoch (still deterministic per epoch and index)."""
        self.epoch = epoch

    def correspondences(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """All ground-truth correspondences (N, 2), (N, 2) of pair `index`, in pixels of the images as stored."""
        raise NotImplementedError

    def generator(self, index: int) -> torch.Generator:
        seed = np.random.SeedSequence([self.conf.seed, self.epoch, index]).generate_state(1)[0]
        return torch.Generator().manual_seed(int(seed))

    def load_image(self, name: str) -> tuple[torch.Tensor, np.ndarray]:
        """(C, H, W) float image in [0, 1], resized to `max_side`, and the (x, y) scale applied."""
        image, scale = resize_max(read_image(self.image_root / name, self.conf.grayscale), self.conf.max_side)
        image = torch.from_numpy(np.ascontiguousarray(image)).float() / 255
        return (image[None] if image.dim() == 2 else image.permute(2, 0, 1)), scale

    def __getitem__(self, index: int) -> dict:
        index = range(len(self.pairs))[index]  # negative indices too; the seed needs the positive one
        name0, name1 = self.pairs[index]
        generator = self.generator(index)
        points0, points1 = self.correspondences(index)
        keep = torch.randperm(len(points0), generator=generator)[: self.conf.max_points]
        (image0, scale0), (image1, scale1) = self.load_image(name0), self.load_image(name1)
        if self.conf.augment.enabled:
            image0 = augment(image0, self.conf.augment, generator)
            image1 = augment(image1, self.conf.augment, generator)
        return {
            "image0": image0,
            "image1": image1,
            "name0": name0,
            "name1": name1,
            "points0": (points0[keep] * torch.from_numpy(scale0)).float(),
            "points1": (points1[keep] * torch.from_numpy(scale1)).float(),
        }


def collate_pairs(samples: list[dict]) -> dict:
    """Batch samples of equal image size: points padded with zeros to the largest N, `mask` (B, N) marks real ones."""
    size = max(len(s["points0"]) for s in samples)
    batch = {key: torch.stack([s[key] for s in samples]) for key in ("image0", "image1")}
    batch["mask"] = torch.zeros(len(samples), size, dtype=torch.bool)
    for key in ("points0", "points1"):
        batch[key] = torch.zeros(len(samples), size, 2)
        for b, sample in enumerate(samples):
            batch[key][b, : len(sample[key])] = sample[key]
    for b, sample in enumerate(samples):
        batch["mask"][b, : len(sample["points0"])] = True
    batch.update(name0=[s["name0"] for s in samples], name1=[s["name1"] for s in samples])
    return batch


@dataclass(frozen=True)
class RGBDFrame:
    """An image with a registered z-depth map of its size (0 or nan where unknown) and its camera."""

    image: str  # relative to the image root
    depth: Path  # .npy, .npz with a `depth` array, or a 16-bit PNG (times depth_scale)
    camera: pycolmap.Camera  # a pinhole model, or SIMPLE_RADIAL, RADIAL, OPENCV
    cam_from_world: pycolmap.Rigid3d
    depth_scale: float = 1.0


def read_depth(frame: RGBDFrame) -> torch.Tensor:
    """The depth map (H, W) float64 of a frame, 0 where unknown; it must have the camera's size."""
    path = frame.depth
    if not path.is_file():
        raise InputError(f"{path}: depth map not found")
    if path.suffix in (".npz", ".npy"):
        depth = _load_depth_array(path)
    else:
        depth = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if depth is None:
            raise InputError(f"{path}: not a readable depth image")
    if depth.shape != (frame.camera.height, frame.camera.width):
        expected = f"{frame.camera.height}x{frame.camera.width}"
        raise FormatError(f"{path}: depth map of shape {depth.shape}, expected {expected}")
    depth = np.nan_to_num(depth.astype(np.float64) * frame.depth_scale, nan=0.0, posinf=0.0, neginf=0.0)
    return torch.from_numpy(np.maximum(depth, 0.0))


def _load_depth_array(path: Path) -> np.ndarray:
    """The depth array of a .npy file, or the `depth` array of a .npz; one line naming the file if it is broken."""
    try:
        if path.suffix == ".npy":
            return np.load(path)
        with np.load(path) as data:
            if "depth" not in data:
                raise FormatError(f"{path}: no 'depth' array")
            return data["depth"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:  # empty, truncated or foreign files
        raise FormatError(f"{path}: not a readable depth map ({error})") from None


def reproject(
    pixels0: torch.Tensor, depth0: torch.Tensor, frame0: RGBDFrame, frame1: RGBDFrame
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pixels (N, 2) of frame 0 with depths (N,) -> pixels (N, 2) and depths (N,) in frame 1, and in front & inside."""
    normalized = torch.from_numpy(frame0.camera.cam_from_img(pixels0.double().numpy()))  # undistorted
    points0 = torch.cat([normalized, torch.ones_like(depth0)[:, None]], -1) * depth0[:, None]
    points1 = Pose.from_pycolmap(relative_pose(frame0.cam_from_world, frame1.cam_from_world)).transform(points0)
    pixels1, valid = Camera.from_pycolmap(frame1.camera).project(points1)
    return pixels1, points1[:, 2], valid


def depth_agrees(
    pixels: torch.Tensor, depths: torch.Tensor, depth_map: torch.Tensor, tolerance: float, stride: int = 1
) -> torch.Tensor:
    """Whether `depths` agree (relative tolerance) with a depth map, sampled every `stride` pixels, at `pixels`."""
    height, width = depth_map.shape
    cols = (pixels[:, 0] / stride).floor().clamp(0, width - 1).long()
    rows = (pixels[:, 1] / stride).floor().clamp(0, height - 1).long()
    reference = depth_map[rows, cols]
    return (reference > 0) & ((depths - reference).abs() <= tolerance * reference)


class RGBDPairs(PairDataset):
    """Pairs of RGB-D frames that see the same surfaces; correspondences by reprojection with an occlusion check.

    `candidates` (index pairs into `frames`) restricts the pairs considered (default: all); `source` names the data
    in errors (default: the image root).
    """

    def __init__(
        self,
        image_root: Path,
        frames: list[RGBDFrame],
        conf: PairsConf = PairsConf(),
        candidates: list[tuple[int, int]] | None = None,
        source: str | None = None,
    ):
        super().__init__(image_root, conf)
        self.frames = frames
        if candidates is None:
            candidates = list(combinations(range(len(frames)), 2))
        self.frame_pairs = self._overlapping(candidates)
        self.pairs = [(frames[i].image, frames[j].image) for i, j in self.frame_pairs]
        if not self.pairs:
            raise InputError(
                f"{source or image_root}: no image pair with at least {conf.min_correspondences} "
                f"correspondences and {conf.min_overlap:.0%} overlap"
            )

    def _overlapping(self, candidates: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The candidates whose coarse reprojection check passes; frames with the same depth and pose are one view."""
        stride, coarse, results, kept = self.conf.overlap_stride, {}, {}, []
        for frame in self.frames:
            if frame.depth not in coarse:
                coarse[frame.depth] = read_depth(frame)[stride // 2 :: stride, stride // 2 :: stride].contiguous()

        def view(frame: RGBDFrame) -> tuple:
            return frame.depth, tuple(frame.cam_from_world.params), tuple(frame.camera.params)

        def seen(source: RGBDFrame, target: RGBDFrame) -> tuple[float, int]:
            """Share of the valid coarse pixels of `source` seen by `target`, and their estimated full-size number."""
            depth = coarse[source.depth]
            rows, cols = torch.nonzero(depth > 0, as_tuple=True)
            if len(rows) == 0:
                return 0.0, 0
            pixels = torch.stack([cols, rows], -1).double() * stride + stride // 2 + 0.5
            pixels1, depths1, valid = reproject(pixels, depth[rows, cols], source, target)
            agree = valid & depth_agrees(pixels1, depths1, coarse[target.depth], OVERLAP_TOLERANCE, stride)
            return agree.double().mean().item(), int(agree.sum()) * stride * stride

        for i, j in candidates:
            key = (view(self.frames[i]), view(self.frames[j]))
            if key not in results:
                (share0, count), (share1, _) = (
                    seen(self.frames[i], self.frames[j]),
                    seen(self.frames[j], self.frames[i]),
                )
                results[key] = min(share0, share1) >= self.conf.min_overlap and count >= self.conf.min_correspondences
            if results[key]:
                kept.append((i, j))
        return kept

    def correspondences(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        frame0, frame1 = (self.frames[k] for k in self.frame_pairs[index])
        depth0, depth1 = read_depth(frame0), read_depth(frame1)
        rows, cols = torch.nonzero(depth0 > 0, as_tuple=True)
        pixels0 = torch.stack([cols, rows], -1).double() + 0.5
        pixels1, depths1, valid = reproject(pixels0, depth0[rows, cols], frame0, frame1)
        keep = valid & depth_agrees(pixels1, depths1, depth1, self.conf.depth_tolerance)
        return pixels0[keep], pixels1[keep]


def _synthetic_candidates(
    names: list[str], conditions: list[str], same_frame: bool, viewpoints: bool
) -> list[tuple[int, int]]:
    """Index pairs into `names` (condition/frame.png): a frame across conditions, and frames across viewpoints."""
    index = {name: k for k, name in enumerate(names)}
    frames = sorted({name.split("/", 1)[1] for name in names})
    reference, others = conditions[0], conditions[1:]
    pairs = []
    if same_frame:
        pairs += [(f"{reference}/{f}", f"{c}/{f}") for f in frames for c in others]
    if viewpoints:
        pairs += [(f"{reference}/{f}", f"{c}/{g}") for f, g in combinations(frames, 2) for c in conditions]
    return [(index[a], index[b]) for a, b in pairs if a in index and b in index]


class SyntheticPairs(RGBDPairs):
    """`RGBDPairs` on a `vloc synth` folder: a frame in the day and in another condition (identity flow), and two
    frames that see the same surfaces, the first in the day, the second in each condition."""

    def __init__(self, root: Path, conf: PairsConf = PairsConf(), same_frame: bool = True, viewpoints: bool = True):
        scene = root / "scene.json"
        if not scene.is_file():
            raise InputError(f"{root}: not a vloc synth folder (no scene.json)")
        try:
            conditions = [str(c) for c in json.loads(scene.read_text())["config"]["conditions"]]
        except (ValueError, KeyError, TypeError):
            raise FormatError(f"{scene}: no valid 'config.conditions'") from None
        if "day" in conditions:  # the reference condition comes first
            conditions.remove("day")
            conditions.insert(0, "day")
        model = read_model(root / "model")
        frames = []
        for image in sorted(model.images.values(), key=lambda image: image.name):
            stem = Path(image.name).stem
            camera = pycolmap.Camera(
                model=image.camera.model_name,
                width=image.camera.width,
                height=image.camera.height,
                params=image.camera.params,
            )
            frames.append(RGBDFrame(image.name, root / "geometry" / f"{stem}.npz", camera, image.cam_from_world()))
        candidates = _synthetic_candidates([f.image for f in frames], conditions, same_frame, viewpoints)
        super().__init__(root / "images", frames, conf, candidates, source=str(root))


def covisible_pairs(point_ids: dict[str, np.ndarray], min_shared: int) -> list[tuple[str, str]]:
    """The image pairs, sorted by name, whose sorted unique 3D point ids (uint64) share at least `min_shared`."""
    names = sorted(point_ids)
    shared = shared_point_counts([point_ids[name] for name in names])
    keep = shared.data >= min_shared
    return sorted((names[i], names[j]) for i, j in zip(shared.row[keep], shared.col[keep]))


class ColmapPairs(PairDataset):
    """Pairs of images of a COLMAP model sharing at least `min_correspondences` 3D points; the correspondences are
    the observations of those points (keypoints as stored in the model, relative to `image_root`)."""

    def __init__(self, model_path: Path, image_root: Path, conf: PairsConf = PairsConf()):
        super().__init__(image_root, conf)
        model = read_model(model_path, need_points=True)
        self.observations: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # name: sorted point3D ids, xy
        for image in model.images.values():
            if not image.has_pose:
                continue
            points = {}
            for point in image.get_observation_points2D():
                points.setdefault(point.point3D_id, point.xy)
            keys = sorted(points)
            xy = np.array([points[k] for k in keys], dtype=np.float64).reshape(-1, 2)
            self.observations[image.name] = np.array(keys, dtype=np.uint64), xy
        self.pairs = covisible_pairs(
            {name: ids for name, (ids, _) in self.observations.items()}, conf.min_correspondences
        )
        if not self.pairs:
            raise InputError(f"{model_path}: no image pair with at least {conf.min_correspondences} shared 3D points")

    def correspondences(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        (ids0, xy0), (ids1, xy1) = (self.observations[name] for name in self.pairs[index])
        _, k0, k1 = np.intersect1d(ids0, ids1, assume_unique=True, return_indices=True)
        return torch.from_numpy(xy0[k0]), torch.from_numpy(xy1[k1])
