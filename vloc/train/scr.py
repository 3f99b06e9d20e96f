"""`vloc train scr`: train one network of scene coordinate regression on labelled frames: one task (scene coordinates,
depth or normals) from scratch or from another run's weights (CrossLoc's pretraining on synthetic frames, then
fine-tuning), or the coordinate network fused with the frozen encoders of helper tasks (CrossLoc's last stage);
validating on held-out frames (for coordinates: the DSAC* pose they give)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pycolmap
import torch
from torch.utils.data import DataLoader

from vloc.console import progress_bar
from vloc.errors import ConfigError, InputError
from vloc.geometry.dsac import DsacConf, dsac_pose
from vloc.geometry.rigid3d import pose_errors, rigid_from_matrix
from vloc.io.text import write_text_atomic
from vloc.models.checkpoint import load_checkpoint
from vloc.models.scr import (
    FusedCoordinateNetwork,
    SceneCoordinateNetwork,
    SCRConf,
    cell_centres,
    normal_angles,
    normal_vectors,
)
from vloc.train.resume import restore, save_trained, save_training_state
from vloc.train.scr_data import AugmentationConf, CoordinateFrame, CoordinateSamples, read_labels
from vloc.train.scr_losses import (
    CoordinateLossConf,
    coordinate_loss,
    depth_loss,
    normal_loss,
)

ScrNetwork = SceneCoordinateNetwork | FusedCoordinateNetwork
TARGETS = {"coord": "coordinates", "depth": "depth", "normal": "normals"}  # task: its labels in a sample


@dataclass(frozen=True)
class TrainSCRConf:
    model: SCRConf = field(default_factory=SCRConf)
    loss: CoordinateLossConf = field(default_factory=CoordinateLossConf)
    epochs: int = 10
    learning_rate: float = 2e-4  # Adam, as the release
    batch_frames: int = 4
    validation_interval: int = 1  # validate every this many epochs, and after the last
    validation_frames: int = 20  # validate on this many of the validation frames, evenly spaced
    augment: bool = True
    augmentation: AugmentationConf = field(default_factory=AugmentationConf)
    dsac: DsacConf = field(default_factory=DsacConf)  # validation poses
    seed: int = 0

    def __post_init__(self):
        if min(self.epochs, self.batch_frames, self.validation_interval, self.validation_frames) < 1:
            raise ConfigError(
                "train scr: epochs, batch_frames, validation_interval and validation_frames must be at least 1"
            )


def label_statistics(frames: list[CoordinateFrame], task: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, minimum and maximum of the training frames' labels (scene coordinates or depth)."""
    total, count = np.zeros(3 if task == "coord" else 1), 0
    low, high = np.full_like(total, np.inf), np.full_like(total, -np.inf)
    for frame in frames:
        labels = read_labels(frame)
        values = labels["scene_coordinates"].reshape(-1, 3) if task == "coord" else labels["depth"].reshape(-1, 1)
        values = values[np.isfinite(values).all(1) & (values[:, -1] > 0 if task == "depth" else True)]
        total, count = total + values.sum(0), count + len(values)
        if len(values):
            low, high = np.minimum(low, values.min(0)), np.maximum(high, values.max(0))
    if count == 0:
        raise InputError(f"no {task} labels in the {len(frames)} training frames")
    return total / count, low, high


def label_mean(frames: list[CoordinateFrame], task: str) -> tuple[float, ...]:
    """The mean label of the training frames (scene coordinates or depth), which the decoder adds to its output;
    none for normals (angles about 0)."""
    return () if task == "normal" else tuple(float(v) for v in label_statistics(frames, task)[0])


def check_same_scene(path: Path, net: SceneCoordinateNetwork, frames: list[CoordinateFrame]) -> None:
    """A one-line error if the coordinate network `path` learnt another scene: the mean of its training labels lies
    outside the extent of these frames' (10% margin)."""
    if net.conf.task != "coord" or not net.conf.label_mean:
        return
    _, low, high = label_statistics(frames, "coord")
    margin = 0.1 * (high - low)
    mean = np.array(net.conf.label_mean)
    if np.any(mean < low - margin) or np.any(mean > high + margin):
        raise ConfigError(
            f"{path}: a network of another scene: the mean of its scene coordinates {np.round(mean, 2).tolist()} "
            f"lies outside these frames' extent {np.round(low, 2).tolist()} to {np.round(high, 2).tolist()}"
        )


def task_loss(values: torch.Tensor, uncertainty: torch.Tensor, batch: dict, conf: TrainSCRConf) -> torch.Tensor:
    """The loss of the network's output for the batch's labels: coordinates, depth or normals."""
    if conf.model.task == "coord":
        return coordinate_loss(
            values, uncertainty, batch["coordinates"], batch["cam_from_world"], batch["K"], conf.loss
        )
    if conf.model.task == "depth":
        return depth_loss(values, uncertainty, batch["depth"], conf.loss.uncertainty)
    return normal_loss(values, uncertainty, batch["normals"], conf.loss.uncertainty)


def label_errors(values: torch.Tensor, sample: dict, task: str) -> torch.Tensor:
    """Per-cell errors of one output (C, h, w) where labels exist: metres (coordinates, depth) or degrees (normals)."""
    truth = sample[TARGETS[task]]
    known = torch.isfinite(truth).all(0)
    if task == "normal":
        cosine = (normal_vectors(normal_angles(values[None])) * normal_vectors(torch.nan_to_num(truth)[None])).sum(1)
        return torch.rad2deg(torch.arccos(cosine[0].clamp(-1, 1)))[known]
    return torch.linalg.norm(values - torch.nan_to_num(truth), dim=0)[known]


