"""Evaluation: errors as in docs/benchmarks.md, recall with failures, per-condition groups, files written."""

from __future__ import annotations

import json
import math

import numpy as np
import pycolmap
import pytest
from helpers import assert_one_line_error
from scipy.spatial.transform import Rotation
from typer.testing import CliRunner

from vloc.errors import VlocError
from vloc.evaluate.poses import evaluate, main
from vloc.evaluate.report import cdf_figure, length_unit
from vloc.evaluate.setup import EvaluationSetup, evaluation_setup
from vloc.geometry.rigid3d import pose_errors, rigid_from_matrix
from vloc.io.model import build_posed_model, write_model
from vloc.io.text import write_poses


def rigid(rotation: np.ndarray, translation) -> pycolmap.Rigid3d:
    return pycolmap.Rigid3d(pycolmap.Rotation3d(rotation), np.asarray(translation, np.float64))


def random_pose(seed: int) -> pycolmap.Rigid3d:
    rng = np.random.default_rng(seed)
    return rigid(Rotation.random(random_state=seed).as_matrix(), rng.normal(size=3))


def perturbed(pose: pycolmap.Rigid3d, axis, angle_deg: float, centre_shift) -> pycolmap.Rigid3d:
    """Same camera rotated by `angle_deg` about `axis` (in the camera frame) and its centre moved by `centre_shift`."""
    delta = Rotation.from_rotvec(np.radians(angle_deg) * np.asarray(axis) / np.linalg.norm(axis)).as_matrix()
    rotation = delta @ pose.rotation.matrix()
    centre = pose.inverse().translation + np.asarray(centre_shift)
    return rigid(rotation, -rotation @ centre)


def test_known_perturbation_errors():
    truth = {"q": random_pose(0)}
    results = {"q": perturbed(truth["q"], [1, 2, 3], 1.0, [0.0, 0.03, 0.0])}
    query = evaluate(results, truth, [(0.05, 2.0)])["queries"]["q"]
    assert query["translation_m"] == pytest.approx(0.03, abs=1e-9)
    assert query["rotation_deg"] == pytest.approx(1.0, abs=1e-7)


def test_rotation_of_180_degrees_is_180():
    truth = {"q": random_pose(1)}
    results = {"q": perturbed(truth["q"], [0, 1, 0], 180.0, [0, 0, 0])}
    query = evaluate(results, truth, [(0.05, 2.0)])["queries"]["q"]
    assert query["rotation_deg"] == pytest.approx(180.0, abs=1e-6)
    assert query["translation_m"] == pytest.approx(0.0, abs=1e-9)


def test_non_orthonormal_rotation_is_projected_onto_so3():
    pose = random_pose(2)
    rotation = pose.rotation.matrix()
    # non-orthonormal at the 5e-4 level, as the 7-Scenes rotation blocks: a shrink plus a symmetric perturbation
    symmetric = np.random.default_rng(3).normal(size=(3, 3))
    noisy = rotation @ (np.eye(3) * (1 - 5e-4) + 1e-4 * (symmetric + symmetric.T))
    naive = np.degrees(np.arccos(np.clip((np.trace(noisy @ rotation.T) - 1) / 2, -1, 1)))
    assert naive > 1.0  # the trace formula on the raw matrix puts a floor of degrees under the error
    _, rotation_error = pose_errors(rigid_from_matrix(noisy, pose.translation), pose)
    assert rotation_error < 0.01


