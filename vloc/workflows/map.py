"""`vloc map`: structure from motion from scratch of a folder of photos, in one command: local features, pairs
(exhaustive, or by global-descriptor retrieval above a few dozen photos), matches, then `vloc sfm`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pycolmap
from rich.table import Table

from vloc import pairs
from vloc.config import override
from vloc.errors import InputError
from vloc.extract import global_features, local_features
from vloc.extract.global_features import GlobalConf
from vloc.extract.local_features import ExtractConf
from vloc.io.global_features import read_global_descriptors
from vloc.io.images import check_image_names, list_image_names
from vloc.io.text import read_pairs, write_pairs, write_text_atomic
from vloc.mapping import sfm
from vloc.match import local_features as match
from vloc.matchers.pair_matcher import MatchConf
from vloc.matchers.pair_matcher import conf_by_name as match_conf_by_name

MAP_JSON_VERSION = 1
# COLMAP's default. With 4096, maps of 8 and of all 10 Sacre Coeur photos put a telephoto camera's focal length 20%
# apart (and its centre 35% of the scene along its axis): too few points pin down focal length against distance.
MAP_MAX_KEYPOINTS = 8192


@dataclass(frozen=True)
class MapConf:
    extract: ExtractConf
    match: MatchConf
    retrieval: GlobalConf  # global descriptors of retrieval pairs
    sfm: sfm.SfMConf = field(default_factory=sfm.SfMConf)
    max_exhaustive_images: int = 30  # up to this many photos every pair is matched; above, retrieval pairs
    num_retrieved: int = 20  # retrieval pairs: the most similar photos of each photo


@dataclass(frozen=True)
class MapRecipe:
    """What `vloc map` is asked for: presets and `--set` overrides (`extract.model.max_keypoints=4096`,
    `num_retrieved=10`). map.json records it, so that `vloc locate` can rebuild the same conf. The defaults register
    all 10 Sacre Coeur photos on each of 8 SfM seeds; the OpenCV `sift` preset registered 3 of them on 7 of 8."""

    extract: str = "sift-colmap"
    match: str = "nn-ratio"
    retrieval: str = "vlad"
    overrides: tuple[str, ...] = ()

    def conf(self) -> MapConf:
        """The MapConf of the presets with the overrides applied."""
        conf = MapConf(
            local_features.conf_by_name(self.extract),
            match_conf_by_name(self.match),
            global_features.conf_by_name(self.retrieval),
        )
        return override(conf, [f"extract.model.max_keypoints={MAP_MAX_KEYPOINTS}", *self.overrides])


@dataclass(frozen=True)
class MapFiles:
    """The files of a map in MAP_DIR, with self-describing names."""

    features: Path
    pairs: Path
    matches: Path
    global_descriptors: Path | None  # retrieval pairs only
    model: Path

    @classmethod
    def of(cls, recipe: MapRecipe, conf: MapConf, map_dir: Path, num_images: int) -> MapFiles:
        extractor = f"feats-{conf.extract.extractor}-"
        features = map_dir / conf.extract.output_name.replace(extractor, f"feats-{recipe.extract}-", 1)
        exhaustive = num_images <= conf.max_exhaustive_images
        pairs_path = map_dir / (
            "pairs-exhaustive.txt" if exhaustive else f"pairs-{recipe.retrieval}{conf.num_retrieved}.txt"
        )
        matches = map_dir / f"matches-{conf.match.name}_{features.stem}_{pairs_path.stem}.h5"
        global_descriptors = None if exhaustive else map_dir / conf.retrieval.output_name
        return cls(features, pairs_path, matches, global_descriptors, map_dir / "model")


def main(recipe: MapRecipe, image_root: Path, map_dir: Path, overwrite: bool = False) -> dict:
    """Map the photos below `image_root` into `map_dir` (model/, features, pairs, matches, map.json); work already in
    map_dir is reused unless `overwrite`. Returns what map.json holds."""
    conf = recipe.conf()
    names = photo_names(image_root)
    check_map_dir(map_dir)
    files = MapFiles.of(recipe, conf, map_dir, len(names))
    local_features.main(conf.extract, image_root, files.features, overwrite=overwrite)
    if files.global_descriptors is None:
        pairs.exhaustive(names, files.pairs)
    else:
        global_features.main(conf.retrieval, image_root, files.global_descriptors, overwrite=overwrite)
        retrieval_pairs(files.global_descriptors, names, conf.num_retrieved, files.pairs)
    match.main(conf.match, files.pairs, files.features, files.matches, overwrite=overwrite)
    try:
        model = sfm.main(conf.sfm, image_root, files.pairs, files.features, files.matches, files.model)
    except sfm.NoModelError:
        retrieval = files.global_descriptors is not None
        raise InputError(
            f"{image_root}: no two of the {len(names)} photos match well enough to start a map; "
            f"{advice(recipe.extract, retrieval)}"
        ) from None
    info = map_info(recipe, conf, image_root, files, model, names)
    write_text_atomic(map_dir / "map.json", json.dumps(info, indent=1) + "\n")
    return info


def photo_names(image_root: Path) -> list[str]:
    """The photos below `image_root`; fewer than two is a one-line error."""
    names = list_image_names(image_root)
    check_image_names(image_root, names)
    if len(names) < 2:
        raise InputError(f"{image_root}: one photo ({names[0]}); a map needs at least 2 photos of the same scene")
    return names


def check_map_dir(map_dir: Path) -> None:
    """Refuse a MAP_DIR whose model/ folder is not a vloc map's (it would be replaced)."""
    if map_dir.exists() and not map_dir.is_dir():
        raise InputError(f"{map_dir}: is a file; MAP_DIR must be a folder")
    if (map_dir / "model").exists() and not (map_dir / "map.json").exists():
        raise InputError(f"{map_dir / 'model'}: exists but has no map.json beside it; choose another MAP_DIR")


