"""vloc evaluate-retrieval: recall@k of ranked pairs against query and database ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pycolmap
import pytest
from test_pairs import pose_at
from typer.testing import CliRunner

from vloc.cli import app
from vloc.errors import ConfigError, InputError
from vloc.evaluate import retrieval as evaluate_retrieval
from vloc.io.model import build_posed_model, write_model
from vloc.io.text import write_poses


def rolled(x: float, roll_deg: float) -> pycolmap.Rigid3d:
    """A camera at (x, 0, 0) looking along +z, rolled about its optical axis."""
    angle = np.radians(roll_deg)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    return pycolmap.Rigid3d(pycolmap.Rotation3d(rotation), -rotation @ np.array([x, 0.0, 0.0]))


QUERIES = {"q/near-second.jpg": pose_at(0.0), "q/turned.jpg": pose_at(5.0), "q/none.jpg": pose_at(9.0)}
DATABASE = {
    "db/far.jpg": pose_at(1.0),  # 1 m from q/near-second
    "db/near.jpg": pose_at(0.1, 10.0),  # 0.1 m and 10 deg from q/near-second
    "db/45deg.jpg": pose_at(5.05, 45.0),  # 5 cm from q/turned but 45 deg
    "db/rolled.jpg": rolled(5.1, 90.0),  # 10 cm from q/turned, rolled 90 deg about the same optical axis
}
RANKED = {
    "q/near-second.jpg": ["db/far.jpg", "db/near.jpg"],
    "q/turned.jpg": ["db/45deg.jpg", "db/far.jpg", "db/near.jpg", "db/far.jpg", "db/near.jpg", "db/rolled.jpg"],
}


def test_recall_at_k_follows_rank_order():
    report = evaluate_retrieval.evaluate(RANKED, {**QUERIES, **DATABASE}, sorted(QUERIES), ks=(1, 5, 10))
    ranks = {q: r["first_correct_rank"] for q, r in report["queries"].items()}
    # q/none retrieved nothing: a failure; q/turned's roll-only neighbour counts (optical axes agree) at rank 6
    assert ranks == {"q/near-second.jpg": 2, "q/turned.jpg": 6, "q/none.jpg": None}
    assert report["recall"] == {"1": 0.0, "5": pytest.approx(1 / 3), "10": pytest.approx(2 / 3)}
    assert report["queries"]["q/none.jpg"]["num_retrieved"] == 0

    strict = evaluate_retrieval.evaluate(RANKED, {**QUERIES, **DATABASE}, ["q/near-second.jpg"], (1, 2), 0.5, 5.0)
    assert strict["recall"] == {"1": 0.0, "2": 0.0}  # 10 deg > 5 deg
    loose = evaluate_retrieval.evaluate(RANKED, {**QUERIES, **DATABASE}, ["q/near-second.jpg"], (1, 2), 1.5, 30.0)
    assert loose["recall"] == {"1": 1.0, "2": 1.0}  # 1 m < 1.5 m


def test_missing_ground_truth_and_bad_k():
    with pytest.raises(InputError, match="query q/x.jpg has no ground-truth pose"):
        evaluate_retrieval.evaluate(RANKED, {**QUERIES, **DATABASE}, ["q/x.jpg"])
    with pytest.raises(InputError, match="retrieved image db/far.jpg .* has no ground-truth pose"):
        evaluate_retrieval.evaluate(RANKED, QUERIES, ["q/near-second.jpg"])
    with pytest.raises(ConfigError, match="k >= 1"):
        evaluate_retrieval.evaluate(RANKED, QUERIES, [], ks=(0,))


def test_main_and_cli_from_poses_file_and_model(tmp_path: Path):
    pairs_path = tmp_path / "pairs.txt"
    pairs_path.write_text("".join(f"{q} {d}\n" for q, ranked in RANKED.items() for d in ranked))
    write_poses(tmp_path / "ground_truth.txt", QUERIES)
    camera = pycolmap.Camera(model="SIMPLE_PINHOLE", width=100, height=100, params=[100.0, 50.0, 50.0])
    write_model(build_posed_model(dict.fromkeys(DATABASE, camera), DATABASE), tmp_path / "reference")

    report = evaluate_retrieval.main(
        pairs_path,
        tmp_path / "ground_truth.txt",
        queries=sorted(QUERIES),
        ks=(1, 5),
        db_ground_truth=tmp_path / "reference",
        out_json=tmp_path / "recall.json",
    )
    assert report["recall"] == {"1": 0.0, "5": pytest.approx(1 / 3)}
    assert json.loads((tmp_path / "recall.json").read_text())["queries"]["q/turned.jpg"]["first_correct_rank"] == 6

    (tmp_path / "queries.txt").write_text("q/near-second.jpg\n")
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "retrieval",
            str(pairs_path),
            "--ground-truth",
            str(tmp_path / "ground_truth.txt"),
            "--db-ground-truth",
            str(tmp_path / "reference"),
            "--queries",
            str(tmp_path / "queries.txt"),
            "--k",
            "1",
            "--k",
            "2",
            "--out-json",
            str(tmp_path / "cli.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "cli.json").read_text())["recall"] == {"1": 0.0, "2": 1.0}
    assert "R@2" in result.output and "100.0%" in result.output

    only_queries = ["evaluate", "retrieval", str(pairs_path), "--ground-truth", str(tmp_path / "ground_truth.txt")]
    result = CliRunner().invoke(app, only_queries)
    assert result.exit_code == 1 and "retrieved image db/far.jpg" in result.output  # database poses not given
