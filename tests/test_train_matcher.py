"""`vloc train matcher`: IMP trained on a rendered scene's SIFT, validated each epoch, resumed, and used to match."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vloc.cli import app
from vloc.io.matches import MatchReader

TINY = [
    "epochs=1",
    "model.num_iterations=4",
    "model.encoder_channels=[16,32]",
    "validation_pairs=4",
    "matches.max_matches=64",
    "matches.max_keypoints=128",
]


def train(out: Path, scene: Path, features: Path, *overrides: str, resume: Path | None = None):
    command = ["train", "matcher", str(out), "--synthetic", str(scene), "--features", str(features)]
    command += [a for o in overrides for a in ("--set", o)] + (["--resume", str(resume)] if resume else [])
    return CliRunner().invoke(app, command)


@pytest.fixture(scope="module")
def run(keypoint_scene, tmp_path_factory) -> Path:
    frame_pairs, features, scene = keypoint_scene
    out = tmp_path_factory.mktemp("train_matcher") / "run"
    result = train(out, scene, features, *TINY)
    assert result.exit_code == 0, result.output
    return out


def test_an_epoch_is_validated_and_resumed_from_its_last_state(run: Path, keypoint_scene):
    frame_pairs, features, scene = keypoint_scene
    untrained, first = json.loads((run / "history.json").read_text())["epochs"]
    assert untrained["epoch"] == 0 and "train_loss" not in untrained
    assert first["epoch"] == 1 and first["validation_loss"] > 0 and 0 <= first["validation_precision"] <= 1
    assert {"validation_auc@5", "validation_auc@10", "validation_auc@20", "validation_recall"} <= first.keys()
    assert "validation_matches_per_negative_pair" not in first  # one source: no negative pair to count
    result = train(run, scene, features, *TINY, "epochs=2", resume=run / "last.pt")
    assert result.exit_code == 0, result.output
    history = json.loads((run / "history.json").read_text())["epochs"]
    assert [h["epoch"] for h in history] == [0, 1, 2] and history[:2] == [untrained, first]  # nothing redone


def test_the_trained_checkpoint_matches_features_through_vloc_match(run: Path, keypoint_scene, tmp_path: Path):
    frame_pairs, features, scene = keypoint_scene
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("".join(f"{a} {b}\n" for a, b in frame_pairs.pairs[:3]))
    for preset in ("imp", "eimp-iterative"):
        out = tmp_path / f"matches-{preset}.h5"
        command = ["match", "features", str(pairs), str(features), str(out), "--conf", preset]
        result = CliRunner().invoke(app, [*command, "--set", f"weights={run / 'imp.pt'}"])
        assert result.exit_code == 0, result.output
        with MatchReader(out) as reader:
            for name0, name1 in frame_pairs.pairs[:3]:
                matches, scores = reader.read(name0, name1)
                assert len(np.unique(matches[:, 1])) == len(matches) and (scores > 0.1).all()
                group = reader.handle[reader.find(name0, name1)[0]]
                assert (
                    1 <= group["num_iterations"][()] <= 4 and len(group["num_tokens0"]) == group["num_iterations"][()]
                )


def test_bad_training_inputs_are_one_line_errors(keypoint_scene, tmp_path: Path):
    frame_pairs, features, scene = keypoint_scene
    result = train(tmp_path / "run", scene, features, *TINY, "model.descriptor_dim=64")
    assert result.exit_code != 0 and "128-dimensional descriptors, but the model takes 64" in result.output
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(" ".join(frame_pairs.pairs[0]) + "\n")
    command = ["match", "features", str(pairs), str(features), str(tmp_path / "matches.h5"), "--conf", "imp"]
    result = CliRunner().invoke(app, [*command, "--set", f"weights={tmp_path / 'missing.pt'}"])
    assert result.exit_code != 0 and "IMP weights not found" in result.output and "missing.pt" in result.output
    assert not (tmp_path / "matches.h5").exists()


def test_the_shipped_checkpoint_is_the_default_and_matches_a_day_night_pair(keypoint_scene):
    """vloc/models/weights/imp-sift.pt (pipelines/train_imp.sh, float16 weights): loaded when no weights are given; on
    a frame by day and by night (never trained on: a rendered scene) its matches are mostly right by the depth."""
    import torch

    from vloc.io.features import FeatureReader
    from vloc.matchers.imp import SHIPPED, IMPMatcher, IMPMatcherConf
    from vloc.train.keypoint_matches import LEFT_OUT, KeypointMatchesConf, keypoint_matches

    frame_pairs, features, _ = keypoint_scene
    assert all(v.dtype == torch.float16 for v in torch.load(SHIPPED, weights_only=True)["state_dict"].values())
    matcher = IMPMatcher(IMPMatcherConf())
    assert matcher.net.conf.num_iterations == 9
    frame0, frame1 = (frame_pairs.frames[k] for k in frame_pairs.frame_pairs[0])
    assert frame0.image.replace("day", "night") == frame1.image
    with FeatureReader(features) as reader:
        features0, features1 = reader.read(frame0.image), reader.read(frame1.image)
    truth, _ = keypoint_matches(features0, features1, frame0, frame1, KeypointMatchesConf())
    ((matches0, _, _),) = matcher(matcher.prepare(features0), [matcher.prepare(features1)])
    labelled = np.flatnonzero((matches0 >= 0) & (truth != LEFT_OUT))
    assert len(labelled) > 200 and (matches0[labelled] == truth[labelled]).mean() > 0.8  # measured 729, 0.835
