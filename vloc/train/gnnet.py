"""`vloc train gnnet`: train GN-Net dense features on pixel correspondences (contrastive + Gauss-Newton losses)."""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

from vloc.console import progress_bar
from vloc.dense.base import DenseBackbone, DenseLevel, normalized_level
from vloc.dense.interpolation import sample_features, sample_values, with_channels_last
from vloc.errors import ConfigError, InputError
from vloc.io.text import write_text_atomic
from vloc.models.checkpoint import load_checkpoint
from vloc.models.gnnet import GNNet, GNNetConf
from vloc.train.data import AugmentConf, PairDataset, PairsConf, collate_pairs
from vloc.train.losses import GNNetLossConf, gnnet_loss, hard_negative_count
from vloc.train.resume import restore, save_trained, save_training_state


@dataclass(frozen=True)
class TrainGNNetConf:
    model: GNNetConf = field(default_factory=GNNetConf)
    loss: GNNetLossConf = field(default_factory=GNNetLossConf)
    pairs: PairsConf = field(
        default_factory=lambda: PairsConf(max_points=384, max_side=320, augment=AugmentConf(enabled=True))
    )
    epochs: int = 8
    learning_rate: float = 1e-3  # AdamW, cosine-annealed to 1 % over the run
    weight_decay: float = 1e-4
    negatives_start: int = 256  # hard negatives drawn among the M hardest, M shrinking geometrically ...
    negatives_end: int = 4  # ... to this by the end of training
    validation_pairs: int = 24  # held out (every k-th pair), never trained on
    seed: int = 0

    def __post_init__(self):
        if self.epochs < 1:
            raise ConfigError(
                f"train gnnet: epochs must be at least 1 (an untrained network is no checkpoint), got {self.epochs}"
            )


@dataclass(frozen=True)
class ValidationConf:
    thresholds: tuple[float, ...] = (1.0, 3.0, 5.0)  # matching accuracy, pixels of the image as trained
    start_offset: float = 6.0  # refinement starts uniformly within this many pixels (per axis) of the true match
    converged: float = 1.0  # pixels
    iterations: int = 10  # Gauss-Newton iterations per level


def pyramid(net: GNNet, images: list[torch.Tensor]) -> list[list[DenseLevel]]:
    """Per image (C, H, W), its normalised feature maps with strides, coarse to fine; one batch when the images
    have one size (a pair of a COLMAP model may mix portrait and landscape), else one pass each."""
    if any(image.shape != images[0].shape for image in images):
        return [pyramid(net, [image])[0] for image in images]
    height, width = images[0].shape[-2:]
    maps = net(torch.stack(images))
    return [[normalized_level(m[b], width, height) for m in maps] for b in range(len(images))]


