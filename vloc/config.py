"""Typed configurations: dataclasses chosen by name and overridden per field with `key=value`."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

from vloc.errors import ConfigError

T = TypeVar("T")


def override(conf: T, assignments: list[str]) -> T:
    """Return a copy of `conf` with each `dotted.key=value` applied; values are parsed by field type."""
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override '{assignment}' is not of the form key=value")
        conf = _set(conf, key.strip().split("."), value.strip(), key.strip(), "")
    return conf


def _set(conf: Any, path: list[str], value: str, full_key: str, prefix: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(conf)}
    head = path[0]
    if head not in fields:
        model = getattr(conf, "model", None)
        if len(path) == 1 and dataclasses.is_dataclass(model) and head in {f.name for f in dataclasses.fields(model)}:
            return _set(
                conf, ["model", head], value, full_key, prefix
            )  # `--set max_keypoints=...` reaches model fields
        raise ConfigError(f"unknown config key '{full_key}'; known: {', '.join(_keys(conf, prefix))}")
    current = getattr(conf, head)
    if len(path) > 1:
        if not dataclasses.is_dataclass(current):
            raise ConfigError(f"config key '{full_key}': '{head}' has no sub-keys")
        new = _set(current, path[1:], value, full_key, prefix + head + ".")
    else:
        hint = typing.get_type_hints(type(conf))[head]
        if fields[head].metadata.get("preset") or hint is Any or dataclasses.is_dataclass(current):
            raise ConfigError(f"config key '{full_key}' is chosen by the preset (--conf), not set field by field")
        new = parse_value(value, hint, full_key)
    return dataclasses.replace(conf, **{head: new})


def _keys(conf: Any, prefix: str = "") -> list[str]:
    keys = []
    for field in dataclasses.fields(conf):
        value = getattr(conf, field.name)
        if dataclasses.is_dataclass(value):
            keys += _keys(value, prefix + field.name + ".")
        else:
            keys.append(prefix + field.name)
    return keys


def parse_value(text: str, hint: Any, key: str) -> Any:
    """Parse `text` as a value of type `hint` (bool, int, float, str, Optional, tuple, Literal)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return parse_value(text, inner[0], key)
    if origin is typing.Literal:
        if text not in args:
            raise ConfigError(f"config key '{key}' must be one of {', '.join(map(str, args))}, got '{text}'")
        return text
    if origin in (tuple, list):
        items = [t for t in text.strip("()[]").split(",") if t.strip()]
        return origin(parse_value(t.strip(), args[0], key) for t in items)
    try:
        if hint is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        return hint(text)
    except (TypeError, ValueError):
        raise ConfigError(f"config key '{key}' expects {getattr(hint, '__name__', hint)}, got '{text}'") from None


def preset_field(**kwargs: Any) -> Any:
    """A dataclass field fixed by the preset, which `override` refuses to change (e.g. which extractor runs)."""
    return dataclasses.field(metadata={"preset": True}, **kwargs)


def guard_field(default: Any) -> Any:
    """A dataclass field that bounds what a run may use (e.g. memory) without changing what it writes: it is left out
    of `to_json`, so changing it never makes an output look written with another configuration."""
    return dataclasses.field(default=default, metadata={"guard": True})


def added_field(default: Any) -> Any:
    """A dataclass field added after outputs were written without it, whose default is how they were made: left out of
    `to_json` at its default, so that those outputs still resume; any other value is stamped."""
    return dataclasses.field(default=default, metadata={"added": True})


def to_json(conf: Any) -> str:
    """Canonical JSON of a configuration (guard fields, and added fields at their default, left out), stored in output
    files to tell what made them."""
    import json

    return json.dumps(_stamped(conf), sort_keys=True)


def _stamped(value: Any) -> Any:
    """`dataclasses.asdict` without guard fields, nor added fields at their default."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _stamped(getattr(value, f.name)) for f in dataclasses.fields(value) if _is_stamped(f, value)}
    if isinstance(value, (list, tuple)):
        return [_stamped(v) for v in value]
    if isinstance(value, dict):
        return {k: _stamped(v) for k, v in value.items()}
    return value


def _is_stamped(field: dataclasses.Field, conf: Any) -> bool:
    if field.metadata.get("guard"):
        return False
    return not (field.metadata.get("added") and getattr(conf, field.name) == field.default)
