"""vloc pairs: exhaustive lists, nearest cameras within a viewing-angle limit, covisibility in a model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pycolmap
import pytest

from vloc import pairs
from vloc.errors import ConfigError, InputError
from vloc.io.h5 import atomic_writer
from vloc.io.model import build_posed_model
from vloc.io.text import read_pairs


def pose_at(x: float, yaw_deg: float = 0.0) -> pycolmap.Rigid3d:
    """cam_from_world of a camera at (x, 0, 0) looking along +z, turned by `yaw_deg` about the y axis."""
    angle = np.radians(yaw_deg)
    world_from_cam = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    rotation = world_from_cam.T
    return pycolmap.Rigid3d(pycolmap.Rotation3d(rotation), -rotation @ np.array([x, 0.0, 0.0]))


def test_exhaustive_within_a_list(tmp_path: Path):
    names = ["seq/c.jpg", "a.jpg", "seq/b.jpg", "e.png", "d.jpg", "a.jpg"]  # unsorted, one duplicate
    written = read_pairs(pairs.exhaustive(names, tmp_path / "pairs.txt"))
    unique = sorted(set(names))
    assert len(written) == len(unique) * (len(unique) - 1) // 2 == 10
    assert written == sorted(written) and all(a < b for a, b in written)
    assert set(written) == {(a, b) for a in unique for b in unique if a < b}


def test_exhaustive_query_to_reference(tmp_path: Path):
    queries, references = ["q/2.jpg", "q/1.jpg"], ["db/b.jpg", "db/a.jpg", "q/1.jpg"]
    written = read_pairs(pairs.exhaustive(queries, tmp_path / "pairs.txt", references))
    expected = sorted((q, r) for q in queries for r in references if q != r)
    assert written == expected and len(written) == 2 * 3 - 1  # query first, no (q/1.jpg, q/1.jpg)
    with pytest.raises(InputError, match="no images to pair"):
        pairs.exhaustive(queries, tmp_path / "empty.txt", [])
    with pytest.raises(InputError, match="no images to pair"):
        pairs.exhaustive([], tmp_path / "empty.txt")


@pytest.fixture()
def line_poses() -> dict[str, pycolmap.Rigid3d]:
    """Cameras on the x axis looking along +z, and one at x = 1.5 turned 150 deg away."""
    poses = {name: pose_at(x) for name, x in zip("ABCDEF", (0.0, 1.0, 2.5, 4.5, 7.0, 10.0))}
    poses["away"] = pose_at(1.5, 150.0)
    return poses


def test_from_poses_nearest_centres_within_angle_limit(tmp_path: Path, line_poses):
    written = read_pairs(pairs.from_poses(line_poses, tmp_path / "pairs.txt", num_neighbors=2))
    # 2 nearest by centre distance: A:{B,C} B:{A,C} C:{B,D} D:{C,E} E:{D,F} F:{E,D}; 'away' faces the other way
    assert written == [("A", "B"), ("A", "C"), ("B", "C"), ("C", "D"), ("D", "E"), ("D", "F"), ("E", "F")]

    # with a limit above 150 deg 'away' (0.5 from B, 1 from C, 1.5 from A) is among the nearest
    written = read_pairs(pairs.from_poses(line_poses, tmp_path / "pairs.txt", num_neighbors=2, max_angle_deg=160))
    assert {p for p in written if "away" in p} == {("A", "away"), ("B", "away"), ("C", "away")}

    directed = read_pairs(pairs.from_poses(line_poses, tmp_path / "pairs.txt", num_neighbors=3, queries=["F", "away"]))
    assert directed == [("F", "C"), ("F", "D"), ("F", "E")]  # query first; 'away' has no neighbour within 90 deg
    with pytest.raises(InputError, match="'Z' has no pose"):
        pairs.from_poses(line_poses, tmp_path / "pairs.txt", 2, queries=["Z"])


@pytest.mark.parametrize(("num", "max_angle"), [(0, 90.0), (-2, 90.0), (2, float("nan")), (2, 0.0)])
def test_counts_and_angles_that_select_nothing_are_refused_before_writing(num, max_angle, tmp_path: Path, line_poses):
    """--num 0 wrote an empty pairs file over the old one, and a negative --num sliced from the end."""
    (tmp_path / "pairs.txt").write_text("A B\n")
    with pytest.raises(ConfigError, match="--num must be at least 1"):
        pairs.from_poses(line_poses, tmp_path / "pairs.txt", num, max_angle)
    with pytest.raises(ConfigError, match="--num must be at least 1"):
        pairs.sequential(list(line_poses), tmp_path / "pairs.txt", num if num < 1 else 0)
    assert (tmp_path / "pairs.txt").read_text() == "A B\n"


def test_from_poses_pairs_estimated_query_poses_with_the_nearest_database_cameras(tmp_path: Path, line_poses):
    """Queries posed elsewhere (a first localization) get the database cameras nearest their estimated poses within
    the angle limit; the database's own images are not paired, and no image is paired with itself."""
    query_poses = {"q1": pose_at(6.0), "q2": pose_at(0.4), "B": pose_at(9.0), "q3": pose_at(2.0, 170.0)}
    written = read_pairs(pairs.from_poses(line_poses, tmp_path / "p.txt", 2, query_poses=query_poses))
    assert written == [("B", "E"), ("B", "F"), ("q1", "D"), ("q1", "E"), ("q2", "A"), ("q2", "B"), ("q3", "away")]
    assert read_pairs(pairs.from_poses(line_poses, tmp_path / "p.txt", 1, queries=["q2"], query_poses=query_poses)) == [
        ("q2", "A")
    ]
    with pytest.raises(InputError, match="'A' has no pose"):
        pairs.from_poses(line_poses, tmp_path / "p.txt", 1, queries=["A"], query_poses=query_poses)


