"""Text files: names a text file can hold, UTF-8, real line numbers, duplicates, poses that are numbers, and a
property test that arbitrary bytes give a parsed value or a one-line VlocError."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pycolmap
import pytest
from helpers import assert_one_line_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from vloc.cli import app
from vloc.datasets.temple_ring import read_latitudes, read_par
from vloc.errors import FormatError, InputError, VlocError
from vloc.io.dataset_info import read_dataset_json
from vloc.io.groups import read_groups
from vloc.io.text import (
    name_problem,
    read_image_list,
    read_pairs,
    read_poses,
    read_queries,
    write_directed_pairs,
    write_pairs,
    write_poses,
    write_queries,
)
from vloc.recognize.map_instances import read_remap


@pytest.mark.parametrize(
    "name, problem",
    [
        ("a b.jpg", "whitespace"),
        ("a\tb.jpg", "whitespace"),
        ("a\u00a0b.jpg", "whitespace"),  # a no-break space
        ("#a.jpg", "comment"),
        ("a\x00.jpg", "control character"),
        ("a\x1b[31m.jpg", "control character"),
        ("a\udcff.jpg", "not valid UTF-8"),  # how Python spells a file-name byte that is not UTF-8
        ("/tmp/images/a.jpg", "absolute path"),  # stored as 'tmp/images/a.jpg' by h5py: another name
        ("../other/a.jpg", "leaves the image folder"),
        ("db/../../a.jpg", "leaves the image folder"),
    ],
)
def test_names_a_text_file_cannot_hold(name: str, problem: str):
    assert problem in name_problem(name)


@pytest.mark.parametrize("name", ["a.jpg", "db/seq-1/a_b.jpg", "a#b.jpg", "été/ü.png", "[x].png", "a..b.jpg"])
def test_names_a_text_file_holds(name: str, tmp_path: Path):
    assert name_problem(name) is None
    write_directed_pairs(tmp_path / "pairs.txt", [(name, "z.jpg")])
    assert read_pairs(tmp_path / "pairs.txt") == [(name, "z.jpg")]


def test_writers_refuse_names_their_readers_could_not_read_back(tmp_path: Path):
    pose = pycolmap.Rigid3d()
    camera = pycolmap.Camera(model="SIMPLE_PINHOLE", width=640, height=480, params=[500, 320, 240])
    with pytest.raises(FormatError, match=r"pairs.txt: cannot write image name 'a b.jpg': it contains whitespace"):
        write_pairs(tmp_path / "pairs.txt", [("a b.jpg", "c.jpg")])
    with pytest.raises(FormatError, match=r"results.txt: cannot write image name '#q.jpg': it starts with '#'"):
        write_poses(tmp_path / "results.txt", {"#q.jpg": pose})
    with pytest.raises(FormatError, match=r"queries.txt: cannot write image name 'q\\x00.jpg'"):
        write_queries(tmp_path / "queries.txt", {"q\x00.jpg": camera})
    assert not list(tmp_path.iterdir())


def test_line_numbers_count_comments_and_blank_lines(tmp_path: Path):
    path = tmp_path / "pairs.txt"
    path.write_text("# pairs\n\na.jpg b.jpg\nc.jpg\n")
    with pytest.raises(FormatError, match=r"pairs.txt:4: expected 'name0 name1'"):
        read_pairs(path)


def test_pairs_line_with_a_name_holding_a_space_is_refused_not_split(tmp_path: Path):
    path = tmp_path / "pairs.txt"
    path.write_text("a.jpg b.jpg\nmy photo.jpg b.jpg\n")
    with pytest.raises(FormatError, match=r"pairs.txt:2: expected 'name0 name1' \(names without spaces\), got 'my"):
        read_pairs(path)
    path.write_text("a.jpg #b.jpg\n")
    with pytest.raises(FormatError, match=r"pairs.txt:1: image name '#b.jpg' starts with '#'"):
        read_pairs(path)


def test_byte_order_mark_is_dropped_and_repeated_list_names_kept_once(tmp_path: Path):
    path = tmp_path / "list.txt"
    path.write_bytes("\ufeffa.jpg\nb.jpg SIMPLE_PINHOLE 1 1 1 0 0\na.jpg\n".encode())
    assert read_image_list(path) == ["a.jpg", "b.jpg"]


def test_non_utf8_pairs_and_queries_fail_in_one_line_naming_file_and_line(tmp_path: Path):
    runner = CliRunner()
    (tmp_path / "pairs.txt").write_bytes(b"a.jpg b.jpg\n\xff.jpg b.jpg\n")
    out = tmp_path / "matches.h5"
    out.write_bytes(b"an earlier output")
    (tmp_path / "f.h5").write_bytes(b"")  # inputs exist (the CLI checks that first); the text is read before them
    (tmp_path / "model").mkdir()
    result = runner.invoke(app, ["match", "features", str(tmp_path / "pairs.txt"), str(tmp_path / "f.h5"), str(out)])
    assert_one_line_error(result, f"{tmp_path / 'pairs.txt'}:2: not UTF-8 text (byte 0xff)")
    assert out.read_bytes() == b"an earlier output"

    (tmp_path / "queries.txt").write_bytes(b"q\xe9.jpg SIMPLE_PINHOLE 640 480 500 320 240\n")
    args = ["localize", str(tmp_path / "model"), str(tmp_path / "queries.txt"), str(tmp_path / "pairs.txt")]
    result = runner.invoke(app, [*args, str(tmp_path / "f.h5"), str(out), str(tmp_path / "results.txt")])
    assert_one_line_error(result, f"{tmp_path / 'queries.txt'}:1: not UTF-8 text (byte 0xe9)")
    assert not (tmp_path / "results.txt").exists()


@pytest.mark.parametrize(
    "lines, message",
    [
        (["q.jpg 1 0 0 0 5 0 0", "q.jpg 1 0 0 0 0 0 0"], "results.txt:2: 'q.jpg' is given twice (first on line 1)"),
        (["q.jpg nan 0 0 0 0 0 0"], "results.txt:1: pose of 'q.jpg' is not finite (nan or inf)"),
        (["q.jpg 1 0 0 0 0 -inf 0"], "results.txt:1: pose of 'q.jpg' is not finite (nan or inf)"),
        (["q.jpg 0 0 0 0 1 2 3"], "results.txt:1: quaternion of 'q.jpg' has norm 0 and cannot be normalised"),
        (["q.jpg 1e200 1e200 0 0 1 2 3"], "quaternion of 'q.jpg' has norm inf and cannot be normalised"),
    ],
)
def test_results_duplicates_and_poses_that_are_not_rotations_fail_in_evaluate(
    tmp_path: Path, lines: list[str], message: str
):
    (tmp_path / "ground_truth.txt").write_text("q.jpg 1 0 0 0 0 0 0\n")
    (tmp_path / "results.txt").write_text("".join(f"{line}\n" for line in lines))
    report = tmp_path / "report.json"
    report.write_text("{}")
    args = ["evaluate", "poses", str(tmp_path / "results.txt"), str(tmp_path / "ground_truth.txt")]
    result = CliRunner().invoke(app, [*args, "--threshold", "0.5,5", "--out-json", str(report)])
    assert_one_line_error(result, message)
    assert report.read_text() == "{}"


def test_results_reader_keeps_the_pose_of_a_quaternion_that_is_not_unit(tmp_path: Path):
    (tmp_path / "results.txt").write_text("q.jpg 2 0 0 0 1 2 3\n")
    pose = read_poses(tmp_path / "results.txt")["q.jpg"]
    np.testing.assert_allclose(pose.matrix(), [[1, 0, 0, 1], [0, 1, 0, 2], [0, 0, 1, 3]])


def test_duplicate_query_and_size_out_of_range_are_one_line_errors(tmp_path: Path):
    path = tmp_path / "queries.txt"
    path.write_text("q.jpg SIMPLE_PINHOLE 640 480 500 320 240\nq.jpg SIMPLE_PINHOLE 640 480 400 320 240\n")
    with pytest.raises(FormatError, match=r"queries.txt:2: 'q.jpg' is given twice \(first on line 1\)"):
        read_queries(path)
    path.write_text("q.jpg SIMPLE_PINHOLE -640 480 500 320 240\n")
    with pytest.raises(FormatError, match=r"queries.txt:1: image size -640x480 is not positive"):
        read_queries(path)


def test_error_holding_rich_markup_prints_literally(tmp_path: Path):
    (tmp_path / "pairs.txt").write_text("a.jpg [/b] c.jpg\n")
    (tmp_path / "f.h5").write_bytes(b"")  # exists, as the CLI checks first; the pairs are read before it
    args = ["match", "features", str(tmp_path / "pairs.txt"), str(tmp_path / "f.h5"), str(tmp_path / "m.h5")]
    result = CliRunner().invoke(app, args)
    assert_one_line_error(result, "got 'a.jpg [/b] c.jpg'")


# ---------------------------------------------------------------- property: arbitrary bytes
NUMBERS = st.sampled_from(["0", "-1", "1", "0.5", "640", "1e200", "1e400", "nan", "-inf", "x"]) | st.integers().map(str)
NAMES = st.sampled_from(["a.jpg", "db/b.png", "#c", "q\x00", "é"]) | st.text(min_size=1, max_size=6)
MODELS = st.sampled_from(["SIMPLE_PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "OPENCV"])
MORE = st.sampled_from([0, 1, 2, 5, 6, 10, 20])  # fields after the second: pairs, lists, queries, results, par
FIELDS = st.tuples(NAMES, MODELS | NUMBERS, MORE.flatmap(lambda n: st.lists(NUMBERS, min_size=n, max_size=n)))
LINES = st.lists(FIELDS.map(lambda f: " ".join([f[0], f[1], *f[2]])) | st.text(max_size=30), max_size=6)
KEYS = st.sampled_from(["vloc_format", "queries", "thresholds", "conditions", "db_images", "instance", "score"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.sampled_from(["vloc-groups-1", "q.jpg"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS | st.text(max_size=3), children, max_size=4),
    max_leaves=12,
)
CONTENTS = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    LINES.map(lambda lines: "\n".join(lines).encode()),
    LINES.map(lambda lines: "\r\n".join(lines).encode("utf-8", "surrogatepass")),
    JSON.map(lambda document: json.dumps(document).encode()),
)
READERS = [
    read_image_list,
    read_pairs,
    read_poses,
    read_queries,
    read_remap,
    read_latitudes,
    read_par,
    read_groups,
    read_dataset_json,
]


@pytest.mark.parametrize("reader", READERS, ids=lambda reader: reader.__name__)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=CONTENTS)
def test_text_readers_parse_arbitrary_bytes_or_fail_in_one_line(reader, content: bytes, tmp_path: Path):
    path = tmp_path / "file.txt"
    path.write_bytes(content)
    try:
        reader(path)
    except VlocError as error:
        assert len(str(error).splitlines()) == 1, str(error)
        assert str(error).startswith(str(path)), str(error)


def test_an_empty_queries_file_or_image_list_is_refused_where_work_needs_one(tmp_path: Path):
    """An empty queries file would have localize replace a results file with nothing; an empty list, extract write
    a features file of no image."""
    from vloc.io.images import select_images

    (tmp_path / "empty.txt").write_text("# nothing here\n\n")
    assert read_queries(tmp_path / "empty.txt") == {}
    with pytest.raises(FormatError, match="empty.txt: no queries"):
        read_queries(tmp_path / "empty.txt", required=True)
    with pytest.raises(InputError, match="empty.txt: no image names"):
        select_images(tmp_path, tmp_path / "empty.txt")
