"""Resuming a training run from the checkpoint written after an epoch (`last.pt`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from vloc.errors import InputError
from vloc.models.checkpoint import VlocNetwork, load_checkpoint


def restore(
    path: Path,
    net: VlocNetwork,
    optimizer: torch.optim.Optimizer,
    schedule: Any,
    same_schedule: dict[str, Any] | None = None,
) -> tuple[int, list[dict]]:
    """Load into `net`, `optimizer` and `schedule` the training state of checkpoint `path` (a network of the same
    architecture and conf, and the extra, whose train_conf must hold the values of `same_schedule` where given);
    returns the epoch to start from and the history so far."""
    if not path.is_file():
        raise InputError(f"cannot resume: {path} not found")
    trained, extra = load_checkpoint(path, type(net))
    if trained.conf != net.conf:
        raise InputError(f"cannot resume from {path}: it holds a {net.title} of another architecture ({trained.conf})")
    if "optimizer" not in extra:
        raise InputError(f"cannot resume from {path}: it holds a model only, not a training state (use last.pt)")
    stored = json.loads(extra.get("train_conf", "{}"))
    changed = [f"{k} {stored.get(k)} -> {v}" for k, v in (same_schedule or {}).items() if stored.get(k) != v]
    if changed:
        raise InputError(f"cannot resume from {path}: the run was started with other settings ({', '.join(changed)})")
    net.load_state_dict(trained.state_dict())
    optimizer.load_state_dict(extra["optimizer"])
    schedule.load_state_dict(extra["schedule"])
    return int(extra["epoch"]), json.loads(extra["history"])
