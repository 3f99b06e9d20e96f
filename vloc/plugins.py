"""Plug-ins and their registries: a plug-in is a small class built from a conf; a registry names the plug-ins of one
kind and carries their presets (named configurations), so that a new plug-in is one file and one registry entry."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from vloc.errors import ConfigError

T = TypeVar("T")


class Plugin:
    """A plug-in: `default_conf` (a frozen dataclass) and `_init`, run once on the conf the plug-in is built with."""

    default_conf: ClassVar[Any]

    def __init__(self, conf: Any):
        self.conf = conf
        self._init(conf)

    def _init(self, conf: Any) -> None:
        """Build models, filters or indexes once."""


P = TypeVar("P", bound=Plugin)


@dataclass(frozen=True)
class Preset:
    """A named configuration: the fields to change in the plug-in's `default_conf` (`model`) and in the stage's conf
    (`stage`); a mapping changes fields of a nested dataclass, e.g. `stage={"verification": {"enabled": True}}`."""

    model: Mapping[str, Any] = field(default_factory=dict)
    stage: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Entry(Generic[P]):
    """A plug-in class and its presets by name."""

    plugin: type[P]
    presets: Mapping[str, Preset]


class Registry(Generic[P]):
    """The plug-ins of one kind (e.g. "extractor") by name, and the presets of them all."""

    def __init__(self, kind: str, entries: Mapping[str, Entry[P]]):
        self.kind = kind
        self.entries = dict(entries)
        self.plugin_of_preset = {preset: name for name, entry in self.entries.items() for preset in entry.presets}
        if len(self.plugin_of_preset) < sum(len(entry.presets) for entry in self.entries.values()):
            raise ValueError(f"two {kind} plug-ins have a preset of the same name")

    def get(self, name: str) -> type[P]:
        """The plug-in class `name`, or a one-line error naming the known ones."""
        if name not in self.entries:
            raise ConfigError(f"unknown {self.kind} '{name}'; known: {', '.join(sorted(self.entries))}")
        return self.entries[name].plugin

    def preset_names(self) -> list[str]:
        """The names of the presets of all plug-ins, sorted."""
        return sorted(self.plugin_of_preset)

    def conf(self, preset: str, stage: str, build: Callable[[str, Any], T]) -> T:
        """The conf of the stage `stage` for preset `preset`: `build(plug-in name, model conf)`, with the preset's
        changes applied to both, or a one-line error naming the known presets."""
        if preset not in self.plugin_of_preset:
            raise ConfigError(f"unknown {stage} conf '{preset}'; known: {', '.join(self.preset_names())}")
        name = self.plugin_of_preset[preset]
        entry = self.entries[name]
        changes = entry.presets[preset]
        return _replace_fields(build(name, _replace_fields(entry.plugin.default_conf, changes.model)), changes.stage)


def _replace_fields(conf: Any, changes: Mapping[str, Any]) -> Any:
    """A copy of the dataclass `conf` with `changes`; a mapping given for a dataclass field changes its fields."""
    replacements = {}
    for name, value in changes.items():
        current = getattr(conf, name)
        nested = isinstance(value, Mapping) and dataclasses.is_dataclass(current)
        replacements[name] = _replace_fields(current, value) if nested else value
    return dataclasses.replace(conf, **replacements)
