"""Resuming a training run from the checkpoint written after an epoch (`last.pt`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError


def restore(
    path: Path, net: torch.nn.Module, optimizer: torch.optim.Optimizer, schedule: Any,
    load: Callable[[Path], tuple[torch.nn.Module, dict[str, Any]]], kind: str,
) -> tuple[int, list[dict]]:
    """Load into `net`, `optimizer` and `schedule` the state `load` reads from `path` (a network of `kind` and the
    checkpoint's extra); returns the epoch to start from and the history so far."""
    if not path.is_file():
        raise InputError(f"cannot resume: {path} not found")
    trained, extra = load(path)
    if trained.conf != net.conf:
        raise InputError(f"cannot resume from {path}: it holds a {kind} of another architecture ({trained.conf})")
    if "optimizer" not in extra:
        raise InputError(f"cannot resume from {path}: it holds a model only, not a training state (use last.pt)")
    net.load_state_dict(trained.state_dict())
    optimizer.load_state_dict(extra["optimizer"])
    schedule.load_state_dict(extra["schedule"])
    return int(extra["epoch"]), json.loads(extra["history"])
