"""synthetic_crossview.sh with the shipped DenseFlow network on scenes it never saw (another seed): by day and by
night its poses are far closer to the truth than the priors, and closer than the correlation-only baseline's."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_recipe

WEIGHTS = Path(__file__).parents[2] / "vloc" / "models" / "weights" / "denseflow.pt"


def test_the_shipped_network_localizes_unseen_scenes_by_day_and_night(tmp_path: Path):
    run_recipe(
        "synthetic_crossview.sh",
        tmp_path,
        None,
        CHECKPOINT=str(WEIGHTS),
        SEED="1",
        NUM_SCENES="3",
        NUM_TEST_SCENES="3",
        VIEWS="8",
    )
    for condition in ("day", "night"):
        metrics = {
            method: json.loads((tmp_path / "results" / f"{method}_{condition}.json").read_text())["all"]
            for method in ("flow", "flow-unweighted", "correlation")
        }
        prior, flow = metrics["flow"]["prior"], metrics["flow"]["estimate"]
        correlation = metrics["correlation"]["estimate"]
        assert flow["views"] == 24
        # measured 0.28 / 0.32 m and 0.79 / 0.72 deg (day / night) from priors 7.7 m and 4.1 deg off
        assert flow["median_distance_m"] <= 0.1 * prior["median_distance_m"], (condition, flow, prior)
        assert flow["median_yaw_deg"] <= 0.25 * prior["median_yaw_deg"], (condition, flow, prior)
        # the baseline: 0.89 / 0.93 m, 2.31 / 1.94 deg
        assert flow["median_distance_m"] < 0.6 * correlation["median_distance_m"], (condition, flow, correlation)
        assert flow["median_yaw_deg"] < 0.6 * correlation["median_yaw_deg"], (condition, flow, correlation)
