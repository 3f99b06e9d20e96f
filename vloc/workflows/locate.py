"""`vloc locate`: the pose of each plain query photo in a map made by `vloc map`, in one command: cameras from EXIF or
a prior, the map's features, pairs (every registered map photo, or the map's retrieval), matches, then localization
that estimates each focal length with the pose."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from rich.table import Table

from vloc import pairs
from vloc.datasets import photos
from vloc.errors import FormatError, InputError
from vloc.extract import global_features, local_features
from vloc.io.images import check_image_names, list_image_names
from vloc.io.text import log_path, read_image_list, write_text_atomic
from vloc.localize import hierarchical
from vloc.match import local_features as match
from vloc.pnp.absolute_pose import LocalizeConf
from vloc.pnp.inputs import LocalizationInputs
from vloc.workflows.map import MapConf, MapRecipe


def read_map_info(map_dir: Path) -> dict:
    """map.json of a map made by `vloc map`; a one-line error when MAP_DIR is not one."""
    path = map_dir / "map.json"
    if not path.is_file():
        raise InputError(f"{map_dir}: not a map made by vloc map (no map.json)")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FormatError(f"{path}: not a JSON file ({error})") from None
    expected = {"recipe": dict, "files": dict, "pairs": str, "registered": list}
    wrong = [key for key, kind in expected.items() if not isinstance(info, dict) or not isinstance(info.get(key), kind)]
    if wrong:
        raise FormatError(f"{path}: not a map.json of vloc map (no valid {', '.join(wrong)}); make the map again")
    return info


def query_pairs(
    info: dict, conf: MapConf, map_dir: Path, query_root: Path, query_names: list[str], names_path: Path, out: Path
) -> Path:
    """Each query (`query_names`, listed in `names_path`) paired with every registered map photo (maps matched
    exhaustively), or with its most similar ones by the map's global descriptors."""
    path = out / "pairs-query.txt"
    registered = info["registered"]
    if info["pairs"] == "exhaustive":
        return pairs.exhaustive(query_names, path, registered)
    db_descriptors = map_dir / info["files"]["global_descriptors"]
    vocabulary = global_features.vocabulary_path(db_descriptors)
    retrieval_conf = replace(conf.retrieval, model=replace(conf.retrieval.model, vocabulary=str(vocabulary)))
    descriptors = global_features.main(retrieval_conf, query_root, out / db_descriptors.name, names_path)
    return pairs.retrieval(
        descriptors,
        path,
        conf.num_retrieved,
        query_names=query_names,
        db_names=registered,
        db_descriptors=db_descriptors,
    )


def query_list(names: list[str], out: Path) -> Path:
    """The list file of the query photos, in `out`."""
    path = out / "query_list.txt"
    write_text_atomic(path, "".join(f"{name}\n" for name in names))
    return path


def main(
    map_dir: Path,
    query_root: Path,
    out: Path,
    *,
    image_list: Path | None = None,
    localize_conf: LocalizeConf | None = None,
    prior_focal_factor: float = 1.2,
) -> Path:
    """Localize the photos below `query_root` (or those of `image_list`) in the map of `map_dir`; writes the queries
    file, features, pairs, matches and `out/results.txt` with its log (default LocalizeConf: focal lengths estimated).
    Returns the results path."""
    photos.check_prior_focal(prior_focal_factor)
    info = read_map_info(map_dir)
    conf = MapRecipe(**{**info["recipe"], "overrides": tuple(info["recipe"]["overrides"])}).conf()
    names = read_image_list(image_list) if image_list else list_image_names(query_root)
    check_image_names(query_root, names)
    clashes = sorted(set(names) & set(info["registered"]))
    if clashes:
        raise InputError(f"{query_root}: query photo {clashes[0]} has the name of a map photo; rename it")
    out.mkdir(parents=True, exist_ok=True)
    queries = out / "queries.txt"
    photos.main(query_root, names, queries, prior_focal_factor)
    names_path = query_list(names, out)
    features = local_features.main(conf.extract, query_root, out / info["files"]["features"], names_path)
    pairs_path = query_pairs(info, conf, map_dir, query_root, names, names_path, out)
    matches = match.main(
        conf.match, pairs_path, features, out / "matches-query.h5", map_dir / info["files"]["features"]
    )
    inputs = LocalizationInputs(map_dir / "model", queries, pairs_path, features, matches)
    return hierarchical.main(localize_conf, inputs, out / "results.txt")


def summary_table(results: Path) -> Table:
    """Per query: localized or why not, inliers, estimated focal length and position uncertainty."""
    log = json.loads(log_path(results).read_text())
    table = Table(title=f"{log['summary']['num_localized']}/{log['summary']['num_queries']} photos localized")
    for column in ("photo", "pose", "inliers", "focal (px)", "position std"):
        table.add_column(column, justify="left" if column in ("photo", "pose") else "right")
    for entry in log["queries"]:
        status = "localized" if entry["success"] else f"failed: {entry.get('failure_reason', '')}"
        if entry.get("unreliable"):
            status = f"unreliable: {entry['unreliable']}"
        intrinsics = entry.get("intrinsics", {})
        focal = f"{intrinsics['focal_length']:.1f} ({intrinsics['source']})" if intrinsics else ""
        std = entry.get("position_std_relative")
        table.add_row(
            entry["name"],
            status,
            str(entry.get("num_inliers", "")),
            focal,
            f"{100 * std:.2f}% of distance" if std is not None else "",
        )
    return table