def test_recall_counts_failures_and_medians():
    truth = {f"q{i}": random_pose(10 + i) for i in range(5)}
    shifts = {"q0": 0.01, "q1": 0.03, "q2": 0.08, "q3": 0.2}  # q4 has no result: failed
    results = {n: perturbed(truth[n], [0, 0, 1], 0.5, [s, 0, 0]) for n, s in shifts.items()}
    report = evaluate(results, truth, [(0.02, 2.0), (0.05, 5.0), (0.10, 10.0)])
    group = report["groups"]["all"]
    assert group["num_queries"] == 5 and group["num_failed"] == 1
    assert group["recall_percent"] == pytest.approx([20.0, 40.0, 60.0])
    assert group["median_translation_m"] == pytest.approx(0.08, abs=1e-9)
    assert group["median_rotation_deg"] == pytest.approx(0.5, abs=1e-7)
    assert math.isinf(report["queries"]["q4"]["translation_m"])


def test_a_non_finite_result_is_a_failed_query_not_a_nan_median():
    """A NaN translation, an inf one and a NaN quaternion: three failed queries; the medians and recall come from the
    two finite results and the failures, never NaN."""
    truth = {f"q{i}": random_pose(20 + i) for i in range(5)}
    results = {n: perturbed(truth[n], [0, 0, 1], 0.5, [0.01, 0, 0]) for n in ("q0", "q1")}
    results["q2"] = rigid(truth["q2"].rotation.matrix(), [np.nan, 0, 0])
    results["q3"] = rigid(truth["q3"].rotation.matrix(), [0, np.inf, 0])
    results["q4"] = pycolmap.Rigid3d(pycolmap.Rotation3d(np.full(4, np.nan)), truth["q4"].translation)
    group = evaluate(results, truth, [(0.02, 2.0)])["groups"]["all"]
    assert group["num_failed"] == 3 and group["recall_percent"] == [40.0]
    assert math.isinf(group["median_translation_m"]) and math.isinf(group["median_rotation_deg"])
    del truth["q3"], results["q3"], truth["q4"], results["q4"]
    group = evaluate(results, truth, [(0.02, 2.0)])["groups"]["all"]
    assert group["num_failed"] == 1 and group["median_translation_m"] == pytest.approx(0.01, abs=1e-9)
    assert group["median_rotation_deg"] == pytest.approx(0.5, abs=1e-7)


def test_cli_counts_a_zero_quaternion_or_nan_translation_as_failed(tmp_path):
    """Results with a zero quaternion and a NaN translation: two failed queries of three, or (where the results reader
    refuses non-finite values) a one-line error naming the file and line; never a NaN median, never a traceback."""
    from helpers import assert_one_line_error

    from vloc.cli import app

    truth = {f"q{i}.png": random_pose(30 + i) for i in range(3)}
    write_poses(tmp_path / "ground_truth.txt", truth)
    write_poses(tmp_path / "results.txt", truth)
    lines = (tmp_path / "results.txt").read_text().splitlines()
    lines[1] = "q1.png 0 0 0 0 1 2 3"
    lines[2] = "q2.png 1 0 0 0 nan 2 3"
    (tmp_path / "results.txt").write_text("\n".join(lines) + "\n")
    arguments = ["evaluate", "poses", str(tmp_path / "results.txt"), str(tmp_path / "ground_truth.txt")]
    result = CliRunner().invoke(app, [*arguments, "--threshold", "0.05,5", "--out-json", str(tmp_path / "r.json")])
    if result.exit_code == 1:
        assert_one_line_error(result, f"{tmp_path / 'results.txt'}:2")
        assert not (tmp_path / "r.json").exists()
        return
    assert result.exit_code == 0, result.output
    group = json.loads((tmp_path / "r.json").read_text())["groups"]["all"]
    assert group["num_failed"] == 2 and group["recall_percent"] == [pytest.approx(100 / 3)]
    assert group["median_translation_m"] is None  # infinite: 2 of 3 failed; JSON has no infinity
    assert "nan" not in result.output


def test_rotation_threshold_also_applies():
    truth = {"q": random_pose(4)}
    results = {"q": perturbed(truth["q"], [1, 0, 0], 3.0, [0.001, 0, 0])}
    assert evaluate(results, truth, [(0.02, 2.0), (0.05, 5.0)])["groups"]["all"]["recall_percent"] == [0.0, 100.0]


