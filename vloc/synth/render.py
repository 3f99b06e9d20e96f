"""Ray casting of the synthetic scene: geometry maps at pixel centres and antialiased RGB per condition."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vloc.synth import appearance, textures
from vloc.synth.scene import Layout, SynthConfig, make_layout, make_poses

FACADE_DENSITY = 40.0  # texels per metre
GROUND_DENSITY = 30.0
SUPERSAMPLING = 2


@dataclass
class World:
    """The scene and its surfaces: 0 sky, 1 ground, then 5 faces per box (-x, +x, -y, +y, roof)."""

    layout: Layout
    poses: list[tuple[np.ndarray, np.ndarray]]  # cam_from_world (R, t)
    normal: np.ndarray  # (S, 3)
    axes: np.ndarray  # (S, 2) world axes of the texture coordinates u, v
    origin: np.ndarray  # (S, 2) world coordinate of u = 0 and v = 0 on those axes
    instance: np.ndarray  # (S,) int32
    atlas: appearance.Atlas  # channels: day RGB, season RGB


def build_world(conf: SynthConfig) -> World:
    """Layout, poses and textures, each from its own random stream of `conf.seed`."""
    layout_seed, pose_seed, texture_seed = np.random.SeedSequence(conf.seed).spawn(3)
    layout = make_layout(conf, np.random.default_rng(layout_seed))
    poses = make_poses(conf, layout, np.random.default_rng(pose_seed))
    rng = np.random.default_rng(texture_seed)
    size = layout.ground_hi - layout.ground_lo
    ground = textures.ground(rng, tuple(size), tuple(layout.ground_lo), GROUND_DENSITY, layout.street_half_width)
    return assemble_world(layout, poses, ground, GROUND_DENSITY, rng)


def assemble_world(
    layout: Layout,
    poses: list[tuple[np.ndarray, np.ndarray]],
    ground: tuple[np.ndarray, np.ndarray],
    ground_density: float,
    rng: np.random.Generator,
) -> World:
    """The world of `layout`: its ground textured by `ground` (day, season; texel (0, 0) at ground_lo) and every
    box textured from `rng` (facades of one hue per building, a roof)."""
    normal, axes, origin, instance = [np.zeros(3)], [(0, 1)], [(0.0, 0.0)], [0]
    pairs = [(np.zeros((2, 2, 3), np.float32),) * 2, ground]
    densities = [1.0, ground_density]
    normal.append(np.array([0.0, 0.0, 1.0]))
    axes.append((0, 1))
    origin.append(tuple(layout.ground_lo))
    instance.append(0)
    hues = (np.arange(len(layout.boxes)) / len(layout.boxes) + rng.uniform(0, 1)) % 1.0
    for box, hue in zip(layout.boxes, rng.permutation(hues)):
        extent = box.hi - box.lo
        for axis in (0, 1):
            other = 1 - axis
            for sign in (-1.0, 1.0):
                pairs.append(
                    textures.facade(rng, extent[other], extent[2], FACADE_DENSITY, hue + rng.uniform(-0.03, 0.03))
                )
                normal.append(sign * np.eye(3)[axis])
                axes.append((other, 2))
                origin.append((box.lo[other], 0.0))
                instance.append(box.instance)
                densities.append(FACADE_DENSITY)
        pairs.append(textures.roof(rng, extent[0], extent[1], 10.0))
        normal.append(np.array([0.0, 0.0, 1.0]))
        axes.append((0, 1))
        origin.append((box.lo[0], box.lo[1]))
        instance.append(box.instance)
        densities.append(10.0)
    atlas = appearance.build_atlas([np.concatenate(p, axis=2) for p in pairs], densities)
    return World(
        layout,
        poses,
        np.asarray(normal, np.float32),
        np.asarray(axes, np.int64),
        np.asarray(origin, np.float64),
        np.asarray(instance, np.int32),
        atlas,
    )


def roof_surface(box_index: int) -> int:
    """The surface id of the roof of box `box_index` (after the sky, the ground and the box's four walls)."""
    return 2 + 5 * box_index + 4


@dataclass
class Hits:
    """Nearest hit of each ray; rays are R^T (x, y, 1) so the ray parameter is the z-depth (inf for sky)."""

    depth: np.ndarray  # (N,)
    surface: np.ndarray  # (N,) int64, 0 for sky
    rays: np.ndarray  # (N, 3) world directions
    centre: np.ndarray  # (3,) camera centre

    @property
    def points(self) -> np.ndarray:
        return self.centre + np.where(np.isfinite(self.depth), self.depth, 0)[:, None] * self.rays


def _box_block(
    box, rotation: np.ndarray, translation: np.ndarray, focal: float, width: int, height: int, scale: int
) -> tuple[slice, slice] | None:
    """Rows and columns of the (upsampled) image that can see `box`; None if it is behind the camera or outside."""
    corners = np.stack(np.meshgrid(*zip(box.lo, box.hi), indexing="ij"), axis=-1).reshape(-1, 3)
    cam = corners @ rotation.T + translation
    if np.all(cam[:, 2] <= 0):
        return None
    if np.any(cam[:, 2] <= 1e-3):  # straddles the camera plane: test every ray
        return slice(0, height * scale), slice(0, width * scale)
    x = (focal * cam[:, 0] / cam[:, 2] + width / 2) * scale - 0.5
    y = (focal * cam[:, 1] / cam[:, 2] + height / 2) * scale - 0.5
    c0, c1 = max(int(np.floor(x.min())) - 1, 0), min(int(np.ceil(x.max())) + 2, width * scale)
    r0, r1 = max(int(np.floor(y.min())) - 1, 0), min(int(np.ceil(y.max())) + 2, height * scale)
    return (slice(r0, r1), slice(c0, c1)) if r0 < r1 and c0 < c1 else None


def cast(
    world: World,
    rotation: np.ndarray,
    translation: np.ndarray,
    focal: float,
    width: int,
    height: int,
    scale: int = 1,
    dtype: type = np.float64,
) -> Hits:
    """Rays through the centres of an image upsampled `scale` times;
    COLMAP pixel centres (j + 0.5, i + 0.5) at scale 1."""
    cols = ((np.arange(width * scale) + 0.5) / scale - width / 2) / focal
    rows = ((np.arange(height * scale) + 0.5) / scale - height / 2) / focal
    x, y = np.meshgrid(cols.astype(dtype), rows.astype(dtype))
    rays = np.stack([x, y, np.ones_like(x)], axis=-1) @ rotation.astype(dtype)  # R^T (x, y, 1) per pixel
    centre = (-rotation.T @ translation).astype(dtype)
    depth = np.full(x.shape, np.inf, dtype)
    surface = np.zeros(x.shape, np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = 1 / rays
        down = rays[..., 2] < 0
        depth[down], surface[down] = -centre[2] * inverse[..., 2][down], 1
        for index, box in enumerate(world.layout.boxes):
            block = _box_block(box, rotation, translation, focal, width, height, scale)
            if block is None:
                continue
            inv, best = inverse[block], depth[block]
            near = np.full(best.shape, -np.inf, dtype)
            far = np.full(best.shape, np.inf, dtype)
            face = np.zeros(best.shape, np.int64)
            lo, hi = (box.lo - centre).astype(dtype), (box.hi - centre).astype(dtype)
            for axis in range(3):
                t_lo, t_hi = lo[axis] * inv[..., axis], hi[axis] * inv[..., axis]
                entry, leave = np.minimum(t_lo, t_hi), np.maximum(t_lo, t_hi)
                later = entry > near
                near[later] = entry[later]
                face[later] = 2 * axis + (inv[..., axis][later] < 0)  # entering through the + side when going towards -
                np.minimum(far, leave, out=far)
            hit = (near <= far) & (near > 0) & (near < best)
            best[hit] = near[hit]
            surface[block][hit] = 2 + 5 * index + np.minimum(face[hit], 4)
    return Hits(depth.ravel(), surface.ravel(), rays.reshape(-1, 3), centre)


def geometry_maps(world: World, hits: Hits, width: int, height: int) -> dict[str, np.ndarray]:
    """depth (0 for sky), scene_coordinates (nan for sky), normals (0 for sky), instances,
    as float32/int32 (H, W) maps."""
    sky = hits.surface == 0
    points = hits.points
    points[sky] = np.nan
    return {
        "depth": np.where(sky, 0, hits.depth).astype(np.float32).reshape(height, width),
        "scene_coordinates": points.astype(np.float32).reshape(height, width, 3),
        "normals": world.normal[hits.surface].reshape(height, width, 3),
        "instances": world.instance[hits.surface].reshape(height, width),
    }


def render_images(
    world: World,
    hits: Hits,
    focal: float,
    width: int,
    height: int,
    conditions: tuple[str, ...],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """uint8 (H, W, 3) RGB per condition from hits at SUPERSAMPLING times the resolution, area-downsampled."""
    solid = hits.surface > 0
    surface = hits.surface[solid]
    points = hits.points[solid]
    rays = hits.rays[solid]
    length = np.linalg.norm(rays, axis=1)
    distance = hits.depth[solid] * length
    normals = world.normal[surface]
    cosine = np.abs(np.einsum("ij,ij->i", rays, normals)) / length
    # geometric mean of the two footprint axes: a compromise between blur and aliasing at grazing angles
    footprint = distance / (focal * SUPERSAMPLING * np.sqrt(np.maximum(cosine, 1e-3)))
    axes, origin = world.axes[surface], world.origin[surface]
    u = (np.take_along_axis(points, axes[:, :1], 1)[:, 0] - origin[:, 0]).astype(np.float32)
    v = (np.take_along_axis(points, axes[:, 1:], 1)[:, 0] - origin[:, 1]).astype(np.float32)
    albedo = appearance.sample(world.atlas, surface, u, v, footprint.astype(np.float32))
    sky_rays = hits.rays[~solid]
    sky_directions = (sky_rays / np.linalg.norm(sky_rays, axis=1, keepdims=True)).astype(np.float32)
    points, distance = points.astype(np.float32), distance.astype(np.float32)
    facing = np.clip(normals @ world.layout.sun.astype(np.float32), 0, None)
    albedo *= appearance.occlusion(points, normals)
    images = {}
    for condition in conditions:
        colour = np.empty((len(solid), 3), np.float32)
        colour[~solid] = appearance.sky(condition, sky_directions)
        light = appearance.lighting(condition, facing, distance)
        colour[solid] = albedo[:, 3:] * light if condition == "season" else albedo[:, :3] * light
        big = colour.reshape(height * SUPERSAMPLING, width * SUPERSAMPLING, 3)
        image = cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA)
        images[condition] = appearance.night_post(image, rng) if condition == "night" else appearance.to_uint8(image)
    return images
