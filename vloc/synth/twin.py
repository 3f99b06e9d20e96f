"""`vloc synth-twin`: a synthetic twin of a real place from its posed RGB-D frames (CrossLoc's synthetic domain). The
depth maps are fused into a point cloud with normals, which is splatted at new poses sampled around the mapping
trajectory for the geometry; each render takes its colours from the nearest frames' own pixels, carried by their depth
into the new view, and from the cloud's averaged colours where none sees the surface. Every render comes with scene
coordinates, depth and normals, as do the real frames themselves."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import pycolmap
import torch
from scipy.spatial.transform import Rotation

from vloc.console import progress_bar, track
from vloc.errors import ConfigError, FormatError, InputError
from vloc.io.atomic import atomic_path, write_bytes_atomic
from vloc.io.images import read_image, write_png
from vloc.io.model import build_posed_model, write_model
from vloc.io.text import write_queries, write_text_atomic
from vloc.synth.files import write_npz

FORMAT = "vloc-twin-1"
MAX_DEPTH_MM = 65535  # the 16-bit depth value that, like 0, means no measurement
SAME_SURFACE = 0.05  # two depths along one ray closer than this fraction of the depth see the same surface


@dataclass(frozen=True)
class TwinConf:
    num_renders: int = 300
    voxel: float = 0.01  # m: the fused cloud keeps one point (mean position, colour, normal) per voxel
    render_scale: float = 0.5  # renders at this fraction of the colour camera's resolution
    max_offset: float = 0.3  # m: camera centres within this of a mapping frame's, per axis
    max_rotation: float = 15.0  # deg: and rotated by up to this about each camera axis
    min_coverage: float = 0.6  # a render with less of its pixels covered by the cloud is drawn again
    depth_stride: int = 2  # every this many depth pixels, in each direction, enter the cloud
    colour_frames: int = 3  # colours from the pixels of this many frames nearest each render (0: the cloud's colours)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_renders < 1 or self.voxel <= 0 or not 0 < self.render_scale <= 1 or self.depth_stride < 1:
            raise ConfigError(
                "synth-twin: num_renders, voxel, render_scale (up to 1) and depth_stride must be positive"
            )
        if self.colour_frames < 0:
            raise ConfigError(f"synth-twin: colour_frames must be 0 or more, got {self.colour_frames}")
        if not 0 <= self.min_coverage < 1:
            raise ConfigError(f"synth-twin: min_coverage must be in [0, 1), got {self.min_coverage}")


@dataclass(frozen=True)
class DepthFrame:
    """A real posed RGB-D frame: the colour image and camera, and the depth map (16-bit PNG, millimetres, 0 and 65535
    unknown) of a depth camera taken to share the colour camera's pose."""

    image: Path
    depth: Path
    camera: pycolmap.Camera
    depth_camera: pycolmap.Camera
    cam_from_world: pycolmap.Rigid3d


@dataclass
class Cloud:
    points: np.ndarray  # (N, 3) world
    colours: np.ndarray  # (N, 3) uint8 RGB
    normals: np.ndarray | None  # (N, 3) world, unit; None where not computed


def pixel_rays(camera: pycolmap.Camera, width: int, height: int) -> np.ndarray:
    """(H, W, 3) rays K^-1 (u + 0.5, v + 0.5, 1) of the pixel centres, in COLMAP's convention (read-only)."""
    return _pixel_rays(tuple(camera.calibration_matrix().ravel()), width, height)


@functools.lru_cache(maxsize=2)  # each phase of a twin run alternates between two cameras
def _pixel_rays(calibration: tuple[float, ...], width: int, height: int) -> np.ndarray:
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    pixels = np.stack([u, v, np.ones_like(u)], axis=-1)
    rays = pixels @ np.linalg.inv(np.reshape(calibration, (3, 3))).T
    rays.flags.writeable = False
    return rays


