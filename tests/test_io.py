"""File formats: round trips, hloc-written files, validation, atomic writes."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from vloc.errors import FormatError, InputError
from vloc.io.atomic import atomic_path
from vloc.io.features import FeatureReader, Features, list_images, write_features
from vloc.io.h5 import FORMAT_ATTR, atomic_writer
from vloc.io.matches import MatchReader, names_to_pair, write_matches
from vloc.io.text import read_pairs, read_poses, read_queries, write_pairs, write_poses, write_queries


def random_features(rng: np.random.Generator, n: int) -> Features:
    return Features(
        keypoints=rng.uniform(0, 3000, (n, 2)).astype(np.float32),
        descriptors=rng.random((128, n)).astype(np.float16),
        scores=rng.random(n).astype(np.float32),
        image_size=np.array([3000, 2000]),
    )


def test_features_round_trip_is_exact(tmp_path: Path):
    rng = np.random.default_rng(0)
    written = {"db/seq 1/a.jpg": random_features(rng, 50), "q.png": random_features(rng, 7)}
    with atomic_writer(tmp_path / "f.h5", resume=False) as handle:
        for name, features in written.items():
            write_features(handle, name, features)
    assert list_images(tmp_path / "f.h5") == sorted(written)
    with FeatureReader(tmp_path / "f.h5") as reader:
        for name, features in written.items():
            read = reader.read(name)
            assert read.keypoints.dtype == np.float32  # float16 would round 3000 px coordinates to 2 px steps
            np.testing.assert_array_equal(read.keypoints, features.keypoints)
            np.testing.assert_array_equal(read.descriptors, features.descriptors)
            np.testing.assert_array_equal(read.scores, features.scores)
            np.testing.assert_array_equal(read.image_size, features.image_size)
    with h5py.File(tmp_path / "f.h5") as handle:
        assert handle.attrs[FORMAT_ATTR] == 1


def test_matches_round_trip_and_reversed_lookup(tmp_path: Path):
    matches0 = np.array([3, -1, 0, 7, -1], np.int32)
    scores0 = np.array([0.9, 0, 0.8, 0.7, 0], np.float32)
    with atomic_writer(tmp_path / "m.h5", resume=False) as handle:
        write_matches(handle, "a/x.jpg", "b.jpg", matches0, scores0)
    with MatchReader(tmp_path / "m.h5") as reader:
        pairs, scores = reader.read("a/x.jpg", "b.jpg")
        np.testing.assert_array_equal(pairs, [[0, 3], [2, 0], [3, 7]])
        np.testing.assert_allclose(scores, [0.9, 0.8, 0.7], atol=1e-3)
        reversed_pairs, _ = reader.read("b.jpg", "a/x.jpg")
        np.testing.assert_array_equal(reversed_pairs, [[3, 0], [0, 2], [7, 3]])
        with pytest.raises(FormatError, match="no matches for pair"):
            reader.read("a/x.jpg", "c.jpg")


def test_reads_files_in_hlocs_layout(tmp_path: Path):
    """hloc writes no vloc_format attribute, float16 keypoints, and pair keys with '/' replaced by '-'."""
    with h5py.File(tmp_path / "feats.h5", "w") as handle:
        group = handle.create_group("query/night/img1.jpg")
        group.create_dataset("keypoints", data=np.array([[10.5, 20.25], [30, 40]], np.float16))
        group.create_dataset("descriptors", data=np.ones((128, 2), np.float16))
        group.create_dataset("image_size", data=np.array([640, 480]))
    with h5py.File(tmp_path / "matches.h5", "w") as handle:
        group = handle.create_group(names_to_pair("db/img2.jpg", "query/night/img1.jpg"))
        assert group.name == "/db-img2.jpg/query-night-img1.jpg"
        group.create_dataset("matches0", data=np.array([1, -1, 0], np.int16))
        group.create_dataset("matching_scores0", data=np.array([0.5, 0, 0.25], np.float16))
    assert list_images(tmp_path / "feats.h5") == ["query/night/img1.jpg"]
    with FeatureReader(tmp_path / "feats.h5") as reader:
        features = reader.read("query/night/img1.jpg")
        np.testing.assert_array_equal(features.keypoints, [[10.5, 20.25], [30, 40]])
        np.testing.assert_array_equal(features.scores, [1, 1])
    with MatchReader(tmp_path / "matches.h5") as reader:
        pairs, scores = reader.read("query/night/img1.jpg", "db/img2.jpg")  # stored the other way round
        np.testing.assert_array_equal(pairs, [[1, 0], [0, 2]])
        np.testing.assert_allclose(scores, [0.5, 0.25])


def test_truncated_and_foreign_files_fail_with_one_line(tmp_path: Path):
    rng = np.random.default_rng(1)
    with atomic_writer(tmp_path / "f.h5", resume=False) as handle:
        write_features(handle, "a.jpg", random_features(rng, 100))
    data = (tmp_path / "f.h5").read_bytes()
    (tmp_path / "truncated.h5").write_bytes(data[: len(data) // 3])
    with pytest.raises(FormatError, match="truncated.h5: not a readable HDF5 file"):
        FeatureReader(tmp_path / "truncated.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(FormatError, match="text.h5: not a readable HDF5 file"):
        FeatureReader(tmp_path / "text.h5")
    with h5py.File(tmp_path / "foreign.h5", "w") as handle:
        handle.create_dataset("a.jpg/keypoints", data=np.zeros((3, 2)))
    with FeatureReader(tmp_path / "foreign.h5") as reader:
        with pytest.raises(FormatError, match="foreign.h5: image 'a.jpg' lacks dataset\\(s\\) descriptors"):
            reader.read("a.jpg")
        with pytest.raises(FormatError, match="no features for image 'b.jpg'"):
            reader.read("b.jpg")
    with h5py.File(tmp_path / "three_columns.h5", "w") as handle:
        handle.create_dataset("a.jpg/keypoints", data=np.zeros((3, 3)))
        handle.create_dataset("a.jpg/descriptors", data=np.zeros((8, 3)))
    with FeatureReader(tmp_path / "three_columns.h5") as reader:
        for read in (reader.read, reader.keypoints):
            with pytest.raises(FormatError, match=r"image 'a.jpg' has keypoints of shape \(3, 3\), expected \(N, 2\)"):
                read("a.jpg")
    with h5py.File(tmp_path / "future.h5", "w") as handle:
        handle.attrs[FORMAT_ATTR] = 99
    with pytest.raises(FormatError, match="vloc_format 99 is newer"):
        FeatureReader(tmp_path / "future.h5")
    with pytest.raises(InputError, match="missing.h5: file not found"):
        FeatureReader(tmp_path / "missing.h5")


def test_atomic_writer_keeps_the_old_file_on_error(tmp_path: Path):
    rng = np.random.default_rng(2)
    path = tmp_path / "f.h5"
    with atomic_writer(path, resume=False) as handle:
        write_features(handle, "a.jpg", random_features(rng, 5))
    with pytest.raises(RuntimeError), atomic_writer(path, resume=True) as handle:
        write_features(handle, "b.jpg", random_features(rng, 5))
        raise RuntimeError("crash")
    assert list_images(path) == ["a.jpg"]
    assert not path.with_name("f.h5.tmp").exists()
    # Ctrl-C keeps the work done so far, for a resume
    with pytest.raises(KeyboardInterrupt), atomic_writer(path, resume=True) as handle:
        write_features(handle, "c.jpg", random_features(rng, 5))
        raise KeyboardInterrupt
    assert list_images(path) == ["a.jpg", "c.jpg"]
    # but never a complete file swapped for a partial one when not resuming
    with pytest.raises(KeyboardInterrupt), atomic_writer(path, resume=False) as handle:
        write_features(handle, "d.jpg", random_features(rng, 5))
        raise KeyboardInterrupt
    assert list_images(path) == ["a.jpg", "c.jpg"]
    assert not path.with_name("f.h5.tmp").exists()


def test_atomic_path_swaps_in_files_and_folders_and_removes_failed_ones(tmp_path: Path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "old.bin").write_text("old")
    with atomic_path(tmp_path / "model") as staging:
        staging.mkdir()
        (staging / "images.bin").write_text("new")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["images.bin"]
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "a.txt") as temporary:
        temporary.write_text("half")
        raise RuntimeError("crash")
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "model") as staging:
        staging.mkdir()
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert (tmp_path / "model" / "images.bin").read_text() == "new"


def test_text_files_round_trip(tmp_path: Path):
    import pycolmap

    write_pairs(tmp_path / "pairs.txt", [("b", "a"), ("a", "b"), ("c", "a"), ("a", "a")])
    assert read_pairs(tmp_path / "pairs.txt") == [("a", "b"), ("a", "c")]
    pose = pycolmap.Rigid3d(pycolmap.Rotation3d(np.array([0.1, -0.2, 0.3])), np.array([1.0, 2.0, -3.0]))
    write_poses(tmp_path / "results.txt", {"q/1.jpg": pose})
    read = read_poses(tmp_path / "results.txt")["q/1.jpg"]
    np.testing.assert_allclose(read.matrix(), pose.matrix(), atol=1e-9)
    camera = pycolmap.Camera(model="SIMPLE_RADIAL", width=640, height=480, params=[500, 320, 240, 0.01])
    write_queries(tmp_path / "queries.txt", {"q/1.jpg": camera})
    assert read_queries(tmp_path / "queries.txt")["q/1.jpg"].params.tolist() == [500, 320, 240, 0.01]
    (tmp_path / "bad.txt").write_text("q.jpg SIMPLE_PINHOLE 640 480 500\n")
    with pytest.raises(FormatError, match="bad.txt:1: wrong number of parameters"):
        read_queries(tmp_path / "bad.txt")


def test_camera_sizes_written_as_floats_are_read_by_both_camera_readers(tmp_path: Path):
    from vloc.io.kapture import read_sensors

    (tmp_path / "queries.txt").write_text("q.jpg SIMPLE_PINHOLE 640.0 480 500 320 240\n")
    (tmp_path / "sensors.txt").write_text("cam, , camera, SIMPLE_PINHOLE, 640.0, 480.0, 500, 320, 240\n")
    for camera in (read_queries(tmp_path / "queries.txt")["q.jpg"], read_sensors(tmp_path / "sensors.txt")["cam"]):
        assert (camera.width, camera.height, camera.params.tolist()) == (640, 480, [500, 320, 240])
    (tmp_path / "queries.txt").write_text("q.jpg SIMPLE_PINHOLE 640.5 480 500 320 240\n")
    with pytest.raises(FormatError, match="queries.txt:1: expected 'name MODEL width height params...'"):
        read_queries(tmp_path / "queries.txt")


@pytest.mark.parametrize(
    ("intrinsics", "message"),
    [
        ("SIMPLE_PINHOLE 640 480 -500 320 240", "focal length -500 is not positive"),
        ("SIMPLE_PINHOLE 640 480 0 320 240", "focal length 0 is not positive"),
        ("PINHOLE 640 480 500 -1 320 240", "focal length -1 is not positive"),
        ("SIMPLE_PINHOLE 640 480 nan 320 240", "camera parameters nan 320 240 are not all finite"),
        ("SIMPLE_RADIAL 640 480 500 320 240 inf", "camera parameters 500 320 240 inf are not all finite"),
        ("SIMPLE_PINHOLE -640 480 500 320 240", "image size -640x480 is not positive"),
        ("SIMPLE_PINHOLE 640 0 500 320 240", "image size 640x0 is not positive"),
        ("SIMPLE_PINHOLE 10000000000 480 500 320 240", "image size 10000000000x480 is not positive"),
    ],
)
def test_queries_with_impossible_intrinsics_fail_naming_the_line(tmp_path: Path, intrinsics: str, message: str):
    path = tmp_path / "queries.txt"
    path.write_text(f"q/0.jpg SIMPLE_PINHOLE 640 480 500 320 240\nq/1.jpg {intrinsics}\n")
    with pytest.raises(FormatError, match="^" + re.escape(f"{path}:2: {message}")):
        read_queries(path)


@pytest.mark.parametrize(
    "datasets, message",
    [
        ({"matches0": np.zeros((5, 2), np.int32)}, "matches0 of shape (5, 2) and type int32, expected one integer per"),
        ({"matches0": np.zeros(5, np.float32)}, "matches0 of shape (5,) and type float32, expected one integer per"),
        (
            {"matches0": np.zeros(5, np.int16), "matching_scores0": np.zeros(4)},
            "matching_scores0 of shape (4,), matches0",
        ),
        ({"matches0": np.zeros(5, np.int64), "inliers0": np.zeros((5, 1), bool)}, "inliers0 of shape (5, 1), matches0"),
    ],
)
def test_match_reader_refuses_matches0_that_is_not_one_integer_per_keypoint(
    tmp_path: Path, datasets: dict, message: str
):
    with atomic_writer(tmp_path / "m.h5", resume=False) as handle:
        for key, value in datasets.items():
            handle[f"a.jpg/b.jpg/{key}"] = value
    with MatchReader(tmp_path / "m.h5") as reader, pytest.raises(FormatError) as error:
        reader.read("b.jpg", "a.jpg")
    assert str(error.value).startswith(f"{tmp_path / 'm.h5'}: pair 'a.jpg/b.jpg' has {message}")
