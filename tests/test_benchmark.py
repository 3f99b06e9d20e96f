"""vloc benchmark: extraction and matching profiles on tiny images, a recipe timed over repetitions, and the spread
of localization accuracy over RANSAC seeds."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pycolmap
import pytest
from helpers import localization_inputs
from typer.testing import CliRunner

from vloc import pairs
from vloc.benchmark.recipes import run_recipe
from vloc.benchmark.seeds import localization_seed_spread
from vloc.benchmark.speed import profile_extraction, profile_matching
from vloc.benchmark.versus_hloc import HLOC_MODULES
from vloc.cli import app
from vloc.errors import InputError
from vloc.evaluate.poses import evaluate
from vloc.evaluate.setup import EvaluationSetup
from vloc.extract import local_features as extract
from vloc.io.text import log_path, read_image_list, read_poses, write_poses
from vloc.localize import hierarchical as localize
from vloc.localize import lbr as localize_lbr
from vloc.matchers.pair_matcher import conf_by_name as match_conf
from vloc.pnp.absolute_pose import LocalizeConf


@pytest.fixture
def images(tmp_path: Path) -> tuple[Path, list[str]]:
    """Four 160x120 textured PNGs: blurred noise, so SIFT finds keypoints in every one."""
    root = tmp_path / "images"
    root.mkdir()
    rng = np.random.default_rng(0)
    names = [f"img_{k}.png" for k in range(4)]
    for name in names:
        noise = rng.integers(0, 256, (120, 160), dtype=np.uint8)
        assert cv2.imwrite(str(root / name), cv2.GaussianBlur(noise, (0, 0), 1.5))
    return root, names


def test_profile_extraction_and_matching(images, tmp_path: Path):
    root, names = images
    conf = extract.conf_by_name("sift")
    profile = profile_extraction(conf, root, names, repeat=2)
    assert profile["images"] == 4
    assert profile["total_s"] > 0 and profile["extractor_s"] > 0 and profile["images_per_s"] > 0
    assert 0.0 <= profile["overhead_fraction"] <= 1.0

    features = extract.main(conf, root, tmp_path / "feats.h5")
    pairs_path = pairs.exhaustive(names, tmp_path / "pairs.txt")
    profile = profile_matching(match_conf("nn-ratio"), pairs_path, features, repeat=2)
    assert profile["pairs"] == len(names) * (len(names) - 1) // 2 == 6
    assert profile["seconds"] > 0 and profile["pairs_per_s"] > 0


def test_foundation_cli_profiles_the_matcher_preset_asked_for(images, tmp_path: Path):
    root, _ = images
    out = tmp_path / "foundation.json"
    for preset, expected in ((None, "nn-ratio"), ("nn-mutual", "nn-mutual")):
        options = [] if preset is None else ["--match-conf", preset]
        result = CliRunner().invoke(app, ["benchmark", "foundation", str(root), str(out), "--repeat", "1", *options])
        assert result.exit_code == 0, result.output
        report = json.loads(out.read_text())
        assert report["match"]["preset"] == expected and report["match"]["pairs"] == 6
        assert report["extract"]["images"] == 4


def test_matchers_cli_profiles_each_preset_at_each_keypoint_count(images, tmp_path: Path):
    """Every image extracted up to the cap (the threshold lowered), each preset timed on the neighbouring pairs."""
    root, _ = images
    out = tmp_path / "matchers.json"
    command = ["benchmark", "matchers", str(root), str(out), "--keypoints", "50", "--keypoints", "100"]
    result = CliRunner().invoke(
        app, [*command, "--match-conf", "nn-ratio", "--match-conf", "nn-mutual", "--pairs", "2"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())["results"]
    assert [(r["keypoints"], r["preset"]) for r in rows] == [
        (50, "nn-ratio"),
        (50, "nn-mutual"),
        (100, "nn-ratio"),
        (100, "nn-mutual"),
    ]
    assert [r["median_keypoints"] for r in rows] == [50, 50, 100, 100]
    assert all(r["pairs"] == 2 and r["pairs_per_s"] > 0 for r in rows)


def test_run_recipe_records_stages(images, tmp_path: Path, monkeypatch):
    root, names = images
    (tmp_path / "list.txt").write_text("\n".join(names) + "\n")
    recipe = tmp_path / "recipe.sh"
    recipe.write_text(
        "set -euo pipefail\n"
        'mkdir -p "$1"\n'
        f'vloc pairs exhaustive "$1/p.txt" --list "{tmp_path / "list.txt"}"\n'
        'echo \'{"groups": {"all": {}}}\' > "$1/evaluation.json"\n'
    )
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "bench"
    report = run_recipe(recipe, out, repeat=2, extra_args=[])
    assert report["repeat"] == 2 and len(report["runs"]) == 2
    assert list(report["median_stage_s"]) == ["pairs exhaustive"]
    assert report["median_stage_s"]["pairs exhaustive"] > 0
    assert report["median_total_s"] >= report["median_stage_s"]["pairs exhaustive"]
    assert report["accuracy"] == {"evaluation.json": {"all": {}}}
    assert json.loads((out / "benchmark.json").read_text())["median_stage_s"] == report["median_stage_s"]
    assert len((out / "run_1" / "p.txt").read_text().splitlines()) == 6


def test_failed_recipe_names_the_last_error_line(tmp_path: Path):
    recipe = tmp_path / "fails.sh"
    recipe.write_text("echo first >&2\necho 'the real reason' >&2\nexit 3\n")
    with pytest.raises(InputError, match=r"failed on run 0: the real reason$"):
        run_recipe(recipe, tmp_path / "bench", repeat=1, extra_args=[])


def test_stage_labels_tell_mapping_and_query_matching_apart():
    from vloc.benchmark.recipes import stage_label

    assert (
        stage_label(["match", "features", "out/pairs-query.txt", "feats.h5", "m.h5", "--conf", "nn-ratio"])
        == "match pairs-query"
    )
    assert stage_label(["-v", "pairs", "retrieval", "out.txt", "--num", "10"]) == "pairs retrieval"
    assert stage_label(["extract", "local", "images", "feats.h5"]) == "extract local"


def test_seed_spread_evaluates_one_localization_per_seed(synthetic_map: dict[str, Path], tmp_path: Path):
    thresholds = [(0.01, 0.1), (0.05, 0.5)]
    inputs = localization_inputs(synthetic_map)

    def localize_with_seed(seed: int, results: Path) -> Path:
        return localize.main(LocalizeConf(random_seed=seed), inputs, results)

    report = localization_seed_spread(
        localize_with_seed,
        {},
        [0, 1, 2],
        synthetic_map["ground_truth"],
        EvaluationSetup(thresholds, None, None),
        tmp_path / "runs",
    )
    truth = read_poses(synthetic_map["ground_truth"])
    assert [run["seed"] for run in report["runs"]] == [0, 1, 2]
    for run in report["runs"]:
        direct = localize.main(LocalizeConf(random_seed=run["seed"]), inputs, tmp_path / "direct.txt")
        expected = evaluate(read_poses(direct), truth, thresholds)["groups"]["all"]
        assert run["median_rotation_deg"] == expected["median_rotation_deg"]
        assert run["median_translation_m"] == expected["median_translation_m"]
        assert run["recall_percent"] == expected["recall_percent"] and run["recall_percent"][1] >= 80
        log = json.loads(log_path(tmp_path / "runs" / f"results-seed{run['seed']}.txt").read_text())
        assert log["summary"]["conf"]["random_seed"] == run["seed"]
    rotations = sorted(run["median_rotation_deg"] for run in report["runs"])
    assert report["spread"]["median_rotation_deg"] == {"min": rotations[0], "median": rotations[1], "max": rotations[2]}
    assert report["spread"]["recall_percent@1"]["min"] >= 80


def test_seed_spread_cli_writes_the_table_and_json(synthetic_map: dict[str, Path], tmp_path: Path):
    paths = synthetic_map
    out = tmp_path / "seeds.json"
    result = CliRunner().invoke(
        app,
        [
            "benchmark",
            "ransac-seeds",
            str(paths["model"]),
            str(paths["queries"]),
            str(paths["pairs_query"]),
            str(paths["features"]),
            str(paths["matches_query"]),
            str(paths["ground_truth"]),
            str(out),
            "--seeds",
            "2",
            "--threshold",
            "0.05,0.5",
            "--set",
            "ransac_max_error=8",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "localization over 2 RANSAC seeds" in result.output and "median" in result.output
    report = json.loads(out.read_text())
    assert report["conf"]["ransac_max_error"] == 8 and len(report["runs"]) == 2
    assert report["spread"]["recall_percent@0"]["min"] >= 80


def test_seed_spread_of_lbr_matches_into_a_copy(lbr_inputs: dict[str, Path], tmp_path: Path):
    paths, out, matches = lbr_inputs, tmp_path / "seeds-lbr.json", tmp_path / "matches-lbr.h5"
    result = CliRunner().invoke(
        app,
        [
            "benchmark",
            "ransac-seeds",
            str(paths["model"]),
            str(paths["queries"]),
            str(paths["pairs_instances"]),
            str(paths["features"]),
            str(matches),
            str(paths["ground_truth"]),
            str(out),
            "--seeds",
            "2",
            "--threshold",
            "0.05,0.5",
            "--method",
            "lbr",
            "--labels",
            str(paths["instances"]),
            "--labels",
            str(paths["recognitions"]),
        ],
    )
    assert result.exit_code == 0, result.output
    assert not matches.exists()  # the pairs were matched into a copy
    report = json.loads(out.read_text())
    assert report["conf"]["method"] == "lbr" and report["conf"]["accept_inliers"] == 100
    truth = read_poses(paths["ground_truth"])
    for run in report["runs"]:
        direct = localize_lbr.main(
            localize_lbr.LbrConf(random_seed=run["seed"]),
            match_conf("nnml"),
            localization_inputs(paths, pairs=paths["pairs_instances"], matches=tmp_path / "direct.h5"),
            tmp_path / "direct.txt",
            labels=[paths["instances"], paths["recognitions"]],
        )
        expected = evaluate(read_poses(direct), truth, [(0.05, 0.5)])["groups"]["all"]
        assert (
            run["median_rotation_deg"] == expected["median_rotation_deg"]
            and run["recall_percent"] == expected["recall_percent"]
        )
        assert run["recall_percent"][0] >= 80


def test_compare_runs_finds_the_changed_pose_and_the_missing_file(tmp_path: Path):
    from vloc.benchmark.compare import compare_runs

    poses = {f"q{i}.png": pycolmap.Rigid3d(pycolmap.Rotation3d(), np.array([i, 0.0, 1.0])) for i in range(3)}
    for run in ("before", "after"):
        (tmp_path / run / "split").mkdir(parents=True)
        write_poses(tmp_path / run / "split" / "results.txt", poses)
        (tmp_path / run / "dataset.json").write_text(f'{{"image_root": "{(tmp_path / run).resolve()}/images"}}\n')
    (tmp_path / "before" / "pairs-query.txt").write_text("q0.png db.png\n")
    report = compare_runs(tmp_path / "before", tmp_path / "after")
    assert report["identical"] == ["dataset.json", "split/results.txt"] and report["missing"] == ["pairs-query.txt"]

    moved = dict(poses, **{"q1.png": pycolmap.Rigid3d(pycolmap.Rotation3d(), np.array([1.0, 0.25, 1.0]))})
    del moved["q2.png"]
    write_poses(tmp_path / "after" / "split" / "results.txt", moved)
    change = compare_runs(tmp_path / "before", tmp_path / "after")["different"]["split/results.txt"]
    assert change["max_translation"] == pytest.approx(0.25) and change["max_rotation_deg"] == pytest.approx(0.0)
    assert change["only_before"] == ["q2.png"] and change["only_after"] == []
    result = CliRunner().invoke(app, ["benchmark", "compare-runs", str(tmp_path / "before"), str(tmp_path / "after")])
    assert result.exit_code == 1 and "0.25" in result.output and "1 queries in one run only" in result.output


@pytest.fixture()
def fake_hloc(monkeypatch):
    """tests/fake_hloc's `hloc` importable for one test."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "fake_hloc"))
    import hloc

    hloc.CALLS.clear()
    yield hloc
    for name in [name for name in sys.modules if name == "hloc" or name.startswith("hloc.")]:
        del sys.modules[name]


