"""vloc train gnnet: a short run resumes and writes a checkpoint the gnnet backbone loads; bad input; validation."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import pytest
import torch
from helpers import assert_one_line_error, sinusoid_map
from typer.testing import CliRunner

from vloc.cli import app
from vloc.dense.base import DenseLevel
from vloc.dense.gnnet import GNNetBackbone, GNNetBackboneConf
from vloc.models.checkpoint import save_checkpoint
from vloc.models.gnnet import GNNet, GNNetConf
from vloc.train import gnnet
from vloc.train.data import ColmapPairs, PairDataset, PairsConf, SyntheticPairs

SMALL = GNNetConf(output_dim=16, channels=(8, 16, 32))


@pytest.fixture(scope="module")
def tiny_pairs(synthetic_map: dict[str, Path]) -> SyntheticPairs:
    dataset = SyntheticPairs(synthetic_map["scene"], PairsConf(max_points=128, max_side=160))
    dataset.pairs = dataset.pairs[:: max(len(dataset.pairs) // 8, 1)][:8]
    return dataset


def test_training_resumes_and_writes_a_loadable_checkpoint(tiny_pairs: SyntheticPairs, tmp_path: Path):
    conf = replace(gnnet.TrainGNNetConf(), model=SMALL, epochs=1, validation_pairs=2)
    gnnet.main(conf, tiny_pairs, tmp_path)
    first = json.loads((tmp_path / "history.json").read_text())["epochs"][0]
    gnnet.main(conf, tiny_pairs, tmp_path / "again")  # from scratch with the same seed: the same run
    again = json.loads((tmp_path / "again" / "history.json").read_text())["epochs"][0]
    assert {k: v for k, v in first.items() if k != "time_s"} == {k: v for k, v in again.items() if k != "time_s"}
    checkpoint = gnnet.main(replace(conf, epochs=2), tiny_pairs, tmp_path, resume=tmp_path / "last.pt")
    history = json.loads((tmp_path / "history.json").read_text())["epochs"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert set(history[-1]) >= {
        "train_total",
        "train_contrastive",
        "train_gauss_newton",
        "accuracy@3px",
        "convergence_rate",
    }
    backbone = GNNetBackbone(GNNetBackboneConf(checkpoint=str(checkpoint)))
    levels = backbone(torch.zeros(96, 128, dtype=torch.uint8).numpy())
    assert [level.stride.tolist() for level in levels] == [
        [16.0, 16.0],
        [8.0, 8.0],
        [4.0, 4.0],
        [2.0, 2.0],
        [1.0, 1.0],
    ]  # 2 pooled
    assert all(level.features.shape[0] == 16 for level in levels)


class TransposedPairs(PairDataset):
    """A landscape image and its transpose (portrait), as a COLMAP model can mix: pixel (x, y) is (y, x) there."""

    def __init__(self, root: Path):
        super().__init__(root, PairsConf(max_points=128))
        image = (sinusoid_map(1, 48, 64, (6, 16), seed=4)[0] * 100 + 128).clamp(0, 255).byte().numpy()
        cv2.imwrite(str(root / "landscape.png"), image)
        cv2.imwrite(str(root / "portrait.png"), image.T.copy())
        self.pairs = [("landscape.png", "portrait.png")] * 4
        self.points = (
            torch.rand(300, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
            * torch.tensor([60.0, 44.0])
            + 2
        )

    def correspondences(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.points, self.points.flip(1)


def test_pairs_of_images_of_different_sizes_train(tmp_path: Path):
    pairs = TransposedPairs(tmp_path)
    sample = pairs[0]
    assert sample["image0"].shape == (1, 48, 64) and sample["image1"].shape == (1, 64, 48)
    conf = replace(gnnet.TrainGNNetConf(), model=SMALL, epochs=1)
    gnnet.main(conf, pairs, tmp_path / "run", validation_set=pairs)
    history = json.loads((tmp_path / "run" / "history.json").read_text())["epochs"]
    assert history[0]["train_total"] > 0 and 0 <= history[0]["accuracy@3px"] <= 1
    net = GNNet(SMALL).eval()
    with torch.no_grad():  # a mixed pair: one pass per image, each the same as alone
        landscape, portrait = gnnet.pyramid(net, [sample["image0"], sample["image1"]])
        alone = gnnet.pyramid(net, [sample["image1"]])[0]
    assert [tuple(level.features.shape[1:]) for level in portrait] == [(16, 12), (32, 24), (64, 48)]
    assert [tuple(level.features.shape[1:]) for level in landscape] == [(12, 16), (24, 32), (48, 64)]
    assert all(torch.equal(a.features, b.features) for a, b in zip(portrait, alone))


def test_validation_metrics_on_known_features():
    """Identical smooth maps: nearest neighbours land on the true cell and 2D alignment converges from 3 px away."""
    level = DenseLevel(sinusoid_map(16, 60, 80, (12, 30), seed=2), torch.tensor([1.0, 1.0], dtype=torch.float64))
    level.features = torch.nn.functional.normalize(level.features, dim=0)
    points = (
        torch.rand(200, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * torch.tensor([60.0, 40.0])
        + 10
    )
    errors = gnnet.matching_errors(level, level, points, points)
    # the true cell's centre (at most 0.71 px away), or a neighbour where the interpolated feature is between two
    assert float(errors.median()) < 0.5 and float(errors.max()) < 1.6
    assert float((gnnet.matching_errors(level, level, points, points + 3) > 2).double().mean()) == 1.0
    starts = (
        points + (torch.rand(points.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2 - 1) * 3
    )
    aligned = gnnet.align_points([level], [level], points, starts, gnnet.ValidationConf())
    assert float(((aligned - points).norm(dim=1) < 0.05).double().mean()) > 0.9


def test_bad_training_inputs(synthetic_map: dict[str, Path], tmp_path: Path):
    runner = CliRunner()
    scene = str(synthetic_map["scene"])
    result = runner.invoke(
        app, ["train", "gnnet", str(tmp_path / "run"), "--synthetic", scene, "--resume", str(tmp_path / "nowhere.pt")]
    )
    assert_one_line_error(result, "--resume", "nowhere.pt", "file not found")
    other = tmp_path / "other.pt"
    save_checkpoint(other, GNNet(SMALL))
    result = runner.invoke(app, ["train", "gnnet", str(tmp_path / "run"), "--synthetic", scene, "--init", str(other)])
    assert_one_line_error(result, str(other), "another architecture")
    torch.save({"architecture": "resnet"}, tmp_path / "resnet.pt")
    result = runner.invoke(
        app, ["train", "gnnet", str(tmp_path / "run"), "--synthetic", scene, "--init", str(tmp_path / "resnet.pt")]
    )
    assert_one_line_error(result, "resnet.pt", "not a GN-Net checkpoint")
    result = runner.invoke(app, ["train", "gnnet", str(tmp_path / "run")])
    assert_one_line_error(result, "one training source")
    assert not (tmp_path / "run" / "gnnet.pt").exists()


@pytest.mark.parametrize("epochs", ["0", "-2"])
def test_training_without_epochs_is_refused_and_keeps_the_checkpoint(tmp_path: Path, epochs: str):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "gnnet.pt").write_bytes(b"an earlier checkpoint")
    arguments = ["train", "gnnet", str(tmp_path / "run"), "--synthetic", str(tmp_path), "--set", f"epochs={epochs}"]
    result = CliRunner().invoke(app, arguments)
    assert_one_line_error(
        result, f"train gnnet: epochs must be at least 1 (an untrained network is no checkpoint), got {epochs}"
    )
    assert (tmp_path / "run" / "gnnet.pt").read_bytes() == b"an earlier checkpoint"


def test_shipped_checkpoint_beats_a_random_network_on_an_unseen_scene(synthetic_map: dict[str, Path]):
    """The shipped GN-Net was trained on other synthetic scenes (seeds 0 and 1, 320 px); here: seed 3 at 640 px."""
    pairs = ColmapPairs(synthetic_map["model"], synthetic_map["images"], PairsConf(max_points=256))
    pairs.pairs = pairs.pairs[:: max(len(pairs.pairs) // 6, 1)][:6]
    shipped, random = (
        gnnet.validate(gnnet.backbone_pyramids(GNNetBackbone(GNNetBackboneConf(checkpoint=c))), pairs)
        for c in ("shipped", "random")
    )
    print(f"shipped {shipped}\nrandom {random}")
    assert shipped["accuracy@3px"] > random["accuracy@3px"] + 0.2
    assert shipped["convergence_rate"] > random["convergence_rate"] + 0.2


def test_zero_byte_depth_map_fails_in_one_line_naming_it(tmp_path: Path):
    scene = tmp_path / "scene"
    args = ["--num-cameras", "3", "--width", "96", "--height", "72", "--focal", "80", "--num-buildings", "3"]
    runner = CliRunner()
    assert runner.invoke(app, ["synth", str(scene), *args, "--conditions", "day"]).exit_code == 0
    (scene / "geometry" / "frame_001.npz").write_bytes(b"")
    result = runner.invoke(app, ["train", "gnnet", str(tmp_path / "run"), "--synthetic", str(scene)])
    assert_one_line_error(result, f"{scene / 'geometry' / 'frame_001.npz'}: not a readable depth map")
    assert not (tmp_path / "run").exists()
