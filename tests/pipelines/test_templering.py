"""Middlebury templeRing recipes against hloc's SIFT numbers: exhaustive pairs, sparse-to-dense, retrieval."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import Run, overall, refine_recipe_run, run_recipe


@pytest.fixture(scope="module")
def templering(shared_data: Path, tmp_path_factory) -> Run:
    """templering.sh once: exhaustive pairs, then sparse-to-dense matching."""
    out = tmp_path_factory.mktemp("templering")
    return Run(out, run_recipe("templering.sh", out, shared_data))


def test_templering_retrieval_localizes_as_well_as_exhaustive_pairs(templering: Run, shared_data: Path, tmp_path: Path):
    """Top-4 retrieval. The recipes share their SIFT conf, mapping pairs and matcher, and every retrieved pair is among
    the exhaustive run's: features and matches start as copies of that run's, so extraction and matching resume with
    nothing left to do (as a user re-running with another pair list would)."""
    for name in ("feats-sift.h5", "matches-mapping.h5", "matches-query.h5"):
        shutil.copy(templering.out / name, tmp_path)
    run_recipe("templering_retrieval.sh", tmp_path, shared_data, NUM_RETRIEVED="4")
    runs = {"exhaustive": templering.out, "retrieval": tmp_path}
    exhaustive, retrieval = (overall(runs[m] / "evaluation.json") for m in ("exhaustive", "retrieval"))
    for with_retrieval, with_all in zip(retrieval["recall_percent"], exhaustive["recall_percent"]):
        assert with_retrieval >= with_all - 2
    pairs = {m: len((runs[m] / "pairs-query.txt").read_text().splitlines()) for m in ("exhaustive", "retrieval")}
    assert pairs["exhaustive"] >= 5 * pairs["retrieval"]  # 24 mapping views: top-4 (top-10 would be 2.4x fewer)


def test_templering_beats_hloc(templering: Run):
    out = templering.out
    assert "localization errors" in templering.stdout
    result = overall(out / "evaluation.json")
    # hloc (SIFT, NN-ratio, triangulation from known poses): 1.3 mm, 0.20 deg, 35 / 65 / 87 %, no failure
    assert result["num_queries"] == 23 and result["num_failed"] == 0
    assert result["median_translation_m"] <= 0.0013 and result["median_rotation_deg"] <= 0.20
    assert [r >= f for r, f in zip(result["recall_percent"], (35, 65, 87))] == [True] * 3
    # sparse-to-dense matching (dense SIFT) then PnP, measured 56.5 / 73.9 / 73.9 %: below SIFT's 60.9 / 82.6 / 95.7 %
    # and issue 5's 90 % at (5 mm, 1 deg); views 32-47 are off in their ground truth (SIFT PnP misses there too)
    dense = overall(out / "evaluation-s2d.json")
    assert dense["num_failed"] == 0 and [r >= f for r, f in zip(dense["recall_percent"], (50, 69, 69))] == [True] * 3
    # Per ring of the gantry: the known poses of the -82 deg ring fit their triangulated points to a median 0.1-0.3 px,
    # those of the +82 deg ring to 1.0-1.8 px (`vloc triangulate` prints it), and templeR0040/0041 are 180 deg off.
    # On the -82 deg ring, SIFT measured 93.3 / 100 / 100 % and sparse-to-dense 86.7 / 100 / 100 %.
    lower = {
        run: json.loads((out / run).read_text())["groups"]["lat -82"]
        for run in ("evaluation.json", "evaluation-s2d.json")
    }
    assert [r >= f for r, f in zip(lower["evaluation.json"]["recall_percent"], (90, 100, 100))] == [True] * 3
    assert [r >= f for r, f in zip(lower["evaluation-s2d.json"]["recall_percent"], (80, 100, 100))] == [True] * 3
    # The ground truth explains the query matches as the estimates do (measured 1.00), except templeR0040's, 180 deg off
    support = json.loads((out / "consistency.json").read_text())
    assert support["groups"]["all"]["median_truth_per_estimate"] >= 0.95
    assert support["groups"]["all"]["num_failed"] == 0
    weak = [n for n, q in support["queries"].items() if q["truth_per_estimate"] < support["weak_ratio"]]
    assert weak == ["templeR0040.png"] and support["queries"]["templeR0040.png"]["inliers_truth"] == 0


def test_templering_refinement_on_gnnet_keeps_recall_and_lowers_the_median(templering: Run, shared_data: Path):
    """PnP poses refined on GN-Net features and fused with them. Measured: 0.438 -> 0.343 mm, recall 60.9 / 82.6 /
    95.7 % before and after. (On dense SIFT one query, templeR0038, whose PnP pose is 8.8 mm from its ground truth at
    a standard deviation of 1.9 mm, moves to 11.1 mm, across the 10 mm threshold: README, `--refine`.)"""
    pnp = overall(templering.out / "evaluation.json")
    images = shared_data / "middlebury_templeRing" / "images"
    refined = refine_recipe_run(templering.out, templering.out / "feats-sift.h5", images, "gnnet")
    assert refined["num_failed"] == pnp["num_failed"] == 0
    assert [a >= b for a, b in zip(refined["recall_percent"], pnp["recall_percent"])] == [True] * 3
    assert refined["median_translation_m"] < 0.9 * pnp["median_translation_m"]
