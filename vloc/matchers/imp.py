"""IMP / EIMP (Xue et al., CVPR 2023), trained by `vloc train matcher`: matches read out after the last iteration, or
in iterative mode after the first iteration at which the relative pose has stopped changing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from vloc.errors import InputError
from vloc.io.features import Features
from vloc.matchers.base import Matcher, PairMatches

SHIPPED = Path(__file__).parents[1] / "models" / "weights" / "imp-sift.pt"


@dataclass(frozen=True)
class IMPMatcherConf:
    weights: str = ""  # an imp.pt of `vloc train matcher`; empty: vloc/models/weights/imp-sift.pt
    adaptive_pooling: bool = False  # EIMP: the same weights, dropping tokens unlikely to match from iteration 3 on
    match_threshold: float = 0.2  # a match needs this assignment probability (mutual best too)
    iterative: bool = False  # estimate the relative pose at iterations 3, 5, ... and stop once it is stable
    iterative_threshold: float = 0.1  # match probability inside the iterative loop
    min_matches: int = 25  # fewer at a check: no pose there
    stop_angle_deg: float = 1.5  # two successive poses this close in rotation and translation direction: stop
    ransac_max_error: float = 1.0  # pixels; the cameras are a prior (focal 1.2 x the larger side, centred)


def prior_camera(image_size: np.ndarray) -> Any:
    """COLMAP's prior for an image of unknown intrinsics: focal length 1.2 times the larger side, centred."""
    import pycolmap

    width, height = (int(v) for v in image_size)
    focal = 1.2 * max(width, height)
    return pycolmap.Camera(model="SIMPLE_PINHOLE", width=width, height=height, params=[focal, width / 2, height / 2])


class PreparedImage(NamedTuple):
    """One image as IMP reads it: (N, 2) keypoints, (N,) scores, (N, D) descriptors, (2,) width and height."""

    keypoints: Any
    scores: Any
    descriptors: Any
    image_size: Any

    @property
    def shape(self) -> tuple[int, int]:
        """(D, N), as the features file stores descriptors."""
        return self.descriptors.shape[1], self.descriptors.shape[0]


class IMPMatcher(Matcher):
    default_conf = IMPMatcherConf()
    needs_keypoints = True
    needs_scores = True

    def _init(self, conf: IMPMatcherConf) -> None:
        from dataclasses import replace

        from vloc.models.checkpoint import load_checkpoint
        from vloc.models.imp import IMP

        path = Path(conf.weights) if conf.weights else SHIPPED
        if not path.is_file():
            raise InputError(f"IMP weights not found: {path} (train with pipelines/train_imp.sh, or set weights=FILE)")
        trained, _ = load_checkpoint(path, IMP)
        self.net = IMP(replace(trained.conf, adaptive_pooling=conf.adaptive_pooling)).eval()
        self.net.load_state_dict(trained.state_dict())
        self.descriptor_dim = self.net.conf.descriptor_dim

    def prepare(self, features: Features) -> PreparedImage:
        import torch

        return PreparedImage(
            torch.from_numpy(np.asarray(features.keypoints, np.float32)),
            torch.from_numpy(np.asarray(features.scores, np.float32)),
            torch.from_numpy(np.ascontiguousarray(features.descriptors.T, np.float32)),
            torch.from_numpy(np.asarray(features.image_size, np.float32)),
        )

    def _forward(self, desc0: PreparedImage, descs1: list[PreparedImage]) -> list[PairMatches]:
        import torch

        from vloc.models.imp import KeypointPair

        with torch.inference_mode():
            return [self._match(KeypointPair(*desc0, *desc1)) for desc1 in descs1]

    def _match(self, pair) -> PairMatches:
        """Matches after the last iteration, or (iterative) the RANSAC inliers at the first stable relative pose; the
        extras record the iterations run, the tokens of each, and the relative pose where the iterative mode stopped."""
        from vloc.geometry.relative_pose import estimate_relative_pose, relative_pose_errors

        conf, previous, tokens = self.conf, None, []
        cameras = prior_camera(pair.image_size0.numpy()), prior_camera(pair.image_size1.numpy())
        for iteration in self.net.iterate(pair):
            tokens.append((len(iteration.kept0), len(iteration.kept1)))
            if not (conf.iterative and self.net.is_sharing_iteration(iteration.index)):
                continue
            matches0, scores0 = self._full_size(iteration, pair, conf.iterative_threshold)
            found = np.flatnonzero(matches0 >= 0)
            if len(found) < conf.min_matches:
                continue
            pixels0 = pair.keypoints0.numpy()[found] + 0.5
            pixels1 = pair.keypoints1.numpy()[matches0[found]] + 0.5
            pose = estimate_relative_pose(pixels0, pixels1, *cameras, conf.ransac_max_error)
            stable = pose is not None and previous is not None
            if stable and max(relative_pose_errors(pose.cam1_from_cam0, previous)) <= conf.stop_angle_deg:
                outliers = found[~pose.inliers]
                matches0[outliers], scores0[outliers] = -1, 0.0
                relative = {
                    "relative_pose/R": pose.cam1_from_cam0.rotation.matrix(),
                    "relative_pose/t": pose.cam1_from_cam0.translation,
                }
                return PairMatches(matches0, scores0, self._record(tokens) | relative)
            previous = None if pose is None else pose.cam1_from_cam0
        return PairMatches(*self._full_size(iteration, pair, conf.match_threshold), self._record(tokens))

    @staticmethod
    def _record(tokens: list[tuple[int, int]]) -> dict[str, np.ndarray]:
        counts = np.array(tokens, np.int32)
        return {"num_iterations": np.int32(len(tokens)), "num_tokens0": counts[:, 0], "num_tokens1": counts[:, 1]}

    @staticmethod
    def _full_size(iteration, pair, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """matches0 and scores0 over all keypoints of image 0 from a read-out over the kept tokens."""
        from vloc.models.imp import mutual_matches

        kept_matches, kept_scores = mutual_matches(iteration.log_assignment, threshold)
        matches0 = np.full(len(pair.keypoints0), -1, np.int64)
        scores0 = np.zeros(len(pair.keypoints0), np.float32)
        found = kept_matches >= 0
        matches0[iteration.kept0[found].numpy()] = iteration.kept1[kept_matches[found]].numpy()
        scores0[iteration.kept0[found].numpy()] = kept_scores[found].numpy()
        return matches0, scores0
