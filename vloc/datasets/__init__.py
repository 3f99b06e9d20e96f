"""Dataset adapters: small dataclasses of paths whose `load()` gives a `Prepared`, written to files by `prepare`."""

from vloc.datasets.aachen import AachenDayNight
from vloc.datasets.base import Dataset, Prepared, prepare
from vloc.datasets.cambridge import CambridgeLandmarks
from vloc.datasets.cmu import ExtendedCMUSeasons
from vloc.datasets.generic import ColmapImages, PosesFile
from vloc.datasets.inloc import InLoc
from vloc.datasets.kitti import KittiOdometry
from vloc.datasets.robotcar import RobotCarSeasons
from vloc.datasets.seven_scenes import SevenScenes
from vloc.datasets.synthetic import Synthetic
from vloc.datasets.temple_ring import TempleRing

__all__ = [
    "Dataset",
    "Prepared",
    "prepare",
    "SevenScenes",
    "TempleRing",
    "KittiOdometry",
    "Synthetic",
    "ColmapImages",
    "PosesFile",
    "InLoc",
    "AachenDayNight",
    "ExtendedCMUSeasons",
    "RobotCarSeasons",
    "CambridgeLandmarks",
]