def pose_error(estimate: pycolmap.Rigid3d | None, cam_from_world: torch.Tensor) -> tuple[float, float]:
    """Camera centre (m) and rotation (deg) errors of an estimate against a (3, 4) pose; infinite without one."""
    if estimate is None:
        return np.inf, np.inf
    pose = cam_from_world.double().numpy()
    return pose_errors(estimate, rigid_from_matrix(pose[:, :3], pose[:, 3]))


@torch.no_grad()
def validate(net: ScrNetwork, samples: CoordinateSamples, conf: TrainSCRConf) -> dict[str, float]:
    """Loss and median label error over the frames; for coordinates also the median DSAC* pose errors (cm, deg)."""
    net.eval()
    losses, errors, translations, rotations = [], [], [], []
    for sample in samples:
        batch = {k: v[None] if isinstance(v, torch.Tensor) else v for k, v in sample.items()}
        values, uncertainty = net(batch["image"])
        losses.append(float(task_loss(values, uncertainty, batch, conf)))
        errors.append(float(label_errors(values[0], sample, conf.model.task).nanmedian()))
        if conf.model.task == "coord":
            height, width = values.shape[-2:]
            points2D = cell_centres(height, width).flatten(1).T.double().numpy()
            points3D = values[0].flatten(1).T.double().numpy()
            estimate = dsac_pose(points2D, points3D, sample["K"].double().numpy(), conf.dsac, seed=conf.seed)
            translation, rotation = pose_error(estimate.cam_from_world, sample["cam_from_world"])
            translations.append(100 * translation)
            rotations.append(rotation)
    record = {"loss": float(np.mean(losses)), "median_label_error": float(np.nanmedian(errors))}
    if translations:
        record |= {
            "median_pose_error_cm": float(np.median(translations)),
            "median_pose_error_deg": float(np.median(rotations)),
        }
    return record


def train_epoch(
    net: ScrNetwork,
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


def start_network(
    conf: TrainSCRConf, training: list[CoordinateFrame], init: Path | None, helpers: list[Path]
) -> tuple[ScrNetwork, TrainSCRConf]:
    """The network to train and the conf it fixes: from scratch (labels' mean from `training`), from `init` (a
    network of the same task), or `init`'s coordinate network fused with the encoders of `helpers`."""
    if init is None:
        if helpers:
            raise ConfigError("train scr: the fusion starts from a trained coordinate network (--init)")
        model = replace(conf.model, label_mean=label_mean(training, conf.model.task))
        return SceneCoordinateNetwork(model), replace(conf, model=model)
    start, _ = load_checkpoint(init, SceneCoordinateNetwork)
    if start.conf.task != conf.model.task:
        raise ConfigError(f"{init}: a network of task {start.conf.task}, not {conf.model.task}")
    check_same_scene(init, start, training)
    conf = replace(conf, model=start.conf)
    if not helpers:
        return start, conf
    helper_networks = [load_checkpoint(path, SceneCoordinateNetwork)[0] for path in helpers]
    for path, helper in zip(helpers, helper_networks):
        if helper.conf.task == "coord" or helper.conf.image_height != start.conf.image_height:
            raise ConfigError(f"{path}: a helper must be a depth or normal network reading images like {init}")
    return FusedCoordinateNetwork.from_networks(start, helper_networks), conf


def evenly_spaced(frames: list[CoordinateFrame], count: int) -> list[CoordinateFrame]:
    return [frames[i] for i in np.unique(np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int))]


def main(
    conf: TrainSCRConf,
    training: list[CoordinateFrame],
    validation: list[CoordinateFrame],
    out: Path,
    init: Path | None = None,
    resume: Path | None = None,
    helpers: list[Path] | None = None,
) -> Path:
    """Train on `training` frames (see `start_network`; or resume a run from its last.pt), validating on
    `validation`. Writes last.pt each epoch, scr.pt and history.json."""
    torch.manual_seed(conf.seed)
    net, conf = start_network(conf, training, init, helpers or [])
    optimizer = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=conf.learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)  # constant, as the fine-tuning stages
    start_epoch, history = restore(resume, net, optimizer, schedule) if resume is not None else (0, [])
    normals = conf.model.task == "normal"
    training_samples = CoordinateSamples(
        training, conf.model.image_height, conf.augmentation if conf.augment else None, normals
    )
    validation_samples = CoordinateSamples(
        evenly_spaced(validation, conf.validation_frames), conf.model.image_height, None, normals
    )
    for epoch in range(start_epoch, conf.epochs):
        started = time.perf_counter()
        record = {"epoch": epoch + 1, "train_loss": train_epoch(net, training_samples, optimizer, conf, epoch)}
        record["time_s"] = time.perf_counter() - started
        if (epoch + 1) % conf.validation_interval == 0 or epoch + 1 == conf.epochs:
            record |= {f"validation_{k}": v for k, v in validate(net, validation_samples, conf).items()}
        history.append(record)
        print(json.dumps(record))
        save_training_state(out / "last.pt", net, optimizer, schedule, epoch + 1, history, conf)
    save_trained(out / "scr.pt", net, history, conf)
    write_text_atomic(out / "history.json", json.dumps({"conf": asdict(conf), "epochs": history}, indent=1))
    return out / "scr.pt"
