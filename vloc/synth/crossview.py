"""`vloc synth-crossview`: scenes of open land with roads and a few buildings, each rendered from above (the aerial
image, orthographic, metres per pixel known) and from ground cameras at a fixed height with known x, y and yaw, by
day and by night; written as a cross-view dataset (crossview.json) with a seeded prior per view."""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from vloc.console import track
from vloc.errors import ConfigError
from vloc.io.crossview import (
    Aerial,
    GroundCamera,
    GroundView,
    PlanarPose,
    random_prior,
    wrap_degrees,
    write_crossview,
)
from vloc.io.images import write_png
from vloc.io.text import read_utf8, write_text_atomic
from vloc.synth import appearance, textures
from vloc.synth.render import SUPERSAMPLING, World, assemble_world, cast, render_images, roof_surface
from vloc.synth.scene import Box, Layout, look_rotation

TERRAIN_DENSITY = 10.0  # texels per metre
GROUND_CONDITIONS = ("day", "night", "season")


@dataclass(frozen=True)
class CrossviewSynthConfig:
    """What `vloc synth-crossview` generates; scene k is drawn from the seed (seed, k)."""

    seed: int = 0
    num_scenes: int = 40
    num_test_scenes: int = 8  # the last scenes, split "test"; the others "train"
    views_per_scene: int = 12
    width: int = 384
    height: int = 128
    focal: float = 192.0
    camera_height: float = 1.65
    scene_size: float = 160.0  # metres, the side of the square aerial image
    aerial_metres_per_pixel: float = 0.25
    view_radius: float = 30.0  # ground cameras within this distance of the scene centre
    num_buildings: int = 6
    conditions: tuple[str, ...] = ("day", "night")
    prior_offset: float = 10.0  # metres along each of the lateral and longitudinal axes
    prior_yaw: float = 10.0  # degrees

    def check(self) -> None:
        """What depends on several fields (checked when the scenes are rendered, so overrides may come in any order)."""
        if self.num_test_scenes > self.num_scenes:
            raise ConfigError(f"synth-crossview: {self.num_test_scenes} test scenes of only {self.num_scenes}")
        if self.view_radius + self.prior_offset * math.sqrt(2) >= self.scene_size / 2:
            raise ConfigError("synth-crossview: views and their priors must lie inside the scene")

    def __post_init__(self):
        unknown = [c for c in self.conditions if c not in GROUND_CONDITIONS]
        if unknown or not self.conditions:
            raise ConfigError(f"synth-crossview conditions must be among {', '.join(GROUND_CONDITIONS)}")
        if self.num_scenes < 1 or self.views_per_scene < 1 or self.num_test_scenes < 0:
            raise ConfigError("synth-crossview needs scenes and views per scene")
        if min(self.width, self.height) < 16 or min(self.focal, self.camera_height, self.aerial_metres_per_pixel) <= 0:
            raise ConfigError("synth-crossview: image size, focal, camera height and aerial scale must be positive")


def _buildings(rng: np.random.Generator, conf: CrossviewSynthConfig) -> list[Box]:
    boxes: list[Box] = []
    half = conf.scene_size / 2
    for _ in range(200 * conf.num_buildings):
        if len(boxes) == conf.num_buildings:
            break
        size = rng.uniform(6, 16, 2)
        centre = rng.uniform(-half + 10, half - 10, 2)
        lo, hi = centre - size / 2, centre + size / 2
        if all(np.any(lo > b.hi[:2] + 4) or np.any(hi < b.lo[:2] - 4) for b in boxes):
            boxes.append(Box(len(boxes) + 1, np.array([*lo, 0.0]), np.array([*hi, rng.uniform(4, 15)])))
    return boxes


def _camera_centres(rng: np.random.Generator, conf: CrossviewSynthConfig, boxes: list[Box]) -> list[np.ndarray]:
    """Ground positions within view_radius of the centre and at least 4 m from every building."""
    centres: list[np.ndarray] = []
    for _ in range(1000 * conf.views_per_scene):
        if len(centres) == conf.views_per_scene:
            return centres
        radius, angle = conf.view_radius * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        xy = np.array([radius * math.cos(angle), radius * math.sin(angle)])
        if all(np.any(xy < b.lo[:2] - 4) or np.any(xy > b.hi[:2] + 4) for b in boxes):
            centres.append(xy)
    raise ConfigError("synth-crossview: buildings leave no room for the cameras; lower num_buildings or view_radius")


def scene_layout(
    conf: CrossviewSynthConfig, index: int
) -> tuple[Layout, list[tuple[np.ndarray, np.ndarray]], list[float], np.random.Generator]:
    """Scene `index`'s buildings and sun, its ground cameras (cam_from_world) and their yaw angles (radians, world
    frame), and the random stream its textures are drawn from."""
    layout_seed, pose_seed, texture_seed = np.random.SeedSequence([conf.seed, index]).spawn(3)
    layout_rng, pose_rng = np.random.default_rng(layout_seed), np.random.default_rng(pose_seed)
    half = conf.scene_size / 2
    boxes = _buildings(layout_rng, conf)
    azimuth, elevation = layout_rng.uniform(0, 2 * math.pi), math.radians(layout_rng.uniform(35, 60))
    sun = np.array([math.cos(azimuth) * math.cos(elevation), math.sin(azimuth) * math.cos(elevation)])
    layout = Layout(
        boxes, np.array([-half, -half]), np.array([half, half]), None, np.array([*sun, math.sin(elevation)])
    )
    yaws, poses = [], []
    for xy in _camera_centres(pose_rng, conf, boxes):
        yaw = pose_rng.uniform(0, 2 * math.pi)
        rotation = look_rotation(yaw, 0.0, 0.0)
        yaws.append(yaw)
        poses.append((rotation, -rotation @ np.array([*xy, conf.camera_height])))
    return layout, poses, yaws, np.random.default_rng(texture_seed)


