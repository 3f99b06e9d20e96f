"""Registry of local-feature extractors: name -> plug-in class."""

from __future__ import annotations

from ..errors import ConfigError
from .base import Extractor
from .orb import ORB
from .sift import SIFT

EXTRACTORS: dict[str, type[Extractor]] = {"sift": SIFT, "orb": ORB}


def get_extractor(name: str) -> type[Extractor]:
    if name not in EXTRACTORS:
        raise ConfigError(f"unknown extractor '{name}'; known: {', '.join(sorted(EXTRACTORS))}")
    return EXTRACTORS[name]
