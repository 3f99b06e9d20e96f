"""`vloc pairs`: which images to match: exhaustively, by pose proximity, by covisibility, by global-descriptor
retrieval, or sequentially along a video."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pycolmap

from vloc.errors import ConfigError, FormatError, InputError
from vloc.geometry.rigid3d import camera_center
from vloc.io.global_features import list_global_images, read_global_descriptors
from vloc.io.groups import CandidateGroup, groups_path, write_groups
from vloc.io.instances import InstanceReader
from vloc.io.text import write_directed_pairs, write_pairs, write_text_atomic
from vloc.pnp.covisibility import covisible_images
from vloc.search.faiss_index import EXACT_BELOW_100K, IndexConf, SearchIndex, database_index


def exhaustive(names: list[str], out: Path, names_ref: list[str] | None = None) -> Path:
    """All pairs within `names`, or every (query, reference) pair when `names_ref` is given."""
    if not names or (names_ref is not None and not names_ref):
        raise InputError(f"{out}: no images to pair")
    if names_ref is None:
        write_pairs(out, [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]])
    else:
        write_directed_pairs(out, [(a, b) for a in names for b in names_ref if a != b])
    return out


def from_poses(
    poses: dict[str, pycolmap.Rigid3d],
    out: Path,
    num_neighbors: int,
    max_angle_deg: float = 90.0,
    queries: list[str] | None = None,
    query_poses: dict[str, pycolmap.Rigid3d] | None = None,
) -> Path:
    """For each query, the `num_neighbors` cameras of `poses` closest to it within a viewing-angle limit. Queries are
    the images of `poses` (all, or those in `queries`), or images posed elsewhere (`query_poses`: e.g. a first
    localization's results, paired with the database cameras nearest their estimated poses)."""
    if num_neighbors < 1 or not 0 < max_angle_deg <= 180:
        raise ConfigError(f"--num must be at least 1 and --max-angle in (0, 180], got {num_neighbors}, {max_angle_deg}")
    names = sorted(poses)
    if not names:
        raise InputError("no posed images to pair")
    centers = np.stack([camera_center(poses[n]) for n in names])
    axes = np.stack([poses[n].rotation.matrix()[2] for n in names])  # viewing directions in world
    posed = poses if query_poses is None else query_poses
    pairs = []
    for query in queries or sorted(posed):
        if query not in posed:
            raise InputError(f"{out}: query '{query}' has no pose")
        distance = np.linalg.norm(centers - camera_center(posed[query]), axis=1)
        cos_angle = axes @ posed[query].rotation.matrix()[2]
        distance[(cos_angle < np.cos(np.radians(max_angle_deg))) | (np.array(names) == query)] = np.inf
        for index in np.argsort(distance)[:num_neighbors]:
            if np.isfinite(distance[index]):
                pairs.append((query, names[index]))
    if queries is None and query_poses is None:
        write_pairs(out, pairs)
    else:
        write_directed_pairs(out, pairs)
    return out


def covisibility(model: pycolmap.Reconstruction, out: Path, num_neighbors: int) -> Path:
    """For each registered image, the `num_neighbors` images sharing the most 3D points with it."""
    if num_neighbors < 1:
        raise ConfigError(f"--num must be at least 1, got {num_neighbors}")
    pairs = []
    for image in model.images.values():
        if not image.has_pose:
            continue
        pairs += [(image.name, name) for name in covisible_images(model, image, num_neighbors)]
    if not pairs:
        raise InputError(f"{out}: the model has no covisible images (no 3D points?)")
    write_pairs(out, pairs)
    return out


def write_ranked_pairs(path: Path, pairs: list[tuple[str, str]]) -> None:
    """Write query-to-database pairs in their given (rank) order; a repeated pair keeps its first place."""
    unique = dict.fromkeys((a, b) for a, b in pairs if a != b)
    write_text_atomic(path, "".join(f"{a} {b}\n" for a, b in unique))


def rank(
    query_names: list[str],
    query_descriptors: np.ndarray,
    db_names: list[str],
    db_descriptors: np.ndarray,
    num: int,
    min_score: float | None = None,
    index: SearchIndex | None = None,
) -> dict[str, list[tuple[str, float]]]:
    """The `num` database images most similar (cosine) to each query, best first, never the query itself; searched
    in `index` when given (an index of `db_descriptors`), else exactly."""
    if index is None:
        from vloc.global_descriptors.index import DescriptorIndex  # torch loads only for the stages that search

        index = DescriptorIndex(db_descriptors)
    db_index = {name: i for i, name in enumerate(db_names)}
    self_matches = [(q, db_index[name]) for q, name in enumerate(query_names) if name in db_index]
    scores, indices = index.search(query_descriptors, num, np.array(self_matches, np.int64))
    threshold = -np.inf if min_score is None else min_score
    return {
        name: [(db_names[i], float(s)) for s, i in zip(scores[q], indices[q]) if i >= 0 and s >= threshold]
        for q, name in enumerate(query_names)
    }


def expand_by_covisibility(
    ranked: dict[str, list[str]], model: pycolmap.Reconstruction, num: int
) -> dict[str, list[str]]:
    """Append to each query's retrieved images the `num` most covisible images of each of them in `model`.

    Retrieved images keep their ranks; additions follow, in the rank order of the image that brought them.
    """
    images = {image.name: image for image in model.images.values() if image.has_pose}
    neighbors: dict[str, list[str]] = {}
    missing = set()
    expanded = {}
    for query, retrieved in ranked.items():
        names = list(retrieved)
        for name in retrieved:
            if name not in images:
                missing.add(name)
                continue
            if name not in neighbors:
                neighbors[name] = covisible_images(model, images[name], num)
            names += neighbors[name]
        expanded[query] = [n for n in dict.fromkeys(names) if n != query]
    if missing:
        logging.warning("%d retrieved images are not registered in the model and were not expanded", len(missing))
    return expanded


def read_query_and_database(
    descriptors: Path, query_names: list[str], db_descriptors: Path, db_names: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Global descriptors of the queries and of the database; fail in one line when their dimensions differ."""
    queries = read_global_descriptors(descriptors, query_names)
    database = read_global_descriptors(db_descriptors, db_names)
    if queries.shape[1] != database.shape[1]:
        raise FormatError(
            f"descriptor dimensions differ: {queries.shape[1]} in {descriptors} (queries), "
            f"{database.shape[1]} in {db_descriptors} (database)"
        )
    return queries, database


def retrieval(
    descriptors: Path,
    out: Path,
    num: int,
    *,
    query_names: list[str] | None = None,
    db_names: list[str] | None = None,
    db_descriptors: Path | None = None,
    min_score: float | None = None,
    expand_model: pycolmap.Reconstruction | None = None,
    expand_num: int = 0,
    index: IndexConf = EXACT_BELOW_100K,
) -> Path:
    """Pairs each query (default: every image of `descriptors`) with its `num` most similar database images.

    The database defaults to every image of `db_descriptors`, else of `descriptors`. Pairs are written query
    first, in rank order, optionally followed by covisible images of the retrieved ones in `expand_model`. Large
    databases are searched in an approximate index (`index`), saved beside `db_descriptors`.
    """
    if num < 1:
        raise ConfigError(f"--num must be at least 1, got {num}")
    db_path = db_descriptors or descriptors
    query_names = list_global_images(descriptors) if query_names is None else query_names
    db_names = list_global_images(db_path) if db_names is None else db_names
    if not db_names:
        raise InputError(f"{db_path}: no database image (no global descriptors, or an empty list)")
    if not query_names:
        raise InputError(f"{descriptors}: no query image (no global descriptors, or an empty list)")
    if num > len(db_names):
        logging.warning("--num %d is larger than the database (%d images): taking all of them", num, len(db_names))
    query_descriptors, database = read_query_and_database(descriptors, query_names, db_path, db_names)
    search_index = database_index(database, db_path, db_names, index, query_descriptors, num)
    scored = rank(query_names, query_descriptors, db_names, database, num, min_score, search_index)
    ranked = {query: [name for name, _ in retrieved] for query, retrieved in scored.items()}
    if expand_model is not None and expand_num > 0:
        ranked = expand_by_covisibility(ranked, expand_model, expand_num)
    write_ranked_pairs(out, [(q, n) for q, names in ranked.items() for n in names])
    return out


def sequential(
    names: list[str],
    out: Path,
    num: int,
    loop_descriptors: Path | None = None,
    loop_num: int = 5,
    loop_min_gap: int | None = None,
) -> Path:
    """Each image with its `num` successors in list order (video), plus optionally its `loop_num` most similar
    images by global descriptor among those more than `loop_min_gap` (default: `num`) positions away."""
    if num < 1 or loop_num < 0:
        raise ConfigError(f"--num must be at least 1 and --loop-num at least 0, got {num}, {loop_num}")
    if not names:
        raise InputError(f"{out}: no images to pair")
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 : i + 1 + num]]
    if loop_descriptors is not None and loop_num > 0:
        gap = num if loop_min_gap is None else loop_min_gap
        from vloc.global_descriptors.index import DescriptorIndex

        rows = np.repeat(np.arange(len(names)), 2 * gap + 1)
        columns = rows + np.tile(np.arange(-gap, gap + 1), len(names))
        near = np.stack([rows, columns], axis=1)[(columns >= 0) & (columns < len(names))]
        descriptors = read_global_descriptors(loop_descriptors, names)
        _, indices = DescriptorIndex(descriptors).search(descriptors, loop_num, near)
        pairs += [(names[i], names[j]) for i, row in enumerate(indices) for j in row if j >= 0]
    write_pairs(out, pairs)
    return out


def instance_groups(
    recognitions: Path,
    instances: Path,
    descriptors: Path,
    db_descriptors: Path,
    out: Path,
    *,
    num_candidates: int = 3,
    num_groups: int = 3,
    min_similarity: float | None = None,
    num_retrieval: int = 10,
    max_pairs: int | None = None,
) -> Path:
    """Instance-guided retrieval (LBR): per recognised instance, best first, the `num_candidates` database images
    showing it that are most similar to the query form a group (at most `num_groups`); the `num_retrieval`
    retrieved images not yet grouped follow as single-image groups. At most `max_pairs` images per query.

    Writes the pairs (hloc layout, group order) to `out` and the groups to `groups_path(out)`.
    """
    if min(num_candidates, num_groups + 1, num_retrieval + 1, max_pairs or 1) < 1:
        raise ConfigError(
            "--num-candidates and --max-pairs must be at least 1, --num-groups and --num-retrieval at least 0"
        )
    with InstanceReader(recognitions) as recognized, InstanceReader(instances) as database:
        query_names = recognized.names
        db_names = database.names
        images_by_instance = database.images_by_instance()
        recognised = {q: recognized.instances(q)[:num_groups].tolist() for q in query_names}
        scores = {q: recognized.scores(q)[:num_groups].tolist() for q in query_names}
    query_descriptors, database_descriptors = read_query_and_database(
        descriptors, query_names, db_descriptors, db_names
    )
    ranking = rank(query_names, query_descriptors, db_names, database_descriptors, len(db_names), min_score=None)
    groups: dict[str, list[CandidateGroup]] = {}
    for query in query_names:
        similar = ranking[query]
        query_groups = []
        for instance, score in zip(recognised[query], scores[query]):
            showing = set(images_by_instance.get(instance, []))
            candidates = [n for n, s in similar if n in showing and (min_similarity is None or s >= min_similarity)]
            if candidates[:num_candidates]:
                query_groups.append(CandidateGroup(candidates[:num_candidates], int(instance), float(score)))
        grouped = {n for g in query_groups for n in g.db_images}
        query_groups += [CandidateGroup([n]) for n, _ in similar[:num_retrieval] if n not in grouped]
        groups[query] = _within_budget(query_groups, max_pairs)
    unrecognised = [q for q in query_names if not recognised[q]]
    if unrecognised:
        logging.warning("%d queries have no recognised instance: ordinary retrieval only", len(unrecognised))
    write_ranked_pairs(out, [(q, n) for q, gs in groups.items() for g in gs for n in g.db_images])
    write_groups(groups_path(out), groups)
    return out


def _within_budget(groups: list[CandidateGroup], max_pairs: int | None) -> list[CandidateGroup]:
    """The groups, in order, cut so that they name at most `max_pairs` distinct images."""
    if max_pairs is None:
        return groups
    kept, seen = [], set()
    for group in groups:
        room = max_pairs - len(seen)
        if room <= 0:
            break
        new = [n for n in group.db_images if n not in seen]
        group.db_images = [n for n in group.db_images if n in seen or n in new[:room]]
        seen.update(new[:room])
        kept.append(group)
    return kept
