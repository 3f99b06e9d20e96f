"""CLI: vloc match features | sparse-to-dense."""

from __future__ import annotations

from pathlib import Path

import typer

from vloc.cli.app import (
    EXECUTOR,
    RAY_ADDRESS,
    SHARD_SIZE,
    WORKERS,
    console,
    executor_conf,
    existing_file,
    existing_folder,
    output_file,
    stage,
    sub_app,
    writable_file,
)

match_app = sub_app("match", "Correspondences of image pairs: from local features, or sparse-to-dense.")


@stage(
    match_app,
    "features",
    "Match the local features of every pair in PAIRS into a matches file (hloc layout). Pairs already matched are "
    "skipped unless --overwrite. A pair listed in both orders is matched once, in the order listed first (readers "
    "find it either way); a self pair (an image with itself) is skipped with a warning.",
    "vloc match features pairs.txt feats-sift.h5 matches.h5 --conf nn-ratio --set ratio_threshold=0.85\n\n    "
    "vloc match features pairs-query.txt feats-sift.h5 matches-nnml.h5 --conf nnml --labels instances.h5 --labels "
    "recognitions.h5",
)
def features(
    pairs: Path = typer.Argument(..., help="Pairs file, 'name0 name1' per line.", callback=existing_file),
    features: Path = typer.Argument(
        ..., help="Features file of the first images (and the second, without --features-ref).", callback=existing_file
    ),
    out: Path = typer.Argument(..., help="Output matches file (.h5), e.g. matches-nn-ratio_pairs-query.h5."),
    conf: str = typer.Option(
        "nn-ratio",
        "--conf",
        help="Preset: nn-ratio, nn-mutual, nn-ratio-verified, hamming, nnml (instance-wise, needs --labels).",
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="Override a config field, e.g. ratio_threshold=0.9 or verification.enabled=true."
    ),
    features_ref: Path | None = typer.Option(
        None, "--features-ref", help="Features file of the second image of each pair.", callback=existing_file
    ),
    overwrite: bool = typer.Option(
        False, help="Match the pairs of PAIRS again, even those already in the output; its other pairs are kept."
    ),
    labels: list[Path] = typer.Option(
        [],
        "--labels",
        help=(
            "nnml: keypoint instance labels (vloc instances build for the database, vloc recognize for the "
            "queries); repeat."
        ),
        callback=existing_file,
    ),
    executor: str = EXECUTOR,
    ray_address: str | None = RAY_ADDRESS,
    workers: int = WORKERS,
    shard_size: int = SHARD_SIZE,
) -> None:
    from vloc.config import override
    from vloc.match import local_features as match_stage
    from vloc.matchers.pair_matcher import conf_by_name

    configuration = override(conf_by_name(conf), set_)
    out = output_file(out, configuration.output_name(pairs))
    sharding = executor_conf(executor, ray_address, workers, shard_size)
    match_stage.main(configuration, pairs, features, out, features_ref, overwrite, labels or None, sharding)
    console.print(f"matches written to {out}")


@stage(
    match_app,
    "sparse-to-dense",
    "Sparse-to-dense matching (S2DHM): the map keypoints of each (query, database) pair are searched for in the "
    "query's dense features (vloc extract dense, or computed from --images); the hits are written to KEYPOINTS as the "
    "query keypoints, and to OUT as matches, for vloc localize.",
    "vloc match sparse-to-dense pairs-query.txt model feats-s2d.h5 matches-s2d.h5 --dense dense-dsift-r640.h5",
)
def sparse_to_dense(
    pairs: Path = typer.Argument(..., help="Query-to-database pairs file.", callback=existing_file),
    model: Path = typer.Argument(
        ..., help="The triangulated model (its keypoints with 3D points).", callback=existing_folder
    ),
    keypoints: Path = typer.Argument(
        ..., help="Output features file of the query keypoints found (.h5).", callback=writable_file
    ),
    out: Path = typer.Argument(..., help="Output matches file (.h5).", callback=writable_file),
    set_: list[str] = typer.Option([], "--set", help="Override a config field, e.g. dense.backbone=gnnet."),
    dense: Path | None = typer.Option(
        None, help="Dense features file of the queries (vloc extract dense).", callback=existing_file
    ),
    images: Path | None = typer.Option(
        None, help="Image folder, to compute dense features on the fly.", callback=existing_folder
    ),
) -> None:
    from vloc.config import override
    from vloc.match import sparse_to_dense as stage_module

    configuration = override(stage_module.SparseToDenseConf(), set_)
    stage_module.main(configuration, pairs, model, out, keypoints, dense, images)
    console.print(f"query keypoints written to {keypoints}, matches to {out}")
