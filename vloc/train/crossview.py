"""`vloc train crossview`: train DenseFlow on the train split of a cross-view dataset: random priors around each view's
ground truth, the sequence flow loss with the confidence term, then end to end with the pose loss; validated on
held-out training scenes with fixed priors.

Where it departs from the release, which starts from pretrained weights on a GPU: a correlation cross-entropy is
added from the first step; one optimizer and one-cycle schedule run through both phases (the release re-creates
them for the second); the confidence term standardises the Euclidean end-point error; on a CPU the network runs
under bfloat16 autocast (correlation volume included), the flow and the losses in float32."""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field, fields
from pathlib import Path

import cv2
import numpy as np
import torch

from vloc.config import to_json
from vloc.console import progress_bar
from vloc.errors import ConfigError, InputError
from vloc.geometry.rigid2d import Rigid2D
from vloc.io.crossview import CrossviewDataset, GroundView, PlanarPose, prefiltered, random_prior
from vloc.io.text import write_text_atomic
from vloc.models.crossview import (
    CrossviewConf,
    CrossviewInput,
    DenseFlowNetwork,
    FlowEstimate,
    camera_in_tile,
    localize_inputs,
    pose_from_flow,
    prepare_input,
    tile_pixels,
    truth_in_tile,
)
from vloc.train.resume import restore, save_trained, save_training_state


@dataclass(frozen=True)
class TrainCrossviewConf:
    model: CrossviewConf = field(default_factory=CrossviewConf)
    steps: int = 2500
    flow_only_fraction: float = 0.7  # the first steps train the flow alone (the release: 15 of 30 epochs, pretrained)
    batch_size: int = 8
    learning_rate: float = 4e-4  # AdamW with a one-cycle schedule (the release: 2e-5 from pretrained weights)
    weight_decay: float = 5e-5
    gamma: float = 0.8  # sequence loss weight gamma^(N - i)
    confidence_weight: float = 100.0
    correlation_weight: float = 10.0  # cross-entropy of each view cell's true aerial cell in the correlation volume
    pose_weight: float = 1.0  # times 10 (|lateral| + |longitudinal| in metres + |yaw| in degrees); the release: 50
    prior_offset: float = 10.0  # random priors: metres along and across the heading
    prior_yaw: float = 10.0  # degrees
    validation_interval: int = 250  # steps between validations and checkpoints
    validation_fraction: float = 0.15  # of the training scenes, held out
    validation_views: int = 48
    bfloat16: bool = True  # autocast on the CPU (1.5x faster steps where the CPU has bfloat16 units); GPUs use float32
    seed: int = 0

    def __post_init__(self):
        if min(self.steps, self.batch_size, self.validation_interval, self.validation_views) < 1:
            raise ConfigError("train crossview needs steps, batch_size, validation_interval and validation_views >= 1")
        if not (0 < self.gamma <= 1 and 0 <= self.flow_only_fraction <= 1 and 0 <= self.validation_fraction < 1):
            raise ConfigError("train crossview: gamma in (0, 1], flow_only_fraction in [0, 1], validation_fraction < 1")


def split_scenes(views: list[GroundView], fraction: float) -> tuple[list[GroundView], list[GroundView]]:
    """Training and validation views: the last `fraction` of the aerial images (scenes) are held out."""
    scenes = sorted({v.aerial for v in views})
    held = set(scenes[len(scenes) - max(1, round(fraction * len(scenes))) :]) if len(scenes) > 1 else set()
    return [v for v in views if v.aerial not in held], [v for v in views if v.aerial in held]


class CrossviewSamples:
    """The views of a dataset, their ground images held at the network's size, turned into network inputs from a
    prior; aerial images are read when needed and the last AERIALS_HELD kept (prefiltered for the tiles)."""

    AERIALS_HELD = 64

    def __init__(self, dataset: CrossviewDataset, views: list[GroundView], conf: CrossviewConf):
        missing = [v.image for v in views if v.pose is None]
        if missing:
            raise InputError(f"{dataset.root / missing[0]}: a training view needs its ground-truth pose")
        self.dataset, self.views, self.conf = dataset, views, conf
        size = (conf.ground_width, conf.ground_height)
        self.grounds = [cv2.resize(dataset.ground_image(v), size, interpolation=cv2.INTER_AREA) for v in views]
        self.aerials: OrderedDict[str, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self.views)

    def aerial(self, name: str) -> np.ndarray:
        if name not in self.aerials:
            scale = self.dataset.aerials[name].metres_per_pixel
            self.aerials[name] = prefiltered(self.dataset.aerial_image(name), scale, self.conf.tile_metres_per_pixel)
            if len(self.aerials) > self.AERIALS_HELD:
                self.aerials.popitem(last=False)
        self.aerials.move_to_end(name)
        return self.aerials[name]

    def input(self, index: int, prior: PlanarPose) -> CrossviewInput:
        view = self.views[index]
        return prepare_input(
            self.grounds[index],
            view.camera,
            view.camera_height,
            self.aerial(view.aerial),
            self.dataset.aerials[view.aerial].metres_per_pixel,
            prior,
            self.conf,
            str(self.dataset.root / view.image),
        )