def retrieval_pairs(descriptors: Path, names: list[str], num: int, out: Path) -> Path:
    """Each photo paired with its `num` most similar others by global descriptor, each pair once."""
    vectors = read_global_descriptors(descriptors, names)
    ranked = pairs.rank(names, vectors, names, vectors, num)
    write_pairs(out, [(name, other) for name, retrieved in ranked.items() for other, _ in retrieved])
    return out


def advice(extract_preset: str, retrieval: bool) -> str:
    """What to try when photos do not register."""
    other = "sift" if extract_preset == "sift-colmap" else "sift-colmap"
    more_pairs = ", more retrieval pairs (--set num_retrieved=40)" if retrieval else ""
    return (
        "each photo must share a good part of its view with others: add photos in between, or try another "
        f"extractor (--conf {other}), more keypoints (--set extract.max_keypoints=8192){more_pairs}"
    )


def map_info(
    recipe: MapRecipe,
    conf: MapConf,
    image_root: Path,
    files: MapFiles,
    model: pycolmap.Reconstruction,
    names: list[str],
) -> dict:
    """map.json: the recipe and the conf it gave, the image folder, the files, and which photos registered."""
    unregistered = sfm.unregistered(model, names)
    left_out = set(unregistered)
    return {
        "vloc_format": MAP_JSON_VERSION,
        "image_root": str(image_root.resolve()),
        "recipe": asdict(recipe),
        "conf": asdict(conf),
        "files": {key: path.name for key, path in asdict(files).items() if path is not None},
        "pairs": "exhaustive" if files.global_descriptors is None else f"{recipe.retrieval} retrieval",
        "num_pairs": len(read_pairs(files.pairs)),
        "registered": [n for n in names if n not in left_out],
        "unregistered": unregistered,
        "num_points3D": model.num_points3D(),
        "mean_track_length": model.compute_mean_track_length(),
        "mean_reprojection_error_px": model.compute_mean_reprojection_error(),
    }


def summary_table(info: dict) -> Table:
    """How many photos registered, the 3D points and the mean reprojection error of a map."""
    num_photos = len(info["registered"]) + len(info["unregistered"])
    table = Table(title=f"{len(info['registered'])}/{num_photos} photos registered", show_header=False)
    table.add_column("")
    table.add_column("", justify="right")
    rows = {
        "photos": f"{num_photos} in {info['image_root']}",
        "pairs matched": f"{info['num_pairs']} ({info['pairs']})",
        "registered": str(len(info["registered"])),
        "not registered": str(len(info["unregistered"])),
        "3D points": str(info["num_points3D"]),
        "mean track length": f"{info['mean_track_length']:.2f}",
        "mean reprojection error": f"{info['mean_reprojection_error_px']:.3f} px",
    }
    for name, value in rows.items():
        table.add_row(name, value)
    return table


def unregistered_message(info: dict, max_names: int = 10) -> str | None:
    """Which photos did not register and what to try, or None when all did."""
    names = info["unregistered"]
    if not names:
        return None
    shown = ", ".join(names[:max_names]) + (f" and {len(names) - max_names} more" if len(names) > max_names else "")
    retrieval = info["pairs"] != "exhaustive"
    return f"{len(names)} photos did not register ({shown}): {advice(info['recipe']['extract'], retrieval)}"
