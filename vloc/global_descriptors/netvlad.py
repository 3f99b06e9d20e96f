"""NetVLAD (Arandjelovic et al.): VGG-16 cut at conv5_3 (before its ReLU), a NetVLAD layer, optional whitening.

Weights are a PyTorch checkpoint in the layout of pytorch-NetVlad / Patch-NetVLAD (e.g. their
`pittsburgh_WPCA4096.pth.tar`), optionally wrapped in {"state_dict": ...} and with a `module.` prefix:

- `encoder.{0,2,5,7,10,12,14,17,19,21,24,26,28}.{weight,bias}`: the 13 VGG-16 convolutions (torchvision's
  `features` indices);
- `pool.centroids` (K, 512) and `pool.conv.weight` (K, 512, 1, 1) (+ `pool.conv.bias` for "vladv2");
- optional `WPCA.0.weight` (d, K * 512, 1, 1) and `WPCA.0.bias` (d,): the PCA-whitening layer (d = 4096).

The file is `weights=FILE`, else `<torch.hub.get_dir()>/checkpoints/<checkpoint>`. Input: RGB with ImageNet
mean/std. Output: d dimensions with whitening, else K * 512 (32768 for K = 64).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vloc.global_descriptors.base import GlobalDescriptor, to_tensor
from vloc.models.checkpoint import load_into, load_state_dict, require_keys, weights_path
from vloc.models.vgg16 import vgg16_conv5_3


@dataclass(frozen=True)
class NetVLADConf:
    weights: str = ""  # checkpoint file; empty: the torch hub cache's checkpoints/<checkpoint>
    checkpoint: str = "pittsburgh_WPCA4096.pth.tar"
    random_init: bool = False  # tests only: random weights, no whitening, num_clusters clusters
    num_clusters: int = 64  # random_init only; a checkpoint brings its own


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


class NetVLAD(GlobalDescriptor):
    default_conf = NetVLADConf()

    def _init(self, conf: NetVLADConf) -> None:
        if conf.random_init:
            self.net = NetVLADNet(conf.num_clusters, None)
        else:
            path = weights_path(conf.weights, conf.checkpoint, "NetVLAD")
            state = load_state_dict(path)
            convs = [i for i, layer in enumerate(vgg16_conv5_3()) if isinstance(layer, nn.Conv2d)]
            names = [f"encoder.{i}.{p}" for i in convs for p in ("weight", "bias")] + [
                "pool.centroids",
                "pool.conv.weight",
            ]
            require_keys(state, names, path, "NetVLAD")
            whitening = state.get("WPCA.0.weight")
            if whitening is not None and whitening.ndim == 2:
                state["WPCA.0.weight"] = whitening[:, :, None, None]
            num_clusters = state["pool.centroids"].shape[0]
            self.net = NetVLADNet(
                num_clusters, None if whitening is None else whitening.shape[0], "pool.conv.bias" in state
            )
            load_into(self.net, state, path, "NetVLAD")
        self.net.eval()

    def _forward(self, image: np.ndarray) -> np.ndarray:
        return self.net(to_tensor(image))[0].numpy()
