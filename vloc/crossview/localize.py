"""Localize the ground views of a cross-view dataset on their aerial images from their priors, with a trained
DenseFlow network (the confidence-weighted rigid fit of its flow) or the correlation-only baseline; write the planar
poses, a JSON log, and optionally a drawing per view."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vloc.console import track
from vloc.errors import ConfigError, InputError
from vloc.io.crossview import CrossviewDataset, GroundView, PlanarPose, TileFrame, cut_tile, prefiltered
from vloc.io.images import write_png
from vloc.io.text import check_names_writable, log_path, write_text_atomic
from vloc.models.checkpoint import load_checkpoint
from vloc.models.crossview import DenseFlowNetwork, correlation_search, localize_inputs, prepare_input

METHODS = ("flow", "flow-unweighted", "correlation")


@dataclass(frozen=True)
class CrossviewLocalizeConf:
    method: str = "flow"  # flow: DenseFlow's weighted fit; flow-unweighted: the same fit, every pixel alike
    search_offset: float = 12.0  # correlation: metres searched along the prior's axes (10 m off, turned 10 deg: 11.6)
    search_yaw: float = 10.0  # correlation: degrees searched around the prior

    def __post_init__(self):
        if self.method not in METHODS:
            raise ConfigError(f"crossview localize: unknown method {self.method!r} (choose from {', '.join(METHODS)})")


def localize_view(
    net: DenseFlowNetwork, dataset: CrossviewDataset, view: GroundView, aerial: np.ndarray, conf: CrossviewLocalizeConf
) -> tuple[PlanarPose, dict]:
    """The planar pose of one view on its aerial image (`prefiltered` for the network's tiles) and its log entry
    (mean confidence on the view, seconds)."""
    if view.prior is None:
        raise InputError(f"{dataset.root / view.image}: has no prior pose to localize from (crossview.json)")
    started = time.perf_counter()
    x = prepare_input(
        dataset.ground_image(view),
        view.camera,
        view.camera_height,
        aerial,
        dataset.aerials[view.aerial].metres_per_pixel,
        view.prior,
        net.conf,
        f"{dataset.root / 'crossview.json'}: view {view.image}",
    )
    entry: dict = {"image": view.image, "method": conf.method, "prior": view.prior.to_json()}
    if conf.method == "correlation":
        batch = [t[None] for t in (x.ground, x.tile, x.sampling, x.valid)]
        position, angle = correlation_search(
            net, *batch, conf.search_offset / net.conf.tile_metres_per_pixel, conf.search_yaw
        )
        pose = x.frame.pose_on_aerial(float(position[0, 0]), float(position[0, 1]), float(angle[0]))
    else:
        (pose,), estimate = localize_inputs(net, [x], weighted=conf.method == "flow")
        on_view = estimate.valid > 0
        entry["mean_confidence"] = float(estimate.confidence[on_view].mean())
        entry["view_pixels"] = int(on_view.sum())
    entry |= {"pose": pose.to_json(), "time_s": time.perf_counter() - started}
    return pose, entry


def draw(aerial: np.ndarray, metres_per_pixel: float, view: GroundView, pose: PlanarPose, path: Path) -> None:
    """The aerial image around the view (twice the prior's reach), with arrows of the prior (blue), the estimate
    (green) and the ground truth (red) where known."""
    reach = 2 * max(math.hypot(view.prior.x - pose.x, view.prior.y - pose.y), 10.0)
    size = 256
    frame = TileFrame(PlanarPose(view.prior.x, view.prior.y, 0.0), size, 2 * reach / size)
    image = np.ascontiguousarray(cut_tile(aerial, metres_per_pixel, frame))
    arrows = ((view.prior, (40, 90, 255), 2), (view.pose, (230, 30, 30), 4), (pose, (40, 220, 40), 2))
    for planar, colour, thickness in arrows:  # the estimate over a wider truth, so that both show where they agree
        if planar is None:
            continue
        u, v, angle = frame.pose_in_tile(planar)
        tip = (u + 18 * math.cos(angle), v + 18 * math.sin(angle))
        cv2.arrowedLine(image, (round(u), round(v)), (round(tip[0]), round(tip[1])), colour, thickness, tipLength=0.35)
    write_png(path, image)


def main(
    dataset: CrossviewDataset,
    checkpoint: Path,
    out: Path,
    conf: CrossviewLocalizeConf,
    split: str | None = None,
    condition: str | None = None,
    drawings: Path | None = None,
) -> Path:
    """Localize the selected views; writes `out` (lines `image x y yaw_deg`) and its JSON log beside it."""
    views = dataset.select(split, condition)
    if not views:
        raise InputError(f"{dataset.root / 'crossview.json'}: no views of split {split!r} and condition {condition!r}")
    check_names_writable(out, [v.image for v in views])
    net, _ = load_checkpoint(checkpoint, DenseFlowNetwork)
    aerials: dict[str, np.ndarray] = {}
    poses, entries = {}, []
    for view in track(views, f"crossview localize ({conf.method})", total=len(views)):
        if view.aerial not in aerials:  # views of one aerial image come together: hold one at a time
            scale = dataset.aerials[view.aerial].metres_per_pixel
            aerials = {view.aerial: dataset.aerial_image(view.aerial)}
            tiles_from = prefiltered(aerials[view.aerial], scale, net.conf.tile_metres_per_pixel)
        pose, entry = localize_view(net, dataset, view, tiles_from, conf)
        poses[view.image] = pose
        entries.append(entry)
        if drawings is not None:
            name = Path(view.image).with_suffix(".png").as_posix().replace("/", "__")
            draw(aerials[view.aerial], dataset.aerials[view.aerial].metres_per_pixel, view, pose, drawings / name)
    lines = "".join(f"{name} {p.x:.4f} {p.y:.4f} {p.yaw:.4f}\n" for name, p in poses.items())
    summary = {
        "method": conf.method,
        "checkpoint": str(checkpoint),
        "views": len(views),
        "median_time_s": float(np.median([e["time_s"] for e in entries])),
    }
    write_text_atomic(out, lines)
    write_text_atomic(log_path(out), json.dumps({"summary": summary, "views": entries}, indent=1))
    return out
