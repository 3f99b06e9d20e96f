"""Registry of local-feature extractors: name -> plug-in class."""

from __future__ import annotations

from ..config import lookup
from .base import Extractor
from .orb import ORB
from .sift import SIFT

EXTRACTORS: dict[str, type[Extractor]] = {"sift": SIFT, "orb": ORB}


def get_extractor(name: str) -> type[Extractor]:
    return lookup(EXTRACTORS, name, "extractor")