def test_from_poses_angle_limit_is_in_degrees(tmp_path: Path):
    poses = {"A": pose_at(0.0), "B": pose_at(0.5, 60.0), "C": pose_at(3.0, -10.0)}
    assert read_pairs(pairs.from_poses(poses, tmp_path / "p.txt", 1, max_angle_deg=45)) == [("A", "C")]
    # B (60 deg from A, 70 from C) pairs with A once the limit exceeds 60 deg, with C once it exceeds 70
    assert read_pairs(pairs.from_poses(poses, tmp_path / "p.txt", 1, max_angle_deg=65)) == [("A", "B"), ("A", "C")]
    assert read_pairs(pairs.from_poses(poses, tmp_path / "p.txt", 1, max_angle_deg=75)) == [("A", "B"), ("B", "C")]


def covisible_model(shared: dict[tuple[str, ...], int]) -> pycolmap.Reconstruction:
    """Posed images a..d and, for each tuple of images, that many 3D points seen by exactly those images."""
    camera = pycolmap.Camera(model="SIMPLE_PINHOLE", width=100, height=100, params=[100.0, 50.0, 50.0])
    names = ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    model = build_posed_model(dict.fromkeys(names, camera), {n: pose_at(float(i)) for i, n in enumerate(names)})
    ids = {image.name: image_id for image_id, image in model.images.items()}
    for image in model.images.values():
        image.points2D = pycolmap.Point2DList([pycolmap.Point2D(np.array([k + 0.5, 50.0])) for k in range(40)])
    used = dict.fromkeys(names, 0)
    for seen_by, count in shared.items():
        for _ in range(count):
            track = pycolmap.Track()
            for name in seen_by:
                track.add_element(ids[name], used[name])
                used[name] += 1
            model.add_point3D(np.array([0.0, 0.0, 5.0]), track)
    return model