def matching_errors(
    source: DenseLevel, target: DenseLevel, points0: torch.Tensor, points1: torch.Tensor
) -> torch.Tensor:
    """Pixel error of the nearest-neighbour cell in the whole target map, per source point (inf where outside)."""
    features, valid = sample_values(source.features, points0, source.stride)
    similarity = torch.nn.functional.normalize(features, dim=1) @ target.features.flatten(1)
    best = similarity.argmax(1)
    width = target.features.shape[-1]
    cells = torch.stack([best % width, best // width], 1).to(points1.dtype)
    errors = ((cells + 0.5) * target.stride.to(points1.dtype) - points1).norm(dim=1)
    return torch.where(valid, errors, torch.full_like(errors, math.inf))


def align_points(
    source: list[DenseLevel],
    target: list[DenseLevel],
    points0: torch.Tensor,
    starts: torch.Tensor,
    conf: ValidationConf,
) -> torch.Tensor:
    """Coarse-to-fine 2D Gauss-Newton alignment of target locations to the source features: final points (N, 2)."""
    current = starts.clone()
    for level0, level1 in zip(source, target):
        anchors, _ = sample_values(level0.features, points0, level0.stride)
        target_map = with_channels_last(level1.features)  # sampled once per iteration
        for _ in range(conf.iterations):
            features, valid, gradients = sample_features(target_map, current, level1.stride)
            residuals = features - anchors
            hessian = gradients.transpose(1, 2) @ gradients + 1e-6 * torch.eye(2)
            step = torch.linalg.solve(hessian, -(gradients.transpose(1, 2) @ residuals[..., None]))[..., 0]
            current = torch.where(valid[:, None], current + step, current)
    return current


@torch.no_grad()
def validate(
    pyramids: Callable[[list[torch.Tensor]], list[list[DenseLevel]]],
    dataset: PairDataset | Subset,
    conf: ValidationConf = ValidationConf(),
) -> dict[str, float]:
    """Matching accuracy (finest level, nearest neighbour over the whole map) and the 2D refinement convergence rate
    of the dense features that `pyramids` gives for the two (C, H, W) images of a pair."""
    errors, final, generator = [], [], torch.Generator().manual_seed(0)
    for index in range(len(dataset)):
        sample = dataset[index]
        source, target = pyramids([sample["image0"], sample["image1"]])
        points0, points1 = sample["points0"].double(), sample["points1"].double()
        errors.append(matching_errors(source[-1], target[-1], points0, points1))
        offsets = (torch.rand(points1.shape, generator=generator, dtype=points1.dtype) * 2 - 1) * conf.start_offset
        final.append((align_points(source, target, points0, points1 + offsets, conf) - points1).norm(dim=1))
    errors, final = torch.cat(errors), torch.cat(final)
    metrics = {f"accuracy@{t:g}px": float((errors <= t).float().mean()) for t in conf.thresholds}
    metrics["convergence_rate"] = float((final <= conf.converged).float().mean())
    return metrics


def network_pyramids(net: GNNet) -> Callable[[list[torch.Tensor]], list[list[DenseLevel]]]:
    """`validate`'s view of a network under training (evaluation mode)."""

    def pyramids(images: list[torch.Tensor]) -> list[list[DenseLevel]]:
        net.eval()
        return pyramid(net, images)

    return pyramids


def backbone_pyramids(backbone: DenseBackbone) -> Callable[[list[torch.Tensor]], list[list[DenseLevel]]]:
    """`validate`'s view of a dense backbone (dsift, a shipped gnnet, ...)."""

    def pyramids(images: list[torch.Tensor]) -> list[list[DenseLevel]]:
        arrays = [(image * 255).round().clamp(0, 255).byte().permute(1, 2, 0).numpy() for image in images]
        return [backbone(a[..., 0] if a.shape[-1] == 1 else a) for a in arrays]

    return pyramids


def split(dataset: PairDataset, count: int) -> tuple[list[int], list[int]]:
    """Indices of training and held-out pairs: every k-th pair is held out (count of them)."""
    if len(dataset) <= count:
        raise InputError(f"{len(dataset)} training pairs: not more than the {count} held out for validation")
    held_out = sorted({int(k * len(dataset) / count) for k in range(count)})
    return sorted(set(range(len(dataset))) - set(held_out)), held_out


def without_augmentation(dataset: PairDataset) -> PairDataset:
    """A shallow copy of `dataset` that reads plain images, with the points of epoch 0."""
    plain = copy.copy(dataset)
    plain.conf = replace(dataset.conf, augment=replace(dataset.conf.augment, enabled=False))
    plain.epoch = 0
    return plain


def training_sets(
    conf: TrainGNNetConf, dataset: PairDataset, validation_set: PairDataset | None
) -> tuple[PairDataset | Subset, PairDataset | Subset]:
    """The pairs to train on and those to validate on (without augmentation): `validation_set`, else pairs held out
    of `dataset`."""
    if validation_set is None:
        train_indices, held_out = split(dataset, conf.validation_pairs)
        return Subset(dataset, train_indices), Subset(without_augmentation(dataset), held_out)
    return dataset, without_augmentation(validation_set)


def initial_network(conf: GNNetConf, init: Path | None) -> GNNet:
    """A new GN-Net, with the weights of checkpoint `init` (same architecture) when given."""
    net = GNNet(conf)
    if init is not None:
        trained, _ = load_checkpoint(init, GNNet)
        if trained.conf != conf:
            raise InputError(f"{init} holds a GN-Net of another architecture ({trained.conf}) than model ({conf})")
        net.load_state_dict(trained.state_dict())
    return net


def train_step(
    net: GNNet,
    batch: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    conf: GNNetLossConf,
    negatives: int,
    generator: torch.Generator,
) -> dict[str, float]:
    """One optimizer step on a batch of one pair, hard negatives drawn among the `negatives` hardest: its loss
    terms."""
    mask = batch["mask"][0]
    source, target = pyramid(net, [batch["image0"][0], batch["image1"][0]])
    loss, terms = gnnet_loss(
        source, target, batch["points0"][0][mask], batch["points1"][0][mask], conf, negatives, generator
    )
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    schedule.step()
    return terms


def train_epoch(
    net: GNNet,
    train_set: PairDataset | Subset,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
    conf: TrainGNNetConf,
    epoch: int,
) -> dict[str, float]:
    """One pass over `train_set` in random order (drawn from `generator`): the mean of each loss term."""
    loader = DataLoader(train_set, batch_size=1, shuffle=True, collate_fn=collate_pairs, generator=generator)
    net.train()
    sums: dict[str, float] = {}
    with progress_bar(f"train gnnet, epoch {epoch + 1}/{conf.epochs}", len(train_set)) as advance:
        for k, batch in enumerate(loader):
            step, total_steps = epoch * len(train_set) + k, conf.epochs * len(train_set)
            negatives = hard_negative_count(step, total_steps, conf.negatives_start, conf.negatives_end)
            terms = train_step(net, batch, optimizer, schedule, conf.loss, negatives, generator)
            for name in ("total", "contrastive", "gauss_newton"):
                sums[name] = sums.get(name, 0.0) + terms[name]
            advance(1)
    return {f"train_{name}": value / len(train_set) for name, value in sums.items()}


def main(
    conf: TrainGNNetConf,
    dataset: PairDataset,
    out: Path,
    validation_set: PairDataset | None = None,
    resume: Path | None = None,
    init: Path | None = None,
) -> Path:
    """Train on `dataset`, validating each epoch on `validation_set` (else on pairs held out of `dataset`);
    from the weights of checkpoint `init` (fine-tuning) or from scratch, or resuming a run from its last.pt.

    Writes `out`/last.pt (the training state) after every epoch, and `out`/gnnet.pt (the model) and
    `out`/history.json at the end.
    """
    torch.manual_seed(conf.seed)
    train_set, validation_set = training_sets(conf, dataset, validation_set)
    net = initial_network(conf.model, init)
    optimizer = torch.optim.AdamW(net.parameters(), lr=conf.learning_rate, weight_decay=conf.weight_decay)
    total_steps = conf.epochs * len(train_set)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total_steps, eta_min=conf.learning_rate / 100)
    start_epoch, history = 0, []
    if resume is not None:
        start_epoch, history = restore(resume, net, optimizer, schedule)
    generator = torch.Generator().manual_seed(conf.seed)
    for epoch in range(start_epoch, conf.epochs):
        dataset.set_epoch(epoch)
        started = time.perf_counter()
        losses = train_epoch(net, train_set, optimizer, schedule, generator, conf, epoch)
        record = {
            "epoch": epoch + 1,
            "time_s": time.perf_counter() - started,
            **losses,
            **validate(network_pyramids(net), validation_set),
        }
        history.append(record)
        print(json.dumps(record))
        save_training_state(out / "last.pt", net, optimizer, schedule, epoch + 1, history, conf)
    save_trained(out / "gnnet.pt", net, history, conf)
    write_text_atomic(out / "history.json", json.dumps({"conf": asdict(conf), "epochs": history}, indent=1))
    return out / "gnnet.pt"
