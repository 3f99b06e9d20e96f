"""Bilinear sampling of dense feature maps, with spatial gradients.

Convention: cell (i, j) of a feature map of stride s is centred at the COLMAP pixel
((j + 0.5) * s, (i + 0.5) * s), i.e. pixel p maps to the continuous cell index p / s - 0.5.
A pixel is valid when it lies within the cell centres, [0, W - 1] x [0, H - 1] in index units.
"""

from __future__ import annotations

import torch


def interpolate_bilinear(grid: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """Sample grid (D, H, W) at continuous indices xy (N, 2) = (col, row) -> (N, D).

    Indices are clamped to the grid; the caller masks points outside.
    """
    _, H, W = grid.shape
    x = xy[:, 0].clamp(0, W - 1)
    y = xy[:, 1].clamp(0, H - 1)
    x0 = x.floor().clamp(max=max(W - 2, 0))
    y0 = y.floor().clamp(max=max(H - 2, 0))
    ax = (x - x0)[:, None]
    ay = (y - y0)[:, None]
    x0, y0 = x0.long(), y0.long()
    x1, y1 = (x0 + 1).clamp(max=W - 1), (y0 + 1).clamp(max=H - 1)
    if grid.permute(1, 2, 0).is_contiguous():  # stored cell by cell (with_channels_last): one row per cell
        cells = grid.permute(1, 2, 0).reshape(H * W, -1)
        f00, f01, f10, f11 = (
            cells.index_select(0, row * W + col) for row, col in ((y0, x0), (y0, x1), (y1, x0), (y1, x1))
        )
    else:
        f00, f01 = grid[:, y0, x0].T, grid[:, y0, x1].T
        f10, f11 = grid[:, y1, x0].T, grid[:, y1, x1].T
    return (1 - ay) * ((1 - ax) * f00 + ax * f01) + ay * ((1 - ax) * f10 + ax * f11)


def with_channels_last(feature_map: torch.Tensor) -> torch.Tensor:
    """The same (C, H, W) map stored cell by cell, so that sampling a cell reads its C values in one run: sampling a
    map many times (an optimisation's iterations) is several times faster, and gives the same numbers."""
    return feature_map.permute(1, 2, 0).contiguous().permute(2, 0, 1)


def cell_coordinates(
    feature_map: torch.Tensor, pixels: torch.Tensor, stride: float | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Continuous cell indices (N, 2) of COLMAP pixels (N, 2) in a (C, H, W) map of `stride` (a number or (sx, sy)),
    whether each lies within the cell centres, and the stride as a tensor."""
    _, H, W = feature_map.shape
    stride = torch.as_tensor(stride, dtype=pixels.dtype)
    xy = (pixels / stride - 0.5).to(feature_map.dtype)
    valid = (xy[:, 0] >= 0) & (xy[:, 0] <= W - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= H - 1)
    return xy, valid, stride


def sample_values(
    feature_map: torch.Tensor, pixels: torch.Tensor, stride: float | torch.Tensor = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (N, C) and valid (N,) at COLMAP pixels (N, 2): `sample_features` without the gradients, a fifth of
    the reads."""
    xy, valid, _ = cell_coordinates(feature_map, pixels, stride)
    return interpolate_bilinear(feature_map, xy), valid


def sample_features(
    feature_map: torch.Tensor, pixels: torch.Tensor, stride: float | torch.Tensor = 1.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Features (N, C), valid (N,) and gradients d f / d pixels (N, C, 2) at COLMAP pixels (N, 2).

    Gradients are central differences of the map, bilinearly interpolated: in the interior this equals
    (f(x + 1 cell) - f(x - 1 cell)) / 2, so only 5 samples per point are read, never a whole gradient map.
    stride is a number or (sx, sy).
    """
    C = feature_map.shape[0]
    xy, valid, stride = cell_coordinates(feature_map, pixels, stride)
    step = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=xy.dtype)
    samples = interpolate_bilinear(feature_map, torch.cat([xy, xy + step[0], xy - step[0], xy + step[1], xy - step[1]]))
    features, x_plus, x_minus, y_plus, y_minus = samples.reshape(5, len(xy), C)
    gradients = torch.stack([x_plus - x_minus, y_plus - y_minus], dim=-1) / 2
    return features, valid, gradients / stride.to(gradients.dtype)
