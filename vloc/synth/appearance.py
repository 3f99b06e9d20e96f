"""Appearance: mip-mapped texture atlas with trilinear sampling, sky, lighting per condition, night post-processing."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Atlas:
    """All mip levels of all surface textures in one flat (T, C) uint8 array; tables indexed by (surface, level)."""

    texels: np.ndarray
    offset: np.ndarray  # (S, L) int64
    width: np.ndarray  # (S, L) int64
    height: np.ndarray  # (S, L) int64
    max_level: np.ndarray  # (S,) int64
    density: np.ndarray  # (S,) float32, texels per metre at level 0


def build_atlas(textures: list[np.ndarray], densities: list[float], num_levels: int = 9) -> Atlas:
    """Mip-map (Gaussian pyramid) every (H, W, C) float texture in [0, 1] and pack the levels."""
    chunks, offset, width, height, max_level = [], [], [], [], []
    total = 0
    for texture in textures:
        level, rows = texture, ([], [], [])
        for _ in range(num_levels):
            rows[0].append(total)
            rows[1].append(level.shape[1])
            rows[2].append(level.shape[0])
            chunks.append(np.round(level.reshape(-1, level.shape[2]) * 255).astype(np.uint8))
            total += level.shape[0] * level.shape[1]
            if min(level.shape[:2]) <= 2:
                break
            level = cv2.pyrDown(level)
        max_level.append(len(rows[0]) - 1)
        for table, values in zip((offset, width, height), rows):
            table.append(values + [values[-1]] * (num_levels - len(values)))
    as_int = lambda x: np.asarray(x, np.int64)  # noqa: E731
    return Atlas(
        np.concatenate(chunks),
        as_int(offset),
        as_int(width),
        as_int(height),
        as_int(max_level),
        np.asarray(densities, np.float32),
    )


def _mirror(x: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Mirrored repetition outside [0, size): continuous, so the ground beyond its texture shows no streaks."""
    x = np.mod(x, 2 * size)
    return np.where(x > size, 2 * size - x, x)


def _bilinear(atlas: Atlas, surface: np.ndarray, u: np.ndarray, v: np.ndarray, level: np.ndarray) -> np.ndarray:
    scale = atlas.density[surface] / np.exp2(level).astype(np.float32)
    width, height = atlas.width[surface, level], atlas.height[surface, level]
    x = np.clip(_mirror(u * scale, width) - 0.5, 0, width - 1)
    y = np.clip(_mirror(v * scale, height) - 0.5, 0, height - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = (x - x0).astype(np.float32)[:, None], (y - y0).astype(np.float32)[:, None]  # blend (N, C) in float32
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    base = atlas.offset[surface, level]
    row0, row1 = base + y0 * width, base + y1 * width

    def texel(index: np.ndarray) -> np.ndarray:
        return np.take(atlas.texels, index, axis=0)  # twice as fast as atlas.texels[index]

    top = texel(row0 + x0) * (1 - fx) + texel(row0 + x1) * fx
    bottom = texel(row1 + x0) * (1 - fx) + texel(row1 + x1) * fx
    return top * (1 - fy) + bottom * fy


def sample(atlas: Atlas, surface: np.ndarray, u: np.ndarray, v: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Trilinear lookup at surface coordinates (u, v) in metres;
    `footprint` is the pixel size on the surface in metres."""
    level = np.clip(np.log2(np.maximum(footprint * atlas.density[surface], 1e-6)), 0, atlas.max_level[surface])
    level0 = np.floor(level).astype(np.int64)
    level1 = np.minimum(level0 + 1, atlas.max_level[surface])
    weight = (level - level0).astype(np.float32)[:, None]
    colour = _bilinear(atlas, surface, u, v, level0) * (1 - weight) + _bilinear(atlas, surface, u, v, level1) * weight
    return colour.astype(np.float32) / 255


SKY = {  # (horizon, zenith) colours
    "day": ((0.80, 0.86, 0.93), (0.32, 0.52, 0.85)),
    "night": ((0.06, 0.07, 0.12), (0.01, 0.015, 0.04)),
    "season": ((0.80, 0.81, 0.83), (0.62, 0.65, 0.70)),
}


def sky(condition: str, directions: np.ndarray) -> np.ndarray:
    """A smooth gradient from horizon to zenith for unit ray directions (N, 3)."""
    horizon, zenith = (np.array(c, np.float32) for c in SKY[condition])
    t = np.clip(directions[:, 2] / 0.6, 0, 1)[:, None]
    t = t * t * (3 - 2 * t)
    return horizon * (1 - t) + zenith * t


def lighting(condition: str, facing: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Per-hit RGB light: sun and sky by day, overcast in season, blue ambient plus a warm lamp at the camera by night.

    `facing` is the clipped cosine between the normal and the sun, `distance` the distance to the camera in metres.
    """
    if condition == "day":
        return (0.5 + 0.65 * facing)[:, None] * np.array([1.0, 0.98, 0.94], np.float32)
    if condition == "season":
        return (0.8 + 0.25 * facing)[:, None] * np.array([0.97, 0.98, 1.0], np.float32)
    lamp = 1.0 / (1 + (distance / 15) ** 2)
    return np.array([0.3, 0.34, 0.5], np.float32) + lamp[:, None] * np.array([1.0, 0.75, 0.45], np.float32)


def occlusion(points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Darker near the foot of the walls (a cheap ambient occlusion), (N, 1)."""
    return (1 - 0.35 * np.exp(-points[:, 2] / 0.7) * (np.abs(normals[:, 2]) < 0.5))[:, None]


def night_post(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Camera at night: gamma, slight blur and sensor noise; (H, W, 3) float in [0, 1] to uint8."""
    image = np.clip(image, 0, 1) ** 1.3 * 0.8
    image = cv2.GaussianBlur(image, (0, 0), 0.7)
    image = image + rng.normal(0, 0.012, image.shape).astype(np.float32)
    return np.clip(np.round(image * 255), 0, 255).astype(np.uint8)


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image * 255), 0, 255).astype(np.uint8)
