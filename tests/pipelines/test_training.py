"""The training recipes on tiny scenes: their checkpoints load in the plug-ins that use them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from helpers import run_recipe

from vloc.dense.gnnet import GNNetBackbone, GNNetBackboneConf
from vloc.matchers.imp import IMPMatcher, IMPMatcherConf


def test_train_gnnet_writes_a_checkpoint_the_gnnet_backbone_loads(tmp_path: Path):
    """train_gnnet.sh on tiny scenes, one epoch (the defaults reproduce the shipped checkpoint in about 20 minutes)."""
    stdout = run_recipe(
        "train_gnnet.sh",
        tmp_path,
        None,
        "1",
        NUM_CAMERAS="6",
        VALIDATION_CAMERAS="3",
        WIDTH="160",
        HEIGHT="120",
        FOCAL="125",
    )
    checkpoint = tmp_path / "run" / "gnnet.pt"
    assert f"checkpoint: {checkpoint}" in stdout
    history = json.loads((tmp_path / "run" / "history.json").read_text())["epochs"]
    assert [h["epoch"] for h in history] == [1]
    assert 0 <= history[0]["accuracy@3px"] <= 1 and 0 <= history[0]["convergence_rate"] <= 1
    levels = GNNetBackbone(GNNetBackboneConf(checkpoint=str(checkpoint)))(np.zeros((120, 160), np.uint8))
    assert [level.stride.tolist() for level in levels][-1] == [1.0, 1.0]


def test_train_imp_writes_a_checkpoint_the_imp_matcher_loads(tmp_path: Path, shared_data: Path):
    """train_imp.sh on its real data (KITTI triangulated, Sacre Coeur by SfM, one homographic warp of each of their
    photographs), one epoch of a 4-iteration IMP on the pairs observing 200 common 3D points (the defaults reproduce
    the shipped checkpoint)."""
    overrides = (
        "model.num_iterations=4",
        "validation_pairs=4",  # the last one a negative pair (KITTI with Sacre Coeur)
        "matches.negative_pairs=0.5",
        "matches.max_matches=64",
        "matches.max_keypoints=128",
        "matches.min_shared_points=200",
    )
    settings = " ".join(f"--set {o}" for o in overrides)
    stdout = run_recipe(
        "train_imp.sh", tmp_path, shared_data, "1", IMP_SET=settings, HOMOGRAPHY_SET="--set warps_per_image=1"
    )
    checkpoint = tmp_path / "run" / "imp.pt"
    assert f"checkpoint: {checkpoint}" in stdout
    warps = json.loads((tmp_path / "homographies" / "homographies.json").read_text())["pairs"]
    assert len(warps) == 51 + 10  # one warp of each KITTI and Sacre Coeur photograph: one pair each
    history = json.loads((tmp_path / "run" / "history.json").read_text())["epochs"]
    assert [h["epoch"] for h in history] == [0, 1] and 0 <= history[1]["validation_recall"] <= 1
    assert history[0]["validation_recall"] > 0.5  # untrained: Sinkhorn on the SIFT descriptors already matches
    assert history[0]["validation_matches_per_negative_pair"] > 0  # ... and matches two places that share nothing
    assert IMPMatcher(IMPMatcherConf(weights=str(checkpoint))).net.conf.num_iterations == 4
