"""IMP / EIMP (Xue, Budvytis, Cipolla, CVPR 2023): an attentional matcher whose every iteration (one self- and one
cross-attention layer) reads out an assignment, so matches and a relative pose exist after any iteration; from the
fourth iteration on every second one reuses the previous attention, and EIMP drops tokens unlikely to match there."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from vloc.models.checkpoint import VlocNetwork


@dataclass(frozen=True)
class IMPConf:
    descriptor_dim: int = 128  # SIFT; 256 for SuperPoint
    encoder_channels: tuple[int, ...] = (32, 64, 128)  # keypoint encoder hidden layers ([x, y, score] -> ... -> D)
    num_iterations: int = 9  # the release runs 15; 6 to 9 keep a CPU fast
    num_heads: int = 4
    sinkhorn_iterations: int = 20
    share_attention: bool = True  # iterations 3, 5, 7, ... (from 0) reuse the previous iteration's attention
    adaptive_pooling: bool = False  # EIMP: after iterations 3, 5, 7, ... drop tokens unlikely to be matched
    pooling_threshold: float = 0.2  # a token is kept when its assignment mass is at least this ...
    min_tokens: int = 256  # ... and no pooling once an image has this many tokens or fewer
    initial_temperature: float = 0.025  # untrained, a pair scores the cosine of its (unit) descriptors over this ...
    initial_dustbin: float = 0.65  # ... and the dustbin scores as a pair of this cosine would


class KeypointPair(NamedTuple):
    """Two images' keypoints as IMP reads them: (N, 2) pixels, (N,) detection scores, (N, D) descriptors, (2,) width
    and height, for image 0 then image 1."""

    keypoints0: torch.Tensor
    scores0: torch.Tensor
    descriptors0: torch.Tensor
    image_size0: torch.Tensor
    keypoints1: torch.Tensor
    scores1: torch.Tensor
    descriptors1: torch.Tensor
    image_size1: torch.Tensor


class Iteration(NamedTuple):
    """What one iteration reads out: its index, the (n0 + 1, n1 + 1) log-assignment with dustbins over the tokens
    still kept, and the indices of those tokens among the input keypoints."""

    index: int
    log_assignment: torch.Tensor
    kept0: torch.Tensor
    kept1: torch.Tensor


def normalise_keypoints(keypoints: torch.Tensor, image_size: torch.Tensor) -> torch.Tensor:
    """Pixels to the release's frame: centred on the image, divided by 0.7 of its larger side."""
    return (keypoints - image_size / 2) / (0.7 * image_size.max())


class TokenMLP(nn.Sequential):
    """Linear layers over (N, C) tokens, instance norm (over the tokens) and ReLU between them."""

    def __init__(self, channels: list[int]):
        layers: list[nn.Module] = []
        for i, (size_in, size_out) in enumerate(zip(channels[:-1], channels[1:])):
            layers.append(nn.Linear(size_in, size_out))
            if i < len(channels) - 2:
                layers += [InstanceNorm(size_out), nn.ReLU()]
        super().__init__(*layers)
        nn.init.zeros_(layers[-1].bias)


class InstanceNorm(nn.InstanceNorm1d):
    """Instance norm of (N, C) tokens: each channel normalised over the tokens of one image."""

    def __init__(self, channels: int):
        super().__init__(channels, affine=True)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return super().forward(tokens.T).T if len(tokens) > 1 else tokens


