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

from vloc.global_descriptors.base import GlobalDescriptor, to_tensor


@dataclass(frozen=True)
class NetVLADConf:
    weights: str = ""  # checkpoint file; empty: the torch hub cache's checkpoints/<checkpoint>
    checkpoint: str = "pittsburgh_WPCA4096.pth.tar"
    random_init: bool = False  # tests only: random weights, no whitening, num_clusters clusters
    num_clusters: int = 64  # random_init only; a checkpoint brings its own


class NetVLAD(GlobalDescriptor):
    default_conf = NetVLADConf()

    def _init(self, conf: NetVLADConf) -> None:
        from torch import nn  # torch and the network load when a NetVLAD is built, not with the registry

        from vloc.models.checkpoint import load_into, load_state_dict, require_keys, weights_path
        from vloc.models.netvlad import NetVLADNet
        from vloc.models.vgg16 import vgg16_conv5_3

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
