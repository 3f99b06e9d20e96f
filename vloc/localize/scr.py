"""`vloc localize-scr`: the pose of each query image from the scene coordinates a trained network regresses for it
(the map is the network), solved by DSAC*; a pose counts as localized only with enough inliers."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pycolmap
import torch

from vloc.console import track
from vloc.errors import ConfigError, FormatError, InputError
from vloc.geometry.dsac import DsacConf, dsac_pose
from vloc.geometry.rigid3d import pose_record
from vloc.io.text import read_queries, write_results
from vloc.models.checkpoint import load_checkpoint
from vloc.models.scr import (
    FusedCoordinateNetwork,
    SceneCoordinateNetwork,
    cell_centres,
    network_input,
    pinhole_matrix,
)


@dataclass(frozen=True)
class SCRLocalizeConf:
    dsac: DsacConf = field(default_factory=DsacConf)
    min_inliers: int = 12  # cells within tau of the refined pose, as PnP's acceptance
    # and this share of the image's cells: on the first measured scene, poses within 1 m had 0.72 to 0.89, poses of
    # images from an unseen domain 6 to 39 m off had 0.14 to 0.23; 0.4 is near their geometric mean (uncalibrated
    # beyond that scene: PnP's 0.1 accepted those wrong poses)
    min_inlier_ratio: float = 0.4
    seed: int = 0


def load_coordinate_network(path: Path) -> SceneCoordinateNetwork | FusedCoordinateNetwork:
    """A trained scene coordinate network (alone or fused); a one-line error for a network of another task."""
    net, _ = load_checkpoint(path, (SceneCoordinateNetwork, FusedCoordinateNetwork))
    if net.conf.task != "coord":
        raise ConfigError(f"{path}: a network of task {net.conf.task}; localization needs one of task coord")
    return net


@torch.no_grad()
def localize_image(
    net: SceneCoordinateNetwork | FusedCoordinateNetwork,
    image: np.ndarray,
    camera: pycolmap.Camera,
    conf: SCRLocalizeConf,
) -> tuple[pycolmap.Rigid3d | None, dict]:
    """The pose of one RGB image (H, W, 3 uint8) seen by a pinhole `camera`, and its log entry."""
    start = time.perf_counter()
    tensor, K = network_input(image, pinhole_matrix(camera), net.conf.image_height)
    coordinates, _ = net.eval()(tensor[None])
    cells = cell_centres(*coordinates.shape[-2:]).flatten(1).T.double().numpy()
    points3D = coordinates[0].flatten(1).T.double().numpy()
    result = dsac_pose(cells, points3D, K, conf.dsac, conf.seed)
    inliers = int(result.inliers.sum())
    log = {
        "soft_inliers": result.soft_inliers,
        "num_inliers": inliers,
        "inlier_ratio": inliers / len(cells),
        "num_cells": len(cells),
        "num_hypotheses": result.num_hypotheses,
        "refinement_steps": result.refinement_steps,
    }
    if result.cam_from_world is None:
        log["failure_reason"] = "no hypothesis: no 4 cells agree on a pose"
    elif inliers < conf.min_inliers:
        log["failure_reason"] = f"{inliers} inliers < {conf.min_inliers} (min_inliers)"
    elif log["inlier_ratio"] < conf.min_inlier_ratio:
        log["failure_reason"] = f"inlier ratio {log['inlier_ratio']:.3f} < {conf.min_inlier_ratio} (min_inlier_ratio)"
    log["success"] = "failure_reason" not in log
    if result.cam_from_world is not None:
        log["cam_from_world"] = pose_record(result.cam_from_world)
    log["time_s"] = time.perf_counter() - start
    return (result.cam_from_world if log["success"] else None), log


def main(conf: SCRLocalizeConf, network: Path, queries: Path, image_root: Path, results: Path) -> Path:
    """Localize every query of `queries` (name and intrinsics per line; images below `image_root`) with the scene
    coordinate network `network`; writes `results` and `<results>_log.json`."""
    net = load_coordinate_network(network)
    cameras = read_queries(queries, required=True)
    for name, camera in cameras.items():
        if camera.model_name not in ("SIMPLE_PINHOLE", "PINHOLE"):
            raise FormatError(f"{queries}: query {name} has a {camera.model_name} camera; SCR needs a pinhole one")
    poses, logs = {}, []
    for name in track(sorted(cameras), "localize (scr)", len(cameras)):
        image = cv2.imread(str(image_root / name), cv2.IMREAD_COLOR)
        if image is None:
            raise InputError(f"{image_root / name}: query image not found or unreadable")
        camera = cameras[name]
        if image.shape[:2] != (camera.height, camera.width):
            raise FormatError(
                f"{queries}: query {name} has a {camera.width}x{camera.height} camera, its image "
                f"{image_root / name} is {image.shape[1]}x{image.shape[0]}"
            )
        pose, log = localize_image(net, cv2.cvtColor(image, cv2.COLOR_BGR2RGB), camera, conf)
        logs.append({"name": name, **log})
        if pose is not None:
            poses[name] = pose
    summary = {
        "conf": asdict(conf),
        "network": str(network),
        "num_queries": len(cameras),
        "num_localized": len(poses),
    }
    return write_results(results, poses, summary, logs)
