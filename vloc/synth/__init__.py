"""`vloc synth`: a procedural scene of textured buildings, rendered per camera in several conditions,
with ground truth."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pycolmap

from vloc.console import track
from vloc.errors import ConfigError
from vloc.io.images import write_png
from vloc.io.model import build_posed_model, write_model
from vloc.io.text import write_queries, write_text_atomic
from vloc.synth.files import write_npz
from vloc.synth.render import SUPERSAMPLING, World, build_world, cast, geometry_maps, render_images
from vloc.synth.scene import CONDITIONS, LAYOUTS, SynthConfig, scene_extent, thresholds

__all__ = ["CONDITIONS", "LAYOUTS", "SynthConfig", "main"]
FORMAT = "vloc-synth-1"


def _describe(conf: SynthConfig, world, camera: pycolmap.Camera) -> dict:
    lo, hi = scene_extent(world.layout, world.poses)
    diagonal = float(np.linalg.norm(hi - lo))
    return {
        "vloc_format": FORMAT,
        "config": {**asdict(conf), "conditions": list(conf.conditions)},
        "camera": {
            "model": camera.model_name,
            "width": camera.width,
            "height": camera.height,
            "params": camera.params.tolist(),
        },
        "extent": {"min": lo.tolist(), "max": hi.tolist(), "diagonal": diagonal},
        "thresholds": thresholds(diagonal),
        "instances": [{"id": b.instance, "min": b.lo.tolist(), "max": b.hi.tolist()} for b in world.layout.boxes],
    }


def _frame_paths(out: Path, frame: str, conditions: tuple[str, ...]) -> list[Path]:
    """The image of each condition, then the geometry file."""
    return [out / "images" / c / f"{frame}.png" for c in conditions] + [out / "geometry" / f"{frame}.npz"]


def _render_frame(conf: SynthConfig, world: World, k: int, paths: list[Path]) -> None:
    """Render camera k: its images in every condition and its geometry maps, written to `paths` (images first)."""
    rotation, translation = world.poses[k]
    hits = cast(world, rotation, translation, conf.focal, conf.width, conf.height)
    maps = geometry_maps(world, hits, conf.width, conf.height)
    hits = cast(
        world, rotation, translation, conf.focal, conf.width, conf.height, scale=SUPERSAMPLING, dtype=np.float32
    )
    noise_rng = np.random.default_rng([conf.seed, k])
    images = render_images(world, hits, conf.focal, conf.width, conf.height, conf.conditions, noise_rng)
    *image_paths, geometry_path = paths
    for condition, path in zip(conf.conditions, image_paths):
        write_png(path, images[condition])
    write_npz(geometry_path, maps)


def _write_model_and_splits(
    conf: SynthConfig, world: World, camera: pycolmap.Camera, frames: list[str], out: Path
) -> None:
    """The posed images of every condition as a COLMAP model and a queries file; the mapping split (every other
    frame of the reference condition) and the query split of each condition (the frames in between)."""
    names = {c: [f"{c}/{frame}.png" for frame in frames] for c in conf.conditions}
    poses = {
        name: pycolmap.Rigid3d(pycolmap.Rotation3d(world.poses[k][0]), world.poses[k][1])
        for c in conf.conditions
        for k, name in enumerate(names[c])
    }
    write_model(build_posed_model(dict.fromkeys(poses, camera), poses), out / "model")
    write_queries(out / "queries.txt", dict.fromkeys(poses, camera))
    splits = out / "splits"
    reference = "day" if "day" in conf.conditions else conf.conditions[0]
    write_text_atomic(splits / "mapping.txt", "".join(f"{n}\n" for n in names[reference][0::2]))
    for condition in conf.conditions:
        write_text_atomic(splits / f"query_{condition}.txt", "".join(f"{n}\n" for n in names[condition][1::2]))


def main(conf: SynthConfig, out: Path, overwrite: bool = False) -> Path:
    """Render the scene of `conf` into `out` (images, geometry, model, queries, splits, scene.json); returns `out`.

    Frames already written for the same config are kept unless `overwrite`.
    """
    conf.validate()
    scene_file = out / "scene.json"
    if scene_file.exists() and not overwrite:
        try:
            previous = json.loads(scene_file.read_text()).get("config")
        except (ValueError, AttributeError):
            previous = None
        if previous != {**asdict(conf), "conditions": list(conf.conditions)}:
            raise ConfigError(f"{out}: holds a synthetic scene with another config; pick another folder or overwrite")
    world = build_world(conf)
    camera = pycolmap.Camera(
        model="SIMPLE_PINHOLE",
        width=conf.width,
        height=conf.height,
        params=[conf.focal, conf.width / 2, conf.height / 2],
    )
    write_text_atomic(scene_file, json.dumps(_describe(conf, world, camera), indent=2) + "\n")
    for condition in conf.conditions:
        (out / "images" / condition).mkdir(parents=True, exist_ok=True)
    (out / "geometry").mkdir(parents=True, exist_ok=True)

    digits = max(3, len(str(conf.num_cameras - 1)))
    frames = [f"frame_{k:0{digits}d}" for k in range(conf.num_cameras)]
    todo = [
        k
        for k in range(conf.num_cameras)
        if overwrite or not all(p.exists() for p in _frame_paths(out, frames[k], conf.conditions))
    ]
    # numpy and OpenCV release the GIL in the heavy parts, so two frames at a time use two cores
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        rendered = pool.map(
            lambda k: _render_frame(conf, world, k, _frame_paths(out, frames[k], conf.conditions)), todo
        )
        for _ in track(rendered, "synth", total=len(todo)):
            pass
    _write_model_and_splits(conf, world, camera, frames, out)
    return out
