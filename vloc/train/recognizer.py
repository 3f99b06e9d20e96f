"""`vloc train recognizer`: train LBR's segmentation recognizer from scratch on database images and their masks.

Each sample is a random rotation, scale and crop of a database image (labels warped alike, pixels from outside the
image ignored), with colour jitter, gamma, noise and blur, and often a photometric night stylisation, so that night
queries are recognised after training on day images only. Losses: OHEM cross-entropy on the pixels plus binary
cross-entropy on the presence of each instance.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vloc.console import progress_bar
from vloc.errors import ConfigError, InputError
from vloc.io.images import read_image, resize_max
from vloc.io.instances import InstanceReader
from vloc.io.text import write_text_atomic
from vloc.models.recognizer import RecognizerNet, RecognizerNetConf
from vloc.train.data import AugmentConf, augment, uniform
from vloc.train.resume import restore, save_trained, save_training_state

IGNORE = -1  # label of pixels warped in from outside the image


@dataclass(frozen=True)
class NightConf:
    """Photometric night stylisation of a day image; ranges are (low, high) of uniform draws."""

    probability: float = 0.5
    gamma: tuple[float, float] = (1.1, 1.8)  # darkening exponent
    gain: tuple[float, float] = (0.5, 1.0)
    red: tuple[float, float] = (0.55, 1.0)  # channel gains relative to blue: a blue tint
    green: tuple[float, float] = (0.7, 1.0)
    ambient: tuple[float, float] = (0.2, 0.7)  # light everywhere, plus a warm lamp's falling off from below the image
    lamp: tuple[float, float] = (0.3, 1.5)
    sky: tuple[float, float] = (0.0, 0.3)  # the background (label 0) darkens towards the top of the image to this
    noise_std: tuple[float, float] = (0.004, 0.03)
    spot_probability: float = 0.3  # a few bright blurred spots (street lights)


@dataclass(frozen=True)
class TrainRecognizerConf:
    model: RecognizerNetConf = field(default_factory=RecognizerNetConf)  # num_instances comes from the instances file
    epochs: int = 160
    batch_size: int = 4
    learning_rate: float = 2e-3  # AdamW, cosine-annealed to 1 % over the run (`cosine`)
    weight_decay: float = 1e-4
    max_side: int = 320  # images are trained at this longer side
    scale: tuple[float, float] = (0.7, 1.5)  # random zoom (log-uniform), 1 = the image just covers the crop
    max_rotation: float = 7.0  # degrees
    augment: AugmentConf = field(
        default_factory=lambda: AugmentConf(
            enabled=True, brightness=0.15, contrast=0.4, saturation=0.5, colour=0.2, gamma=0.5, noise_std=0.02
        )
    )
    night: NightConf = field(default_factory=NightConf)
    ohem_fraction: float = 0.7  # the hardest share of the labelled pixels in the cross-entropy
    presence_weight: float = 1.0
    visible_share: float = 0.01  # presence target: the share of the pixels an instance covers over this, at most 1
    balance_presence: bool = True  # weigh the positives of instances visible in few images up (sqrt of neg / pos)
    validate_every: int = 4  # epochs (and the last one)
    seed: int = 0

    def __post_init__(self):
        if not 0 < self.ohem_fraction <= 1 or min(self.epochs, self.batch_size, self.validate_every) < 1:
            raise ConfigError(
                "train recognizer: ohem_fraction must be in (0, 1], epochs, batch_size and validate_every at least 1"
            )
        if self.max_side < 32:
            raise ConfigError(f"train recognizer: max_side must be at least 32, got {self.max_side}")


def load_labelled(instances: Path, images: Path, max_side: int) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """RGB images and their label maps (both downscaled to `max_side`) of every image of `instances`, and K."""
    rgbs, masks = [], []
    with InstanceReader(instances) as reader:
        for name in reader.names:
            rgb, _ = resize_max(read_image(images / name, grayscale=False), max_side)
            mask = cv2.resize(reader.mask(name).astype(np.float32), rgb.shape[1::-1], interpolation=cv2.INTER_NEAREST)
            rgbs.append(rgb)
            masks.append(mask.astype(np.int64))
        largest = max(int(m.max()) for m in masks)
        if largest == 0:
            raise InputError(f"{instances}: no labelled images (every mask is 0)")
        return rgbs, masks, max(reader.num_instances, largest)


def stylise_night(
    image: torch.Tensor, background: torch.Tensor, conf: NightConf, generator: torch.Generator
) -> torch.Tensor:
    """A (3, H, W) day image in [0, 1] made night-like: gamma darkening, blue tint, ambient light and a lamp near the
    camera, a dark sky (`background` (H, W) pixels darker towards the top), sensor noise and occasional bright
    spots."""
    height, width = image.shape[-2:]
    rows, cols = torch.meshgrid(
        torch.arange(height, dtype=image.dtype), torch.arange(width, dtype=image.dtype), indexing="ij"
    )
    image = image ** uniform(generator, *conf.gamma)
    tint = torch.tensor([uniform(generator, *conf.red), uniform(generator, *conf.green), 1.0])[:, None, None]
    centre = (uniform(generator, 0, width), uniform(generator, 1.0 * height, 1.6 * height))
    reach = uniform(generator, 0.3, 3.0) * height  # far: light on the near ground; near: on the whole image
    falloff = 1 / (1 + ((cols - centre[0]) ** 2 + (rows - centre[1]) ** 2) / reach**2)
    lamp = uniform(generator, *conf.lamp) * falloff * torch.tensor([1.0, 0.75, 0.45])[:, None, None]
    sky = uniform(generator, *conf.sky)
    darker = torch.where(background, sky + (1 - sky) * (rows / height) ** uniform(generator, 1, 4), 1.0)
    image = image * darker * uniform(generator, *conf.gain) * (uniform(generator, *conf.ambient) * tint + lamp)
    if uniform(generator, 0, 1) < conf.spot_probability:
        for _ in range(int(torch.randint(1, 5, (), generator=generator))):
            x, y = uniform(generator, 0, width), uniform(generator, 0, height)
            radius = uniform(generator, 1, 0.04 * height)
            spot = torch.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * radius**2))
            image = image + uniform(generator, 0.5, 1.0) * spot * torch.tensor([1.0, 0.9, 0.7])[:, None, None]
    noise = torch.randn(image.shape, generator=generator, dtype=image.dtype) * uniform(generator, *conf.noise_std)
    return (image + noise).clamp(0, 1)


def sample(
    rgb: np.ndarray, mask: np.ndarray, size: tuple[int, int], conf: TrainRecognizerConf, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A randomly rotated, zoomed and cropped (3, h, w) image of (w, h) `size` with appearance changes, and its
    labels (h, w) (IGNORE outside the source image)."""
    height, width = mask.shape
    zoom = max(size[0] / width, size[1] / height) * math.exp(uniform(generator, *np.log(conf.scale)))
    slack = np.abs(np.array([width, height]) * zoom - np.array(size)) / 2
    centre = np.array(size) / 2 + [uniform(generator, -s, s) for s in slack]
    angle = uniform(generator, -conf.max_rotation, conf.max_rotation)
    warp = cv2.getRotationMatrix2D((width / 2, height / 2), angle, zoom)
    warp[:, 2] += centre - np.array([width, height]) / 2
    image = cv2.warpAffine(rgb, warp, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    labels = cv2.warpAffine(
        mask.astype(np.float32), warp, size, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=IGNORE
    )
    image = augment(torch.from_numpy(image).permute(2, 0, 1).float() / 255, conf.augment, generator)
    labels = torch.from_numpy(labels).long()
    if uniform(generator, 0, 1) < conf.night.probability:
        image = stylise_night(image, labels == 0, conf.night, generator)
    return image, labels


def ohem_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, fraction: float) -> torch.Tensor:
    """Mean cross-entropy of the hardest `fraction` of the labelled pixels (IGNORE excluded); logits (B, C, H, W)
    are upsampled to the labels' (B, H, W) size."""
    logits = F.interpolate(logits, labels.shape[-2:], mode="bilinear", align_corners=False)
    losses = F.cross_entropy(logits, labels, ignore_index=IGNORE, reduction="none")[labels != IGNORE]
    return losses.topk(max(1, math.ceil(fraction * losses.numel()))).values.mean()


