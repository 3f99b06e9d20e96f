"""Cambridge Landmarks recipe on a fake scene folder in the published formats (tests/nvm_layouts.py): the local
evaluation against dataset_test.txt finds the queries near the rendered truth."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import overall, run_recipe
from nvm_layouts import cambridge_layout


@pytest.fixture(scope="module")
def cambridge_run(benchmark_scene: Path, tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("cambridge-data")
    cambridge_layout(benchmark_scene, root / "ShopFacade")
    (root / "notes").mkdir()  # a folder that is no scene is skipped
    out = tmp_path_factory.mktemp("cambridge")
    stdout = run_recipe("cambridge.sh", out, None, str(root), LEARNED="0", NUM_MAPPING_PAIRS="8", NUM_RETRIEVED="6")
    return out, stdout


def test_cambridge_scene_is_evaluated_against_its_test_poses(cambridge_run):
    out, stdout = cambridge_run
    result = overall(out / "ShopFacade" / "evaluation-sift-nn-ratio.json")
    # measured: 8 of 8 localized, median 1.7 cm, 0.08 deg
    assert result["num_queries"] == 8 and result["num_failed"] <= 1
    assert result["median_translation_m"] < 0.1 and result["median_rotation_deg"] < 1
    assert result["recall_percent"][0] >= 75  # 25 cm, 2 deg
    assert "Cambridge Landmarks ShopFacade, sift + nn-ratio" in stdout
    assert not (out / "ShopFacade" / "evaluation-aliked-lightglue.json").exists()  # LEARNED=0
