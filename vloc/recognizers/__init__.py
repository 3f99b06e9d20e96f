"""Registry of recognizers: name -> plug-in class."""

from __future__ import annotations

from ..config import lookup
from .base import Recognition, Recognizer
from .seg import Segmentation
from .vote import Vote

RECOGNIZERS: dict[str, type[Recognizer]] = {"vote": Vote, "seg": Segmentation}


def get_recognizer(name: str) -> type[Recognizer]:
    return lookup(RECOGNIZERS, name, "recognizer")


__all__ = ["RECOGNIZERS", "Recognition", "Recognizer", "get_recognizer"]
