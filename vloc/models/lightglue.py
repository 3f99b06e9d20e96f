"""LightGlue's forward pass for one pair, over kornia's modules and the released weights, written for the CPU: torch's
fused flash attention in every layer (kornia, off the GPU, materialises and twice softmaxes each cross layer's
similarity matrix, and gives its self layers 4-D inputs only), and optionally bfloat16 matrix products (autocast)."""

from __future__ import annotations

from contextlib import nullcontext
from typing import NamedTuple

import torch
import torch.nn.functional as F
from kornia.feature.lightglue import LightGlue, apply_cached_rotary_emb, filter_matches, normalize_keypoints


class LightGlueMatches(NamedTuple):
    """matches0 (M,) int64 (-1: unmatched), their scores (M,), and the number of layers that ran."""

    matches0: torch.Tensor
    scores0: torch.Tensor
    num_layers: int


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v of (H, N, d) heads; batched to 4-D, the only shape torch's CPU flash kernel takes
    (3-D inputs fall back to materialising the attention matrix)."""
    return F.scaled_dot_product_attention(q[None], k[None], v[None])[0]


def self_attention(block, x: torch.Tensor, encoding: torch.Tensor) -> torch.Tensor:
    """kornia's SelfBlock on one image's (N, D) tokens, `encoding` their rotary cos and sin (2, 1, N, d)."""
    qkv = block.Wqkv(x).unflatten(-1, (block.num_heads, -1, 3))
    q, k, v = qkv.permute(3, 1, 0, 2)  # each (H, N, d)
    context = attention(apply_cached_rotary_emb(encoding, q), apply_cached_rotary_emb(encoding, k), v.contiguous())
    message = block.out_proj(context.transpose(0, 1).flatten(-2))
    return x + block.ffn(torch.cat([x, message], -1))


def cross_attention(block, x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """kornia's CrossBlock on (M, D) and (N, D) tokens: each image attends to the other with shared query-keys."""
    qk0, qk1, v0, v1 = (
        linear(x).unflatten(-1, (block.heads, -1)).transpose(0, 1).contiguous()
        for linear, x in ((block.to_qk, x0), (block.to_qk, x1), (block.to_v, x0), (block.to_v, x1))
    )
    m0, m1 = attention(qk0, qk1, v1), attention(qk1, qk0, v0)  # as kornia's einsum path off the GPU
    m0, m1 = (block.to_out(m.transpose(0, 1).flatten(-2)) for m in (m0, m1))
    return (
        x0 + block.ffn(torch.cat([x0, m0], -1)),
        x1 + block.ffn(torch.cat([x1, m1], -1)),
    )


def match_pair(
    net: LightGlue,
    keypoints: tuple[torch.Tensor, torch.Tensor],
    descriptors: tuple[torch.Tensor, torch.Tensor],
    image_sizes: tuple[torch.Tensor, torch.Tensor],
    bfloat16: bool = False,
) -> LightGlueMatches:
    """Match two images' (N, 2) pixel keypoints and (N, D) descriptors (image sizes (2,) as width, height) with the
    network's adaptive depth and width (`net.conf`); the same matches as kornia's forward, pair by pair."""
    num0, num1 = len(keypoints[0]), len(keypoints[1])
    if num0 == 0 or num1 == 0:
        return LightGlueMatches(torch.full((num0,), -1), torch.zeros(num0), 0)
    precision = torch.autocast("cpu", dtype=torch.bfloat16) if bfloat16 else nullcontext()
    with torch.inference_mode():
        image0, image1 = (tokens(net, *inputs) for inputs in zip(keypoints, descriptors, image_sizes))
        with precision:
            image0, image1, layer = transform(net, image0, image1, num0 + num1)
        scores, _ = net.log_assignment[layer](image0.x[None].float(), image1.x[None].float())
    matches0, _, scores0, _ = filter_matches(scores, net.conf.filter_threshold)
    full_matches, full_scores = torch.full((num0,), -1), torch.zeros(num0)
    matched = matches0[0] >= 0
    full_matches[image0.kept[matched]] = image1.kept[matches0[0][matched]]
    full_scores[image0.kept] = scores0[0]  # mutual nearest neighbours' probabilities, 0 elsewhere
    return LightGlueMatches(full_matches, full_scores, layer + 1)


class Tokens(NamedTuple):
    """One image inside the network: (N, D) tokens, rotary cos and sin (2, 1, N, d), and its kept keypoints' indices."""

    x: torch.Tensor
    encoding: torch.Tensor
    kept: torch.Tensor


def tokens(net: LightGlue, keypoints: torch.Tensor, descriptors: torch.Tensor, image_size: torch.Tensor) -> Tokens:
    """An image's projected descriptors and the rotary encoding of its normalized keypoints, in float32."""
    encoding = net.posenc(normalize_keypoints(keypoints[None].float(), image_size[None].float()))[:, 0]
    return Tokens(net.input_proj(descriptors.float()), encoding, torch.arange(len(keypoints)))


def transform(net: LightGlue, image0: Tokens, image1: Tokens, num_points: int) -> tuple[Tokens, Tokens, int]:
    """The transformer layers until adaptive depth stops them (`num_points`: both images' keypoints before pruning):
    both images' tokens after the last layer that ran, and its index."""
    conf = net.conf
    for layer in range(conf.n_layers):
        block = net.transformers[layer]
        x0 = self_attention(block.self_attn, image0.x, image0.encoding)
        x1 = self_attention(block.self_attn, image1.x, image1.encoding)
        x0, x1 = cross_attention(block.cross_attn, x0, x1)
        image0, image1 = image0._replace(x=x0), image1._replace(x=x1)
        if layer == conf.n_layers - 1:
            break
        confidence0 = confidence1 = None  # without adaptive depth, width pruning reads no confidence (as kornia)
        if conf.depth_confidence > 0:
            confidence0, confidence1 = (c.float() for c in net.token_confidence[layer](x0, x1))
            if stop_here(net, confidence0, confidence1, layer, num_points):
                break
        if conf.width_confidence > 0:
            image0, image1 = prune(net, layer, image0, confidence0), prune(net, layer, image1, confidence1)
    return image0, image1, layer


def stop_here(net: LightGlue, confidence0: torch.Tensor, confidence1: torch.Tensor, layer: int, num: int) -> bool:
    """Adaptive depth: enough tokens are confident after `layer` (kornia's check_if_stop, counted over all points)."""
    threshold = net.confidence_thresholds[layer]
    unsure = (confidence0 < threshold).sum() + (confidence1 < threshold).sum()
    return bool(1.0 - unsure / num > net.conf.depth_confidence)


def prune(net: LightGlue, layer: int, image: Tokens, confidence: torch.Tensor | None) -> Tokens:
    """Adaptive width: drop tokens confidently unmatchable after `layer`, above the network's minimum token count."""
    if len(image.x) <= net.pruning_min_kpts(image.x.device):
        return image
    matchability = net.log_assignment[layer].get_matchability(image.x[None]).float()
    confidence = None if confidence is None else confidence[None]
    keep = torch.where(net.get_pruning_mask(confidence, matchability, layer)[0])[0]
    return Tokens(image.x[keep], image.encoding[:, :, keep], image.kept[keep])
