"""Registry of global descriptors for image retrieval: name -> plug-in class."""

from __future__ import annotations

from ..config import lookup
from .base import GlobalDescriptor
from .dinov2 import DINOv2
from .netvlad import NetVLAD
from .vlad import VLAD

GLOBAL_DESCRIPTORS: dict[str, type[GlobalDescriptor]] = {"vlad": VLAD, "netvlad": NetVLAD, "dinov2": DINOv2}


def get_global_descriptor(name: str) -> type[GlobalDescriptor]:
    return lookup(GLOBAL_DESCRIPTORS, name, "global descriptor")
