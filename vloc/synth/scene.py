"""Scene layout of `vloc synth`: the config, axis-aligned buildings on a ground plane, and the camera poses."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vloc.errors import ConfigError

LAYOUTS = ("street", "ring")
CONDITIONS = ("day", "night", "season")


@dataclass(frozen=True)
class SynthConfig:
    """What `vloc synth` generates; everything follows from `seed` (textures do not depend on num_cameras)."""

    seed: int = 0
    num_cameras: int = 40
    width: int = 640
    height: int = 480
    focal: float = 500.0
    layout: str = "street"
    num_buildings: int = 8
    conditions: tuple[str, ...] = CONDITIONS

    def validate(self) -> None:
        if self.layout not in LAYOUTS:
            raise ConfigError(f"unknown synth layout '{self.layout}' (choose from {', '.join(LAYOUTS)})")
        unknown = [c for c in self.conditions if c not in CONDITIONS]
        if unknown or not self.conditions or len(set(self.conditions)) != len(self.conditions):
            raise ConfigError(
                f"synth conditions must be distinct names from {', '.join(CONDITIONS)}, got {list(self.conditions)}"
            )
        if self.num_cameras < 1 or self.num_buildings < 1:
            raise ConfigError("synth needs at least one camera and one building")
        if self.width < 16 or self.height < 16 or self.focal <= 0:
            raise ConfigError(f"synth image size {self.width}x{self.height} and focal {self.focal} are not usable")


@dataclass
class Box:
    """One building: an axis-aligned box standing on the ground, instance id 1..B."""

    instance: int
    lo: np.ndarray  # (3,) min corner, z = 0
    hi: np.ndarray  # (3,) max corner


@dataclass
class Layout:
    boxes: list[Box]
    ground_lo: np.ndarray  # (2,) xy extent of the textured ground
    ground_hi: np.ndarray
    street_half_width: float | None  # None for the ring layout
    sun: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))


def _street(rng: np.random.Generator, num_buildings: int) -> Layout:
    half_width = rng.uniform(6.5, 8.0)
    sides: list[list[tuple[float, float]]] = [[], []]
    boxes = []
    for index in range(num_buildings):
        side = index % 2
        start = sides[side][-1][1] + rng.uniform(1.5, 4.0) if sides[side] else rng.uniform(0, 5)
        sides[side].append((start, start + rng.uniform(8, 14)))
        depth, height = rng.uniform(8, 12), rng.uniform(6, 16)
        y_lo, y_hi = (half_width, half_width + depth) if side == 0 else (-half_width - depth, -half_width)
        boxes.append(
            Box(index + 1, np.array([sides[side][-1][0], y_lo, 0.0]), np.array([sides[side][-1][1], y_hi, height]))
        )
    length = max(s[-1][1] for s in sides if s)
    for box in boxes:  # centre the street on the origin
        box.lo[0] -= length / 2
        box.hi[0] -= length / 2
    reach = half_width + 14
    return Layout(boxes, np.array([-length / 2 - 12, -reach]), np.array([length / 2 + 12, reach]), half_width)


def _ring(rng: np.random.Generator, num_buildings: int) -> Layout:
    radius = 3.0 + 1.6 * np.sqrt(num_buildings)
    boxes: list[Box] = []
    while len(boxes) < num_buildings:
        for _ in range(200):  # rejection sampling of non-overlapping footprints, 1 m apart
            size = rng.uniform(2, 5, 2)
            centre = rng.uniform(-radius, radius, 2)
            if np.linalg.norm(centre) + size.max() / 2 > radius:
                continue
            lo, hi = centre - size / 2, centre + size / 2
            if all(np.any(lo > b.hi[:2] + 1) or np.any(hi < b.lo[:2] - 1) for b in boxes):
                break
        else:
            radius *= 1.1
            continue
        boxes.append(Box(len(boxes) + 1, np.array([*lo, 0.0]), np.array([*hi, rng.uniform(2.5, 8)])))
    reach = radius + 22
    return Layout(boxes, np.array([-reach, -reach]), np.array([reach, reach]), None)


def make_layout(conf: SynthConfig, rng: np.random.Generator) -> Layout:
    layout = (_street if conf.layout == "street" else _ring)(rng, conf.num_buildings)
    azimuth, elevation = rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(30, 55))
    layout.sun = np.array([np.cos(azimuth) * np.cos(elevation), np.sin(azimuth) * np.cos(elevation), np.sin(elevation)])
    return layout


def look_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """cam_from_world rotation (x right, y down, z forward) of a camera heading `yaw` (from +x, about z up)."""
    forward = np.array([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), np.sin(pitch)])
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    right, down = np.cos(roll) * right + np.sin(roll) * down, -np.sin(roll) * right + np.cos(roll) * down
    return np.stack([right, down, forward])


def make_poses(conf: SynthConfig, layout: Layout, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """cam_from_world (R, t) of every camera, 1.5-2 m above the ground."""
    n = conf.num_cameras
    poses = []
    if conf.layout == "street":
        x_lo = min(b.lo[0] for b in layout.boxes) - 4  # the first camera looks down the street at the first buildings
        sides = [[b.hi[0] for b in layout.boxes if (b.lo[1] > 0) == left] for left in (True, False)]
        x_hi = min(max(side) for side in sides if side) - 12  # buildings ahead on both sides until the end
        xs = np.linspace(x_lo, max(x_hi, x_lo + 1), n)
        phase = np.pi * rng.integers(2)
        for x in xs:
            yaw = np.radians(40) * np.sin(2 * np.pi * (x - x_lo) / 16 + phase) + np.radians(rng.uniform(-4, 4))
            centre = np.array([x + rng.uniform(-0.2, 0.2), rng.uniform(-1.5, 1.5), rng.uniform(1.5, 2.0)])
            poses.append((yaw, centre))
    else:
        extent = max(np.abs(np.concatenate([b.lo[:2] for b in layout.boxes] + [b.hi[:2] for b in layout.boxes])))
        radius = extent + 6
        for angle in 2 * np.pi * (np.arange(n) + rng.uniform(-0.2, 0.2, n)) / n:
            centre = np.array([radius * np.cos(angle), radius * np.sin(angle), rng.uniform(1.5, 2.0)])
            poses.append((angle + np.pi + np.radians(rng.uniform(-10, 10)), centre))
    result = []
    for yaw, centre in poses:
        rotation = look_rotation(yaw, np.radians(rng.uniform(0, 6)), np.radians(rng.uniform(-2, 2)))
        result.append((rotation, -rotation @ centre))
    return result


def scene_extent(layout: Layout, poses: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Bounding box of the buildings and the camera centres."""
    points = [b.lo for b in layout.boxes] + [b.hi for b in layout.boxes] + [-r.T @ t for r, t in poses]
    return np.min(points, axis=0), np.max(points, axis=0)


def thresholds(diagonal: float) -> list[list[float]]:
    """Three (metres, degrees) localization thresholds from the scene size: 0.05 %, 0.25 % and 1 % of its diagonal."""
    return [[float(f"{diagonal * frac:.3g}"), deg] for frac, deg in ((0.0005, 0.5), (0.0025, 1.0), (0.01, 2.0))]
