"""vloc train scr: a coordinate network learns a tiny synthetic scene, resumes, and refuses weights of another task."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from vloc.errors import ConfigError
from vloc.io.text import log_path
from vloc.localize import scr as localize_scr
from vloc.models.checkpoint import load_checkpoint
from vloc.models.scr import FusedCoordinateNetwork, SceneCoordinateNetwork, SCRConf
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
        model=net.conf,
        loss=plain,
        epochs=301,
        batch_frames=3,
        learning_rate=1e-3,
        validation_interval=150,
        augment=False,
    )
    scr.main(longer, frames, frames, run, resume=run / "last.pt")
    epochs = [r["epoch"] for r in json.loads((run / "history.json").read_text())["epochs"]]
    assert epochs == list(range(1, 302))

    depth = scr.TrainSCRConf(model=replace(net.conf, task="depth", label_mean=()), epochs=1)
    with pytest.raises(ConfigError, match="a network of task coord, not depth"):
        scr.main(depth, frames, frames, tmp_path / "depth", init=scr_run / "scr.pt")


TINY = SCRConf(widths=(8, 16, 16, 32), channels=32, extra_blocks=1, groups=4)


def test_normal_network_learns_the_camera_frame_normals(scr_scene: Path, tmp_path: Path):
    frames = synthetic_frames(scr_scene, "day")
    model = replace(TINY, task="normal")
    conf = scr.TrainSCRConf(model=model, epochs=40, batch_frames=3, learning_rate=2e-3, augment=False)
    scr.main(conf, frames, frames, tmp_path / "normal")
    errors = [
        r["validation_median_label_error"]
        for r in json.loads((tmp_path / "normal" / "history.json").read_text())["epochs"]
    ]
    assert errors[-1] < 0.5 * errors[0] and errors[-1] < 40.0  # degrees; ground and facades differ by 90


def test_fusion_trains_on_the_frozen_helper_encoders_and_localizes(scr_scene: Path, scr_run: Path, tmp_path: Path):
    frames = synthetic_frames(scr_scene, "day")
    helper_conf = scr.TrainSCRConf(model=replace(TINY, task="depth"), epochs=1, batch_frames=3, augment=False)
    helper = scr.main(helper_conf, frames, frames, tmp_path / "depth")
    fusion = scr.TrainSCRConf(epochs=2, batch_frames=3, augment=False)
    fused_path = scr.main(fusion, frames, frames, tmp_path / "fused", init=scr_run / "scr.pt", helpers=[helper])
    fused, _ = load_checkpoint(fused_path, FusedCoordinateNetwork)
    depth, _ = load_checkpoint(helper, SceneCoordinateNetwork)
    assert fused.conf.coord == load_checkpoint(scr_run / "scr.pt", SceneCoordinateNetwork)[0].conf
    frozen, source = fused.frozen[0].state_dict(), depth.encoder.state_dict()
    assert all(torch.equal(frozen[k], source[k]) for k in source)  # trained around, never changed
    results = localize_scr.main(
        localize_scr.SCRLocalizeConf(), fused_path, scr_scene / "queries.txt", scr_scene / "images", tmp_path / "r.txt"
    )
    log = json.loads(log_path(results).read_text())
    assert (
        log["summary"]["network"] == str(fused_path) and len(log["queries"]) == 6
    )  # day and night frames of the scene
    with pytest.raises(ConfigError, match="starts from a trained coordinate network"):
        scr.main(fusion, frames, frames, tmp_path / "none", helpers=[helper])
    with pytest.raises(ConfigError, match="a helper must be a depth or normal network"):
        scr.main(fusion, frames, frames, tmp_path / "bad", init=scr_run / "scr.pt", helpers=[scr_run / "scr.pt"])


def test_a_network_of_another_scene_is_refused_as_a_start(scr_scene: Path, scr_run: Path, tmp_path: Path):
    """The same images with the scene moved 1 km: the day network's coordinates belong to another scene."""
    moved = []
    for frame in synthetic_frames(scr_scene, "day"):
        labels = dict(np.load(frame.labels))
        labels["scene_coordinates"] = labels["scene_coordinates"] + np.float32(1000.0)
        np.savez(tmp_path / frame.labels.name, **labels)
        moved.append(replace(frame, labels=tmp_path / frame.labels.name))
    conf = scr.TrainSCRConf(epochs=1, augment=False)
    with pytest.raises(ConfigError, match="scr.pt: a network of another scene: the mean of its scene coordinates"):
        scr.main(conf, moved, moved, tmp_path / "run", init=scr_run / "scr.pt")
