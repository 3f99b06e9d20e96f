"""Dense features compared on the ground-truth correspondences of a COLMAP model (the observations of shared 3D
points): nearest-neighbour accuracy and 2D Gauss-Newton convergence, as GN-Net's validation measures them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from torch.utils.data import Subset

from vloc.dense.pyramid import build_backbone, conf_by_name
from vloc.train.data import ColmapPairs, PairsConf
from vloc.train.gnnet import backbone_pyramids, validate


def dense_matching_report(model: Path, images: Path, backbones: list[str], max_pairs: int, max_side: int) -> dict:
    """Validation metrics of each backbone (a dense preset, or gnnet:CHECKPOINT) on up to `max_pairs` image pairs of
    the model, evenly spread over those sharing enough points."""
    dataset = ColmapPairs(model, images, PairsConf(max_side=max_side))
    step = max(len(dataset) / max_pairs, 1)
    pairs = Subset(dataset, sorted({int(k * step) for k in range(min(max_pairs, len(dataset)))}))
    report = {"model": str(model), "num_pairs": len(pairs), "backbones": {}}
    for name in backbones:
        preset, _, checkpoint = name.partition(":")
        conf = conf_by_name(preset)
        if checkpoint:
            conf = replace(conf, model=replace(conf.model, checkpoint=checkpoint))
        report["backbones"][name] = validate(backbone_pyramids(build_backbone(conf)), pairs)
    return report
