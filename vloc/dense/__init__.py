"""Registry of dense-feature backbones for feature-metric refinement and sparse-to-dense matching: name -> plug-in
class and its presets (`vloc extract dense --conf`)."""

from __future__ import annotations

from vloc.dense.base import DenseBackbone, DenseLevel
from vloc.dense.gnnet import GNNetBackbone
from vloc.dense.orientation_histograms import OrientationHistograms
from vloc.dense.vgg16 import VGG16Hypercolumns
from vloc.plugins import Entry, Preset, Registry


def _budget(max_pixels: int) -> dict:
    """A backbone's pixel budget, to peak under 12 GB on a 24 GiB machine. Measured peaks (resize_max=null, 1 to 8 Mpx):
    dsift 0.86 GB at 1 Mpx + 0.47 GB per more Mpx, gnnet 1.14 + 0.72, s2dhm-vgg16 1.72 + 1.27."""
    return {"preprocessing": {"max_pixels": max_pixels}}


DENSE_BACKBONES: Registry[DenseBackbone] = Registry(
    "dense backbone",
    {
        "dsift": Entry(OrientationHistograms, {"dsift": Preset(stage=_budget(24_000_000))}),
        "gnnet": Entry(GNNetBackbone, {"gnnet": Preset(stage=_budget(16_000_000))}),
        "s2dhm-vgg16": Entry(VGG16Hypercolumns, {"s2dhm-vgg16": Preset(stage=_budget(8_000_000))}),
    },
)

__all__ = ["DENSE_BACKBONES", "DenseBackbone", "DenseLevel"]
