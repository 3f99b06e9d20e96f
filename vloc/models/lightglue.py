"""LightGlue's forward pass for one pair, over kornia's modules and the released weights, written for the CPU: each
layer's linear maps folded into fewer, larger matrix products, both images' tokens in one matrix, torch's fused flash
attention, and token counts padded to a multiple of 64 so that bfloat16 runs on few matrix shapes."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from kornia.feature.lightglue import LightGlue, TransformerLayer, filter_matches, normalize_keypoints

# oneDNN (bfloat16 products) compiles a kernel for each new matrix shape, which costs more than the product itself;
# padding the token counts to a multiple of this keeps the shapes few as adaptive width drops tokens.
TOKEN_MULTIPLE = 64

PerImage = tuple[torch.Tensor, torch.Tensor]  # one tensor for each image of the pair, image 0 first


class LightGlueMatches(NamedTuple):
    """matches0 (M,) int64 (-1: unmatched), their scores (M,), and the number of layers that ran."""

    matches0: torch.Tensor
    scores0: torch.Tensor
    num_layers: int


class FeedForward(NamedTuple):
    """A block's message MLP on [x, context] with the attention's output projection folded into its first layer."""

    weight: torch.Tensor
    bias: torch.Tensor
    norm_weight: torch.Tensor
    norm_bias: torch.Tensor
    norm_eps: float
    out_weight: torch.Tensor
    out_bias: torch.Tensor

    @classmethod
    def fold(cls, ffn: torch.nn.Sequential, projection: torch.nn.Linear, dtype: torch.dtype) -> FeedForward:
        """ffn([x, W_o c + b_o]) as one product [x, c] of (W_x, W_m W_o) plus b + W_m b_o: no output projection."""
        dim = projection.out_features
        weight_x, weight_message = ffn[0].weight[:, :dim], ffn[0].weight[:, dim:]
        weight = torch.cat([weight_x, weight_message @ projection.weight], 1)
        bias = ffn[0].bias + weight_message @ projection.bias
        norm, out = ffn[1], ffn[3]
        return cls(
            *(t.to(dtype) for t in (weight, bias, norm.weight, norm.bias)),
            norm.eps,
            *(t.to(dtype) for t in (out.weight, out.bias)),
        )

    def __call__(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """x plus the MLP's update from x and the attention's context (both (N, D))."""
        hidden = F.linear(torch.cat([x, context], -1), self.weight, self.bias)
        hidden = F.gelu(F.layer_norm(hidden, hidden.shape[-1:], self.norm_weight, self.norm_bias, self.norm_eps))
        return x + F.linear(hidden, self.out_weight, self.out_bias)


def rotate_half_rows(rows: torch.Tensor) -> torch.Tensor:
    """Weight rows (or bias entries) giving rotate_half of their outputs: pairs (2i, 2i+1) become (-2i+1, 2i)."""
    pairs = rows.unflatten(0, (-1, 2))
    return torch.stack((-pairs[:, 1], pairs[:, 0]), 1).flatten(0, 1)


class FoldedLayer(NamedTuple):
    """One transformer layer as five matrix products: self-attention's queries, keys, their halves rotated (the rotary
    encoding becomes two products with cos and sin) and values in one; cross-attention's query-keys and values in one;
    each block's MLP with the output projection folded in."""

    self_weight: torch.Tensor
    self_bias: torch.Tensor
    self_ffn: FeedForward
    cross_weight: torch.Tensor
    cross_bias: torch.Tensor
    cross_ffn: FeedForward

    @classmethod
    def fold(cls, layer: TransformerLayer, dtype: torch.dtype) -> FoldedLayer:
        """The layer's weights, folded, in `dtype`."""
        attn, cross = layer.self_attn, layer.cross_attn
        dim = attn.embed_dim
        # kornia's Wqkv rows interleave (head, channel, q|k|v): gather the q, k and v rows each in (head, channel) order
        query, key, value = torch.arange(3 * dim).view(attn.num_heads, -1, 3).permute(2, 0, 1).flatten(1)

        def stacked(rows: torch.Tensor) -> torch.Tensor:
            q, k = rows[query], rows[key]
            return torch.cat([q, k, rotate_half_rows(q), rotate_half_rows(k), rows[value]]).to(dtype)

        return cls(
            stacked(attn.Wqkv.weight),
            stacked(attn.Wqkv.bias),
            FeedForward.fold(attn.ffn, attn.out_proj, dtype),
            torch.cat([cross.to_qk.weight, cross.to_v.weight]).to(dtype),
            torch.cat([cross.to_qk.bias, cross.to_v.bias]).to(dtype),
            FeedForward.fold(cross.ffn, cross.to_out, dtype),
        )


