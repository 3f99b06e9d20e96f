"""vloc recognize: the weight-free vote recognizer finds the buildings that night queries see in a day map."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from helpers import assert_one_line_error, renderer_instances, visible_instances
from typer.testing import CliRunner

from vloc.cli import app
from vloc.io.features import FeatureReader
from vloc.io.instances import InstanceReader
from vloc.io.text import read_image_list
from vloc.recognize import queries as recognize
from vloc.recognizers.base import label_map_from_keypoints
from vloc.recognizers.vote import largest_k


@pytest.fixture(scope="module")
def labelled_map(synthetic_map: dict[str, Path], tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("recognize")
    return {
        **synthetic_map,
        "instances": renderer_instances(synthetic_map["model"], synthetic_map["scene"], out / "instances.h5"),
    }


def test_vote_recognises_visible_buildings_at_night(labelled_map: dict[str, Path], tmp_path: Path):
    queries = read_image_list(labelled_map["root"] / "query_list.txt")
    out = recognize.main(
        recognize.conf_by_name("vote"),
        labelled_map["instances"],
        queries,
        labelled_map["images"],
        labelled_map["features"],
        tmp_path / "recognitions.h5",
    )
    correct = 0
    with InstanceReader(out) as recognitions, FeatureReader(labelled_map["features"]) as features:
        for query in queries:
            instances, scores = recognitions.instances(query), recognitions.scores(query)
            assert np.all(np.diff(scores) <= 0)
            correct += len(instances) > 0 and int(instances[0]) in visible_instances(labelled_map["scene"], query)
            labels = recognitions.keypoint_labels(query)
            assert len(labels) == len(features.keypoints(query))
            assert set(np.unique(labels[labels > 0])) <= set(instances.tolist())
    assert correct / len(queries) >= 0.9


def test_label_map_spreads_keypoint_labels_within_the_radius():
    keypoints = np.array([[10.0, 10.0], [40.0, 10.0], [25.0, 30.0]])
    label_map = label_map_from_keypoints(keypoints, np.array([3, 5, 0]), 50, 40, radius=8)
    assert label_map[10, 10] == 3 and label_map[10, 40] == 5
    assert label_map[10, 17] == 3 and label_map[10, 33] == 5  # nearest labelled keypoint, 7 px away
    assert label_map[30, 25] == 0 and label_map[39, 0] == 0  # unlabelled keypoint, and too far from any


def test_recognize_bad_inputs_are_one_line_errors(labelled_map: dict[str, Path], tmp_path: Path):
    queries = tmp_path / "queries.txt"
    queries.write_text("night/unknown.png\n")
    arguments = [
        str(labelled_map["instances"]),
        str(labelled_map["images"]),
        str(labelled_map["features"]),
        str(tmp_path / "r.h5"),
    ]
    result = CliRunner().invoke(app, ["recognize", *arguments, "--queries", str(queries)])
    assert_one_line_error(result, "night/unknown.png", "no features")
    result = CliRunner().invoke(app, ["recognize", *arguments, "--queries", str(queries), "--conf", "magic"])
    assert_one_line_error(result, "unknown recognize conf 'magic'")
    result = CliRunner().invoke(
        app, ["recognize", str(labelled_map["features"]), *arguments[1:], "--queries", str(queries)]
    )
    assert_one_line_error(result, "no image has instance labels")
    assert not (tmp_path / "r.h5").exists()


def test_cli_overwrite_recognises_the_listed_queries_again_and_keeps_the_others(
    labelled_map: dict[str, Path], tmp_path: Path
):
    first, second = read_image_list(labelled_map["root"] / "query_list.txt")[:2]
    out = tmp_path / "recognitions.h5"
    arguments = [str(labelled_map[key]) for key in ("instances", "images", "features")] + [str(out), "--queries"]
    (tmp_path / "both.txt").write_text(f"{first}\n{second}\n")
    assert CliRunner().invoke(app, ["recognize", *arguments, str(tmp_path / "both.txt")]).exit_code == 0
    with InstanceReader(out) as recognitions:
        original = recognitions.keypoint_labels(first)
    assert (original > 0).sum() > 10
    with h5py.File(out, "r+") as handle:
        for name in (first, second):
            handle[name]["keypoint_labels"][...] = -3

    (tmp_path / "first.txt").write_text(f"{first}\n")
    result = CliRunner().invoke(app, ["recognize", *arguments, str(tmp_path / "first.txt"), "--overwrite"])
    assert result.exit_code == 0, result.output
    with InstanceReader(out) as recognitions:
        assert recognitions.names == sorted([first, second])  # both, not only the one listed
        np.testing.assert_array_equal(recognitions.keypoint_labels(first), original)  # recognised again
        assert (recognitions.keypoint_labels(second) == -3).all()  # not listed: kept as it was


def test_largest_k_is_torch_topk_searched_in_the_blocks_with_the_largest_maxima():
    generator = torch.Generator().manual_seed(0)
    clustered = torch.rand(20, 1000, generator=generator)
    clustered[:, 64:128] += 1  # all of the 32 largest in one block
    cases = [torch.rand(20, n, generator=generator) for n in (1024, 1030, 40)]  # whole blocks, a partial one, few
    for similarity in [clustered, *cases]:
        values, indices = largest_k(similarity, 32, block=64)
        expected = torch.topk(similarity, 32)
        assert torch.equal(values, expected.values) and torch.equal(indices, expected.indices)
