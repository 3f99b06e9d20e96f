"""CLI: vloc pairs exhaustive | from-poses | covisibility | retrieval | sequential."""

from __future__ import annotations

from pathlib import Path

import typer

from vloc.cli.app import console, existing_file, existing_folder, stage, sub_app, writable_file

pairs_app = sub_app("pairs", "Choose image pairs to match (writes a pairs file: 'name0 name1' per line).")


def _names(image_list: Path | None, features: Path | None, what: str) -> list[str] | None:
    from vloc.errors import InputError
    from vloc.io.features import list_images
    from vloc.io.text import read_image_list

    if image_list is not None and features is not None:
        raise InputError(f"give either --{what}list or --{what}features, not both")
    if image_list is not None:
        return read_image_list(image_list)
    if features is not None:
        return list_images(features)
    return None


@stage(
    pairs_app,
    "exhaustive",
    "All pairs within a list of images, or every query-reference pair when reference images are given.",
    "vloc pairs exhaustive outputs/pairs-query.txt --list queries.txt --ref-list mapping.txt",
)
def exhaustive(
    out: Path = typer.Argument(..., help="Output pairs file.", callback=writable_file),
    image_list: Path | None = typer.Option(None, "--list", help="Image names, one per line.", callback=existing_file),
    features: Path | None = typer.Option(
        None, "--features", help="Take the image names from a features file.", callback=existing_file
    ),
    ref_list: Path | None = typer.Option(
        None, "--ref-list", help="Reference image names (query-to-reference pairs).", callback=existing_file
    ),
    ref_features: Path | None = typer.Option(
        None, "--ref-features", help="Take reference names from a features file.", callback=existing_file
    ),
) -> None:
    from vloc import pairs
    from vloc.errors import InputError

    names = _names(image_list, features, "")
    if names is None:
        raise InputError("give --list or --features")
    pairs.exhaustive(names, out, _names(ref_list, ref_features, "ref-"))
    console.print(f"pairs written to {out}")


@stage(
    pairs_app,
    "from-poses",
    "The k nearest cameras of each image by camera-centre distance, within a viewing-angle limit, from a COLMAP "
    "model or a "
    "poses file. With --query-poses (e.g. the results of a first vloc localize), each of those queries is paired with "
    "the model's cameras nearest its estimated pose instead.",
    "vloc pairs from-poses outputs/pairs-mapping.txt --model outputs/reference --num 20\n\n    "
    "vloc pairs from-poses outputs/pairs-query-pose.txt --model outputs/model --query-poses outputs/results.txt "
    "--num 10 --max-angle 30",
)
def from_poses(
    out: Path = typer.Argument(..., help="Output pairs file.", callback=writable_file),
    model: Path | None = typer.Option(
        None, "--model", help="COLMAP model folder with posed images.", callback=existing_folder
    ),
    poses: Path | None = typer.Option(
        None, "--poses", help="Poses file 'name qw qx qy qz tx ty tz' (cam_from_world).", callback=existing_file
    ),
    num: int = typer.Option(20, "--num", help="Neighbours per image."),
    max_angle: float = typer.Option(90.0, "--max-angle", help="Largest angle between viewing directions, degrees."),
    query_list: Path | None = typer.Option(
        None, "--queries", help="Pair only these images (default: every image).", callback=existing_file
    ),
    query_poses: Path | None = typer.Option(
        None,
        "--query-poses",
        help="Poses file of queries outside the model (e.g. results.txt).",
        callback=existing_file,
    ),
) -> None:
    from vloc import pairs
    from vloc.errors import InputError
    from vloc.io.model import model_poses, read_model
    from vloc.io.text import read_image_list, read_poses

    if (model is None) == (poses is None):
        raise InputError("give exactly one of --model or --poses")
    known = model_poses(read_model(model)) if model else read_poses(poses)
    if not known:
        raise InputError(f"{model or poses}: no posed images to pair")
    queries = read_poses(query_poses) if query_poses else None
    pairs.from_poses(known, out, num, max_angle, read_image_list(query_list) if query_list else None, queries)
    console.print(f"pairs written to {out}")


