"""Plug-in registries: lookup errors, presets built from the plug-ins' default confs, stage confs unchanged."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from vloc.config import to_json
from vloc.dense import DENSE_BACKBONES, pyramid
from vloc.errors import ConfigError
from vloc.extract import global_features, local_features
from vloc.extractors import EXTRACTORS
from vloc.global_descriptors import GLOBAL_DESCRIPTORS
from vloc.matchers import MATCHERS, pair_matcher
from vloc.plugins import Entry, Plugin, Preset, Registry
from vloc.recognize import queries
from vloc.recognizers import RECOGNIZERS


@dataclass(frozen=True)
class ToyConf:
    size: int = 1
    label: str = "a"


@dataclass(frozen=True)
class Inner:
    enabled: bool = False
    level: int = 0


@dataclass(frozen=True)
class StageConf:
    plugin: str
    model: ToyConf
    inner: Inner = field(default_factory=Inner)


class Toy(Plugin):
    default_conf = ToyConf()

    def _init(self, conf: ToyConf) -> None:
        self.doubled = conf.size * 2


TOYS = Registry(
    "toy",
    {"toy": Entry(Toy, {"toy": Preset(), "toy-big": Preset(model={"size": 3}, stage={"inner": {"enabled": True}})})},
)


def test_plugin_keeps_its_conf_and_runs_init():
    toy = TOYS.get("toy")(ToyConf(size=5))
    assert toy.conf == ToyConf(size=5) and toy.doubled == 10


def test_presets_change_model_and_nested_stage_fields():
    assert TOYS.conf("toy", "toy stage", StageConf) == StageConf("toy", ToyConf())
    assert TOYS.conf("toy-big", "toy stage", StageConf) == StageConf("toy", ToyConf(size=3), Inner(enabled=True))
    assert Toy.default_conf == ToyConf()  # presets never mutate the default


def test_unknown_names_fail_with_one_line_naming_the_known_ones():
    with pytest.raises(ConfigError, match="^unknown toy 'big'; known: toy$"):
        TOYS.get("big")
    with pytest.raises(ConfigError, match="^unknown toy stage conf 'big'; known: toy, toy-big$"):
        TOYS.conf("big", "toy stage", StageConf)
    with pytest.raises(ConfigError, match="^unknown extractor 'harris'; known: aliked, disk, orb, sift, superpoint$"):
        EXTRACTORS.get("harris")


def test_two_plugins_cannot_share_a_preset_name():
    with pytest.raises(ValueError, match="same name"):
        Registry("toy", {"a": Entry(Toy, {"toy": Preset()}), "b": Entry(Toy, {"toy": Preset()})})


@pytest.mark.parametrize(
    "stage, registry, plugin_field, names",
    [
        (
            local_features,
            EXTRACTORS,
            "extractor",
            ["aliked", "aliked-n16rot", "disk", "orb", "sift", "sift-colmap", "sift-colmap-octave0", "superpoint"],
        ),
        (
            pair_matcher,
            MATCHERS,
            "matcher",
            [
                "eimp",
                "eimp-iterative",
                "hamming",
                "imp",
                "imp-iterative",
                "lightglue",
                "lightglue-bf16",
                "lightglue-disk",
                "lightglue-full",
                "lightglue-superpoint",
                "nn-mutual",
                "nn-ratio",
                "nn-ratio-verified",
                "nnml",
            ],
        ),
        (pyramid, DENSE_BACKBONES, "backbone", ["dsift", "gnnet", "s2dhm-vgg16"]),
        (global_features, GLOBAL_DESCRIPTORS, "descriptor", ["dinov2", "netvlad", "vlad"]),
        (queries, RECOGNIZERS, "recognizer", ["seg", "vote"]),
    ],
)
def test_every_preset_names_a_plugin_with_its_conf_type(stage, registry: Registry, plugin_field: str, names: list[str]):
    assert registry.preset_names() == names
    for name in names:
        conf = stage.conf_by_name(name)
        assert type(conf.model) is type(registry.get(getattr(conf, plugin_field)).default_conf)


@pytest.mark.parametrize(
    "stage, name, expected",
    [
        (
            local_features,
            "sift-colmap",
            '{"extractor": "sift", "model": {"backend": "pycolmap", "contrast_threshold": 0.02, "max_keypoints": 4096, '
            '"rootsift": true, "upright": false}, "preprocessing": {"resize_max": 1600}}',
        ),
        (
            pair_matcher,
            "nn-mutual",
            '{"matcher": "nearest_neighbor", "model": {"distance_threshold": null, "mutual_check": true, '
            '"ratio_threshold": null}, "name": "nn-mutual", "verification": {"confidence": 0.9999, "enabled": false, '
            '"max_error": 2.0, "max_iterations": 10000}}',
        ),
        (
            pair_matcher,
            "nn-ratio-verified",
            '{"matcher": "nearest_neighbor", "model": {"distance_threshold": null, "mutual_check": true, '
            '"ratio_threshold": 0.8}, "name": "nn-ratio-verified", "verification": {"confidence": 0.9999, '
            '"enabled": true, "max_error": 2.0, "max_iterations": 10000}}',
        ),
        (
            global_features,
            "dinov2",
            '{"descriptor": "dinov2", "model": {"arch": "vits14", "gem_p": 3.0, "random_init": false, "weights": ""}, '
            '"preprocessing": {"resize_max": 518}}',
        ),
        (
            pyramid,
            "gnnet",
            '{"backbone": "gnnet", "model": {"checkpoint": "shipped", "pooled_levels": 2, "seed": 0}, '
            '"preprocessing": {"resize_max": 640}}',
        ),
    ],
)
def test_preset_confs_are_stamped_unchanged(stage, name: str, expected: str):
    assert to_json(stage.conf_by_name(name)) == expected
