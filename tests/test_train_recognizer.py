"""vloc train recognizer and the `seg` recognizer: network shapes, OHEM loss, a tiny run on a synthetic scene that
learns, resumes exactly and loads as a recognizer; bad checkpoints and inputs."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_one_line_error
from typer.testing import CliRunner

from vloc.cli import app
from vloc.errors import FormatError, InputError
from vloc.io.h5 import atomic_writer
from vloc.io.images import read_image
from vloc.io.instances import InstanceReader, write_instance_image
from vloc.models.checkpoint import save_checkpoint
from vloc.models.recognizer import RecognizerNet, RecognizerNetConf
from vloc.recognizers.seg import SegConf, Segmentation
from vloc.synth import SynthConfig
from vloc.synth import main as synthesize
from vloc.train import recognizer as trainer

BUILDINGS = 4
SMALL = RecognizerNetConf(num_instances=BUILDINGS, widths=(8, 16, 32), decoder_width=16)
TINY = replace(trainer.TrainRecognizerConf(), model=SMALL, epochs=60, batch_size=4, max_side=160)


def write_instances(scene: Path, condition: str, out: Path, num_instances: int = BUILDINGS) -> Path:
    """An instances.h5 of every frame of `condition` from the renderer's instance maps (its ids are the truth)."""
    with atomic_writer(out, resume=False) as handle:
        for geometry in sorted((scene / "geometry").glob("frame_*.npz")):
            mask = np.load(geometry)["instances"]
            name = f"{condition}/{geometry.stem}.png"
            write_instance_image(handle, name, np.zeros(0, np.int32), mask, np.unique(mask[mask > 0]))
        handle.attrs["num_instances"] = num_instances
    return out


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("recognizer")
    conf = SynthConfig(
        seed=2, num_cameras=8, width=160, height=120, focal=125.0, num_buildings=BUILDINGS, conditions=("day", "night")
    )
    synthesize(conf, root / "scene")
    return {
        "root": root,
        "images": root / "scene" / "images",
        "day": write_instances(root / "scene", "day", root / "day.h5"),
        "night": write_instances(root / "scene", "night", root / "night.h5"),
    }


@pytest.fixture(scope="module")
def trained(scene: dict[str, Path], tmp_path_factory) -> Path:
    """A short run validated on the night images, keeping a copy of the training state before the last epoch."""
    out = tmp_path_factory.mktemp("run")
    save = trainer.save_training_state

    def save_and_keep(path: Path, net, optimizer, schedule, epoch: int, history: list, conf) -> None:
        save(path, net, optimizer, schedule, epoch, history, conf)
        if epoch == TINY.epochs - 1:
            shutil.copy(path, out / "before_last.pt")

    trainer.save_training_state = save_and_keep
    try:
        trainer.main(TINY, scene["day"], scene["images"], out, validation=(scene["night"], scene["images"]))
    finally:
        trainer.save_training_state = save
    return out


def test_network_shapes():
    torch.manual_seed(0)
    net = RecognizerNet(RecognizerNetConf(num_instances=5, widths=(8, 16, 32, 32), output_stride=8)).eval()
    image = torch.rand(2, 3, 96, 128)
    (pixels, presence), descriptors = net(image), net.describe(image)
    assert net.stride == 8
    assert pixels.shape == (2, 6, 12, 16) and presence.shape == (2, 5) and descriptors.shape == (2, 32)
    assert torch.allclose(descriptors.norm(dim=1), torch.ones(2))
    assert torch.allclose(net.describe(torch.rand(1, 3, 64, 64)).norm(dim=1), torch.ones(1))