def presence_targets(labels: torch.Tensor, num_instances: int, visible_share: float) -> torch.Tensor:
    """Presence targets (B, K) from labels (B, H, W): 1 for instance k + 1 on at least `visible_share` of the labelled
    pixels, less in proportion below, so that barely visible instances rank below clearly visible ones."""
    counts = torch.stack([torch.bincount(l[l >= 0], minlength=num_instances + 1) for l in labels])
    share = counts[:, 1:] / counts.sum(1, keepdim=True).clamp(min=1)
    return (share / visible_share).clamp(max=1).float()


def positive_weights(masks: list[np.ndarray], num_instances: int, visible_share: float) -> torch.Tensor:
    """(K,) weights of presence positives: sqrt(images without / images with instance k visible), at least 1."""
    visible = np.array([[np.mean(mask == k) >= visible_share for k in range(1, num_instances + 1)] for mask in masks])
    with_instance = np.maximum(visible.sum(0), 1)
    return torch.from_numpy(np.sqrt(np.maximum((len(masks) - with_instance) / with_instance, 1))).float()


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb).permute(2, 0, 1).float()[None] / 255


@torch.no_grad()
def top1_accuracy(net: RecognizerNet, rgbs: list[np.ndarray], masks: list[np.ndarray], visible_share: float) -> float:
    """Share of images whose highest presence score is an instance on at least `visible_share` of their mask."""
    net.eval()
    tops = [int(net(to_tensor(rgb))[1][0].argmax()) + 1 for rgb in rgbs]
    return float(np.mean([np.mean(mask == top) >= visible_share for top, mask in zip(tops, masks)]))


