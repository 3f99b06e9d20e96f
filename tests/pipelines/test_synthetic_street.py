"""The synthetic street recipes: LBR against VLAD retrieval, and the segmentation recognizer."""

from __future__ import annotations

import json

import pytest
from helpers import Run, overall, run_recipe


@pytest.fixture(scope="module")
def synthetic_street(tmp_path_factory) -> Run:
    """synthetic_street_seg.sh on a small street: synthetic_street.sh (VLAD top-6 against LBR with the vote recognizer),
    then LBR with a segmentation recognizer trained for one epoch."""
    out = tmp_path_factory.mktemp("synthetic_street")
    stdout = run_recipe(
        "synthetic_street_seg.sh",
        out,
        NUM_CAMERAS="40",
        NUM_BUILDINGS="10",
        WIDTH="320",
        HEIGHT="240",
        FOCAL="240",
        BUDGET="6",
        RECOGNIZER_EPOCHS="1",
    )
    return Run(out, stdout)


def test_synthetic_street_lbr_matches_hierarchical_localization_with_fewer_pairs(synthetic_street: Run):
    out = synthetic_street.out
    assert "LBR:" in synthetic_street.stdout
    hloc, lbr = (overall(out / f"evaluation-{m}.json") for m in ("hloc", "lbr"))
    for with_lbr, with_hloc in zip(lbr["recall_percent"], hloc["recall_percent"]):
        assert with_lbr >= with_hloc - 5  # one query of 20
    assert lbr["recall_percent"][-1] >= 90
    summary = json.loads((out / "results-lbr_log.json").read_text())["summary"]
    assert summary["mean_pairs_matched"] < 6 and summary["num_early_exits"] >= 3


def test_synthetic_street_seg_trains_and_uses_the_segmentation_recognizer(synthetic_street: Run):
    """A smoke test: one epoch of training is too short to recognise well, so only the plumbing is checked."""
    out = synthetic_street.out
    assert "LBR: global instance recognition (seg)" in synthetic_street.stdout
    assert [e["epoch"] for e in json.loads((out / "recognizer" / "history.json").read_text())["epochs"]] == [1]
    seg = overall(out / "evaluation-lbr-seg.json")
    assert seg["num_queries"] == overall(out / "evaluation-lbr.json")["num_queries"] == 20
    summary = json.loads((out / "results-lbr-seg_log.json").read_text())["summary"]
    assert summary["num_queries"] == 20 and summary["mean_pairs_matched"] <= 6  # the budget
