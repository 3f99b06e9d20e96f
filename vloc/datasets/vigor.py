"""VIGOR (Zhu et al., CVPR 2021, github Jeff-Zilence/VIGOR) for metric cross-view localization, as CCVPE, SliceMatch
and DenseFlow read it:

    <City>/panorama/<id>,<lat>,<lon>,.jpg       panoramas; the centre column looks north, east lies to its right
    <City>/satellite/satellite_<lat>_<lon>.png  north-up 640 x 640 tiles
    splits__corrected/<City>/<list>__corrected.txt   SliceMatch's corrected labels; VIGOR's own splits/<City>/<list>.txt
                                                     where they are absent (those assume a wrong ground resolution)

A label line names a panorama, its positive tile and the panorama's offset from the tile's centre in 640-pixel units,
rows (south) then columns (west): the panorama lies at column 320 - delta_col, row 320 + delta_row (VIGOR's
evaluate_from_npy.py). Metres per pixel per city are CCVPE's and DenseFlow's; the camera is 2 m above the ground
(DenseFlow's models_vigor.py grd_height). Same area: every city's same_area_balanced_{train,test} lists; cross area:
pano_label_balanced, NewYork and Seattle for training, SanFrancisco and Chicago for testing.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from vloc.console import track
from vloc.datasets.base import require
from vloc.datasets.crossview_common import numbered_tokens, parse_numbers, refuse_inside, with_priors, write_dataset
from vloc.errors import ConfigError, InputError
from vloc.io.crossview import Aerial, GroundCamera, GroundView, PlanarPose
from vloc.io.images import image_size

CITIES = ("NewYork", "Seattle", "SanFrancisco", "Chicago")
CROSS_AREA_TRAINING = ("NewYork", "Seattle")
METRES_PER_PIXEL = {"NewYork": 0.113248, "Seattle": 0.100817, "SanFrancisco": 0.118141, "Chicago": 0.111262}
LABEL_SIDE = 640  # the tile side that the label offsets and METRES_PER_PIXEL refer to
LABEL_FOLDERS = ("splits__corrected", "splits")
CAMERA_HEIGHT_M = 2.0
NORTH_YAW = -90.0  # a camera looking north on a north-up aerial image


def prepare_vigor(
    root: Path,
    out: Path,
    area: str = "same",
    cities: tuple[str, ...] = CITIES,
    prior_offset_m: float = 20.0,
    prior_yaw_deg: float = 10.0,
    seed: int = 0,
) -> int:
    """Write `out`/crossview.json for the VIGOR folder `root`: the labelled panoramas of `cities` in the `area`
    ('same' or 'cross') protocol, each on its positive tile, images read in place; the number of views written."""
    refuse_inside(out, root)
    if area not in ("same", "cross"):
        raise ConfigError(f"VIGOR area {area!r} is neither 'same' nor 'cross'")
    if unknown := sorted(set(cities) - set(CITIES)):
        raise ConfigError(f"VIGOR has no city {', '.join(unknown)} (its cities: {', '.join(CITIES)})")
    labels = label_folder(root)
    aerials: dict[str, Aerial] = {}
    views = [
        view
        for city in cities
        for split, path in label_files(labels, city, area)
        for view in labelled_views(root, city, split, path, aerials)
    ]
    views = [on_tile(view) for view in with_priors(views, prior_offset_m, prior_yaw_deg, seed)]
    return write_dataset(out, root, aerials, views)


def label_folder(root: Path) -> Path:
    """splits__corrected/ where present, else splits/."""
    folder = next((root / name for name in LABEL_FOLDERS if (root / name).is_dir()), None)
    if folder is None:
        raise InputError(f"{root}: no {' or '.join(LABEL_FOLDERS)} label folder (a VIGOR dataset)")
    return folder


def label_files(labels: Path, city: str, area: str) -> list[tuple[str, Path]]:
    """(split, label list) of a city in the `area` protocol; a list's corrected name where present."""
    if area == "same":
        lists = [("train", "same_area_balanced_train"), ("test", "same_area_balanced_test")]
    else:
        lists = [("train" if city in CROSS_AREA_TRAINING else "test", "pano_label_balanced")]
    return [(split, label_list(labels / city, stem)) for split, stem in lists]


def label_list(folder: Path, stem: str) -> Path:
    """`folder`/<stem>__corrected.txt where present, else `folder`/<stem>.txt."""
    corrected = folder / f"{stem}__corrected.txt"
    return corrected if corrected.is_file() else require(folder / f"{stem}.txt", "label list")


def labelled_views(root: Path, city: str, split: str, path: Path, aerials: dict[str, Aerial]) -> list[GroundView]:
    """The views of a label list, without priors; their positive tiles are added to `aerials`."""
    views = []
    mpp = METRES_PER_PIXEL[city]
    for number, tokens in track(numbered_tokens(path), f"VIGOR {city} {split}"):
        if len(tokens) < 4:
            raise InputError(f"{path}:{number}: expected a panorama, its positive tile and 2 offsets")
        delta_row, delta_col = parse_numbers(tokens[2:4], f"{path}:{number}", "the offsets")
        image, tile = f"{city}/panorama/{tokens[0]}", f"{city}/satellite/{tokens[1]}"
        if tile not in aerials:
            aerials[tile] = Aerial(tile, mpp * LABEL_SIDE / image_size(root / tile)[0])
        camera = GroundCamera("EQUIRECTANGULAR", *image_size(root / image), ())
        pose = PlanarPose((LABEL_SIDE / 2 - delta_col) * mpp, (LABEL_SIDE / 2 + delta_row) * mpp, NORTH_YAW)
        views.append(GroundView(image, tile, camera, CAMERA_HEIGHT_M, pose, None, city, split))
    return views


def on_tile(view: GroundView) -> GroundView:
    """`view` with its prior kept on its tile: a ground truth near the edge of a VIGOR tile may put it beyond."""
    side = LABEL_SIDE * METRES_PER_PIXEL[view.condition]
    prior = replace(view.prior, x=min(max(view.prior.x, 0.0), side), y=min(max(view.prior.y, 0.0), side))
    return replace(view, prior=prior)
