"""SuperPoint (DeTone et al., 2018): the released network (layer names as in `superpoint_v1.pth`) and its decoding
into keypoints and descriptors."""

from __future__ import annotations

import torch
from torch import nn

ENCODER = ("conv1a", "conv1b", "conv2a", "conv2b", "conv3a", "conv3b", "conv4a", "conv4b")
WIDTHS = ((1, 64), (64, 64), (64, 64), (64, 64), (64, 128), (128, 128), (128, 128), (128, 128))


class SuperPointNet(nn.Module):
    """A VGG-style encoder at stride 8, a 65-way keypoint head (the 64 pixels of a cell, or none) and a 256-D
    descriptor head."""

    def __init__(self) -> None:
        super().__init__()
        for name, (inputs, outputs) in zip(ENCODER, WIDTHS):
            setattr(self, name, nn.Conv2d(inputs, outputs, 3, padding=1))
        self.convPa, self.convPb = nn.Conv2d(128, 256, 3, padding=1), nn.Conv2d(256, 65, 1)
        self.convDa, self.convDb = nn.Conv2d(128, 256, 3, padding=1), nn.Conv2d(256, 256, 1)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(1, 65, H/8, W/8) cell scores and (1, 256, H/8, W/8) unit descriptors of a (1, 1, H, W) image in [0, 1]."""
        x = image
        for index, name in enumerate(ENCODER):
            x = nn.functional.relu(getattr(self, name)(x))
            if index in (1, 3, 5):
                x = nn.functional.max_pool2d(x, 2)
        scores = self.convPb(nn.functional.relu(self.convPa(x)))
        descriptors = self.convDb(nn.functional.relu(self.convDa(x)))
        return scores, nn.functional.normalize(descriptors, dim=1)


def keypoint_heatmap(cell_scores: torch.Tensor) -> torch.Tensor:
    """(H, W) keypoint probability per pixel from the cell scores (softmax over 65, the no-keypoint class dropped)."""
    probabilities = torch.softmax(cell_scores, 1)[:, :-1]
    return nn.functional.pixel_shuffle(probabilities, 8)[0, 0]


def detect_keypoints(
    heatmap: torch.Tensor, threshold: float, nms_radius: int, border: int, max_keypoints: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Maxima of the heatmap within nms_radius, above threshold, at least `border` pixels from the edges, the
    strongest max_keypoints: (N, 2) x, y (pixel centres at integers) and (N,) scores."""
    pooled = nn.functional.max_pool2d(heatmap[None, None], 2 * nms_radius + 1, 1, nms_radius)[0, 0]
    keep = (heatmap == pooled) & (heatmap > threshold)
    if border > 0:
        keep[:border], keep[-border:], keep[:, :border], keep[:, -border:] = False, False, False, False
    rows, cols = torch.nonzero(keep, as_tuple=True)
    scores = heatmap[rows, cols]
    order = torch.argsort(scores, descending=True)[:max_keypoints]
    return torch.stack([cols[order], rows[order]], 1).float(), scores[order]


def sample_descriptors(descriptor_map: torch.Tensor, keypoints: torch.Tensor) -> torch.Tensor:
    """(256, N) unit descriptors bilinearly sampled at pixel keypoints from the stride-8 (1, 256, h, w) map."""
    _, _, height, width = descriptor_map.shape
    # pixel x's centre lies (x + 0.5) / 8 cells in, i.e. at (x + 0.5) / (8 w) of the map (align_corners=False)
    grid = (keypoints + 0.5) / torch.tensor([8.0 * width, 8.0 * height]) * 2 - 1
    sampled = nn.functional.grid_sample(descriptor_map, grid[None, None], align_corners=False)[0, :, 0]
    return nn.functional.normalize(sampled, dim=0)