def cosine(progress: float) -> float:
    """Learning-rate factor: from 1 down to 0.01 along a half cosine; closed form, so a resumed run may add epochs."""
    return 0.01 + 0.495 * (1 + math.cos(math.pi * min(progress, 1.0)))


def generator_for(seed: int, *keys: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0]))


def train_epoch(
    net: RecognizerNet,
    rgbs: list[np.ndarray],
    masks: list[np.ndarray],
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    balance: torch.Tensor | None,
    conf: TrainRecognizerConf,
    epoch: int,
) -> np.ndarray:
    """One pass over the images in random order, in batches of augmented samples: the sums over the batches of the
    loss, its cross-entropy and its presence term."""
    net.train()
    order = torch.randperm(len(rgbs), generator=generator_for(conf.seed, epoch)).tolist()
    size = rgbs[0].shape[1::-1]
    sums = np.zeros(3)
    with progress_bar(f"train recognizer, epoch {epoch + 1}/{conf.epochs}", len(rgbs)) as advance:
        for first in range(0, len(order), conf.batch_size):
            batch = [
                sample(rgbs[i], masks[i], size, conf, generator_for(conf.seed, epoch, i))
                for i in order[first : first + conf.batch_size]
            ]
            image, labels = torch.stack([b[0] for b in batch]), torch.stack([b[1] for b in batch])
            pixels, presence = net(image)
            cross_entropy = ohem_cross_entropy(pixels, labels, conf.ohem_fraction)
            targets = presence_targets(labels, conf.model.num_instances, conf.visible_share)
            presence_loss = F.binary_cross_entropy_with_logits(presence, targets, pos_weight=balance)
            loss = cross_entropy + conf.presence_weight * presence_loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            sums += [loss.item(), cross_entropy.item(), presence_loss.item()]
            advance(len(batch))
    return sums


def main(
    conf: TrainRecognizerConf,
    instances: Path,
    images: Path,
    out: Path,
    resume: Path | None = None,
    validation: tuple[Path, Path] | None = None,
) -> Path:
    """Train on the labelled images of `instances` (read from `images`), validating each epoch on `validation`
    (instances, images), else on the training images; writes `out`/last.pt after every epoch, `out`/recognizer.pt
    and `out`/history.json at the end, and returns the path of recognizer.pt."""
    rgbs, masks, num_instances = load_labelled(instances, images, conf.max_side)
    held_out = load_labelled(*validation, conf.max_side)[:2] if validation else (rgbs, masks)
    conf = replace(conf, model=replace(conf.model, num_instances=num_instances))
    torch.manual_seed(conf.seed)
    net = RecognizerNet(conf.model)
    optimizer = torch.optim.AdamW(net.parameters(), lr=conf.learning_rate, weight_decay=conf.weight_decay)
    steps = math.ceil(len(rgbs) / conf.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: cosine(step / (conf.epochs * steps)))
    start, history = restore(resume, net, optimizer, schedule) if resume else (0, [])
    balance = positive_weights(masks, num_instances, conf.visible_share) if conf.balance_presence else None
    for epoch in range(start, conf.epochs):
        started = time.perf_counter()
        sums = train_epoch(net, rgbs, masks, optimizer, schedule, balance, conf, epoch)
        record = {
            "epoch": epoch + 1,
            "time_s": time.perf_counter() - started,
            **dict(zip(("loss", "cross_entropy", "presence"), (sums / steps).tolist())),
        }
        if (epoch + 1) % conf.validate_every == 0 or epoch + 1 == conf.epochs:
            record["top1_accuracy"] = top1_accuracy(net, *held_out, conf.visible_share)
        history.append(record)
        print(json.dumps(record))
        save_training_state(out / "last.pt", net, optimizer, schedule, epoch + 1, history, conf)
    save_trained(out / "recognizer.pt", net, history, conf)
    validated_on = "validation images" if validation else "training images"
    write_text_atomic(
        out / "history.json",
        json.dumps({"conf": asdict(conf), "top1_accuracy_on": validated_on, "epochs": history}, indent=1),
    )
    return out / "recognizer.pt"
