"""The KITTI recipe: PnP against hloc's numbers, refinement that loses no query and lowers the median error."""

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


def test_kitti_localizes_as_accurately_as_hloc(kitti: Path):
    pnp = overall(kitti / "evaluation.json")
    # hloc: 7.7 mm, 0.028 deg, 80 / 100 / 100 %. vloc measured 5.7 mm, 0.024 deg, 84 / 100 / 100 % (with the default
    # `sift`, upsampled first: 4.3 mm, 0.022 deg, 80 / 96 / 100 %, 000001.png at 16 cm)
    assert pnp["num_queries"] == 25 and pnp["num_failed"] == 0
    assert pnp["median_translation_m"] <= 0.0077 and pnp["median_rotation_deg"] <= 0.028
    assert [r >= f for r, f in zip(pnp["recall_percent"], (80, 100, 100))] == [True] * 3


@pytest.mark.parametrize("backbone", ["dsift", "gnnet"])
def test_kitti_refinement_loses_no_query_at_any_threshold(kitti: Path, backbone: str):
    """Refined poses are fused with the PnP ones by their covariances, kept only where the two agree. Measured: recall
    84 / 100 / 100 % before and after with either backbone, median 5.7 mm before, 5.2 (dsift) and 5.4 mm (gnnet)
    after."""
    pnp, refined = overall(kitti / "evaluation.json"), overall(kitti / f"evaluation-{backbone}.json")
    assert refined["num_failed"] == pnp["num_failed"] == 0
    assert [a >= b for a, b in zip(refined["recall_percent"], pnp["recall_percent"])] == [True] * 3
    assert refined["median_translation_m"] < pnp["median_translation_m"]
    log = json.loads(log_path(kitti / f"results-{backbone}.txt").read_text())["queries"]
    disagreeing = [q["name"] for q in log if "poses disagree" in q["refinement"].get("failure_reason", "")]
    accepted = [q["name"] for q in log if q["refinement"]["accepted"]]
    assert disagreeing and accepted  # measured: 2 and 22 (dsift), 2 and 23 (gnnet)
