"""Typed configurations: presets by name and per-field overrides."""

from __future__ import annotations

import json

import pytest

from vloc.config import override, to_json
from vloc.errors import ConfigError
from vloc.extract.local_features import conf_by_name
from vloc.matchers.pair_matcher import conf_by_name as match_conf


def test_overrides_are_typed_and_do_not_mutate_the_preset():
    conf = conf_by_name("sift")
    changed = override(conf, ["max_keypoints=2048", "model.rootsift=false", "preprocessing.resize_max=none"])
    assert changed.model.max_keypoints == 2048 and changed.model.rootsift is False
    assert changed.preprocessing.resize_max is None
    assert conf.model.max_keypoints == 4096 and conf.model.rootsift is True
    assert conf_by_name("sift").model.max_keypoints == 4096
    assert override(match_conf("nn-ratio"), ["verification.enabled=yes"]).verification.enabled is True
    assert override(conf, ["model.backend=pycolmap"]).model.backend == "pycolmap"


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("max_keypont=5", "unknown config key 'max_keypont'"),
        ("max_keypoints=many", "expects int, got 'many'"),
        ("model.rootsift=maybe", "expects bool"),
        ("model.backend=gpu", "must be one of opencv, pycolmap"),
        ("novalue", "not of the form key=value"),
    ],
)
def test_bad_overrides_fail_with_one_line(assignment: str, message: str):
    with pytest.raises(ConfigError, match=message):
        override(conf_by_name("sift"), [assignment])


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(
        ConfigError,
        match="unknown extract conf 'harris'; known: aliked, aliked-n16rot, disk, orb, sift, sift-colmap, "
        "sift-colmap-octave0, superpoint",
    ):
        conf_by_name("harris")


def test_an_added_field_is_stamped_only_away_from_its_default():
    """sift-colmap files written before `first_octave` existed still resume; octave 0 is told apart."""
    before = to_json(conf_by_name("sift-colmap"))
    assert "first_octave" not in before
    assert to_json(override(conf_by_name("sift-colmap"), ["model.first_octave=-1"])) == before
    octave0 = json.loads(to_json(conf_by_name("sift-colmap-octave0")))
    assert octave0["model"].pop("first_octave") == 0
    assert octave0 == json.loads(before)  # otherwise the same configuration
