"""`vloc train scr`: train one task network of scene coordinate regression (scene coordinates or depth) on frames with
labels, from scratch or from another run's weights (pretraining on synthetic frames, then fine-tuning), validating
each epoch on held-out frames (for coordinates: the DSAC* pose they give)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pycolmap
import torch
from torch.utils.data import DataLoader

from vloc.config import to_json
from vloc.console import progress_bar
from vloc.errors import ConfigError, InputError
from vloc.geometry.dsac import DsacConf, dsac_pose
from vloc.geometry.rigid3d import pose_errors, rigid_from_matrix
from vloc.io.text import write_text_atomic
from vloc.models.checkpoint import load_checkpoint, save_checkpoint
from vloc.models.scr import SceneCoordinateNetwork, SCRConf, cell_centres
from vloc.train.resume import restore
from vloc.train.scr_data import CoordinateFrame, CoordinateSamples, read_labels
from vloc.train.scr_losses import CoordinateLossConf, coordinate_loss, depth_loss


@dataclass(frozen=True)
class TrainSCRConf:
    model: SCRConf = field(default_factory=SCRConf)
    loss: CoordinateLossConf = field(default_factory=CoordinateLossConf)
    epochs: int = 10
    learning_rate: float = 2e-4  # Adam, as the release
    batch_frames: int = 4
    validation_interval: int = 1  # validate every this many epochs, and after the last
    dsac: DsacConf = field(default_factory=lambda: DsacConf(max_sampling_tries=10_000))  # validation poses
    seed: int = 0

    def __post_init__(self):
        if self.model.task not in ("coord", "depth"):
            raise ConfigError(f"train scr: task {self.model.task} has no labels here yet (coord or depth)")
        if min(self.epochs, self.batch_frames, self.validation_interval) < 1:
            raise ConfigError("train scr: epochs, batch_frames and validation_interval must be at least 1")


def label_mean(frames: list[CoordinateFrame], task: str) -> tuple[float, ...]:
    """The mean label of the training frames (scene coordinates or depth), which the decoder adds to its output."""
    total, count = np.zeros(3 if task == "coord" else 1), 0
    for frame in frames:
        coordinates, depth = read_labels(frame)
        values = coordinates.reshape(-1, 3) if task == "coord" else depth.reshape(-1, 1)
        known = np.isfinite(values).all(1) & (values[:, -1] > 0 if task == "depth" else True)
        total, count = total + values[known].sum(0), count + int(known.sum())
    if count == 0:
        raise InputError(f"no {task} labels in the {len(frames)} training frames")
    return tuple(float(v) for v in total / count)


def task_loss(values: torch.Tensor, uncertainty: torch.Tensor, batch: dict, conf: TrainSCRConf) -> torch.Tensor:
    """The loss of the network's output for the batch's labels: coordinates or depth."""
    if conf.model.task == "coord":
        return coordinate_loss(
            values, uncertainty, batch["coordinates"], batch["cam_from_world"], batch["K"], conf.loss
        )
    return depth_loss(values, uncertainty, batch["depth"], conf.loss.uncertainty)


def pose_error(estimate: pycolmap.Rigid3d | None, cam_from_world: torch.Tensor) -> tuple[float, float]:
    """Camera centre (m) and rotation (deg) errors of an estimate against a (3, 4) pose; infinite without one."""
    if estimate is None:
        return np.inf, np.inf
    pose = cam_from_world.double().numpy()
    return pose_errors(estimate, rigid_from_matrix(pose[:, :3], pose[:, 3]))


@torch.no_grad()
def validate(net: SceneCoordinateNetwork, samples: CoordinateSamples, conf: TrainSCRConf) -> dict[str, float]:
    """Loss and median label error over the frames; for coordinates also the median DSAC* pose errors (cm, deg)."""
    net.eval()
    losses, label_errors, translations, rotations = [], [], [], []
    for sample in samples:
        batch = {k: v[None] if isinstance(v, torch.Tensor) else v for k, v in sample.items()}
        values, uncertainty = net(batch["image"])
        losses.append(float(task_loss(values, uncertainty, batch, conf)))
        truth = sample["coordinates"] if conf.model.task == "coord" else sample["depth"]
        known = torch.isfinite(truth).all(0)
        label_errors.append(float(torch.linalg.norm(values[0] - torch.nan_to_num(truth), dim=0)[known].median()))
        if conf.model.task == "coord":
            height, width = values.shape[-2:]
            points2D = cell_centres(height, width).flatten(1).T.double().numpy()
            points3D = values[0].flatten(1).T.double().numpy()
            estimate = dsac_pose(points2D, points3D, sample["K"].double().numpy(), conf.dsac, seed=conf.seed)
            translation, rotation = pose_error(estimate.cam_from_world, sample["cam_from_world"])
            translations.append(100 * translation)
            rotations.append(rotation)
    record = {"loss": float(np.mean(losses)), "median_label_error": float(np.median(label_errors))}
    if translations:
        record |= {
            "median_pose_error_cm": float(np.median(translations)),
            "median_pose_error_deg": float(np.median(rotations)),
        }
    return record


def train_epoch(
    net: SceneCoordinateNetwork,
    samples: CoordinateSamples,
    optimizer: torch.optim.Optimizer,
    conf: TrainSCRConf,
    epoch: int,
) -> float:
    """One pass over the training frames in an order drawn from (seed, epoch): the mean loss."""
    net.train()
    generator = torch.Generator().manual_seed(conf.seed * 1000 + epoch)
    loader = DataLoader(samples, batch_size=conf.batch_frames, shuffle=True, generator=generator)
    total = 0.0
    with progress_bar(f"train scr ({conf.model.task}), epoch {epoch + 1}/{conf.epochs}", len(samples)) as advance:
        for batch in loader:
            optimizer.zero_grad()
            loss = task_loss(*net(batch["image"]), batch, conf)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch["image"])
            advance(len(batch["image"]))
    return total / len(samples)


def main(
    conf: TrainSCRConf,
    training: list[CoordinateFrame],
    validation: list[CoordinateFrame],
    out: Path,
    init: Path | None = None,
    resume: Path | None = None,
) -> Path:
    """Train on `training` frames (from the weights of `init`, a network of the same task, or from scratch; or resume a
    run from its last.pt), validating each epoch on `validation`. Writes last.pt each epoch, scr.pt and history.json."""
    torch.manual_seed(conf.seed)
    if init is not None:
        start, _ = load_checkpoint(init, SceneCoordinateNetwork)
        if start.conf.task != conf.model.task:
            raise ConfigError(f"{init}: a network of task {start.conf.task}, not {conf.model.task}")
        conf = replace(conf, model=start.conf)
        net = start
    else:
        conf = replace(conf, model=replace(conf.model, label_mean=label_mean(training, conf.model.task)))
        net = SceneCoordinateNetwork(conf.model)
    optimizer = torch.optim.Adam(net.parameters(), lr=conf.learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)  # constant, as the fine-tuning stages
    start_epoch, history = restore(resume, net, optimizer, schedule) if resume is not None else (0, [])
    training_samples, validation_samples = CoordinateSamples(training), CoordinateSamples(validation)
    for epoch in range(start_epoch, conf.epochs):
        started = time.perf_counter()
        record = {"epoch": epoch + 1, "train_loss": train_epoch(net, training_samples, optimizer, conf, epoch)}
        record["time_s"] = time.perf_counter() - started
        if (epoch + 1) % conf.validation_interval == 0 or epoch + 1 == conf.epochs:
            record |= {f"validation_{k}": v for k, v in validate(net, validation_samples, conf).items()}
        history.append(record)
        print(json.dumps(record))
        state = {"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(), "epoch": epoch + 1}
        save_checkpoint(out / "last.pt", net, state | {"history": json.dumps(history), "train_conf": to_json(conf)})
    save_checkpoint(out / "scr.pt", net, {"history": json.dumps(history), "train_conf": to_json(conf)})
    write_text_atomic(out / "history.json", json.dumps({"conf": asdict(conf), "epochs": history}, indent=1))
    return out / "scr.pt"
