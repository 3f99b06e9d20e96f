"""Registry of matchers: name -> plug-in class and its presets (`vloc match features --conf`)."""

from __future__ import annotations

from vloc.matchers.base import Matcher
from vloc.matchers.hamming import Hamming
from vloc.matchers.imp import IMPMatcher
from vloc.matchers.instance_nn import InstanceNearestNeighbor
from vloc.matchers.lightglue import LightGlue
from vloc.matchers.nearest_neighbor import NearestNeighbor
from vloc.plugins import Entry, Preset, Registry

MATCHERS: Registry[Matcher] = Registry(
    "matcher",
    {
        "nearest_neighbor": Entry(
            NearestNeighbor,
            {
                "nn-ratio": Preset(),
                "nn-mutual": Preset(model={"ratio_threshold": None}),
                "nn-ratio-verified": Preset(model={"ratio_threshold": 0.8}, stage={"verification": {"enabled": True}}),
            },
        ),
        "hamming": Entry(Hamming, {"hamming": Preset()}),
        "instance_nn": Entry(InstanceNearestNeighbor, {"nnml": Preset()}),
        "imp": Entry(
            IMPMatcher,
            {
                "imp": Preset(),
                "imp-iterative": Preset(model={"iterative": True}),
                "eimp": Preset(model={"adaptive_pooling": True}),
                "eimp-iterative": Preset(model={"adaptive_pooling": True, "iterative": True}),
            },
        ),
        "lightglue": Entry(
            LightGlue,
            {
                "lightglue": Preset(),  # ALIKED features
                "lightglue-disk": Preset(model={"features": "disk"}),
                "lightglue-superpoint": Preset(model={"features": "superpoint"}),
                "lightglue-full": Preset(model={"depth_confidence": -1, "width_confidence": -1}),  # no early exit
                "lightglue-bf16": Preset(model={"bfloat16": True}),
            },
        ),
    },
)