def read_depth(frame: DepthFrame) -> np.ndarray:
    """Depth in metres (H, W) of the depth camera's size, 0 where unknown; a one-line error for another file."""
    depth = cv2.imread(str(frame.depth), cv2.IMREAD_UNCHANGED)
    if depth is None:
        raise InputError(f"{frame.depth}: depth map not found or unreadable")
    expected = (frame.depth_camera.height, frame.depth_camera.width)
    if depth.dtype != np.uint16 or depth.shape != expected:
        raise FormatError(f"{frame.depth}: expected a 16-bit depth map of {expected[0]}x{expected[1]}")
    return np.where(depth == MAX_DEPTH_MM, 0, depth).astype(np.float32) / 1000


def camera_normals(points: np.ndarray) -> np.ndarray:
    """Unit normals (H, W, 3) of a camera-frame point map from central differences, facing the camera; 0 where a
    neighbour is unknown or across a depth jump (not SAME_SURFACE)."""
    horizontal = points[1:-1, 2:] - points[1:-1, :-2]
    vertical = points[2:, 1:-1] - points[:-2, 1:-1]
    normals = np.cross(vertical, horizontal)
    depth = points[..., 2]
    centre = depth[1:-1, 1:-1]
    neighbours = np.stack([depth[1:-1, 2:], depth[1:-1, :-2], depth[2:, 1:-1], depth[:-2, 1:-1]])
    smooth = (neighbours > 0).all(0) & (centre > 0) & (np.abs(neighbours - centre).max(0) < SAME_SURFACE * centre)
    length = np.linalg.norm(normals, axis=-1, keepdims=True)
    normals = np.where(smooth[..., None] & (length > 0), normals / np.maximum(length, 1e-12), 0)
    normals *= np.where((normals * points[1:-1, 1:-1]).sum(-1, keepdims=True) > 0, -1, 1)
    return np.pad(normals, ((1, 1), (1, 1), (0, 0)))


def frame_points(frame: DepthFrame, stride: int, with_normals: bool = True) -> Cloud:
    """The frame's measured points in world coordinates, coloured from its image, with normals (0 where unknown)
    if asked for."""
    depth = read_depth(frame)
    points = pixel_rays(frame.depth_camera, depth.shape[1], depth.shape[0]) * depth[..., None]
    keep = np.zeros_like(depth, dtype=bool)
    keep[::stride, ::stride] = depth[::stride, ::stride] > 0
    camera_points = points[keep]
    image = read_image(frame.image, grayscale=False)
    if image.shape[:2] != (frame.camera.height, frame.camera.width):
        raise FormatError(
            f"{frame.image}: {image.shape[1]}x{image.shape[0]}, its camera is {frame.camera.width}x"
            f"{frame.camera.height}"
        )
    projected = camera_points @ frame.camera.calibration_matrix().T
    pixels = np.floor(projected[:, :2] / projected[:, 2:]).astype(int)
    inside = (pixels >= 0).all(1) & (pixels[:, 0] < image.shape[1]) & (pixels[:, 1] < image.shape[0])
    rotation = frame.cam_from_world.rotation.matrix()
    world = (camera_points[inside] - frame.cam_from_world.translation) @ rotation
    normals = camera_normals(points)[keep][inside] @ rotation if with_normals else None
    return Cloud(world, image[pixels[inside, 1], pixels[inside, 0]], normals)


def frame_colours(frames: list[DepthFrame], cached: int) -> Callable[[int], Cloud]:
    """Frame index -> that frame's coloured points at every pixel (no normals), the `cached` last used kept."""
    return functools.lru_cache(maxsize=cached)(lambda index: frame_points(frames[index], stride=1, with_normals=False))


