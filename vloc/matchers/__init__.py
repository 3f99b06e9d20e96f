"""Registry of matchers: name -> plug-in class."""

from __future__ import annotations

from ..config import lookup
from .base import Matcher
from .hamming import Hamming
from .instance_nn import InstanceNearestNeighbor
from .nearest_neighbor import NearestNeighbor

MATCHERS: dict[str, type[Matcher]] = {"nearest_neighbor": NearestNeighbor, "hamming": Hamming, "instance_nn": InstanceNearestNeighbor}


def get_matcher(name: str) -> type[Matcher]:
    return lookup(MATCHERS, name, "matcher")
