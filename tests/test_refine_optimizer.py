"""Feature-metric LM refinement, feature interpolation and robust losses."""

import math

import pytest
import torch
from helpers import sinusoid_map

from vloc.dense.interpolation import sample_features, sample_values, with_channels_last
from vloc.errors import ConfigError
from vloc.featuremetric.losses import barron, cauchy, get_loss, huber
from vloc.featuremetric.optimizer import LevenbergMarquardt, LMConf
from vloc.geometry.camera import Camera
from vloc.geometry.pose import Pose
from vloc.geometry.reprojection import pose_change

DT = torch.float64


def synthetic_problem(seed: int = 0, n: int = 200, distortion: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)):
    """Camera, true cam_from_world, 3D points, reference features, feature map (stride 1)."""
    g = torch.Generator().manual_seed(seed)
    camera = Camera(
        torch.tensor([140.0, 140.0, 80.0, 60.0], dtype=DT),
        torch.tensor([160.0, 120.0], dtype=DT),
        torch.tensor(distortion, dtype=DT),
    )
    true_pose = Pose.exp(torch.tensor([0.1, -0.2, 0.05, 0.3, -0.1, 0.5], dtype=DT))
    pixels = torch.rand(n, 2, generator=g, dtype=DT) * torch.tensor([140.0, 100.0], dtype=DT) + 10
    depth = 4 + 4 * torch.rand(n, 1, generator=g, dtype=DT)
    points3D = true_pose.inverse().transform(torch.cat([(pixels - camera.c) / camera.f * depth, depth], -1))
    feature_map = sinusoid_map(16, 120, 160, wavelengths=(60, 200), seed=seed)
    reference, valid, _ = sample_features(feature_map, camera.project(true_pose.transform(points3D))[0])
    assert valid.all()
    return camera, true_pose, points3D, reference, feature_map, float(depth.mean())


def perturb(pose: Pose, rotation_deg: float, translation: float, seed: int) -> Pose:
    g = torch.Generator().manual_seed(seed)
    omega, v = torch.randn(2, 3, generator=g, dtype=DT)
    omega = omega / omega.norm() * math.radians(rotation_deg)
    v = v / v.norm() * translation
    return pose.left_update(torch.cat([omega, v]))


def pose_errors(pose: Pose, true_pose: Pose) -> tuple[float, float]:
    """(rotation error in rad, translation error)."""
    angle_deg, _ = (pose @ true_pose.inverse()).magnitude()
    return math.radians(float(angle_deg)), float((pose.t - true_pose.t).norm())


# ----- interpolation convention


def test_sample_features_convention_and_gradients():
    H, W, stride = 6, 8, 4.0
    rows, cols = torch.meshgrid(torch.arange(H, dtype=DT), torch.arange(W, dtype=DT), indexing="ij")
    feature_map = torch.stack([cols, rows, cols * rows])  # (3, H, W)
    # Cell (i, j) is centred at COLMAP pixel ((j + 0.5) * s, (i + 0.5) * s).
    pixels = torch.tensor(
        [
            [(2 + 0.5) * stride, (3 + 0.5) * stride],
            [0.5 * stride, 0.5 * stride],
            [(W - 0.5) * stride, (H - 0.5) * stride],
            [11.0, 9.0],
            [0.5 * stride - 0.01, 8.0],
            [10.0, (H - 0.5) * stride + 0.01],
        ],
        dtype=DT,
    )
    features, valid, gradients = sample_features(feature_map, pixels, stride)
    assert valid.tolist() == [True, True, True, True, False, False]
    assert features[0].tolist() == [2.0, 3.0, 6.0]
    assert features[2].tolist() == [W - 1, H - 1, (W - 1) * (H - 1)]
    x, y = 11.0 / stride - 0.5, 9.0 / stride - 0.5
    assert torch.allclose(features[3], torch.tensor([x, y, x * y], dtype=DT), atol=1e-12)
    # d f / d pixel, per full-resolution pixel (1 / stride per cell).
    expected = torch.tensor([[1, 0], [0, 1], [y, x]], dtype=DT) / stride
    assert torch.allclose(gradients[3], expected, atol=1e-12)
    values, valid_values = sample_values(feature_map, pixels, stride)  # the same, without the gradients
    assert torch.equal(values, features) and torch.equal(valid_values, valid)