def fuse(frames: list[DepthFrame], conf: TwinConf) -> Cloud:
    """The frames' points averaged per voxel: mean position, colour and (renormalised) normal."""
    parts = [frame_points(frame, conf.depth_stride) for frame in track(frames, "synth-twin: fuse depth", len(frames))]
    points = np.concatenate([p.points for p in parts])
    if len(points) == 0:
        raise InputError(f"synth-twin: no valid depth in the {len(frames)} frames")
    voxel, counts = voxel_groups(np.floor(points / conf.voxel).astype(np.int64), conf.voxel)

    def mean(values: np.ndarray) -> np.ndarray:
        return np.stack([np.bincount(voxel, values[:, c], len(counts)) for c in range(3)], 1) / counts[:, None]

    colours = mean(np.concatenate([p.colours for p in parts]).astype(np.float64))
    normals = mean(np.concatenate([p.normals for p in parts]))
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    return Cloud(mean(points).astype(np.float32), np.round(colours).astype(np.uint8), normals.astype(np.float32))


def voxel_groups(cells: np.ndarray, voxel: float) -> tuple[np.ndarray, np.ndarray]:
    """For the (N, 3) integer voxel of each point, the index of its voxel among the distinct ones (sorted) and each
    voxel's count: np.unique(cells, axis=0)'s inverse and counts, from one integer key per voxel (many times faster)."""
    low = cells.min(0)
    span = cells.max(0) - low + 1
    if np.prod(span.astype(float)) >= 2.0**63:
        raise ConfigError(
            f"synth-twin: the depth spans {span} voxels of {voxel} m, too many for one index; set a larger voxel"
        )
    keys = np.ravel_multi_index(tuple((cells - low).T), tuple(span))
    _, group, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return group, counts


def nearest_points(camera_points: torch.Tensor, K: np.ndarray, width: int, height: int, half_widths: torch.Tensor):
    """Index (H, W) of the nearest point covering each pixel, -1 where none: a point covers the square of its
    `half_widths` (px) around the pixel it projects into. A z-buffer by one scatter-min of (depth, index) keys."""
    depth = camera_points[:, 2]
    projected = camera_points @ torch.from_numpy(K).to(camera_points).T
    pixels = torch.floor(projected[:, :2] / depth[:, None]).long()
    size = torch.tensor([width, height])
    near = ((pixels + half_widths[:, None] >= 0) & (pixels - half_widths[:, None] < size)).all(1)  # cover a pixel
    index = torch.nonzero(near)[:, 0]
    pixels, half_widths = pixels[index], half_widths[index]
    keys = (depth[index] * 1e4).long() << 32 | index  # 0.1 mm depth steps, then the point
    best = torch.full((height * width,), torch.iinfo(torch.int64).max)
    for h in range(int(half_widths.max()) + 1 if len(half_widths) else 0):
        if h > 0:  # the points of at least half-width h, fewer at each h
            wide = torch.nonzero(half_widths >= h)[:, 0]
            pixels, keys, half_widths = pixels[wide], keys[wide], half_widths[wide]
        ring = [(dx, dy) for dx in range(-h, h + 1) for dy in range(-h, h + 1) if max(abs(dx), abs(dy)) == h]
        for dx, dy in ring:
            x, y = pixels[:, 0] + dx, pixels[:, 1] + dy
            inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
            best.scatter_reduce_(0, (y * width + x)[inside], keys[inside], "amin")
    found = best < torch.iinfo(torch.int64).max
    return torch.where(found, best & 0xFFFFFFFF, -1).view(height, width)


