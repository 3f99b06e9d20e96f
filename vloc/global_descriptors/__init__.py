"""Registry of global descriptors for image retrieval: name -> plug-in class and its presets
(`vloc extract global --conf`)."""

from __future__ import annotations

from vloc.global_descriptors.base import GlobalDescriptor
from vloc.global_descriptors.dinov2 import DINOv2
from vloc.global_descriptors.netvlad import NetVLAD
from vloc.global_descriptors.vlad import VLAD
from vloc.plugins import Entry, Preset, Registry

GLOBAL_DESCRIPTORS: Registry[GlobalDescriptor] = Registry(
    "global descriptor",
    {
        "vlad": Entry(VLAD, {"vlad": Preset(stage={"preprocessing": {"resize_max": 1024}})}),
        # budgets for resize_max=null: NetVLAD's VGG-16 peaks at 0.76 GB per Mpx; DINOv2 at 0.22 GB, but its time
        # grows with the square of the pixels (95 s for 2 Mpx on 2 cores)
        "netvlad": Entry(
            NetVLAD, {"netvlad": Preset(stage={"preprocessing": {"resize_max": 1024, "max_pixels": 12_000_000}})}
        ),
        "dinov2": Entry(
            DINOv2, {"dinov2": Preset(stage={"preprocessing": {"resize_max": 518, "max_pixels": 12_000_000}})}
        ),
    },
)