def test_interpolated_gradient_approximates_smooth_field():
    """Central differences + bilinear interpolation: second-order accurate in the wavenumber."""
    k = 2 * math.pi / 50
    y, x = torch.meshgrid(torch.arange(40, dtype=DT), torch.arange(60, dtype=DT), indexing="ij")
    feature_map = torch.sin(k * (x + 0.5) + 0.3)[None]  # cell j centred at pixel j + 0.5
    pixels = torch.tensor([[10.3, 5.0], [20.77, 15.2], [33.5, 30.9]], dtype=DT)
    _, _, gradients = sample_features(feature_map, pixels, stride=1.0)
    expected = k * torch.cos(k * pixels[:, 0] + 0.3)
    assert torch.allclose(gradients[:, 0, 0], expected, atol=0.5 * k**3)  # relative O(k^2)
    assert gradients[:, 0, 1].abs().max() < 1e-12


def test_a_map_stored_channels_last_samples_to_the_same_numbers():
    generator = torch.Generator().manual_seed(0)
    feature_map = torch.rand(16, 30, 40, generator=generator)
    pixels = torch.rand(200, 2, generator=generator, dtype=DT) * torch.tensor([80.0, 60.0], dtype=DT) - 5
    stored = with_channels_last(feature_map)
    assert torch.equal(stored, feature_map) and stored.permute(1, 2, 0).is_contiguous()
    for plain, channels_last in zip(sample_features(feature_map, pixels, 2.0), sample_features(stored, pixels, 2.0)):
        assert torch.equal(plain, channels_last)


# ----- robust losses


@pytest.mark.parametrize(
    "loss",
    [
        lambda s: huber(s, 0.4),
        lambda s: cauchy(s, 0.4),
        lambda s: barron(s, 1.0, 0.4),
        lambda s: barron(s, 0.0, 0.4),
        lambda s: barron(s, -2.0, 0.4),
        lambda s: barron(s, 2.0, 0.4),
    ],
)
def test_loss_weight_is_derivative(loss):
    s = torch.tensor([1e-4, 0.05, 0.1599, 0.1601, 0.5, 2.0, 10.0], dtype=DT)
    cost, weight = loss(s)
    eps = 1e-7
    numerical = (loss(s + eps)[0] - loss(s - eps)[0]) / (2 * eps)
    assert torch.allclose(weight, numerical, rtol=1e-6, atol=0)
    # Normalised so that rho(s) ~ s and rho'(s) ~ 1 near 0.
    assert abs(float(cost[0]) - 1e-4) < 1e-6 and abs(float(weight[0]) - 1) < 1e-2


def test_huber_values():
    cost, weight = huber(torch.tensor([0.04, 0.16, 1.0], dtype=DT), 0.4)
    assert torch.allclose(cost, torch.tensor([0.04, 0.16, 2 * 0.4 * 1.0 - 0.16], dtype=DT))
    assert torch.allclose(weight, torch.tensor([1.0, 1.0, 0.4], dtype=DT))
    with pytest.raises(ConfigError):
        get_loss("tukey", 0.4)


# ----- Levenberg-Marquardt


@pytest.mark.parametrize("loss", ["huber", "cauchy", "squared"])
def test_lm_recovers_true_pose(loss):
    camera, true_pose, points3D, reference, feature_map, depth = synthetic_problem()
    start = perturb(true_pose, 5.0, 0.1 * depth, seed=1)
    rotation_error, translation_error = pose_errors(start, true_pose)
    assert rotation_error > math.radians(4.9)
    costs = []
    lm = LevenbergMarquardt(LMConf(loss=loss))
    pose, info = lm.run(start, points3D, reference, feature_map, camera, 1.0, callback=lambda i, p, c: costs.append(c))
    rotation_error, translation_error = pose_errors(pose, true_pose)
    assert rotation_error < 1e-3 and translation_error / depth < 1e-3
    assert rotation_error < 1e-8 and translation_error / depth < 1e-8  # measured ~2e-10
    assert info["converged"] and info["num_valid"] == 200
    assert info["final_cost"] < 1e-12 < info["initial_cost"]
    assert len(costs) == info["iterations"] <= 20
    assert all(b <= a for a, b in zip(costs, costs[1:]))