class Attention(nn.Module):
    """Multi-head attention of tokens `x` to `source`, merged, then an MLP on [x, message] as a residual update.
    Given `probabilities` (from a previous iteration), only values, merge and MLP are computed."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value, self.merge = (nn.Linear(dim, dim) for _ in range(4))
        self.mlp = TokenMLP([2 * dim, 2 * dim, dim])

    def split(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens.unflatten(-1, (self.heads, -1)).transpose(0, 1)  # (H, N, D / H)

    def forward(
        self, x: torch.Tensor, source: torch.Tensor, probabilities: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if probabilities is None:
            query, key = self.split(self.query(x)), self.split(self.key(source))
            probabilities = torch.softmax(query @ key.transpose(1, 2) / math.sqrt(query.shape[-1]), -1)
        message = self.merge((probabilities @ self.split(self.value(source))).transpose(0, 1).flatten(1))
        return x + self.mlp(torch.cat([x, message], 1)), probabilities


def log_optimal_transport(scores: torch.Tensor, dustbin: torch.Tensor, iterations: int) -> torch.Tensor:
    """Sinkhorn on (N, M) scores with a dustbin row and column (SuperGlue's marginals: 1 per keypoint, M for the row
    dustbin, N for the column one). Returns the (N + 1, M + 1) log-assignment, each keypoint's row summing to 1.

    The iterations scale the kernel exp(couplings - row maximum) by two vectors, two matrix-vector products each,
    instead of two log-sum-exps over the whole matrix: the same fixed point, five times faster. Where a scale leaves
    [1e-20, 1e20] (couplings far apart, as in a collapsed network) the scales are absorbed into the couplings and the
    kernel is made again (Schmitzer's stabilised scaling), so that float32 neither overflows nor underflows."""
    n, m = scores.shape
    couplings = torch.cat(
        [torch.cat([scores, dustbin.expand(n, 1)], 1), torch.cat([dustbin.expand(1, m), dustbin.view(1, 1)], 1)]
    )
    norm = -math.log(n + m)
    mu = torch.cat([scores.new_full((n,), 1.0), scores.new_tensor([float(m)])]) / (n + m)
    nu = torch.cat([scores.new_full((m,), 1.0), scores.new_tensor([float(n)])]) / (n + m)
    couplings = couplings - couplings.amax(1, keepdim=True)
    kernel = couplings.exp()
    row_scale, column_scale = torch.ones_like(mu), torch.ones_like(nu)
    for _ in range(iterations):
        row_scale = mu / (kernel @ column_scale)
        column_scale = nu / (kernel.t() @ row_scale)
        if not all(1e-20 < float(v) < 1e20 for v in (*row_scale.detach().aminmax(), *column_scale.detach().aminmax())):
            couplings = couplings + row_scale.log()[:, None] + column_scale.log()[None]
            couplings = couplings - couplings.amax(1, keepdim=True)
            kernel = couplings.exp()
            row_scale, column_scale = torch.ones_like(mu), torch.ones_like(nu)
    return couplings + row_scale.log()[:, None] + column_scale.log()[None] - norm


def mutual_matches(log_assignment: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) index in image 1 of each keypoint of image 0 (-1: none) and its probability: mutual best among the
    keypoints (dustbins excluded) with a probability above `threshold`."""
    probabilities = log_assignment[:-1, :-1].exp()
    if 0 in probabilities.shape:
        none = probabilities.new_full((len(probabilities),), -1, dtype=torch.long)
        return none, probabilities.new_zeros(len(probabilities))
    best0, best1 = probabilities.max(1), probabilities.max(0)
    mutual = best1.indices[best0.indices] == torch.arange(len(probabilities), device=probabilities.device)
    accepted = mutual & (best0.values > threshold)
    return torch.where(accepted, best0.indices, -1), torch.where(accepted, best0.values, 0.0)


def attention_mass(probabilities: torch.Tensor) -> torch.Tensor:
    """Attention each source token receives, summed over heads and queries and normalised over the tokens."""
    mass = probabilities.sum((0, 1))
    return mass / mass.sum().clamp(min=1e-12)


class IMP(VlocNetwork):
    architecture = "imp"
    title = "IMP"
    conf_type = IMPConf

    def __init__(self, conf: IMPConf):
        super().__init__(conf)
        dim = conf.descriptor_dim
        self.keypoint_encoder = TokenMLP([3, *conf.encoder_channels, dim])
        self.self_attention = nn.ModuleList(Attention(dim, conf.num_heads) for _ in range(conf.num_iterations))
        self.cross_attention = nn.ModuleList(Attention(dim, conf.num_heads) for _ in range(conf.num_iterations))
        self.projections = nn.ModuleList(nn.Linear(dim, dim) for _ in range(conf.num_iterations))
        self.dustbin = nn.Parameter(torch.tensor(conf.initial_dustbin / conf.initial_temperature))
        self.log_temperature = nn.Parameter(torch.tensor(math.log(conf.initial_temperature)))
        # Untrained, the network is Sinkhorn on the descriptors' cosines over a temperature: every residual branch and
        # the keypoint encoder start at zero and the read-outs at the identity.
        for branch in [self.keypoint_encoder, *(layer.mlp for layer in [*self.self_attention, *self.cross_attention])]:
            nn.init.zeros_(branch[-1].weight)
        for projection in self.projections:
            nn.init.eye_(projection.weight)
            nn.init.zeros_(projection.bias)

    @staticmethod
    def is_sharing_iteration(index: int) -> bool:
        """Iterations 3, 5, 7, ... (from 0): they may reuse the attention of the one before, and pool after."""
        return index >= 3 and index % 2 == 1

    def encode(self, keypoints: torch.Tensor, scores: torch.Tensor, descriptors: torch.Tensor, size: torch.Tensor):
        position = torch.cat([normalise_keypoints(keypoints, size), scores[:, None]], 1)
        return descriptors + self.keypoint_encoder(position)

    def log_assignment(self, index: int, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        m0, m1 = (nn.functional.normalize(self.projections[index](x), dim=1) for x in (x0, x1))
        scores = m0 @ m1.T / self.log_temperature.exp()
        return log_optimal_transport(scores, self.dustbin, self.conf.sinkhorn_iterations)

    def iterate(self, pair: KeypointPair) -> Iterator[Iteration]:
        """The read-out of every iteration in turn; a caller that has what it needs stops iterating (early stop)."""
        x0 = self.encode(pair.keypoints0, pair.scores0, pair.descriptors0, pair.image_size0)
        x1 = self.encode(pair.keypoints1, pair.scores1, pair.descriptors1, pair.image_size1)
        kept0, kept1 = torch.arange(len(x0)), torch.arange(len(x1))
        shared: tuple[torch.Tensor, ...] = (None,) * 4
        for index in range(self.conf.num_iterations):
            reuse = shared if self.conf.share_attention and self.is_sharing_iteration(index) else (None,) * 4
            x0, self0 = self.self_attention[index](x0, x0, reuse[0])
            x1, self1 = self.self_attention[index](x1, x1, reuse[1])
            y0, cross0 = self.cross_attention[index](x0, x1, reuse[2])
            y1, cross1 = self.cross_attention[index](x1, x0, reuse[3])
            x0, x1, shared = y0, y1, (self0, self1, cross0, cross1)
            log_assignment = self.log_assignment(index, x0, x1)
            yield Iteration(index, log_assignment, kept0, kept1)
            if self.conf.adaptive_pooling and self.is_sharing_iteration(index):
                keep0, keep1 = self.tokens_to_keep(log_assignment, shared)
                x0, x1, kept0, kept1 = x0[keep0], x1[keep1], kept0[keep0], kept1[keep1]

    def tokens_to_keep(self, log_assignment: torch.Tensor, attention: tuple[torch.Tensor, ...]):
        """EIMP's pooling, per image: keep a token whose assignment mass reaches the threshold, or that receives as much
        self- or cross-attention as the median confident token; never prune an image with `min_tokens` or fewer."""
        probabilities = log_assignment[:-1, :-1].exp()
        self0, self1, cross0, cross1 = attention
        keep = []
        for confidence, self_mass, cross_mass in (
            (probabilities.sum(1), attention_mass(self0), attention_mass(cross1)),
            (probabilities.sum(0), attention_mass(self1), attention_mass(cross0)),
        ):
            confident = confidence >= self.conf.pooling_threshold
            if len(confidence) <= self.conf.min_tokens or confident.all():
                keep.append(torch.ones_like(confident))
                continue
            kept = confident.clone()
            if confident.any():
                kept |= self_mass >= self_mass[confident].median()
                kept |= cross_mass >= cross_mass[confident].median()
            if kept.sum() < self.conf.min_tokens:  # the most confident, up to the minimum
                kept[confidence.topk(self.conf.min_tokens).indices] = True
            keep.append(kept)
        return keep

    def forward(self, pair: KeypointPair) -> list[torch.Tensor]:
        """The log-assignment of every iteration (training: all are supervised)."""
        return [iteration.log_assignment for iteration in self.iterate(pair)]


def assignment_loss(log_assignment: torch.Tensor, matches0: torch.Tensor, matches1: torch.Tensor) -> torch.Tensor:
    """SuperGlue's negative log-likelihood of the ground truth: mean over true matches of -log P_ij, plus the mean over
    unmatched keypoints of -log P to the dustbin (both images averaged). matches0 (N,) / matches1 (M,) give the partner
    index, -1 for none and -2 for keypoints left out (ambiguous)."""
    matched = torch.nonzero(matches0 >= 0)[:, 0]
    terms = []
    if len(matched):
        terms.append(-log_assignment[matched, matches0[matched]].mean())
    unmatched0, unmatched1 = torch.nonzero(matches0 == -1)[:, 0], torch.nonzero(matches1 == -1)[:, 0]
    dustbins = [-log_assignment[unmatched0, -1].mean()] if len(unmatched0) else []
    dustbins += [-log_assignment[-1, unmatched1].mean()] if len(unmatched1) else []
    if dustbins:
        terms.append(torch.stack(dustbins).mean())
    return torch.stack(terms).sum() if terms else log_assignment.new_zeros(())


def deep_supervision_loss(log_assignments: list[torch.Tensor], matches0: torch.Tensor, matches1: torch.Tensor):
    """The assignment loss averaged over every iteration's read-out."""
    return torch.stack([assignment_loss(a, matches0, matches1) for a in log_assignments]).mean()
