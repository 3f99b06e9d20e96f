"""DINOv2's ViT (Oquab et al.) with the state-dict key names of its hub models, and GeM pooling of tokens."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ARCHS = {"vits14": (384, 12, 6), "vitb14": (768, 12, 12), "vitl14": (1024, 24, 16)}  # width, depth, heads
PATCH = 14
TRAINING_GRID = 37  # 518 px / 14: the grid of the pretrained position embeddings


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        q, k, v = self.qkv(x).reshape(batch, tokens, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, tokens, dim))


class LayerScale(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Mlp(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1, self.attn, self.ls1 = nn.LayerNorm(dim, eps=1e-6), Attention(dim, heads), LayerScale(dim)
        self.norm2, self.mlp, self.ls2 = nn.LayerNorm(dim, eps=1e-6), Mlp(dim), LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, PATCH, PATCH)


class VisionTransformer(nn.Module):
    """DINOv2's ViT/14 without registers; returns normalised (CLS token (B, C), patch tokens (B, N, C))."""

    def __init__(self, dim: int, depth: int, heads: int):
        super().__init__()
        self.patch_embed = PatchEmbed(dim)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + TRAINING_GRID**2, dim) * 0.02)
        self.mask_token = nn.Parameter(torch.zeros(1, dim))  # used in training only; kept for the key names
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        patches = self.patch_embed.proj(image)  # (B, C, h, w)
        grid = self.pos_embed[:, 1:].reshape(1, TRAINING_GRID, TRAINING_GRID, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=patches.shape[-2:], mode="bicubic", align_corners=False)
        tokens = patches.flatten(2).transpose(1, 2) + grid.flatten(2).transpose(1, 2)
        x = torch.cat([(self.cls_token + self.pos_embed[:, :1]).expand(len(image), -1, -1), tokens], 1)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        return x[:, 0], x[:, 1:]


def gem(tokens: torch.Tensor, p: float, eps: float = 1e-6) -> torch.Tensor:
    """Generalised mean over tokens (B, N, C) -> (B, C) of the positive part."""
    return tokens.clamp(min=eps).pow(p).mean(1).pow(1 / p)