def render(
    cloud: Cloud, cam_from_world: pycolmap.Rigid3d, camera: pycolmap.Camera, splat: float
) -> dict[str, np.ndarray]:
    """RGB (black where nothing is seen), depth (0 there), scene coordinates (nan there) and, if the cloud has normals,
    world normals (0 there) of the cloud seen by `camera`; each point a square of side `splat` metres facing it."""
    rotation, translation = cam_from_world.rotation.matrix(), cam_from_world.translation
    camera_points = cloud.points @ rotation.T.astype(np.float32) + translation.astype(np.float32)
    front = np.flatnonzero(camera_points[:, 2] > 0.05)
    points = torch.from_numpy(camera_points[front])
    focal = float(camera.calibration_matrix()[0, 0])
    half_widths = torch.clamp(torch.ceil(splat * focal / (2 * points[:, 2]) - 0.5), 0, 8).long()
    nearest = nearest_points(points, camera.calibration_matrix(), camera.width, camera.height, half_widths).numpy()
    seen = nearest >= 0
    winner = front[nearest[seen]]
    depth = np.zeros((camera.height, camera.width), np.float32)
    depth[seen] = camera_points[winner, 2]
    camera_coordinates = pixel_rays(camera, camera.width, camera.height) * depth[..., None]
    coordinates = (camera_coordinates - translation) @ rotation
    coordinates[~seen] = np.nan
    image = np.zeros((camera.height, camera.width, 3), np.uint8)
    image[seen] = cloud.colours[winner]
    maps = {"image": image, "depth": depth, "scene_coordinates": coordinates.astype(np.float32)}
    if cloud.normals is not None:
        maps["normals"] = np.zeros((camera.height, camera.width, 3), np.float32)
        maps["normals"][seen] = cloud.normals[winner]
    return maps


def camera_centres(frames: list[DepthFrame]) -> np.ndarray:
    """(N, 3) world positions of the frames' cameras."""
    return np.array([frame.cam_from_world.inverse().translation for frame in frames])


def colour_from_frames(
    maps: dict[str, np.ndarray], sources: list[Cloud], cam_from_world: pycolmap.Rigid3d, camera: pycolmap.Camera
) -> np.ndarray:
    """The render's image with each pixel coloured by the first of `sources` (frames' own coloured pixels, as from
    frame_colours) that, carried into the view by their depth, lands on the render's surface there (depth within
    SAME_SURFACE); the render's colour elsewhere."""
    image, depth = maps["image"].copy(), maps["depth"]
    coloured = np.zeros(depth.shape, bool)
    for source in sources:
        seen = render(source, cam_from_world, camera, splat=0.0)
        same = ~coloured & (depth > 0) & (np.abs(seen["depth"] - depth) < SAME_SURFACE * depth)
        image[same] = seen["image"][same]
        coloured |= same
    return image


def latin_hypercube(count: int, dims: int, rng: np.random.Generator) -> np.ndarray:
    """(count, dims) samples in [-1, 1]: each dimension's range cut into `count` strata, each stratum used once."""
    strata = np.stack([rng.permutation(count) for _ in range(dims)], axis=1)
    return 2 * (strata + rng.random((count, dims))) / count - 1


def twin_poses(
    frames: list[DepthFrame], count: int, conf: TwinConf, rng: np.random.Generator
) -> list[pycolmap.Rigid3d]:
    """Poses near the mapping frames': a frame's camera moved and turned by Latin-hypercube offsets, in the order of
    those frames (so that renders in a row mostly take colours from the same frames, which stay cached)."""
    offsets = latin_hypercube(count, 6, rng)
    bases = rng.integers(len(frames), size=count)
    order = np.argsort(bases, kind="stable")
    poses = []
    for base, offset in zip(bases[order], offsets[order]):
        pose = frames[base].cam_from_world
        centre = pose.inverse().translation + conf.max_offset * offset[:3]
        turn = Rotation.from_rotvec(np.deg2rad(conf.max_rotation) * offset[3:]).as_matrix()
        rotation = turn @ pose.rotation.matrix()
        poses.append(pycolmap.Rigid3d(pycolmap.Rotation3d(rotation), -rotation @ centre))
    return poses


def real_labels(frame: DepthFrame) -> dict[str, np.ndarray]:
    """Scene coordinates, depth and world normals at the colour image's pixels, from the frame's own depth map."""
    cloud = frame_points(frame, stride=1)
    maps = render(cloud, frame.cam_from_world, frame.camera, splat=0.0)
    return {k: v for k, v in maps.items() if k != "image"}


