"""Test helpers shared by several test modules: textured images, smooth feature maps, CLI error checks, recipe runs."""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import pytest
import torch

from vloc.io.features import FeatureReader
from vloc.io.h5 import atomic_writer
from vloc.io.matches import write_matches
from vloc.io.text import read_pairs
from vloc.models.crossview import CrossviewConf
from vloc.pnp.inputs import LocalizationInputs
from vloc.synth.crossview import CrossviewSynthConfig


def build_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], object]) -> Path:
    """The folder `name`, filled by `build(folder)` once per test session: under pytest-xdist the first worker to ask
    builds it (holding a lock) and the others wait for it, rather than each building its own. Tests only read it."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the workers' common base, pytest-of-<user>/pytest-<n>
    folder, built = shared / name, shared / f"{name}.built"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not built.exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a build that failed left
            folder.mkdir()
            build(folder)
            built.touch()
    return folder


TINY_DENSEFLOW = CrossviewConf(
    ground_height=32, ground_width=96, tile_size=48, tile_metres_per_pixel=1.0, channels=16, hidden=16, context=8
)
TINY_CROSSVIEW_SCENES = CrossviewSynthConfig(  # 80 m scenes of 2 views, seen 192 x 64, priors within 5 m and 10 deg
    num_scenes=2,
    num_test_scenes=1,
    views_per_scene=2,
    width=192,
    height=64,
    focal=96.0,
    scene_size=80.0,
    aerial_metres_per_pixel=0.5,
    view_radius=12.0,
    prior_offset=5.0,
    prior_yaw=10.0,
)


def textured_image(seed: int, width: int = 640, height: int = 480) -> np.ndarray:
    """Smooth multi-scale noise, rich in blob-like SIFT and corner-like ORB features."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width))
    for sigma in (2, 4, 8, 16):
        image += sigma * cv2.GaussianBlur(rng.normal(size=(height, width)), (0, 0), sigma)
    return np.round(255 * (image - image.min()) / (image.max() - image.min())).astype(np.uint8)


