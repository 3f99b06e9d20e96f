"""IMP / EIMP: the optimal-transport read-out, the loss, attention sharing, adaptive pooling, and learning to match."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from vloc.errors import InputError
from vloc.io.features import Features
from vloc.matchers.imp import IMPMatcher, IMPMatcherConf
from vloc.models.checkpoint import save_checkpoint
from vloc.models.imp import (
    IMP,
    IMPConf,
    KeypointPair,
    assignment_loss,
    deep_supervision_loss,
    log_optimal_transport,
    mutual_matches,
)
from vloc.train.keypoint_pairs import RandomPairsConf, random_pair

TINY = IMPConf(descriptor_dim=32, encoder_channels=(16, 32), num_iterations=8, num_heads=2)
PAIRS = RandomPairsConf(num_points=96, num_distractors=32, descriptor_dim=32, descriptor_noise=0.8)


def test_sinkhorn_rows_and_columns_sum_to_their_marginals():
    scores = torch.randn(7, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    assignment = log_optimal_transport(scores, torch.tensor(0.5, dtype=torch.float64), 200).exp()
    rows, columns = assignment.sum(1), assignment.sum(0)
    torch.testing.assert_close(rows[:-1], torch.ones(7, dtype=torch.float64))  # every keypoint: mass 1
    torch.testing.assert_close(columns[:-1], torch.ones(5, dtype=torch.float64), atol=1e-6, rtol=0)
    assert rows[-1].item() == pytest.approx(5) and columns[-1].item() == pytest.approx(7, abs=1e-6)  # the dustbins


def test_sinkhorn_keeps_its_answer_and_gradient_where_scores_are_hundreds_apart():
    """Every keypoint preferring one keypoint by hundreds (a collapsed network; plain float32 scaling gives nan): the
    stabilised iterations give the log-domain iterations' assignment, with a finite gradient."""
    scores = torch.full((50, 40), -200.0)
    scores[:, 0] = 200.0
    scores = (scores + torch.randn(50, 40, generator=torch.Generator().manual_seed(0))).requires_grad_(True)
    assignment = log_optimal_transport(scores, torch.tensor(-200.0), 20)
    assignment[:-1, :-1].exp().sum().backward()
    assert assignment.dtype == torch.float32 and torch.isfinite(scores.grad).all()
    exact = reference_sinkhorn(scores.detach().double(), -200.0, 20)
    torch.testing.assert_close(assignment.exp().double(), exact.exp(), atol=1e-4, rtol=0)


def reference_sinkhorn(scores: torch.Tensor, dustbin: float, iterations: int) -> torch.Tensor:
    """SuperGlue's log-domain Sinkhorn with the same marginals: the answer the scaling iterations must give."""
    n, m = scores.shape
    couplings = torch.nn.functional.pad(scores, (0, 1, 0, 1), value=dustbin)
    log_mu = torch.cat([torch.zeros(n), torch.tensor([math.log(m)])]).double() - math.log(n + m)
    log_nu = torch.cat([torch.zeros(m), torch.tensor([math.log(n)])]).double() - math.log(n + m)
    u, v = torch.zeros_like(log_mu), torch.zeros_like(log_nu)
    for _ in range(iterations):
        u = log_mu - torch.logsumexp(couplings + v[None], 1)
        v = log_nu - torch.logsumexp(couplings + u[:, None], 0)
    return couplings + u[:, None] + v[None] + math.log(n + m)


def test_loss_is_lower_at_the_true_assignment_than_at_a_random_one():
    matches0 = torch.tensor([2, -1, 0, -2, 1])  # keypoint 1 unmatched, keypoint 3 left out (ambiguous)
    matches1 = torch.tensor([2, 4, 0, -1])
    truth = torch.full((5, 4), -10.0)
    truth[[0, 2, 4], [2, 0, 1]] = 10.0
    dustbin = torch.tensor(0.0)
    random = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    at_truth = assignment_loss(log_optimal_transport(truth, dustbin, 50), matches0, matches1)
    at_random = assignment_loss(log_optimal_transport(random, dustbin, 50), matches0, matches1)
    assert at_truth < 0.05 and at_random > 1.0  # measured 0.015 and 1.9
    assert deep_supervision_loss(
        [log_optimal_transport(s, dustbin, 50) for s in (truth, random)], matches0, matches1
    ) == pytest.approx(float(at_truth + at_random) / 2)