def test_versus_hloc_runs_both_alternately_on_the_protocol_and_reports_vloc_over_hloc(
    synthetic_map: dict[str, Path], fake_hloc, tmp_path: Path
):
    """Against a stand-in for hloc (tests/fake_hloc: hloc's functions and signatures, done by vloc's stages): vloc on
    the same features gives the same evaluation, and the report holds both tools' medians and their ratios."""
    hloc, prepared, images, out = fake_hloc, synthetic_map["root"], synthetic_map["images"], tmp_path / "versus"
    command = ["benchmark", "versus-hloc", str(prepared), str(images), str(out), "--repeat", "2"]
    result = CliRunner().invoke(app, [*command, "--features", "sift-colmap-octave0"])  # the stand-in's
    assert result.exit_code == 0, result.output
    report = json.loads((out / "versus_hloc.json").read_text())

    mapping, queries = (read_image_list(prepared / f"{kind}.txt") for kind in ("mapping", "query_list"))
    calls = {name: [(args, kwargs) for called, args, kwargs in hloc.CALLS if called == name] for name, *_ in hloc.CALLS}
    assert {name: len(made) for name, made in calls.items()} == {
        "extract_features": 2,
        "pairs_from_poses": 2,
        "pairs_from_exhaustive": 2,
        "match_features": 4,
        "triangulation": 2,
        "localize_sfm": 2,
    }
    assert sorted(calls["extract_features"][0][1]["image_list"]) == sorted(mapping + queries)
    assert calls["pairs_from_poses"][0][0][2] == 20
    assert calls["pairs_from_exhaustive"][0][1] == {"image_list": queries, "ref_list": mapping}
    assert all(args[0] is hloc.match_features.confs["NN-ratio"] for args, _ in calls["match_features"])
    # alternately: hloc first in the first repetition, vloc first in the second
    finished = {run: (out / run / "results.txt").stat().st_mtime_ns for run in ("hloc_0", "vloc_0", "hloc_1", "vloc_1")}
    assert finished["hloc_0"] < finished["vloc_0"] < finished["vloc_1"] < finished["hloc_1"]

    hloc_run, vloc_run = report["hloc"], report["vloc"]
    # the same poses: hloc's results name the queries without their folder (night/...), restored for the evaluation
    assert hloc_run["accuracy"] == vloc_run["accuracy"] and vloc_run["accuracy"]["num_queries"] == len(queries)
    assert vloc_run["accuracy"]["recall_percent"][-1] >= 80 and all("/" in query for query in queries)
    assert hloc_run["keypoints_per_image"] == vloc_run["keypoints_per_image"] > 100
    num_query_pairs = len(queries) * len(mapping)
    stages = ("extract", "pairs", "match mapping", "match query", "triangulate", "localize")
    for tool in (hloc_run, vloc_run):
        assert all(tool["median_stage_s"][stage] > 0 for stage in stages)
        assert tool["query_pairs_per_s"] == pytest.approx(num_query_pairs / tool["median_stage_s"]["match query"])
    assert report["vloc_over_hloc"]["total"] == pytest.approx(vloc_run["median_total_s"] / hloc_run["median_total_s"])
    assert report["vloc_over_hloc"]["extract"] == pytest.approx(
        vloc_run["median_stage_s"]["extract"] / hloc_run["median_stage_s"]["extract"]
    )
    assert "vloc / hloc" in result.output
    again = CliRunner().invoke(app, command)  # nothing of the first comparison is replaced
    assert again.exit_code == 1 and "holds an earlier comparison" in again.output and "Traceback" not in again.output


def test_versus_hloc_without_hloc_is_a_one_line_error(tmp_path: Path, monkeypatch):
    for name in ("hloc", *(f"hloc.{module}" for module in HLOC_MODULES)):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    command = ["benchmark", "versus-hloc", str(tmp_path), str(tmp_path), str(tmp_path / "out")]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 1 and result.output.startswith("error: hloc is not importable")
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
