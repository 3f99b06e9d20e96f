"""Registry of dense-feature backbones for feature-metric refinement and sparse-to-dense matching: name -> plug-in
class and its presets (`vloc extract dense --conf`)."""

from __future__ import annotations

from vloc.dense.base import DenseBackbone, DenseLevel
from vloc.dense.gnnet import GNNetBackbone
from vloc.dense.orientation_histograms import OrientationHistograms
from vloc.dense.vgg16 import VGG16Hypercolumns
from vloc.plugins import Entry, Preset, Registry

DENSE_BACKBONES: Registry[DenseBackbone] = Registry(
    "dense backbone",
    {
        "dsift": Entry(OrientationHistograms, {"dsift": Preset()}),
        "gnnet": Entry(GNNetBackbone, {"gnnet": Preset()}),
        "s2dhm-vgg16": Entry(VGG16Hypercolumns, {"s2dhm-vgg16": Preset()}),
    },
)

__all__ = ["DENSE_BACKBONES", "DenseBackbone", "DenseLevel"]
