"""The KITTI recipe: PnP against hloc's numbers, refinement that loses no query."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import overall, run_recipe

from vloc.io.text import log_path


@pytest.fixture(scope="module")
def kitti(shared_data: Path, tmp_path_factory) -> Path:
    """KITTI seq1 snippet: PnP, then refined on dense SIFT and on GN-Net features (kitti.sh)."""
    out = tmp_path_factory.mktemp("kitti")
    run_recipe("kitti.sh", out, shared_data)
    return out


def test_kitti_localizes_as_accurately_as_hloc_but_one_query(kitti: Path):
    pnp = overall(kitti / "evaluation.json")
    # hloc: 7.7 mm, 0.028 deg, 80 / 100 / 100 %. vloc measured 4.3 mm, 0.022 deg, 80 / 96 / 100 %: the one query
    # beyond (10 cm, 0.25 deg), 000001.png at 16 cm, is one the map contradicts its ground truth on (the ground truth
    # reprojects 52% of the estimate's inliers within 4 px, every query from the fifth on 95% or more).
    assert pnp["num_queries"] == 25 and pnp["num_failed"] == 0
    assert pnp["median_translation_m"] <= 0.0077 and pnp["median_rotation_deg"] <= 0.028
    assert [r >= f for r, f in zip(pnp["recall_percent"], (80, 96, 100))] == [True] * 3


@pytest.mark.parametrize("backbone", ["dsift", "gnnet"])
def test_kitti_refinement_loses_no_query_at_any_threshold(kitti: Path, backbone: str):
    """Refined poses are kept only inside the PnP pose's 99% confidence region (measured: recall 80 / 96 / 100 % before
    and after with either backbone; without that test, 80 / 92 / 100 %)."""
    pnp, refined = overall(kitti / "evaluation.json"), overall(kitti / f"evaluation-{backbone}.json")
    assert refined["num_failed"] == pnp["num_failed"] == 0
    assert [a >= b for a, b in zip(refined["recall_percent"], pnp["recall_percent"])] == [True] * 3
    log = json.loads(log_path(kitti / f"results-{backbone}.txt").read_text())["queries"]
    outside = [q["name"] for q in log if "confidence region" in q["refinement"].get("failure_reason", "")]
    accepted = [q["name"] for q in log if q["refinement"]["accepted"]]
    assert outside and accepted  # measured: 6 and 19 (dsift), 5 and 19 (gnnet)