def test_sharing_iterations_compute_no_attention_of_their_own():
    """Iterations 3, 5, ... reuse the previous attention: their query and key projections get no gradient."""
    sample = random_pair(PAIRS, torch.Generator().manual_seed(0))
    net = IMP(IMPConf(**{**vars(TINY), "num_iterations": 6}))
    deep_supervision_loss(net(sample.pair), sample.matches0, sample.matches1).backward()
    for index in range(6):
        for layer in (net.self_attention[index], net.cross_attention[index]):
            assert (layer.query.weight.grad is None) == (index in (3, 5)), index
            assert layer.value.weight.grad is not None


def precision_recall(net: IMP, pairs: list) -> tuple[float, float]:
    correct = predicted = true = 0
    with torch.no_grad():
        for sample in pairs:
            matches, _ = mutual_matches(net(sample.pair)[-1], 0.2)
            found = matches >= 0
            correct += int((matches[found] == sample.matches0[found]).sum())
            predicted, true = predicted + int(found.sum()), true + int((sample.matches0 >= 0).sum())
    return correct / max(predicted, 1), correct / true


@pytest.fixture(scope="module")
def trained() -> IMP:
    """TINY after 300 steps of Adam on random pairs (about 25 s)."""
    torch.manual_seed(0)
    net = IMP(TINY).train()
    optimiser, generator = torch.optim.Adam(net.parameters(), 1e-3), torch.Generator().manual_seed(1)
    for _ in range(300):
        sample = random_pair(PAIRS, generator)
        loss = deep_supervision_loss(net(sample.pair), sample.matches0, sample.matches1)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return net.eval()


VALIDATION = [random_pair(PAIRS, torch.Generator().manual_seed(1000 + i)) for i in range(10)]


def test_three_hundred_training_steps_learn_to_match(trained: IMP):
    """Random pairs with descriptors too noisy to match alone: untrained (Sinkhorn on the descriptors) precision 0.23,
    recall 0.17; after 300 steps, where the network also reads where the keypoints are: 0.54, 0.38 (measured)."""
    untrained_precision, untrained_recall = precision_recall(IMP(TINY).eval(), VALIDATION)
    precision, recall = precision_recall(trained, VALIDATION)
    assert untrained_precision < 0.3 and untrained_recall < 0.25
    assert precision > 0.45 and recall > 0.3


def test_pooling_keeps_confident_tokens_and_those_attended_as_much_as_them():
    """Image 0: tokens 0-3 confident (assignment mass 0.9), 4-7 not (0.05); token 5 receives as much self-attention as
    the median confident token, token 6 as much cross-attention (from image 1's queries); 4 and 7 are dropped."""
    net = IMP(IMPConf(**{**vars(TINY), "adaptive_pooling": True, "min_tokens": 2}))
    mass = torch.tensor([0.9] * 4 + [0.05] * 4)
    probabilities = torch.zeros(9, 9)
    probabilities[:8, :8] = torch.diag(mass)
    probabilities[:8, 8], probabilities[8, :8] = 1 - mass, 1 - mass
    self0 = torch.tensor([1.0, 1, 1, 1, 0.1, 1, 0.1, 0.1]).expand(2, 8, 8)  # (heads, queries, sources)
    cross1 = torch.tensor([1.0, 1, 1, 1, 0.1, 0.1, 1, 0.1]).expand(2, 8, 8)
    uniform = torch.ones(2, 8, 8)
    keep0, keep1 = net.tokens_to_keep(probabilities.log(), (self0, uniform, uniform, cross1))
    assert keep0.tolist() == [True] * 4 + [False, True, True, False]
    assert keep1.tolist() == [True] * 4 + [True] * 4  # uniform attention: every token as attended as the median
    at_minimum = IMP(IMPConf(**{**vars(TINY), "adaptive_pooling": True, "min_tokens": 8}))
    assert all(k.all() for k in at_minimum.tokens_to_keep(probabilities.log(), (self0, uniform, uniform, cross1)))


