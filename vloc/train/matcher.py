"""`vloc train matcher`: train IMP on keypoint pairs with ground-truth matches (deep supervision of every iteration),
validating each epoch by match precision and recall and by the pose AUC of held-out pairs."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from vloc.console import progress_bar
from vloc.errors import ConfigError, InputError
from vloc.geometry.relative_pose import estimate_relative_pose, pose_auc, relative_pose_errors
from vloc.geometry.rigid3d import relative_pose
from vloc.io.text import write_text_atomic
from vloc.models.imp import IMP, IMPConf, deep_supervision_loss, mutual_matches
from vloc.train.keypoint_matches import LEFT_OUT, KeypointMatchesConf, KeypointMatchPairs
from vloc.train.resume import restore, save_trained, save_training_state


@dataclass(frozen=True)
class TrainMatcherConf:
    model: IMPConf = field(default_factory=IMPConf)
    matches: KeypointMatchesConf = field(default_factory=KeypointMatchesConf)
    epochs: int = 10
    learning_rate: float = 3e-4  # Adam, cosine-annealed to 1 % over the run
    batch_pairs: int = 4  # pairs whose gradients make one step
    validation_pairs: int = 16  # held out (every k-th pair), never trained on
    match_threshold: float = 0.2  # validation: a match needs this assignment probability
    ransac_max_error: float = 1.0  # validation: pixels, relative-pose LO-RANSAC
    auc_thresholds: tuple[float, ...] = (5.0, 10.0, 20.0)
    seed: int = 0

    def __post_init__(self):
        if self.epochs < 1 or self.batch_pairs < 1:
            raise ConfigError("train matcher: epochs and batch_pairs must be at least 1")


def held_out(pairs: KeypointMatchPairs, count: int) -> tuple[list[int], list[int]]:
    """Indices of training and validation pairs: every k-th pair is held out (count of them)."""
    if len(pairs) <= count:
        raise InputError(f"{len(pairs)} training pairs: not more than the {count} held out for validation")
    validation = sorted({int(k * len(pairs) / count) for k in range(count)})
    return sorted(set(range(len(pairs))) - set(validation)), validation


@torch.no_grad()
def validate(net: IMP, pairs: KeypointMatchPairs, indices: list[int], conf: TrainMatcherConf) -> dict[str, float]:
    """Loss, precision (of the matches of labelled keypoints) and recall of the last read-out's matches against the
    ground truth, matches per negative pair (where some are held out), and the AUC of the relative pose they give
    (LO-RANSAC with the known cameras), over the pairs `indices` as drawn in epoch 0."""
    net.eval()
    losses, correct, predicted, true, errors, negative_matches = [], 0, 0, 0, [], []
    for index in indices:
        sample = pairs.sample(index, epoch=0)
        log_assignments = net(sample.pair)
        losses.append(float(deep_supervision_loss(log_assignments, sample.matches0, sample.matches1)))
        matches0, _ = mutual_matches(log_assignments[-1], conf.match_threshold)
        found = torch.nonzero(matches0 >= 0)[:, 0]
        labelled = found[sample.matches0[found] != LEFT_OUT]  # a match of an ambiguous keypoint is neither
        correct += int((matches0[labelled] == sample.matches0[labelled]).sum())
        predicted, true = predicted + len(labelled), true + int((sample.matches0 >= 0).sum())
        if pairs.is_negative(index):  # every match is wrong
            negative_matches.append(len(found))
        views = pairs.views(index)
        if views is None:  # no relative pose
            continue
        frame0, frame1 = views
        pixels0 = sample.pair.keypoints0[found].double().numpy() + 0.5
        pixels1 = sample.pair.keypoints1[matches0[found]].double().numpy() + 0.5
        estimate = estimate_relative_pose(pixels0, pixels1, frame0.camera, frame1.camera, conf.ransac_max_error)
        truth = relative_pose(frame0.cam_from_world, frame1.cam_from_world)
        errors.append(max(relative_pose_errors(estimate.cam1_from_cam0, truth)) if estimate else np.inf)
    areas = pose_auc(np.array(errors), conf.auc_thresholds)
    measures = {
        "loss": float(np.mean(losses)),
        "precision": correct / max(predicted, 1),
        "recall": correct / max(true, 1),
    }
    if negative_matches:  # none held out: no number, rather than a 0 that reads as a perfect dustbin
        measures["matches_per_negative_pair"] = float(np.mean(negative_matches))
    return measures | {f"auc@{t:g}": area for t, area in zip(conf.auc_thresholds, areas)}


def train_epoch(
    net: IMP,
    pairs: KeypointMatchPairs,
    indices: list[int],
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    conf: TrainMatcherConf,
    epoch: int,
) -> float:
    """One pass over the pairs `indices` in an order drawn from (seed, epoch): the mean loss."""
    net.train()
    order = torch.randperm(len(indices), generator=torch.Generator().manual_seed(conf.seed * 1000 + epoch))
    total = 0.0
    with progress_bar(f"train matcher, epoch {epoch + 1}/{conf.epochs}", len(indices)) as advance:
        for start in range(0, len(order), conf.batch_pairs):
            batch = [indices[k] for k in order[start : start + conf.batch_pairs].tolist()]
            optimizer.zero_grad()
            for index in batch:
                sample = pairs.sample(index, epoch)
                loss = deep_supervision_loss(net(sample.pair), sample.matches0, sample.matches1)
                (loss / len(batch)).backward()
                total += loss.item()
                advance(1)
            optimizer.step()
            schedule.step()
    return total / len(indices)


def main(conf: TrainMatcherConf, pairs: KeypointMatchPairs, out: Path, resume: Path | None = None) -> Path:
    """Train IMP from scratch on `pairs` (or resume a run from its last.pt), validating each epoch on held-out pairs.

    Writes `out`/last.pt (the training state) after every epoch, and `out`/imp.pt (float16 weights, the file to ship)
    and `out`/history.json at the end; the history starts with the untrained network's validation (epoch 0).
    """
    if conf.model.descriptor_dim != pairs.descriptor_dim:
        raise ConfigError(
            f"{pairs.features.path}: {pairs.descriptor_dim}-dimensional descriptors, but the model takes "
            f"{conf.model.descriptor_dim}: set model.descriptor_dim={pairs.descriptor_dim}"
        )
    torch.manual_seed(conf.seed)
    train_indices, validation_indices = held_out(pairs, conf.validation_pairs)
    net = IMP(conf.model)
    optimizer = torch.optim.Adam(net.parameters(), lr=conf.learning_rate)
    steps = conf.epochs * -(-len(train_indices) // conf.batch_pairs)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps, eta_min=conf.learning_rate / 100)
    start_epoch, history = restore(resume, net, optimizer, schedule) if resume is not None else (0, [])
    if not history:  # the untrained network: what training adds to Sinkhorn on the descriptors
        untrained = validate(net, pairs, validation_indices, conf)
        history.append({"epoch": 0} | {f"validation_{k}": v for k, v in untrained.items()})
        print(json.dumps(history[-1]))
    for epoch in range(start_epoch, conf.epochs):
        started = time.perf_counter()
        train_loss = train_epoch(net, pairs, train_indices, optimizer, schedule, conf, epoch)
        record = {"epoch": epoch + 1, "time_s": time.perf_counter() - started, "train_loss": train_loss}
        record |= {f"validation_{k}": v for k, v in validate(net, pairs, validation_indices, conf).items()}
        history.append(record)
        print(json.dumps(record))
        save_training_state(out / "last.pt", net, optimizer, schedule, epoch + 1, history, conf)
    save_trained(out / "imp.pt", net, history, conf, half=True)
    write_text_atomic(out / "history.json", json.dumps({"conf": asdict(conf), "epochs": history}, indent=1))
    return out / "imp.pt"