def test_result_without_ground_truth_is_an_error(tmp_path):
    truth = {"q0": random_pose(0)}
    write_poses(tmp_path / "gt.txt", truth)
    write_poses(tmp_path / "results.txt", {"q0": truth["q0"], "stray.jpg": random_pose(1)})
    with pytest.raises(VlocError, match="stray.jpg.*gt.txt"):
        main(tmp_path / "results.txt", tmp_path / "gt.txt", EvaluationSetup([(0.05, 5.0)], None, None))
    (tmp_path / "queries.txt").write_text("q0\nother.jpg\n")
    setup = evaluation_setup(None, [(0.05, 5.0)], tmp_path / "queries.txt")
    with pytest.raises(VlocError, match="queries.txt: query other.jpg has no ground-truth pose in .*gt.txt"):
        main(tmp_path / "gt.txt", tmp_path / "gt.txt", setup)


def test_per_condition_groups_files_and_model_ground_truth(tmp_path):
    truth = {f"day/{i}.png": random_pose(i) for i in range(4)} | {
        f"night/{i}.png": random_pose(10 + i) for i in range(4)
    }
    conditions = {n: n.split("/")[0] for n in truth}
    results = {n: perturbed(p, [0, 1, 0], 0.1, [0.01, 0, 0]) for n, p in truth.items() if n != "night/3.png"}
    results["night/2.png"] = perturbed(truth["night/2.png"], [0, 1, 0], 20, [1.0, 0, 0])
    write_poses(tmp_path / "results.txt", results)
    camera = pycolmap.Camera(model="SIMPLE_PINHOLE", width=100, height=100, params=[100.0, 50.0, 50.0])
    write_model(build_posed_model(dict.fromkeys(truth, camera), truth), tmp_path / "gt_model")
    report = main(
        tmp_path / "results.txt",
        tmp_path / "gt_model",
        EvaluationSetup([(0.02, 2.0)], None, conditions),
        out_json=tmp_path / "report.json",
        plot=tmp_path / "cdf.png",
    )
    groups = report["groups"]
    assert set(groups) == {"all", "day", "night"}
    assert groups["day"]["recall_percent"] == pytest.approx([100.0]) and groups["day"]["num_failed"] == 0
    assert groups["night"]["recall_percent"] == pytest.approx([50.0]) and groups["night"]["num_failed"] == 1
    assert groups["all"]["recall_percent"] == pytest.approx([75.0]) and groups["all"]["num_queries"] == 8
    written = json.loads((tmp_path / "report.json").read_text())
    assert written["queries"]["night/3.png"]["translation_m"] is None  # a failure, JSON has no infinity
    assert written["groups"]["night"]["num_failed"] == 1
    assert (tmp_path / "cdf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cdf_figure_shows_every_error_and_marks_the_thresholds():
    truth = {f"{condition}/{i}.png": random_pose(i) for condition in ("day", "night") for i in range(4)}
    conditions = {n: n.split("/")[0] for n in truth}
    shifts = [0.0005, 0.004, 0.03, 2.5]  # metres: from far below the finest threshold (2 cm) to far above the largest
    results = {n: perturbed(truth[n], [0, 0, 1], 0.1 * (1 + i % 4), [shifts[i % 4], 0, 0]) for i, n in enumerate(truth)}
    del results["night/3.png"]  # failed
    report = evaluate(results, truth, [(0.02, 2.0), (0.05, 5.0), (0.10, 10.0)], conditions=conditions)
    figure = cdf_figure(report, conditions)
    assert figure.get_suptitle()
    translation, rotation = figure.axes
    assert translation.get_xscale() == "log" and rotation.get_xscale() == "log"
    low, high = translation.get_xlim()  # in cm: errors 0.05 to 250, thresholds 2 to 10
    assert low <= 0.05 and high >= 250
    low, high = rotation.get_xlim()  # degrees: errors 0.1 to 0.4, thresholds 2 to 10
    assert low <= 0.1 and high >= 10
    marks = [line for line in translation.get_lines() if line.get_gid() == "threshold"]
    assert sorted(line.get_xdata()[0] for line in marks) == pytest.approx([2.0, 5.0, 10.0])
    curves = {line.get_label(): line for line in translation.get_lines() if line.get_gid() != "threshold"}
    assert list(curves) == ["all (8 queries, 1 failed)", "day (4 queries, 0 failed)", "night (4 queries, 1 failed)"]
    assert len({(line.get_color(), line.get_linestyle()) for line in curves.values()}) == 3
    tops = [line.get_ydata()[-1] for line in curves.values()]
    assert tops == pytest.approx([87.5, 100.0, 75.0])  # a failure keeps its group's curve below 100%
    assert [t.get_text() for t in translation.get_legend().get_texts()] == list(curves)


def test_length_unit():
    assert length_unit({"thresholds": [(0.001, 0.5), (0.01, 2)]}) == ("mm", 1000.0)
    assert length_unit({"thresholds": [(0.02, 2), (0.1, 10)]}) == ("cm", 100.0)
    assert length_unit({"thresholds": [(5.0, 10)]}) == ("m", 1.0)
    assert length_unit({"thresholds": [(0.05, 1)], "model_units": True}) == ("units", 1.0)  # an SfM model's scale


def test_cli_evaluate_with_dataset_json(tmp_path):
    from vloc.cli import app

    truth = {"a.png": random_pose(0), "b.png": random_pose(1)}
    write_poses(tmp_path / "ground_truth.txt", truth)
    (tmp_path / "query_list.txt").write_text("a.png\nb.png\n")
    (tmp_path / "dataset.json").write_text(json.dumps({"thresholds": [[0.05, 5]], "conditions": {}}))
    write_poses(tmp_path / "results.txt", {"a.png": truth["a.png"]})
    runner = CliRunner()
    args = ["evaluate", "poses", str(tmp_path / "results.txt"), str(tmp_path / "ground_truth.txt")]
    result = runner.invoke(
        app, args + ["--dataset-json", str(tmp_path / "dataset.json"), "--out-json", str(tmp_path / "r.json")]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r.json").read_text())["groups"]["all"]["recall_percent"] == [50.0]
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the plot, by default beside the JSON
    assert "r.png" in result.output
    result = runner.invoke(app, args + ["--threshold", "0.05"])
    assert result.exit_code == 1 and "metres,degrees" in result.output and "Traceback" not in result.output
    result = runner.invoke(
        app, args + ["--threshold", "0.05,5", "--model-units", "--out-json", str(tmp_path / "u.json")]
    )
    assert result.exit_code == 0 and "(units)" in result.output and "0.05units," in result.output
    assert json.loads((tmp_path / "u.json").read_text())["model_units"] is True


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--threshold", "nan,5"], "threshold (nan, 5.0): both must be positive and finite"),
        (["--threshold", "-1,5"], "threshold (-1.0, 5.0): both must be positive and finite"),
        (["--dataset-json", "BAD_JSON"], "not a dataset.json written by `vloc prepare` (conditions is int"),
    ],
)
def test_thresholds_and_conditions_that_mean_nothing_are_one_line_errors(option, message, tmp_path):
    from vloc.cli import app

    write_poses(tmp_path / "poses.txt", {"a.png": random_pose(0)})
    (tmp_path / "bad.json").write_text(json.dumps({"thresholds": [[0.05, 5]], "conditions": 5}))
    option = [str(tmp_path / "bad.json") if value == "BAD_JSON" else value for value in option]
    result = CliRunner().invoke(
        app, ["evaluate", "poses", str(tmp_path / "poses.txt"), str(tmp_path / "poses.txt"), *option]
    )
    assert_one_line_error(result, message)
