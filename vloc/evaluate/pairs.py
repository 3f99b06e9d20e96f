"""`vloc evaluate pairs`: how well each pair's matches give its relative pose, and how many of them are correct.

Per pair: the relative pose by LO-RANSAC on the matches (pycolmap, known intrinsics), its error against the ground truth
as the larger of the rotation error and the translation direction's (up to sign); the matches' precision (symmetric
epipolar distance under the true relative pose, normalised coordinates) and matching score (correct matches per
keypoint of the first image). Over the pairs: the pose AUC up to 5, 10 and 20 degrees (SuperGlue's protocol).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pycolmap

from vloc.console import track
from vloc.errors import FormatError, InputError
from vloc.geometry.epipolar import epipolar_distances_each, essential_from_poses
from vloc.geometry.relative_pose import estimate_relative_pose, pose_auc, relative_pose_errors
from vloc.geometry.rigid3d import relative_pose
from vloc.io.features import FeatureReader
from vloc.io.matches import MatchReader
from vloc.io.model import model_cameras, model_poses, read_model
from vloc.io.text import read_pairs, read_poses, read_queries, write_text_atomic


@dataclass(frozen=True)
class PairEvaluationConf:
    ransac_max_error: float = 1.0  # pixels, relative-pose LO-RANSAC
    ransac_confidence: float = 0.99999
    epipolar_threshold: float = 5e-4  # normalised coordinates: a match within it of its epipolar lines is correct
    auc_thresholds: tuple[float, ...] = (5.0, 10.0, 20.0)  # degrees
    min_matches: int = 5  # fewer: no pose (infinite error)


@dataclass(frozen=True)
class PosedCamera:
    camera: pycolmap.Camera
    cam_from_world: pycolmap.Rigid3d


def posed_cameras(ground_truth: Path) -> dict[str, PosedCamera]:
    """Cameras and poses by image name: a posed COLMAP model, or a `vloc prepare` folder (its reference model, and
    its queries.txt with ground_truth.txt)."""
    prepared = (ground_truth / "reference").is_dir()
    model = read_model(ground_truth / "reference" if prepared else ground_truth)
    cameras, poses = model_cameras(model), model_poses(model)
    if prepared:
        cameras |= read_queries(ground_truth / "queries.txt")
        poses |= read_poses(ground_truth / "ground_truth.txt")
    return {name: PosedCamera(cameras[name], poses[name]) for name in cameras.keys() & poses.keys()}


def evaluate_pair(
    keypoints0: np.ndarray,
    keypoints1: np.ndarray,
    matches: np.ndarray,
    posed0: PosedCamera,
    posed1: PosedCamera,
    conf: PairEvaluationConf,
) -> dict:
    """Pose errors, precision and matching score of one pair's (M, 2) matches (features-file keypoints)."""
    pixels0, pixels1 = keypoints0[matches[:, 0]] + 0.5, keypoints1[matches[:, 1]] + 0.5  # COLMAP's pixel centres
    points0, points1 = posed0.camera.cam_from_img(pixels0), posed1.camera.cam_from_img(pixels1)
    essential = essential_from_poses(posed0.cam_from_world, posed1.cam_from_world)
    correct = np.maximum(*epipolar_distances_each(points0, points1, essential)) < conf.epipolar_threshold
    record = {
        "num_keypoints0": len(keypoints0),
        "num_matches": len(matches),
        "num_correct": int(correct.sum()),
        "precision": float(correct.mean()) if len(matches) else None,
        "matching_score": float(correct.sum() / len(keypoints0)) if len(keypoints0) else 0.0,
    }
    rotation_error = translation_error = np.inf
    inliers = 0
    found = None
    if len(matches) >= conf.min_matches:
        found = estimate_relative_pose(
            pixels0, pixels1, posed0.camera, posed1.camera, conf.ransac_max_error, conf.ransac_confidence
        )
    if found is not None:
        truth = relative_pose(posed0.cam_from_world, posed1.cam_from_world)
        rotation_error, translation_error = relative_pose_errors(found.cam1_from_cam0, truth)
        inliers = int(found.inliers.sum())
    pose_error = max(rotation_error, translation_error)
    return record | {
        "num_inliers": inliers,
        "rotation_error_deg": rotation_error if np.isfinite(rotation_error) else None,
        "translation_error_deg": translation_error if np.isfinite(translation_error) else None,
        "pose_error_deg": pose_error if np.isfinite(pose_error) else None,
    }


def main(
    conf: PairEvaluationConf,
    pairs_path: Path,
    features: Path,
    matches: Path,
    ground_truth: Path,
    out_json: Path | None = None,
) -> dict:
    """Evaluate every pair of `pairs_path`; the report (summary and per pair), also written to `out_json`."""
    pairs = read_pairs(pairs_path)
    if not pairs:
        raise InputError(f"{pairs_path}: no pairs")
    posed = posed_cameras(ground_truth)
    for pair in pairs:
        missing = [name for name in pair if name not in posed]
        if missing:
            raise FormatError(f"{pairs_path}: image '{missing[0]}' has no camera and pose in {ground_truth}")
    report: dict = {"conf": asdict(conf), "pairs": {}}
    with FeatureReader(features) as feature_reader, MatchReader(matches) as match_reader:
        for name0, name1 in track(pairs, "evaluate pairs"):
            keypoints0, keypoints1 = feature_reader.keypoints(name0), feature_reader.keypoints(name1)
            pair_matches, _ = match_reader.read(name0, name1, num_keypoints=(len(keypoints0), len(keypoints1)))
            report["pairs"][f"{name0} {name1}"] = evaluate_pair(
                keypoints0, keypoints1, pair_matches, posed[name0], posed[name1], conf
            )
    records = list(report["pairs"].values())
    errors = np.array([np.inf if r["pose_error_deg"] is None else r["pose_error_deg"] for r in records])
    precisions = [r["precision"] for r in records if r["precision"] is not None]
    report["summary"] = {
        "num_pairs": len(records),
        "auc_percent": dict(zip((f"{t:g}" for t in conf.auc_thresholds), pose_auc(errors, conf.auc_thresholds))),
        "precision": float(np.mean(precisions)) if precisions else None,
        "matching_score": float(np.mean([r["matching_score"] for r in records])),
        "mean_matches": float(np.mean([r["num_matches"] for r in records])),
    }
    if out_json is not None:
        write_text_atomic(out_json, json.dumps(report, indent=1))
    print_report(report["summary"])
    return report


def print_report(summary: dict) -> None:
    """The summary as a table on the terminal."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="relative poses and matches of the pairs")
    columns = ["pairs", *(f"AUC@{t} deg" for t in summary["auc_percent"]), "precision", "matching score", "matches"]
    for column in columns:
        table.add_column(column, justify="right")
    precision = "-" if summary["precision"] is None else f"{summary['precision']:.3f}"
    aucs = [f"{auc:.1f}%" for auc in summary["auc_percent"].values()]
    table.add_row(
        str(summary["num_pairs"]),
        *aucs,
        precision,
        f"{summary['matching_score']:.3f}",
        f"{summary['mean_matches']:.0f}",
    )
    Console().print(table)
