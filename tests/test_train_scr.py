"""vloc train scr: a coordinate network learns a tiny synthetic scene, resumes, and refuses weights of another task."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from vloc.errors import ConfigError
from vloc.models.checkpoint import load_checkpoint
from vloc.models.scr import SceneCoordinateNetwork, SCRConf
from vloc.train import scr
from vloc.train.scr_data import synthetic_frames
from vloc.train.scr_losses import CoordinateLossConf

TINY = SCRConf(widths=(8, 16, 16, 32), channels=32, extra_blocks=1, groups=4)


def test_coordinate_network_learns_the_scene_and_resumes(scr_scene: Path, tmp_path: Path):
    frames = synthetic_frames(scr_scene, "day")
    plain = CoordinateLossConf(uncertainty=False)  # the 3D error itself: faster to learn in a short test
    conf = scr.TrainSCRConf(
        model=TINY, loss=plain, epochs=300, batch_frames=3, learning_rate=1e-3, validation_interval=150
    )
    scr.main(conf, frames, frames, tmp_path / "run")
    history = json.loads((tmp_path / "run" / "history.json").read_text())["epochs"]
    first, middle, last = history[0], history[149], history[-1]
    assert last["train_loss"] < 0.25 * first["train_loss"]
    assert last["validation_median_label_error"] < 3.0  # metres, in a scene some 50 m across; the labels' mean: ~25
    assert last["validation_median_label_error"] < middle["validation_median_label_error"]
    net, _ = load_checkpoint(tmp_path / "run" / "scr.pt", SceneCoordinateNetwork)
    assert net.conf.task == "coord" and len(net.conf.label_mean) == 3  # the labels' mean, learnt from the frames

    longer = replace(conf, model=net.conf, epochs=301)
    scr.main(longer, frames, frames, tmp_path / "run", resume=tmp_path / "run" / "last.pt")
    assert [r["epoch"] for r in json.loads((tmp_path / "run" / "history.json").read_text())["epochs"]] == list(
        range(1, 302)
    )

    depth = scr.TrainSCRConf(model=replace(TINY, task="depth"), epochs=1)
    with pytest.raises(ConfigError, match="a network of task coord, not depth"):
        scr.main(depth, frames, frames, tmp_path / "depth", init=tmp_path / "run" / "scr.pt")
