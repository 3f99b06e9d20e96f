"""Registry of recognizers: name -> plug-in class and its presets (`vloc recognize --conf`)."""

from __future__ import annotations

from vloc.plugins import Entry, Preset, Registry
from vloc.recognizers.base import Recognition, Recognizer
from vloc.recognizers.seg import Segmentation
from vloc.recognizers.vote import Vote

RECOGNIZERS: Registry[Recognizer] = Registry(
    "recognizer",
    {
        "vote": Entry(Vote, {"vote": Preset()}),
        "seg": Entry(Segmentation, {"seg": Preset()}),
    },
)

__all__ = ["RECOGNIZERS", "Recognition", "Recognizer"]
