"""Registry of local-feature extractors: name -> plug-in class and its presets (`vloc extract local --conf`)."""

from __future__ import annotations

from vloc.extractors.aliked import ALIKED
from vloc.extractors.base import Extractor
from vloc.extractors.disk import DISK
from vloc.extractors.orb import ORB
from vloc.extractors.sift import SIFT
from vloc.extractors.superpoint import SuperPoint
from vloc.plugins import Entry, Preset, Registry

EXTRACTORS: Registry[Extractor] = Registry(
    "extractor",
    {
        "sift": Entry(
            SIFT,
            {
                "sift": Preset(),
                "sift-colmap": Preset(model={"backend": "pycolmap"}),
                # no upsampled octave (hloc's DoG): driving frames, README "Recipes"
                "sift-colmap-octave0": Preset(model={"backend": "pycolmap", "first_octave": 0}),
            },
        ),
        "orb": Entry(ORB, {"orb": Preset()}),
        "disk": Entry(DISK, {"disk": Preset()}),
        "superpoint": Entry(SuperPoint, {"superpoint": Preset()}),
        "aliked": Entry(ALIKED, {"aliked": Preset(), "aliked-n16rot": Preset(model={"model_name": "aliked-n16rot"})}),
    },
)