class PairTokens(NamedTuple):
    """Both images inside the network: their tokens stacked (L0 + L1, D), each image's rows padded with zeros to Li
    (a multiple of TOKEN_MULTIPLE); per image the rotary cos and sin (2, Li, d), the number of real tokens, and the
    indices of the keypoints they stand for."""

    x: torch.Tensor
    encodings: PerImage
    counts: tuple[int, int]
    kept: PerImage

    @property
    def split(self) -> int:
        """The row of x where image 1's tokens begin: image 0's padded count."""
        return self.encodings[0].shape[1]

    @property
    def images(self) -> PerImage:
        """Each image's padded rows of x."""
        return self.x[: self.split], self.x[self.split :]

    def real(self) -> PerImage:
        """Each image's real tokens in float32, for the network's heads."""
        return tuple(x[:count].float() for x, count in zip(self.images, self.counts))


def padded(rows: torch.Tensor, count: int) -> torch.Tensor:
    """`rows` (..., count, C) followed by zero rows up to a multiple of TOKEN_MULTIPLE."""
    return F.pad(rows, (0, 0, 0, -count % TOKEN_MULTIPLE))


def attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, num_keys: int) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v of (H, N, d) heads over the first `num_keys` keys (the rest are padding), as
    (N, H d); batched to 4-D, the only shape torch's CPU flash kernel takes."""
    mask = None
    if num_keys < key.shape[1]:
        mask = torch.zeros(key.shape[1], dtype=query.dtype)
        mask[num_keys:] = float("-inf")
        mask = mask.expand(query.shape[1], -1)
    context = F.scaled_dot_product_attention(query[None], key[None], value[None], attn_mask=mask)[0]
    return context.transpose(0, 1).flatten(-2)