def test_ohem_keeps_the_hardest_share_of_the_labelled_pixels():
    logits = torch.randn(1, 3, 2, 5, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([[[0, 1, 2, 0, trainer.IGNORE], [1, 1, 2, 0, 2]]])
    log_probabilities = logits.log_softmax(1)[0].numpy()
    losses = sorted(
        (
            -log_probabilities[labels[0, i, j], i, j]
            for i in range(2)
            for j in range(5)
            if labels[0, i, j] != trainer.IGNORE
        ),
        reverse=True,
    )
    kept = math.ceil(0.7 * 9)  # 7 of the 9 labelled pixels
    expected = np.mean(losses[:kept])
    assert float(trainer.ohem_cross_entropy(logits, labels, 0.7)) == pytest.approx(expected, rel=1e-6)
    assert float(trainer.ohem_cross_entropy(logits, labels, 1.0)) == pytest.approx(np.mean(losses), rel=1e-6)


def test_presence_targets_grow_with_the_visible_share():
    labels = torch.zeros(1, 10, 10, dtype=torch.long)
    labels[0, :3] = 1  # 30 / 97 labelled pixels
    labels[0, 9, 0] = 2  # 1 / 97
    labels[0, 9, 1:4] = trainer.IGNORE  # not counted
    targets = trainer.presence_targets(labels, 4, visible_share=0.02)
    assert targets[0].tolist() == pytest.approx([1, 1 / 97 / 0.02, 0, 0])


def test_night_stylisation_darkens_the_sky_and_is_deterministic():
    image = torch.full((3, 60, 80), 0.6)
    sky = torch.zeros(60, 80, dtype=torch.bool)
    sky[:20] = True
    conf = trainer.NightConf(spot_probability=0.0)
    night = trainer.stylise_night(image, sky, conf, trainer.generator_for(0, 1))
    assert torch.equal(night, trainer.stylise_night(image, sky, conf, trainer.generator_for(0, 1)))
    lit = trainer.stylise_night(image, torch.zeros_like(sky), conf, trainer.generator_for(0, 1))  # the same draws
    assert torch.equal(night[:, 20:], lit[:, 20:])
    assert float(night[:, :10].mean()) < 0.5 * float(lit[:, :10].mean())
    assert float(lit.mean()) < 0.6


def test_training_learns_resumes_exactly_and_loads(scene: dict[str, Path], trained: Path, tmp_path: Path):
    history = json.loads((trained / "history.json").read_text())
    epochs = history["epochs"]
    assert [e["epoch"] for e in epochs] == list(range(1, TINY.epochs + 1))
    assert history["top1_accuracy_on"] == "validation images"
    assert np.mean([e["loss"] for e in epochs[-3:]]) < 0.7 * epochs[0]["loss"]
    assert [e["epoch"] for e in epochs if "top1_accuracy" in e] == list(range(4, TINY.epochs + 1, 4))
    assert epochs[-1]["top1_accuracy"] >= 0.75  # night images of the training frames; a constant guess gets 0.625
    resumed = trainer.main(
        TINY,
        scene["day"],
        scene["images"],
        tmp_path,
        resume=trained / "before_last.pt",
        validation=(scene["night"], scene["images"]),
    )
    again = json.loads((tmp_path / "history.json").read_text())["epochs"]
    for first, second in zip(epochs, again):
        assert {k: v for k, v in first.items() if k != "time_s"} == pytest.approx(
            {k: v for k, v in second.items() if k != "time_s"}, rel=1e-5
        )

    with InstanceReader(scene["day"]) as instances:
        recognizer = Segmentation(SegConf(checkpoint=str(resumed), min_score=0.0, max_instances=3), instances, None)
        image = read_image(scene["images"] / "night" / "frame_000.png", grayscale=False)
        recognition = recognizer.recognize(image, None)
        descriptor = recognizer.describe(image)
    assert recognition.label_map.shape == (120, 160) and recognition.label_map.dtype == np.int64
    assert set(np.unique(recognition.label_map)) <= set(range(BUILDINGS + 1))
    assert len(recognition.instances) == 3 and np.all(np.diff(recognition.scores) <= 0)
    assert descriptor.shape == (SMALL.widths[-1],) and np.linalg.norm(descriptor) == pytest.approx(1, rel=1e-5)
    with InstanceReader(scene["day"]) as instances:
        strict = Segmentation(SegConf(checkpoint=str(resumed), min_score=1.01), instances, None)
        nothing = strict.recognize(image, None)
    assert nothing.instances.shape == (0,) and nothing.scores.shape == (0,) and nothing.label_map.shape == (120, 160)


def test_bad_checkpoints(scene: dict[str, Path], tmp_path: Path):
    other = tmp_path / "six.pt"
    save_checkpoint(other, RecognizerNet(replace(SMALL, num_instances=6)))
    with InstanceReader(scene["day"]) as instances:
        expected = f"checkpoint {other} was trained for 6 instances, the map has {BUILDINGS}"
        with pytest.raises(FormatError, match=expected):
            Segmentation(SegConf(checkpoint=str(other)), instances, None)
        with pytest.raises(InputError, match="nowhere.pt"):
            Segmentation(SegConf(checkpoint=str(tmp_path / "nowhere.pt")), instances, None)
        torch.save({"architecture": "gnnet"}, tmp_path / "gnnet.pt")
        with pytest.raises(FormatError, match="not a recognizer checkpoint"):
            Segmentation(SegConf(checkpoint=str(tmp_path / "gnnet.pt")), instances, None)


def test_bad_training_inputs(scene: dict[str, Path], tmp_path: Path):
    runner = CliRunner()
    common = ["train", "recognizer", str(tmp_path / "run"), "--images", str(scene["images"])]
    result = runner.invoke(app, [*common, "--instances", str(scene["day"]), "--resume", str(tmp_path / "nowhere.pt")])
    assert_one_line_error(result, "--resume", "nowhere.pt", "file not found")
    torch.save({"architecture": "gnnet"}, tmp_path / "gnnet.pt")
    result = runner.invoke(app, [*common, "--instances", str(scene["day"]), "--resume", str(tmp_path / "gnnet.pt")])
    assert_one_line_error(result, "gnnet.pt", "not a recognizer checkpoint")
    with atomic_writer(tmp_path / "empty.h5", resume=False) as handle:
        write_instance_image(handle, "day/frame_000.png", np.zeros(0), np.zeros((120, 160)), np.zeros(0))
    result = runner.invoke(app, [*common, "--instances", str(tmp_path / "empty.h5")])
    assert_one_line_error(result, "empty.h5", "no labelled images")
    assert not (tmp_path / "run" / "recognizer.pt").exists()