def test_covisibility_ranks_images_by_shared_points(tmp_path: Path):
    model = covisible_model(
        {
            ("a.jpg", "b.jpg"): 5,
            ("a.jpg", "c.jpg"): 4,
            ("a.jpg", "d.jpg"): 1,
            ("b.jpg", "c.jpg", "d.jpg"): 2,
            ("b.jpg", "c.jpg"): 1,
        }
    )
    assert model.num_points3D() == 13
    # shared points: a: b5 c4 d1 | b: a5 c3 d2 | c: a4 b3 d2 | d: b2 c2 a1
    written = read_pairs(pairs.covisibility(model, tmp_path / "pairs.txt", num_neighbors=2))
    assert written == [
        ("a.jpg", "b.jpg"),
        ("a.jpg", "c.jpg"),
        ("b.jpg", "c.jpg"),
        ("b.jpg", "d.jpg"),
        ("c.jpg", "d.jpg"),
    ]
    written = read_pairs(pairs.covisibility(model, tmp_path / "pairs.txt", num_neighbors=10))
    assert len(written) == 6  # every image pair shares a point

    with pytest.raises(InputError, match="no covisible images"):
        pairs.covisibility(covisible_model({}), tmp_path / "none.txt", num_neighbors=2)


def _write_instances(path, by_image: dict[str, list[int]], scores: dict[str, list[float]] | None = None) -> None:
    from vloc.io.instances import write_instance_image

    with atomic_writer(path, resume=False) as handle:
        handle.attrs["num_instances"] = 3
        for name, instances in by_image.items():
            write_instance_image(
                handle, name, np.zeros(0), np.zeros((2, 2)), instances, None if scores is None else scores[name]
            )


def test_instance_groups_follow_recognition_then_similarity(tmp_path: Path, caplog):
    from vloc.io.global_features import write_global_descriptor
    from vloc.io.groups import groups_path, read_groups

    db = {f"db{i}.png": instances for i, instances in enumerate([[1], [1, 2], [2], [1], [3], []])}
    _write_instances(tmp_path / "instances.h5", db)
    _write_instances(
        tmp_path / "recognitions.h5", {"q.png": [2, 1], "lost.png": []}, {"q.png": [0.7, 0.2], "lost.png": []}
    )
    angles = {"q.png": 0.0, "lost.png": 0.0, **{f"db{i}.png": a for i, a in enumerate([0.5, 0.9, 0.1, 0.3, 0.2, 0.05])}}
    for path, names in (("queries.h5", ["q.png", "lost.png"]), ("db.h5", list(db))):
        with atomic_writer(tmp_path / path, resume=False) as handle:
            for name in names:
                write_global_descriptor(
                    handle, name, np.array([np.cos(angles[name]), np.sin(angles[name])], np.float32)
                )
    out = pairs.instance_groups(
        tmp_path / "recognitions.h5",
        tmp_path / "instances.h5",
        tmp_path / "queries.h5",
        tmp_path / "db.h5",
        tmp_path / "pairs.txt",
        num_candidates=2,
        num_groups=3,
        num_retrieval=3,
        max_pairs=5,
    )
    groups = read_groups(groups_path(out))
    # instance 2 first (db2 more similar than db1), then instance 1 (its 2 most similar: db3, db0), then the retrieved
    # images not grouped yet as singletons (db5; db4 is past the 5-image budget)
    assert [(g.instance, g.db_images) for g in groups["q.png"]] == [
        (2, ["db2.png", "db1.png"]),
        (1, ["db3.png", "db0.png"]),
        (None, ["db5.png"]),
    ]
    assert [(g.instance, g.db_images) for g in groups["lost.png"]] == [
        (None, ["db5.png"]),
        (None, ["db2.png"]),
        (None, ["db4.png"]),
    ]
    assert "1 queries have no recognised instance" in caplog.text
    assert [p for p in read_pairs(out) if p[0] == "q.png"] == [
        ("q.png", n) for n in ["db2.png", "db1.png", "db3.png", "db0.png", "db5.png"]
    ]
