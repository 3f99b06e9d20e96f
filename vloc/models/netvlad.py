"""The NetVLAD network (Arandjelovic et al.): VGG-16 cut at conv5_3, a NetVLAD layer, optional PCA whitening."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vloc.models.vgg16 import vgg16_conv5_3


class NetVLADLayer(nn.Module):
    def __init__(self, num_clusters: int, dim: int = 512, bias: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(dim, num_clusters, 1, bias=bias)
        self.centroids = nn.Parameter(torch.rand(num_clusters, dim))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        features = F.normalize(features, dim=1)
        assignment = F.softmax(self.conv(features).flatten(2), dim=1)  # (B, K, N)
        flat = features.flatten(2)  # (B, D, N)
        # sum_n a_kn (x_n - c_k), without the (B, K, D, N) residual tensor
        vlad = assignment @ flat.transpose(1, 2) - assignment.sum(2, keepdim=True) * self.centroids
        return F.normalize(F.normalize(vlad, dim=2).flatten(1), dim=1)


class NetVLADNet(nn.Module):
    def __init__(self, num_clusters: int, whitening_dim: int | None, vlad_bias: bool = False):
        super().__init__()
        self.encoder = vgg16_conv5_3()
        self.pool = NetVLADLayer(num_clusters, 512, vlad_bias)
        self.WPCA = nn.Sequential(nn.Conv2d(num_clusters * 512, whitening_dim, 1)) if whitening_dim else None

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        vlad = self.pool(self.encoder(image))
        if self.WPCA is not None:
            vlad = F.normalize(self.WPCA(vlad[:, :, None, None]).flatten(1), dim=1)
        return vlad