def render_aerial(world: World, metres_per_pixel: float) -> np.ndarray:
    """A day-lit orthographic view from above of the square ground of `world`: columns along +x, rows along -y
    (north up), uint8 RGB; roofs cover the ground below them."""
    lo, hi = world.layout.ground_lo, world.layout.ground_hi
    size = int(round((hi[0] - lo[0]) / metres_per_pixel))
    step = metres_per_pixel / SUPERSAMPLING
    offsets = (np.arange(size * SUPERSAMPLING) + 0.5) * step
    xx, yy = np.meshgrid(lo[0] + offsets, hi[1] - offsets)
    x, y = xx.ravel(), yy.ravel()
    surface = np.ones(x.shape, np.int64)
    top = np.zeros(x.shape)
    for index, box in enumerate(world.layout.boxes):
        inside = (x >= box.lo[0]) & (x <= box.hi[0]) & (y >= box.lo[1]) & (y <= box.hi[1]) & (box.hi[2] > top)
        surface[inside], top[inside] = roof_surface(index), box.hi[2]
    axes, origin = world.axes[surface], world.origin[surface]
    points = np.stack([x, y], 1)
    u = (np.take_along_axis(points, axes[:, :1], 1)[:, 0] - origin[:, 0]).astype(np.float32)
    v = (np.take_along_axis(points, axes[:, 1:], 1)[:, 0] - origin[:, 1]).astype(np.float32)
    albedo = appearance.sample(world.atlas, surface, u, v, np.full(x.shape, step, np.float32))[:, :3]
    light = appearance.lighting("day", np.full(x.shape, world.layout.sun[2], np.float32), np.zeros(x.shape))
    big = (albedo * light).reshape(size * SUPERSAMPLING, size * SUPERSAMPLING, 3)
    return appearance.to_uint8(cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA))


def _planar_pose(layout: Layout, centre: np.ndarray, yaw: float) -> PlanarPose:
    """A world camera (centre, yaw CCW from +x) on the aerial image's plane (x along columns, y along rows)."""
    return PlanarPose(
        float(centre[0] - layout.ground_lo[0]), float(layout.ground_hi[1] - centre[1]), wrap_degrees(-math.degrees(yaw))
    )


def _render_scene(
    conf: CrossviewSynthConfig, index: int, out: Path, overwrite: bool
) -> tuple[Aerial, list[GroundView]]:
    """Scene `index`'s aerial image and ground views, rendered unless all its images are already in `out`."""
    layout, poses, yaws, texture_rng = scene_layout(conf, index)
    name = f"scene_{index:03d}"
    aerial = Aerial(f"aerial/{name}.png", conf.aerial_metres_per_pixel)
    camera = GroundCamera("SIMPLE_PINHOLE", conf.width, conf.height, (conf.focal, conf.width / 2, conf.height / 2))
    split = "test" if index >= conf.num_scenes - conf.num_test_scenes else "train"
    prior_rng = np.random.default_rng([conf.seed, index, 1])
    views = []
    for k, ((rotation, translation), yaw) in enumerate(zip(poses, yaws)):
        pose = _planar_pose(layout, -rotation.T @ translation, yaw)
        prior = random_prior(prior_rng, pose, conf.prior_offset, conf.prior_yaw)
        views += [
            GroundView(f"ground/{c}/{name}_{k:02d}.png", name, camera, conf.camera_height, pose, prior, c, split)
            for c in conf.conditions
        ]
    if not overwrite and all((out / path).exists() for path in [aerial.image, *(v.image for v in views)]):
        return aerial, views
    world = assemble_world(
        layout, poses, textures.terrain(texture_rng, conf.scene_size, TERRAIN_DENSITY), TERRAIN_DENSITY, texture_rng
    )
    write_png(out / aerial.image, render_aerial(world, conf.aerial_metres_per_pixel))
    conditions = len(conf.conditions)
    for k, (rotation, translation) in enumerate(poses):
        hits = cast(world, rotation, translation, conf.focal, conf.width, conf.height, SUPERSAMPLING, np.float32)
        noise_rng = np.random.default_rng([conf.seed, index, k])
        images = render_images(world, hits, conf.focal, conf.width, conf.height, conf.conditions, noise_rng)
        for view in views[k * conditions : (k + 1) * conditions]:  # camera k's views, one per condition
            write_png(out / view.image, images[view.condition])
    return aerial, views


def main(conf: CrossviewSynthConfig, out: Path, overwrite: bool = False) -> int:
    """Render every scene of `conf` into `out` and write its crossview.json; returns the number of ground views.
    Scenes already rendered for the same config are kept unless `overwrite`."""
    conf.check()
    stamp_file, stamp = out / "synth_crossview.json", {**asdict(conf), "conditions": list(conf.conditions)}
    if stamp_file.exists() and not overwrite and json.loads(read_utf8(stamp_file)) != stamp:
        raise ConfigError(f"{out}: holds cross-view scenes of another config; pick another folder or --overwrite")
    write_text_atomic(stamp_file, json.dumps(stamp, indent=1) + "\n")
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        scenes = list(
            track(
                pool.map(lambda k: _render_scene(conf, k, out, overwrite), range(conf.num_scenes)),
                "synth-crossview",
                total=conf.num_scenes,
            )
        )
    aerials = {f"scene_{k:03d}": aerial for k, (aerial, _) in enumerate(scenes)}
    views = [view for _, scene_views in scenes for view in scene_views]
    write_crossview(out, aerials, views)
    return len(views)
