"""The README's demo recipe: a synthetic day map, night queries."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_recipe


def test_demo_localizes_night_queries_against_the_day_map(tmp_path: Path):
    stdout = run_recipe("demo.sh", tmp_path, NUM_CAMERAS="40")
    assert "localization errors" in stdout and "night" in stdout
    night = json.loads((tmp_path / "evaluation.json").read_text())["groups"]["night"]
    assert night["num_queries"] == 20 and night["num_failed"] == 0
    assert night["recall_percent"][0] >= 80  # within the generator's finest threshold
    support = json.loads((tmp_path / "consistency.json").read_text())["groups"]["night"]
    assert support["median_truth_per_estimate"] >= 0.95 and support["num_truth_weak"] == 0  # the renderer's exact poses