@dataclass
class Batch:
    ground: torch.Tensor
    tile: torch.Tensor
    sampling: torch.Tensor
    valid: torch.Tensor
    truth_angle: torch.Tensor  # (B,) radians, in the tile
    truth_translation: torch.Tensor  # (B, 2) tile pixels

    def to(self, device: torch.device) -> Batch:
        return Batch(*(getattr(self, f.name).to(device) for f in fields(self)))

    def truth(self) -> Rigid2D:
        """The true motion of each view's bird's-eye view onto its tile."""
        return Rigid2D(self.truth_angle, self.truth_translation)


def make_batch(samples: CrossviewSamples, indices: list[int], priors: list[PlanarPose]) -> Batch:
    inputs = [samples.input(i, prior) for i, prior in zip(indices, priors)]
    truths = [truth_in_tile(x.frame, samples.views[i].pose) for x, i in zip(inputs, indices)]
    return Batch(
        torch.stack([x.ground for x in inputs]),
        torch.stack([x.tile for x in inputs]),
        torch.stack([x.sampling for x in inputs]),
        torch.stack([x.valid for x in inputs]),
        torch.cat([t.angle for t in truths]),
        torch.cat([t.translation for t in truths]),
    )


def truth_flow(batch: Batch, size: int) -> torch.Tensor:
    """(B, 2, S, S) flow of the true motion at every tile pixel."""
    source = tile_pixels(size).to(batch.truth_angle.device)[None].expand(len(batch.truth_angle), -1, -1)
    return (batch.truth().apply(source) - source).transpose(1, 2).reshape(-1, 2, size, size)


def sequence_loss(estimates: list[FlowEstimate], truth: torch.Tensor, conf: TrainCrossviewConf) -> torch.Tensor:
    """Sum over iterations of gamma^(N - i) (mean L1 flow error on the view + confidence_weight x the confidence
    loss, which raises the confidence where the end-point error is below the batch's average)."""
    valid = estimates[-1].valid
    total = torch.zeros((), device=valid.device)
    count = valid.sum().clamp(min=1)
    for index, estimate in enumerate(estimates):
        weight = conf.gamma ** (len(estimates) - 1 - index)
        difference = estimate.flow - truth
        flow_term = (difference.abs().sum(1, keepdim=True) * valid).sum() / count
        error = difference.detach().norm(dim=1, keepdim=True)
        on_view = error[valid > 0]
        z = (error - on_view.mean()) / on_view.std().clamp(min=1e-6)
        c = estimate.confidence
        confidence_term = ((c * torch.sigmoid(0.05 * z) + (1 - c) * torch.sigmoid(-0.05 * z)) * valid).sum() / count
        total = total + weight * (flow_term + conf.confidence_weight * confidence_term)
    return total


def correlation_loss(correlation: torch.Tensor, batch: Batch, model: CrossviewConf) -> torch.Tensor:
    """Cross-entropy of the true aerial cell of every view cell (on the view, landing on the tile) among all aerial
    cells, scored by the correlation volume: trains the encoders to match across views from the first step (the
    release starts from ImageNet weights instead; from scratch on a CPU budget the flow loss alone barely moves)."""
    cells = model.cells
    centres = tile_pixels(cells).to(correlation.device) * model.stride  # cell centres in tile pixels
    source = centres[None].expand(len(batch.truth_angle), -1, -1)
    column, row = torch.floor(batch.truth().apply(source) / model.stride).long().unbind(-1)
    on_tile = (column >= 0) & (column < cells) & (row >= 0) & (row < cells)
    used = on_tile & (batch.valid.reshape(len(batch.truth_angle), -1) > 0)
    if not used.any():
        return torch.zeros((), device=correlation.device)
    logits = correlation.reshape(len(batch.truth_angle), cells * cells, cells * cells)
    return torch.nn.functional.cross_entropy(logits[used], (row * cells + column)[used])


def pose_loss(estimate: FlowEstimate, batch: Batch, model: CrossviewConf) -> torch.Tensor:
    """10 (|lateral| + |longitudinal|) in metres + 10 |yaw| in degrees of the weighted fit, averaged over the batch."""
    position, angle = camera_in_tile(pose_from_flow(estimate), model.tile_size)
    truth_position, truth_angle = camera_in_tile(batch.truth(), model.tile_size)
    offset = (position - truth_position) * model.tile_metres_per_pixel
    cos, sin = torch.cos(truth_angle), torch.sin(truth_angle)
    longitudinal = cos * offset[:, 0] + sin * offset[:, 1]
    lateral = -sin * offset[:, 0] + cos * offset[:, 1]
    yaw = torch.rad2deg(torch.atan2(torch.sin(angle - truth_angle), torch.cos(angle - truth_angle)))
    return (10 * lateral.abs() + 10 * longitudinal.abs() + 10 * yaw.abs()).mean()