def test_lm_recovers_true_pose_through_a_distorted_camera():
    """OPENCV distortion (as SfM models have): the references sit at distorted projections, the Jacobian follows."""
    camera, true_pose, points3D, reference, feature_map, depth = synthetic_problem(
        distortion=(-0.15, 0.05, 0.003, -0.002)
    )
    pose, info = LevenbergMarquardt(LMConf(loss="huber")).run(
        perturb(true_pose, 5.0, 0.1 * depth, seed=1), points3D, reference, feature_map, camera, 1.0
    )
    rotation_error, translation_error = pose_errors(pose, true_pose)
    # measured: 5 iterations, 2e-11 rad, 2e-11 relative; with the distortion left out of the Jacobian, 8 and 1e-9
    assert info["converged"] and rotation_error < 1e-10 and translation_error / depth < 1e-10
    assert info["iterations"] <= 6


class OvershootingLM(LevenbergMarquardt):
    """A variant overriding one step: its first solve overshoots 30 times."""

    calls = 0

    def damped_solve(self, H, g, lambda_):
        self.calls += 1
        return super().damped_solve(H, g, lambda_) * (30.0 if self.calls == 1 else 1.0)


def test_lm_rejects_steps_that_raise_the_cost():
    camera, true_pose, points3D, reference, feature_map, depth = synthetic_problem()
    start = perturb(true_pose, 5.0, 0.1 * depth, seed=1)
    records = []
    lm = OvershootingLM()
    pose, info = lm.run(
        start, points3D, reference, feature_map, camera, 1.0, callback=lambda i, p, c: records.append((p, c))
    )
    costs = [c for _, c in records]
    assert info["num_rejected"] >= 1
    assert records[0][0] is start and costs[0] == info["initial_cost"]  # rejected: pose kept
    assert all(b <= a for a, b in zip(costs, costs[1:]))
    rotation_error, translation_error = pose_errors(pose, true_pose)
    assert info["converged"] and rotation_error < 1e-3 and translation_error / depth < 1e-3


def test_lm_masks_points_outside_and_behind():
    camera, true_pose, points3D, reference, feature_map, depth = synthetic_problem(n=50)
    behind = true_pose.inverse().transform(torch.tensor([[0.0, 0.0, -5.0], [100.0, 0.0, 5.0]], dtype=DT))
    points3D = torch.cat([points3D, behind])
    reference = torch.cat([reference, torch.randn(2, reference.shape[1], dtype=DT)])
    start = perturb(true_pose, 2.0, 0.02 * depth, seed=3)
    pose, info = LevenbergMarquardt().run(start, points3D, reference, feature_map, camera, 1.0)
    rotation_error, translation_error = pose_errors(pose, true_pose)
    assert info["num_valid"] == 50 and info["converged"]
    assert rotation_error < 1e-6 and translation_error / depth < 1e-6


@pytest.mark.parametrize("loss", ["squared", "huber"])
def test_lm_covariance_predicts_the_scatter_of_refined_poses(loss: str):
    """Poses refined against reference features with independent noise (0.02 per channel) lie chi-square 6 from the
    true pose under each estimate's own covariance (mean 6; the sandwich estimate needs no noise level). Measured over
    100 draws: mean 6.1 (squared), 6.9 (Huber at 0.05, where nearly every residual is past the scale)."""
    camera, true_pose, points3D, reference, feature_map, _ = synthetic_problem(seed=3, n=300)
    optimizer = LevenbergMarquardt(LMConf(loss=loss, loss_scale=0.05))
    generator = torch.Generator().manual_seed(0)
    distances = []
    for _ in range(100):
        noisy = reference + 0.02 * torch.randn(reference.shape, generator=generator, dtype=DT)
        pose, info = optimizer.run(true_pose, points3D, noisy, feature_map, camera)
        assert info["converged"]
        covariance = optimizer.covariance(pose, points3D, noisy, feature_map, camera)
        change = torch.from_numpy(pose_change(pose.to_pycolmap(), true_pose.to_pycolmap()))
        distances.append(float(change @ torch.linalg.solve(covariance, change)))
    assert 5.0 < sum(distances) / len(distances) < 7.5, sum(distances) / len(distances)
