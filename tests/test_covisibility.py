"""vloc.pnp.covisibility: observations per image, ranking with its tie order, connected groups, shared points."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pycolmap

from vloc.io.model import build_posed_model
from vloc.pnp.covisibility import (
    connected_groups,
    covisible_images,
    most_covisible,
    observation_counts,
    shared_point_counts,
)


def model_with_tracks(tracks: list[list[str]]) -> pycolmap.Reconstruction:
    """Posed images a..d (ids 1..4) and one 3D point per track, observed by a keypoint of each image in it."""
    camera = pycolmap.Camera(model="SIMPLE_PINHOLE", width=100, height=100, params=[100.0, 50.0, 50.0])
    names = ["a", "b", "c", "d"]
    model = build_posed_model(dict.fromkeys(names, camera), dict.fromkeys(names, pycolmap.Rigid3d()))
    for image in model.images.values():
        image.points2D = pycolmap.Point2DList([pycolmap.Point2D(np.array([k + 0.5, 50.0])) for k in range(10)])
    used = dict.fromkeys(names, 0)
    for names_seeing in tracks:
        track = pycolmap.Track()
        for name in names_seeing:
            track.add_element(names.index(name) + 1, used[name])
            used[name] += 1
        model.add_point3D(np.array([0.0, 0.0, 5.0]), track)
    return model


def test_counts_follow_the_tracks_and_ties_keep_the_order_first_met():
    model = model_with_tracks([["a", "d"], ["a", "c", "b"], ["a", "b"], ["c", "d"]])
    point_ids = sorted(model.point3D_ids())
    counts = observation_counts(model, point_ids[:3])
    assert list(counts.items()) == [(1, 3), (4, 1), (3, 1), (2, 2)]
    assert observation_counts(model, [point_ids[0]] * 2) == Counter({1: 2, 4: 2})  # a point given twice counts twice
    # a shares 2 points with b, 1 with d (met first) and 1 with c
    assert covisible_images(model, model.images[1], 10) == ["b", "d", "c"]
    assert covisible_images(model, model.images[1], 2) == ["b", "d"]
    assert covisible_images(model, model.images[1], 0) == covisible_images(model, model.images[1], -1) == []


def test_most_covisible_excludes_and_cuts():
    counts = Counter({3: 2, 1: 5, 7: 2, 2: 5, 9: 1})
    assert most_covisible(counts) == [1, 2, 3, 7, 9]
    assert most_covisible(counts, exclude={2, 3}, num=2) == [1, 7]


def test_connected_groups_and_shared_point_counts():
    points = {"a": {1, 5}, "b": {1}, "c": {2}, "d": {2, 7}, "e": {9}, "f": {5, 11}}
    assert connected_groups(["e", "c", "a", "d", "b", "f"], points) == [["a", "b", "f"], ["c", "d"], ["e"]]
    shared = shared_point_counts(
        [np.array([1, 5], np.uint64), np.array([1], np.uint64), np.array([1, 5, 7], np.uint64)]
    )
    assert shared.toarray().tolist() == [[0, 1, 2], [0, 0, 1], [0, 0, 0]]