class CpuLightGlue:
    """kornia's LightGlue network run pair by pair with its transformer layers folded (FoldedLayer), in float32 (the
    same matches as kornia's forward) or bfloat16 (fast on CPUs with AMX or AVX512-BF16; the heads stay float32)."""

    def __init__(self, net: LightGlue, dtype: torch.dtype = torch.float32):
        self.net, self.dtype = net, dtype
        with torch.no_grad():
            self.layers = [FoldedLayer.fold(layer, dtype) for layer in net.transformers]

    def __call__(self, keypoints: PerImage, descriptors: PerImage, image_sizes: PerImage) -> LightGlueMatches:
        """Match two images' (N, 2) pixel keypoints and (N, D) descriptors (image sizes (2,) as width, height) with the
        network's adaptive depth and width (`net.conf`)."""
        net = self.net
        num0, num1 = len(keypoints[0]), len(keypoints[1])
        if num0 == 0 or num1 == 0:
            return LightGlueMatches(torch.full((num0,), -1), torch.zeros(num0), 0)
        with torch.inference_mode():
            pair = self.embed(keypoints, descriptors, image_sizes)
            for layer in range(net.conf.n_layers):
                pair = self.transform(self.layers[layer], pair)
                if layer == net.conf.n_layers - 1:
                    break
                real = pair.real()
                confidences = None  # without adaptive depth, width pruning reads no confidence (as kornia)
                if net.conf.depth_confidence > 0:
                    confidences = net.token_confidence[layer](*real)
                    if self.stop_here(confidences, layer, num0 + num1):
                        break
                if net.conf.width_confidence > 0:
                    pair = self.prune(pair, real, layer, confidences)
            scores, _ = net.log_assignment[layer](*(x[None] for x in pair.real()))
        matches0, _, scores0, _ = filter_matches(scores, net.conf.filter_threshold)
        full_matches, full_scores = torch.full((num0,), -1), torch.zeros(num0)
        matched = matches0[0] >= 0
        full_matches[pair.kept[0][matched]] = pair.kept[1][matches0[0][matched]]
        full_scores[pair.kept[0]] = scores0[0]  # mutual nearest neighbours' probabilities, 0 elsewhere
        return LightGlueMatches(full_matches, full_scores, layer + 1)

    def embed(self, keypoints: PerImage, descriptors: PerImage, image_sizes: PerImage) -> PairTokens:
        """Both images' projected descriptors and the rotary encodings of their normalized keypoints, padded."""
        encodings, tokens = [], []
        for points, features, size in zip(keypoints, descriptors, image_sizes):
            encoding = self.net.posenc(normalize_keypoints(points[None].float(), size[None].float()))[:, 0, 0]
            encodings.append(padded(encoding, len(points)).to(self.dtype))
            tokens.append(padded(self.net.input_proj(features.float()), len(points)).to(self.dtype))
        counts = (len(keypoints[0]), len(keypoints[1]))
        return PairTokens(torch.cat(tokens), tuple(encodings), counts, tuple(map(torch.arange, counts)))

    def transform(self, layer: FoldedLayer, pair: PairTokens) -> PairTokens:
        """One layer: self-attention within each image, then cross-attention between them (query-keys shared)."""
        heads = self.net.conf.num_heads
        dim = pair.x.shape[1]
        projected = F.linear(pair.x, layer.self_weight, layer.self_bias)  # q, k, rotated q, rotated k, v
        split = pair.split
        contexts = []
        for rows, (cos, sin), count in zip((projected[:split], projected[split:]), pair.encodings, pair.counts):
            rotated = rows[:, : 2 * dim].unflatten(-1, (2, heads, -1)) * cos[:, None, None]
            rotated = rotated + rows[:, 2 * dim : 4 * dim].unflatten(-1, (2, heads, -1)) * sin[:, None, None]
            query, key = rotated.permute(1, 2, 0, 3)  # each (H, L, d)
            value = rows[:, 4 * dim :].unflatten(-1, (heads, -1)).transpose(0, 1)
            contexts.append(attention(query, key, value, count))
        x = layer.self_ffn(pair.x, torch.cat(contexts))
        query_key, value = (
            F.linear(x, layer.cross_weight, layer.cross_bias).unflatten(-1, (2, heads, -1)).permute(1, 2, 0, 3)
        )  # each (H, L0 + L1, d)
        count0, count1 = pair.counts
        context0 = attention(query_key[:, :split], query_key[:, split:], value[:, split:], count1)
        context1 = attention(query_key[:, split:], query_key[:, :split], value[:, :split], count0)
        return pair._replace(x=layer.cross_ffn(x, torch.cat([context0, context1])))

    def stop_here(self, confidences: PerImage, layer: int, num_points: int) -> bool:
        """Adaptive depth: enough tokens are confident after `layer` (kornia's check_if_stop, counted over all
        `num_points` keypoints of the pair before pruning)."""
        threshold = self.net.confidence_thresholds[layer]
        unsure = sum((confidence < threshold).sum() for confidence in confidences)
        return bool(1.0 - unsure / num_points > self.net.conf.depth_confidence)

    def prune(self, pair: PairTokens, real: PerImage, layer: int, confidences: PerImage | None) -> PairTokens:
        """Adaptive width: drop each image's tokens confidently unmatchable after `layer` (`real`: pair.real()),
        above the network's minimum token count."""
        net = self.net
        tokens, encodings, counts, kept = [], [], [], []
        for index, (x, real_x) in enumerate(zip(pair.images, real)):
            keep = torch.arange(pair.counts[index])
            if pair.counts[index] > net.pruning_min_kpts(x.device):
                matchability = net.log_assignment[layer].get_matchability(real_x[None])
                confidence = None if confidences is None else confidences[index][None]
                keep = torch.where(net.get_pruning_mask(confidence, matchability, layer)[0])[0]
            tokens.append(padded(x[keep], len(keep)))
            encodings.append(padded(pair.encodings[index][:, keep], len(keep)))
            counts.append(len(keep))
            kept.append(pair.kept[index][keep])
        return PairTokens(torch.cat(tokens), tuple(encodings), tuple(counts), tuple(kept))