@stage(
    pairs_app,
    "covisibility",
    "The k most covisible images of each image in a COLMAP model with 3D points.",
    "vloc pairs covisibility outputs/pairs-covis.txt --model outputs/sfm --num 20",
)
def covisibility(
    out: Path = typer.Argument(..., help="Output pairs file.", callback=writable_file),
    model: Path = typer.Option(..., "--model", help="COLMAP model folder with 3D points.", callback=existing_folder),
    num: int = typer.Option(20, "--num", help="Neighbours per image."),
) -> None:
    from vloc import pairs
    from vloc.io.model import read_model

    pairs.covisibility(read_model(model, need_points=True), out, num)
    console.print(f"pairs written to {out}")


def _global_names(image_list: Path | None, prefix: str | None, descriptors: Path, flags: str) -> list[str]:
    """Names from a list file, or those of a global-descriptor file (optionally starting with `prefix`)."""
    from vloc.errors import InputError
    from vloc.io.global_features import list_global_images
    from vloc.io.text import read_image_list

    if image_list is not None and prefix is not None:
        raise InputError(f"give either {flags}, not both")
    if image_list is not None:
        return read_image_list(image_list)
    names = list_global_images(descriptors)
    return names if prefix is None else [n for n in names if n.startswith(prefix)]


@stage(
    pairs_app,
    "retrieval",
    "The k database images most similar to each query by global descriptor (cosine similarity), best first, never "
    "the query itself; optionally expanded by the most covisible images of each retrieved one in a COLMAP model.",
    "vloc pairs retrieval outputs/pairs-query-netvlad20.txt --descriptors outputs/global-netvlad.h5 --num 20 "
    "--query-prefix query/ --db-prefix db/",
)
def retrieval(
    out: Path = typer.Argument(..., help="Output pairs file (query first, in rank order).", callback=writable_file),
    descriptors: Path = typer.Option(
        ..., "--descriptors", help="Global descriptors of the queries (and of the database).", callback=existing_file
    ),
    db_descriptors: Path | None = typer.Option(
        None, "--db-descriptors", help="Global descriptors of the database, if in another file.", callback=existing_file
    ),
    num: int = typer.Option(..., "--num", help="Database images per query."),
    query_list: Path | None = typer.Option(
        None,
        "--queries",
        help="Query names, one per line (default: every image of --descriptors).",
        callback=existing_file,
    ),
    query_prefix: str | None = typer.Option(
        None, "--query-prefix", help="Queries: the images of --descriptors whose names start with this."
    ),
    db_list: Path | None = typer.Option(
        None,
        "--db",
        help="Database names, one per line (default: every image of the database file).",
        callback=existing_file,
    ),
    db_prefix: str | None = typer.Option(None, "--db-prefix", help="Database: the images whose names start with this."),
    min_score: float | None = typer.Option(
        None, "--min-score", help="Drop retrieved images with a lower cosine similarity."
    ),
    expand_covisible: Path | None = typer.Option(
        None,
        "--expand-covisible",
        help="COLMAP model with 3D points for covisibility expansion.",
        callback=existing_folder,
    ),
    expand_num: int = typer.Option(5, "--expand-num", help="Covisible images added per retrieved image."),
    index: str = typer.Option(
        "auto",
        "--index",
        help="exact; ivf or hnsw: an approximate faiss index, saved beside the database descriptors (pip install -e "
        "'.\\[scale]'); auto: exact below 100,000 database images, ivf from there on.",
    ),
    index_set: list[str] = typer.Option(
        [], "--index-set", help="Index override, e.g. nprobe=64, approximate_from=50000 or ef_search=256."
    ),
) -> None:
    from vloc import pairs
    from vloc.config import override
    from vloc.io.model import read_model
    from vloc.search.faiss_index import IndexConf

    index_conf = override(IndexConf(kind=index), index_set)
    queries = _global_names(query_list, query_prefix, descriptors, "--queries or --query-prefix")
    database = _global_names(db_list, db_prefix, db_descriptors or descriptors, "--db or --db-prefix")
    model = read_model(expand_covisible, need_points=True) if expand_covisible is not None else None
    pairs.retrieval(
        descriptors,
        out,
        num,
        query_names=queries,
        db_names=database,
        db_descriptors=db_descriptors,
        min_score=min_score,
        expand_model=model,
        expand_num=expand_num,
        index=index_conf,
    )
    console.print(f"pairs written to {out}")


