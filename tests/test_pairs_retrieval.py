"""vloc pairs retrieval | sequential: ranked pairs from global descriptors, video pairs with loops, expansion."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from test_pairs import covisible_model
from typer.testing import CliRunner

from vloc import pairs
from vloc.cli import app
from vloc.errors import FormatError, InputError
from vloc.io.global_features import write_global_descriptor
from vloc.io.h5 import atomic_writer
from vloc.io.text import read_pairs


def write_descriptors(path: Path, descriptors: dict[str, np.ndarray]) -> Path:
    with atomic_writer(path, resume=False) as handle:
        for name, descriptor in descriptors.items():
            write_global_descriptor(handle, name, np.asarray(descriptor, np.float32))
    return path


def at_angle(degrees: float) -> np.ndarray:
    return np.array([np.cos(np.radians(degrees)), np.sin(np.radians(degrees))])


@pytest.fixture
def planar(tmp_path: Path) -> Path:
    """2-D descriptors on the unit circle: cosine similarity is the cosine of the angle between them.

    q/1 (0 deg) ranks db/b (10), db/d (30), db/a (50), db/c (100), db/e (200): not the alphabetical order.
    q/0 (90 deg) ranks db/c, db/a, db/d, db/b, db/e.
    """
    angles = {"db/a": 50, "db/b": 10, "db/c": 100, "db/d": 30, "db/e": 200, "q/0": 90, "q/1": 0}
    return write_descriptors(tmp_path / "global.h5", {n: 3 * at_angle(a) for n, a in angles.items()})


DB = ["db/a", "db/b", "db/c", "db/d", "db/e"]


def test_retrieval_keeps_rank_order(tmp_path: Path, planar: Path):
    out = pairs.retrieval(planar, tmp_path / "pairs.txt", 3, query_names=["q/1", "q/0"], db_names=DB)
    assert out.read_text().splitlines() == [
        "q/1 db/b",
        "q/1 db/d",
        "q/1 db/a",
        "q/0 db/c",
        "q/0 db/a",
        "q/0 db/d",
    ]
    # cos(50 deg) = 0.643, cos(40 deg) = 0.766: a minimum score of 0.7 drops q/1's third image only
    out = pairs.retrieval(planar, tmp_path / "pairs.txt", 3, query_names=["q/1", "q/0"], db_names=DB, min_score=0.7)
    assert read_pairs(out) == [("q/1", "db/b"), ("q/1", "db/d"), ("q/0", "db/c"), ("q/0", "db/a")]


def test_retrieval_excludes_self_and_warns_when_k_exceeds_database(tmp_path: Path, planar: Path, caplog):
    # every image is a query and in the database: no image retrieves itself
    written = read_pairs(pairs.retrieval(planar, tmp_path / "pairs.txt", 2))
    assert len(written) == 7 * 2 and all(a != b for a, b in written)
    assert [b for a, b in written if a == "db/b"] == ["q/1", "db/d"]  # 10 and 20 deg away

    with caplog.at_level(logging.WARNING):
        written = read_pairs(pairs.retrieval(planar, tmp_path / "pairs.txt", 10, query_names=["q/1"], db_names=DB))
    assert "larger than the database (5 images)" in caplog.text
    assert [b for _, b in written] == ["db/b", "db/d", "db/a", "db/c", "db/e"]


def test_retrieval_errors(tmp_path: Path, planar: Path):
    with pytest.raises(InputError, match="no database image"):
        pairs.retrieval(planar, tmp_path / "pairs.txt", 2, query_names=["q/1"], db_names=[])
    other = write_descriptors(tmp_path / "db3.h5", {"x": np.ones(3), "y": np.arange(3.0)})
    with pytest.raises(FormatError) as error:
        pairs.retrieval(planar, tmp_path / "pairs.txt", 2, query_names=["q/1"], db_descriptors=other)
    message = str(error.value)
    assert "\n" not in message and "2 in" in message and "3 in" in message
    assert str(planar) in message and str(other) in message
    broken = write_descriptors(tmp_path / "nan.h5", {"x": np.ones(2), "y": np.array([np.nan, 1.0])})
    with pytest.raises(FormatError, match="nan.h5: the global descriptor of image 'y' is not finite"):
        pairs.retrieval(planar, tmp_path / "pairs.txt", 1, query_names=["q/1"], db_descriptors=broken)


def test_retrieval_cli_with_prefixes(tmp_path: Path, planar: Path):
    out = tmp_path / "pairs.txt"
    result = CliRunner().invoke(
        app,
        [
            "pairs",
            "retrieval",
            str(out),
            "--descriptors",
            str(planar),
            "--num",
            "2",
            "--query-prefix",
            "q/",
            "--db-prefix",
            "db/",
        ],
    )
    assert result.exit_code == 0, result.output
    assert read_pairs(out) == [("q/0", "db/c"), ("q/0", "db/a"), ("q/1", "db/b"), ("q/1", "db/d")]
    result = CliRunner().invoke(
        app,
        ["pairs", "retrieval", str(out), "--descriptors", str(planar), "--num", "2", "--db-prefix", "nothing/"],
    )
    assert result.exit_code == 1 and f"{planar}: no database image" in result.output


def test_sequential_pairs_and_loops(tmp_path: Path):
    names = [f"frame_{i:02d}.jpg" for i in range(12)]
    written = read_pairs(pairs.sequential(names, tmp_path / "pairs.txt", 3))
    assert len(written) == 9 * 3 + 2 + 1  # the last three frames have fewer successors
    assert ("frame_00.jpg", "frame_03.jpg") in written and ("frame_00.jpg", "frame_04.jpg") not in written

    # the camera goes round a loop twice: frame i looks like frame i + 6, and like no other frame
    loop = write_descriptors(tmp_path / "global.h5", {n: at_angle(60 * i + 5 * (i % 6)) for i, n in enumerate(names)})
    written = read_pairs(pairs.sequential(names, tmp_path / "pairs.txt", 2, loop, loop_num=1, loop_min_gap=3))
    sequential = {(names[i], names[j]) for i in range(12) for j in range(i + 1, min(i + 3, 12))}
    loops = {(names[i], names[i + 6]) for i in range(6)}
    assert len(sequential) == 21 and set(written) == sequential | loops and len(written) == 27


def test_retrieval_expanded_by_covisibility(tmp_path: Path):
    # shared points: a: b5 c4 d1 | b: a5 c3 d2 | c: a4 b3 d2 | d: b2 c2 a1
    model = covisible_model(
        {
            ("a.jpg", "b.jpg"): 5,
            ("a.jpg", "c.jpg"): 4,
            ("a.jpg", "d.jpg"): 1,
            ("b.jpg", "c.jpg", "d.jpg"): 2,
            ("b.jpg", "c.jpg"): 1,
        }
    )
    angles = {"a.jpg": 0, "b.jpg": 90, "c.jpg": 180, "d.jpg": 260, "q.jpg": 5}
    descriptors = write_descriptors(tmp_path / "global.h5", {n: at_angle(a) for n, a in angles.items()})
    db = ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    out = tmp_path / "pairs.txt"
    pairs.retrieval(descriptors, out, 1, query_names=["q.jpg", "a.jpg"], db_names=db, expand_model=model, expand_num=2)
    # q retrieves a, then a's 2 most covisible (b, c); a retrieves b (90 deg away; d is 100), whose most
    # covisible are a (the query itself: dropped) and c
    written = read_pairs(out)
    assert [b for a, b in written if a == "q.jpg"] == ["a.jpg", "b.jpg", "c.jpg"]
    assert [b for a, b in written if a == "a.jpg"] == ["b.jpg", "c.jpg"]
    assert pairs.expand_by_covisibility({"q": ["d.jpg", "a.jpg"]}, model, 1) == {"q": ["d.jpg", "a.jpg", "b.jpg"]}