def scaled_camera(camera: pycolmap.Camera, scale: float) -> pycolmap.Camera:
    width, height = round(camera.width * scale), round(camera.height * scale)
    K = camera.calibration_matrix()
    return pycolmap.Camera(
        model="PINHOLE",
        width=width,
        height=height,
        params=[
            K[0, 0] * width / camera.width,
            K[1, 1] * height / camera.height,
            K[0, 2] * width / camera.width,
            K[1, 2] * height / camera.height,
        ],
    )


def main(frames: list[DepthFrame], out: Path, conf: TwinConf = TwinConf()) -> Path:
    """Write the twin of `frames` into `out` in vloc synth's layout: condition `real` (the frames, with labels from
    their depth) and condition `twin` (renders of the fused cloud), images/, geometry/*.npz, model/, scene.json."""
    if not frames:
        raise InputError("synth-twin: no frames")
    if out.is_dir() and any(out.iterdir()):
        held = "a scene" if (out / "scene.json").exists() else "files"
        raise ConfigError(f"{out}: already holds {held}; pick another folder")
    with atomic_path(out) as staging:  # a run that fails (bad depth, too little coverage) leaves nothing behind
        write_twin(frames, staging, conf)
    return out


def write_twin(frames: list[DepthFrame], out: Path, conf: TwinConf) -> None:
    """The twin's files (main's), written into `out`."""
    cameras, poses = {}, {}
    for frame in track(frames, "synth-twin: real frames", len(frames)):
        name = f"real/{frame.image.name}"
        write_npz(out / "geometry" / f"{frame.image.stem}.npz", real_labels(frame))
        write_bytes_atomic(out / "images" / name, frame.image.read_bytes())
        cameras[name], poses[name] = frame.camera, frame.cam_from_world
    cloud = fuse(frames, conf)
    centres = camera_centres(frames)
    camera = scaled_camera(frames[0].camera, conf.render_scale)
    colours = frame_colours(frames, cached=4 * conf.colour_frames)
    rng = np.random.default_rng(conf.seed)
    digits = len(str(conf.num_renders - 1))
    rendered, drawn = 0, 0
    with progress_bar("synth-twin: render", conf.num_renders) as advance:
        while rendered < conf.num_renders:
            for pose in twin_poses(frames, conf.num_renders - rendered, conf, rng):
                drawn += 1
                maps = render(cloud, pose, camera, splat=conf.voxel)
                if (maps["depth"] > 0).mean() < conf.min_coverage:
                    continue
                nearest = np.argsort(np.linalg.norm(centres - pose.inverse().translation, axis=1))
                image = colour_from_frames(maps, [colours(k) for k in nearest[: conf.colour_frames]], pose, camera)
                name = f"twin/twin-{rendered:0{digits}d}.png"
                write_npz(
                    out / "geometry" / f"twin-{rendered:0{digits}d}.npz",
                    {k: v for k, v in maps.items() if k != "image"},
                )
                write_png(out / "images" / name, image)
                cameras[name], poses[name] = camera, pose
                rendered += 1
                advance(1)
            if drawn > 20 * conf.num_renders:
                raise InputError(f"synth-twin: under {conf.min_coverage:.0%} of the pixels covered in most renders")
    write_model(build_posed_model(cameras, poses), out / "model")
    write_queries(out / "queries.txt", cameras)
    description = {
        "vloc_format": FORMAT,
        "config": asdict(conf),
        "num_real": len(frames),
        "num_points": len(cloud.points),
        "renders_drawn": drawn,
        "depth_camera": "taken to share the colour camera's pose (their baseline, a few cm on a Kinect, is ignored)",
    }
    write_text_atomic(out / "scene.json", json.dumps(description, indent=2) + "\n")
