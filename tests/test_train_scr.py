"""vloc train scr: a coordinate network learns a tiny synthetic scene, resumes, and refuses weights of another task."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from vloc.errors import ConfigError
from vloc.models.checkpoint import load_checkpoint
from vloc.models.scr import SceneCoordinateNetwork
from vloc.train import scr
from vloc.train.scr_data import synthetic_frames
from vloc.train.scr_losses import CoordinateLossConf


def test_coordinate_network_learns_the_scene_and_resumes(scr_scene: Path, scr_run: Path, tmp_path: Path):
    history = json.loads((scr_run / "history.json").read_text())
    first, middle, last = history["epochs"][0], history["epochs"][149], history["epochs"][-1]
    assert last["train_loss"] < 0.25 * first["train_loss"]
    assert last["validation_median_label_error"] < 3.0  # metres, in a scene some 50 m across; the labels' mean: ~25
    assert last["validation_median_label_error"] < middle["validation_median_label_error"]
    net, _ = load_checkpoint(scr_run / "scr.pt", SceneCoordinateNetwork)
    assert net.conf.task == "coord" and len(net.conf.label_mean) == 3  # the labels' mean, learnt from the frames

    run = shutil.copytree(scr_run, tmp_path / "run")
    frames = synthetic_frames(scr_scene, "day")
    plain = CoordinateLossConf(uncertainty=False)
    longer = scr.TrainSCRConf(  # the run's configuration, one epoch longer
        model=net.conf, loss=plain, epochs=301, batch_frames=3, learning_rate=1e-3, validation_interval=150
    )
    scr.main(longer, frames, frames, run, resume=run / "last.pt")
    epochs = [r["epoch"] for r in json.loads((run / "history.json").read_text())["epochs"]]
    assert epochs == list(range(1, 302))

    depth = scr.TrainSCRConf(model=replace(net.conf, task="depth", label_mean=()), epochs=1)
    with pytest.raises(ConfigError, match="a network of task coord, not depth"):
        scr.main(depth, frames, frames, tmp_path / "depth", init=scr_run / "scr.pt")
