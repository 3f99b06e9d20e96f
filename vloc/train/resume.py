"""Checkpoints of a training run: the state written after each epoch (`last.pt`), resumed from, and the trained
network written at the end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from vloc.config import to_json
from vloc.errors import InputError
from vloc.models.checkpoint import VlocNetwork, load_checkpoint, save_checkpoint


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


def save_training_state(
    path: Path, net: VlocNetwork, optimizer: torch.optim.Optimizer, schedule: Any, epoch: int, history: list, conf: Any
) -> None:
    """Write what `restore` reads: `net`, `optimizer` and `schedule` after `epoch`, the history and the run's conf."""
    state = {"epoch": epoch, "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict()}
    save_checkpoint(path, net, state | {"history": json.dumps(history), "train_conf": to_json(conf)})


def save_trained(path: Path, net: VlocNetwork, history: list, conf: Any, half: bool = False) -> None:
    """Write the trained network with its history and the run's conf (float16 weights if `half`)."""
    save_checkpoint(path, net, {"history": json.dumps(history), "train_conf": to_json(conf)}, half=half)