def write_image(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def sinusoid_map(channels: int, height: int, width: int, wavelengths: tuple, seed: int) -> torch.Tensor:
    """Smooth float64 (C, H, W) map: per channel, a sum of 3 plane waves of the given wavelength range."""
    g = torch.Generator().manual_seed(seed)
    dtype = torch.float64
    y, x = torch.meshgrid(torch.arange(height, dtype=dtype), torch.arange(width, dtype=dtype), indexing="ij")
    out = torch.zeros(channels, height, width, dtype=dtype)
    for c in range(channels):
        for _ in range(3):
            wl, angle, phase = torch.rand(3, generator=g, dtype=dtype)
            k = 2 * math.pi / (wavelengths[0] + (wavelengths[1] - wavelengths[0]) * wl)
            angle, phase = 2 * math.pi * angle, 2 * math.pi * phase
            out[c] += torch.sin(k * (x * torch.cos(angle) + y * torch.sin(angle)) + phase) / 3
    return out


def vloc_env() -> dict[str, str]:
    """This process's environment with the repository first on PYTHONPATH, for `python -m vloc` in a child process."""
    paths = [str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def tree_digest(path: Path) -> str:
    """SHA-256 of a file, or of a folder's relative paths and file contents; 'absent' if nothing is there."""
    if not path.exists():
        return "absent"
    digest = hashlib.sha256()
    for item in sorted([path] if path.is_file() else path.rglob("*")):
        digest.update(item.relative_to(path.parent).as_posix().encode())
        if item.is_file():
            digest.update(item.read_bytes())
    return digest.hexdigest()


def assert_one_line_error(result, *fragments: str) -> None:
    """A CLI result that failed with exit code 1 and a single `error: ...` line containing every fragment."""
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], result.output


def renderer_instances(model_path: Path, scene: Path, out: Path) -> Path:
    """An instances file whose labels are the synthetic renderer's building ids (ground truth)
    at each model keypoint."""
    import pycolmap

    from vloc.io.h5 import atomic_writer
    from vloc.io.instances import write_instance_image

    model = pycolmap.Reconstruction(model_path)
    with atomic_writer(out, resume=False) as handle:
        handle.attrs["num_instances"] = len(json.loads((scene / "scene.json").read_text())["instances"])
        for image in model.images.values():
            mask = np.load(scene / "geometry" / f"{Path(image.name).stem}.npz")["instances"]
            pixels = np.floor([p.xy for p in image.points2D]).astype(np.int64)
            triangulated = np.array([p.has_point3D() for p in image.points2D])
            labels = np.where(triangulated, mask[pixels[:, 1], pixels[:, 0]], 0)
            write_instance_image(handle, image.name, labels, mask, np.unique(labels[labels > 0]))
    return out


def visible_instances(scene: Path, name: str, min_fraction: float = 0.01) -> set[int]:
    """Building ids covering at least `min_fraction` of a synthetic frame (the renderer's ground truth)."""
    mask = np.load(scene / "geometry" / f"{Path(name).stem}.npz")["instances"]
    ids, counts = np.unique(mask, return_counts=True)
    return {int(i) for i, c in zip(ids, counts) if i > 0 and c >= min_fraction * mask.size}


def localization_inputs(paths: dict[str, Path], **changes: Path) -> LocalizationInputs:
    """The query localization files of a fixture's paths (its query pairs and matches), with `changes` applied."""
    inputs = LocalizationInputs(
        paths["model"], paths["queries"], paths["pairs_query"], paths["features"], paths["matches_query"]
    )
    return replace(inputs, **changes)


def random_matches(paths: dict[str, Path], out: Path, per_pair: int, seed: int = 0) -> Path:
    """Matches of the query pairs that pair `per_pair` random query keypoints with random database keypoints that
    have a 3D point: random 2D-3D matches, as issue 22 probed."""
    import pycolmap

    rng = np.random.default_rng(seed)
    model = pycolmap.Reconstruction(paths["model"])
    with_point = {
        image.name: [k for k, p in enumerate(image.points2D) if p.has_point3D()] for image in model.images.values()
    }
    with FeatureReader(paths["features"]) as features, atomic_writer(out, resume=False) as handle:
        for query, db_name in read_pairs(paths["pairs_query"]):
            matches0 = np.full(len(features.keypoints(query)), -1)
            matches0[rng.choice(len(matches0), per_pair, replace=False)] = rng.choice(with_point[db_name], per_pair)
            write_matches(handle, query, db_name, matches0, np.ones(len(matches0)))
    return out


PIPELINES = Path(__file__).parents[1] / "pipelines"


def recipe_environment(**env: str) -> dict[str, str]:
    """This process's environment plus `env`, with this interpreter's `vloc` first on PATH, for a recipe's bash."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **env}


def run_recipe(name: str, out: Path, data: Path | None = None, *args: str, **env: str) -> str:
    """Run pipelines/`name` into `out` (datasets from `data`, extra environment `env`) and return what it printed."""
    environment = recipe_environment(**env, **({} if data is None else {"DATA": str(data)}))
    completed = subprocess.run(
        ["bash", str(PIPELINES / name), str(out), *args], env=environment, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


class Run(NamedTuple):
    """A recipe's output folder and what it printed."""

    out: Path
    stdout: str


def overall(evaluation: Path) -> dict:
    """The all-queries group of an evaluation JSON."""
    return json.loads(evaluation.read_text())["groups"]["all"]


def refine_recipe_run(run: Path, features: Path, images: Path, backbone: str) -> dict:
    """A recipe's PnP localization again with `--refine featuremetric` on `backbone` (its query files in `run`),
    evaluated against its ground truth: the refined all-queries group (the PnP one is run/evaluation.json). Checks on
    the way that the summary counts every refinement's outcome, as the command prints it."""
    from typer.testing import CliRunner

    from vloc.cli import app
    from vloc.io.text import log_path

    results = run / f"results-{backbone}.txt"
    files = [run / name for name in ("model", "queries.txt", "pairs-query.txt")] + [features, run / "matches-query.h5"]
    options = ["--refine", "featuremetric", "--images", str(images), "--dense-conf", backbone]
    result = CliRunner().invoke(app, ["localize", *map(str, files), str(results), *options])
    assert result.exit_code == 0
    log = json.loads(log_path(results).read_text())
    refinements = [entry["refinement"] for entry in log["queries"] if "refinement" in entry]
    outcomes = log["summary"]["refinement"]
    fused = sum(refinement["accepted"] for refinement in refinements)
    assert outcomes.get("fused", 0) == fused and sum(outcomes.values()) == len(refinements)
    assert f"refinement: {fused} of {len(refinements)} poses fused with their PnP pose" in result.output
    evaluation = run / f"evaluation-{backbone}.json"
    arguments = [str(results), str(run / "ground_truth.txt"), "--dataset-json", str(run / "dataset.json")]
    assert CliRunner().invoke(app, ["evaluate", "poses", *arguments, "--out-json", str(evaluation)]).exit_code == 0
    return overall(evaluation)


def check_submission(path: Path, expected_names: list[str]) -> dict[str, np.ndarray]:
    """Assert that `path` is an evaluation server's submission of exactly `expected_names`, each once, as
    'name qw qx qy qz tx ty tz' with a unit quaternion; returns each name's 7 numbers."""
    rows: dict[str, np.ndarray] = {}
    for line in path.read_text().splitlines():
        name, *numbers = line.split(" ")
        assert len(numbers) == 7, line
        assert name not in rows, f"{name} submitted twice"
        rows[name] = np.array([float(n) for n in numbers])
        assert np.isfinite(rows[name]).all(), line
        assert abs(np.linalg.norm(rows[name][:4]) - 1) < 1e-6, line
    assert sorted(rows) == sorted(expected_names)
    return rows
