"""Scene coordinate regression recipes at toy sizes: 7scenes_scr.sh and synthetic_street_scr.sh."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_recipe

from vloc.io.text import log_path

# a tiny scene coordinate network at 96 px, for the recipes' smoke tests
TINY_SCR_SET = " ".join(
    f"--set model.{o}" for o in ("widths=8,16,16,32", "channels=32", "extra_blocks=1", "groups=4", "image_height=96")
)


def test_7scenes_scr_runs_crosslocs_stages(shared_data: Path, tmp_path: Path):
    """7scenes_scr.sh on the easy split at toy sizes: a twin of 6 frames, one epoch per stage of a tiny network,
    5 queries, localized by the fused network (accepted poses, and every estimate) into evaluations."""
    run_recipe(
        "7scenes_scr.sh",
        tmp_path,
        shared_data,
        "easy",
        MAX_FRAMES="6",
        RENDERS="4",
        PRETRAIN="1",
        FINETUNE="1",
        NUM_QUERIES="5",
        SCR_SET=TINY_SCR_SET,
    )
    split = tmp_path / "easy"
    assert json.loads((split / "twin" / "scene.json").read_text())["num_real"] == 6
    for results in ("fused", "fused-all"):
        log = json.loads(log_path(split / f"results-{results}.txt").read_text())
        assert len(log["queries"]) == 5 and (split / f"evaluation-{results}.json").is_file()
    assert log["summary"]["conf"]["min_inlier_ratio"] == 0  # every estimate kept, as the option says
    history = json.loads((split / "fused" / "history.json").read_text())
    assert history["conf"]["model"]["image_height"] == 96 and len(history["epochs"]) == 1


def test_synthetic_street_scr_trains_on_day_and_night_and_holds_the_queries_out(tmp_path: Path):
    """synthetic_street_scr.sh on 6 poses, one epoch per stage of a tiny network: the night queries are never trained
    on, and the fused network localizes them into an evaluation."""
    run_recipe(
        "synthetic_street_scr.sh",
        tmp_path,
        None,
        NUM_CAMERAS="6",
        PRETRAIN="1",
        FINETUNE="1",
        SCR_SET=TINY_SCR_SET,
    )
    frames = (tmp_path / "frames.txt").read_text().split()
    queries = (tmp_path / "query_list.txt").read_text().split()
    assert len(frames) == 9 and not set(frames) & set(queries) and all(q.startswith("night/") for q in queries)
    log = json.loads(log_path(tmp_path / "results-fused.txt").read_text())
    assert len(log["queries"]) == 3 and (tmp_path / "evaluation-fused.json").is_file()