def test_eimp_reads_out_the_tokens_it_keeps(trained: IMP):
    """The trained weights with pooling after iterations 3, 5 and 7: the read-outs shrink with the kept tokens, whose
    indices refer to the input keypoints."""
    eimp = IMP(IMPConf(**{**vars(TINY), "adaptive_pooling": True, "pooling_threshold": 0.5, "min_tokens": 16}))
    eimp.load_state_dict(trained.state_dict())
    sample = VALIDATION[0]
    with torch.no_grad():
        iterations = list(eimp.iterate(sample.pair))
    num0, num1 = len(sample.matches0), len(sample.matches1)
    kept = [(len(i.kept0), len(i.kept1)) for i in iterations]
    assert kept[:4] == [(num0, num1)] * 4 and kept[-1][0] < num0 and kept[-1][1] < num1  # measured 68 -> 62, 68 -> 57
    assert all(a[0] >= b[0] and a[1] >= b[1] for a, b in zip(kept, kept[1:]))
    assert all(i.log_assignment.shape == (k0 + 1, k1 + 1) for i, (k0, k1) in zip(iterations, kept))
    assert torch.equal(iterations[-1].kept0, iterations[-1].kept0.unique())  # input indices, in their order


def test_random_pairs_ground_truth_is_one_to_one_and_follows_the_descriptors():
    sample = random_pair(RandomPairsConf(), torch.Generator().manual_seed(3))
    matched = torch.nonzero(sample.matches0 >= 0)[:, 0]
    assert len(matched) > 50 and torch.equal(sample.matches1[sample.matches0[matched]], matched)
    assert int((sample.matches1 >= 0).sum()) == len(matched)
    pair = sample.pair
    similarity = pair.descriptors0 @ pair.descriptors1.T
    true = similarity[matched, sample.matches0[matched]]
    assert true.mean() > similarity.mean() + 0.1  # measured 0.97 against 0.64
    inside = (pair.keypoints0 >= 0).all() and (pair.keypoints0 < pair.image_size0).all()
    assert inside and math.isclose(float(pair.descriptors0.norm(dim=1).mean()), 1, rel_tol=1e-5)


@pytest.fixture(scope="module")
def checkpoint(trained: IMP, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("imp") / "imp.pt"
    save_checkpoint(path, trained)
    return path


def image_features(pair: KeypointPair, image: int) -> Features:
    keypoints, scores, descriptors, size = pair[4 * image : 4 * image + 4]
    return Features(keypoints.numpy(), descriptors.numpy().T, scores.numpy(), size.numpy().astype(int))


def test_iterative_matching_returns_the_inliers_of_the_first_stable_pose(checkpoint: Path):
    """Poses are checked after iterations 3, 5 and 7 (from 0): any two poses agree within 180 deg (stop after
    iteration 5, 6 of 8 run), none within 0 deg (all 8 run, and the last read-out is returned, as without the mode)."""
    sample = VALIDATION[0]
    matched = {}
    for name, conf in (
        ("stable at once", IMPMatcherConf(weights=str(checkpoint), iterative=True, stop_angle_deg=180.0)),
        ("never stable", IMPMatcherConf(weights=str(checkpoint), iterative=True, stop_angle_deg=0.0)),
        ("plain", IMPMatcherConf(weights=str(checkpoint))),
    ):
        matcher = IMPMatcher(conf)
        ((matches0, _, extras),) = matcher(
            matcher.prepare(image_features(sample.pair, 0)), [matcher.prepare(image_features(sample.pair, 1))]
        )
        matched[name] = matches0
        assert extras["num_iterations"] == {"stable at once": 6, "never stable": 8, "plain": 8}[name]
        assert ("relative_pose/R" in extras) == (name == "stable at once")
        assert len(extras["num_tokens0"]) == extras["num_iterations"]
    assert np.array_equal(matched["never stable"], matched["plain"])
    precision = {}
    for name in ("stable at once", "plain"):
        found = matched[name] >= 0
        precision[name] = (matched[name][found] == sample.matches0[found].numpy()).mean()
    # RANSAC inliers: measured 11, 55 % correct; the last read-out: 27, 33 %
    assert (matched["stable at once"] >= 0).sum() >= 10 and precision["stable at once"] > precision["plain"] + 0.1


def test_missing_weights_are_a_one_line_error_and_the_weights_say_their_descriptor_size(checkpoint: Path, tmp_path):
    with pytest.raises(InputError, match="IMP weights not found: .*none.pt"):
        IMPMatcher(IMPMatcherConf(weights=str(tmp_path / "none.pt")))
    assert IMPMatcher(IMPMatcherConf(weights=str(checkpoint))).descriptor_dim == 32  # checked by check_descriptors