def validate(net: DenseFlowNetwork, samples: CrossviewSamples, conf: TrainCrossviewConf) -> dict[str, float]:
    """Median distance and yaw errors from fixed priors (seeded) on the validation views, and those of the priors
    (with a single scene, the validation views are the training views)."""
    net.eval()
    rng = np.random.default_rng([conf.seed, 7])
    chosen = np.unique(np.linspace(0, len(samples) - 1, min(conf.validation_views, len(samples))).round().astype(int))
    errors, prior_errors = [], []
    for start in range(0, len(chosen), conf.batch_size):
        indices = [int(i) for i in chosen[start : start + conf.batch_size]]
        priors = [random_prior(rng, samples.views[i].pose, conf.prior_offset, conf.prior_yaw) for i in indices]
        estimates, _ = localize_inputs(net, [samples.input(i, p) for i, p in zip(indices, priors)])
        for i, estimate, prior in zip(indices, estimates, priors):
            errors.append(estimate.errors_to(samples.views[i].pose))
            prior_errors.append(prior.errors_to(samples.views[i].pose))
    net.train()
    return {
        f"{prefix}{key}": float(np.median([row[key] for row in rows]))
        for prefix, rows in (("", errors), ("prior_", prior_errors))
        for key in ("distance_m", "yaw_deg")
    }


def main(dataset: CrossviewDataset, conf: TrainCrossviewConf, out: Path, resume: Path | None = None) -> Path:
    """Train on the dataset's train split (or every view when it has none), writing last.pt at every validation,
    denseflow.pt and history.json at the end."""
    torch.manual_seed(conf.seed)
    views = dataset.select("train") or [v for v in dataset.views if not v.split]
    if not views:
        raise InputError(f"{dataset.root / 'crossview.json'}: no views of split 'train' to train on")
    training_views, validation_views = split_scenes(views, conf.validation_fraction)
    training = CrossviewSamples(dataset, training_views, conf.model)
    validation = CrossviewSamples(dataset, validation_views, conf.model) if validation_views else training
    net = DenseFlowNetwork(conf.model).to("cuda" if torch.cuda.is_available() else "cpu")
    optimizer = torch.optim.AdamW(net.parameters(), lr=conf.learning_rate, weight_decay=conf.weight_decay, eps=1e-8)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, conf.learning_rate, total_steps=conf.steps, pct_start=0.05, anneal_strategy="linear"
    )
    chunks = math.ceil(conf.steps / conf.validation_interval)
    schedule_fields = {k: getattr(conf, k) for k in ("steps", "validation_interval", "batch_size", "seed")}
    start_chunk, history = restore(resume, net, optimizer, schedule, schedule_fields) if resume is not None else (0, [])
    net.train()
    for chunk in range(start_chunk, chunks):
        started = time.perf_counter()
        first, last = chunk * conf.validation_interval, min((chunk + 1) * conf.validation_interval, conf.steps)
        losses = []
        with progress_bar(f"train crossview, steps {first + 1}-{last} of {conf.steps}", last - first) as advance:
            for step in range(first, last):
                losses.append(train_step(net, training, optimizer, conf, step))
                schedule.step()
                advance(1)
        record = {"step": last, "train_loss": float(np.mean(losses)), "time_s": time.perf_counter() - started}
        record |= {f"validation_{k}": v for k, v in validate(net, validation, conf).items()}
        history.append(record)
        print(json.dumps(record), flush=True)
        save_training_state(out / "last.pt", net, optimizer, schedule, chunk + 1, history, conf)
    save_trained(out / "denseflow.pt", net, history, conf)
    write_text_atomic(
        out / "history.json", json.dumps({"conf": json.loads(to_json(conf)), "history": history}, indent=1)
    )
    return out / "denseflow.pt"


def train_step(
    net: DenseFlowNetwork,
    samples: CrossviewSamples,
    optimizer: torch.optim.Optimizer,
    conf: TrainCrossviewConf,
    step: int,
) -> float:
    """One batch of random views with random priors drawn from (seed, step); the loss."""
    rng = np.random.default_rng([conf.seed, step])
    indices = [int(i) for i in rng.integers(0, len(samples), conf.batch_size)]
    priors = [random_prior(rng, samples.views[i].pose, conf.prior_offset, conf.prior_yaw) for i in indices]
    device = next(net.parameters()).device
    batch = make_batch(samples, indices, priors).to(device)
    with torch.autocast("cpu", torch.bfloat16, enabled=conf.bfloat16 and device.type == "cpu"):
        output = net(batch.ground, batch.tile, batch.sampling, batch.valid)
    # under autocast the confidence comes out in bfloat16; the flow is accumulated in float32
    estimates = [FlowEstimate(e.flow, e.confidence.float(), e.valid) for e in output.estimates]
    loss = sequence_loss(estimates, truth_flow(batch, conf.model.tile_size), conf)
    loss = loss + conf.correlation_weight * correlation_loss(output.correlation.float(), batch, conf.model)
    if step >= conf.flow_only_fraction * conf.steps:
        loss = loss + conf.pose_weight * pose_loss(estimates[-1], batch, conf.model)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    optimizer.step()
    return float(loss.detach())
