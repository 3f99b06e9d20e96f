"""DINOv2 ViT (Oquab et al.) global descriptor: GeM of the patch tokens concatenated with the CLS token.

The ViT (`vloc.models.dinov2`) has the state-dict key names of DINOv2's hub models (`patch_embed.proj`, `cls_token`,
`pos_embed`, `mask_token`, `blocks.N.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,mlp.fc1,mlp.fc2,ls2.gamma}`,
`norm`), so the official `dinov2_vits14_pretrain.pth` (or vitb14/vitl14) loads into it unchanged. The file is
`weights=FILE`, else `<torch.hub.get_dir()>/checkpoints/dinov2_<arch>_pretrain.pth`, where
`torch.hub.load("facebookresearch/dinov2", ...)` caches it (the code in `facebookresearch_dinov2_main` is not needed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from vloc.global_descriptors.base import GlobalDescriptor, to_tensor


@dataclass(frozen=True)
class DINOv2Conf:
    arch: Literal["vits14", "vitb14", "vitl14"] = "vits14"
    weights: str = ""  # state-dict file; empty: the torch hub cache's checkpoints/dinov2_<arch>_pretrain.pth
    gem_p: float = 3.0
    random_init: bool = False  # tests only


class DINOv2(GlobalDescriptor):
    default_conf = DINOv2Conf()

    def _init(self, conf: DINOv2Conf) -> None:
        from vloc.models.checkpoint import load_into, load_state_dict, require_keys, weights_path
        from vloc.models.dinov2 import ARCHS, VisionTransformer  # torch loads when a DINOv2 is built

        self.net = VisionTransformer(*ARCHS[conf.arch])
        if not conf.random_init:
            path = weights_path(conf.weights, f"dinov2_{conf.arch}_pretrain.pth", "DINOv2")
            state = load_state_dict(path)
            require_keys(
                state, ["patch_embed.proj.weight", "cls_token", "pos_embed", "blocks.0.attn.qkv.weight"], path, "DINOv2"
            )
            load_into(self.net, state, path, f"DINOv2 {conf.arch}")
        self.net.eval()

    def _forward(self, image: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        from vloc.models.dinov2 import PATCH, gem

        height, width = (max(PATCH, s - s % PATCH) for s in image.shape[:2])
        top, left = (image.shape[0] - height) // 2, (image.shape[1] - width) // 2
        tensor = to_tensor(image)[..., top : top + height, left : left + width]  # centre crop to whole patches
        if tensor.shape[-2] < PATCH or tensor.shape[-1] < PATCH:
            tensor = F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False)
        cls, patches = self.net(tensor)
        pooled = torch.cat([F.normalize(gem(patches, self.conf.gem_p), dim=1), F.normalize(cls, dim=1)], 1)
        return F.normalize(pooled, dim=1)[0].numpy()