@stage(
    pairs_app,
    "sequential",
    "Each image with its k successors in list order (video), optionally plus loop-closure pairs: the most similar "
    "images by global descriptor among those more than a minimum gap away in the list.",
    "vloc pairs sequential outputs/pairs-video.txt --list frames.txt --num 10 "
    "--loop-descriptors outputs/global-netvlad.h5 --loop-num 5 --loop-min-gap 30",
)
def sequential(
    out: Path = typer.Argument(..., help="Output pairs file.", callback=writable_file),
    image_list: Path = typer.Option(
        ..., "--list", help="Image names in video order, one per line.", callback=existing_file
    ),
    num: int = typer.Option(..., "--num", help="Successors per image."),
    loop_descriptors: Path | None = typer.Option(
        None, "--loop-descriptors", help="Global descriptors for loop-closure pairs.", callback=existing_file
    ),
    loop_num: int = typer.Option(5, "--loop-num", help="Loop-closure pairs per image."),
    loop_min_gap: int | None = typer.Option(
        None,
        "--loop-min-gap",
        help="Loop pairs only between images more than this many positions apart (default: --num).",
    ),
) -> None:
    from vloc import pairs
    from vloc.io.text import read_image_list

    pairs.sequential(read_image_list(image_list), out, num, loop_descriptors, loop_num, loop_min_gap)
    console.print(f"pairs written to {out}")


@stage(
    pairs_app,
    "instances",
    "Instance-guided retrieval (LBR): for each instance recognised in a query (vloc recognize), best first, the "
    "database images showing it that are most similar to the query by global descriptor form one candidate group; "
    "the ordinary retrieval list follows as single-image groups. Writes the pairs and OUT's .groups.json for "
    "vloc localize --method lbr.",
    "vloc pairs instances outputs/pairs-instances.txt --recognitions outputs/recognitions.h5 --instances "
    "outputs/instances.h5 --descriptors outputs/global-queries.h5 --db-descriptors outputs/global-mapping.h5 "
    "--max-pairs 10",
)
def instances(
    out: Path = typer.Argument(..., help="Output pairs file (query first, in group order).", callback=writable_file),
    recognitions: Path = typer.Option(
        ..., "--recognitions", help="Recognised instances of the queries (vloc recognize).", callback=existing_file
    ),
    instances_file: Path = typer.Option(
        ...,
        "--instances",
        help="Instance labels of the database images (vloc instances build).",
        callback=existing_file,
    ),
    descriptors: Path = typer.Option(
        ..., "--descriptors", help="Global descriptors of the queries.", callback=existing_file
    ),
    db_descriptors: Path = typer.Option(
        ..., "--db-descriptors", help="Global descriptors of the database images.", callback=existing_file
    ),
    num_candidates: int = typer.Option(3, "--num-candidates", help="k_can: database images per instance group."),
    num_groups: int = typer.Option(3, "--num-groups", help="k_rec: recognised instances turned into groups."),
    min_similarity: float | None = typer.Option(
        None, "--min-similarity", help="Leave out of groups images less similar than this."
    ),
    num_retrieval: int = typer.Option(10, "--num-retrieval", help="Retrieved images appended as single-image groups."),
    max_pairs: int | None = typer.Option(
        None, "--max-pairs", help="At most this many database images per query, in group order."
    ),
) -> None:
    from vloc import pairs
    from vloc.io.groups import groups_path

    pairs.instance_groups(
        recognitions,
        instances_file,
        descriptors,
        db_descriptors,
        out,
        num_candidates=num_candidates,
        num_groups=num_groups,
        min_similarity=min_similarity,
        num_retrieval=num_retrieval,
        max_pairs=max_pairs,
    )
    console.print(f"pairs written to {out}, candidate groups to {groups_path(out)}")
