"""CLI: vloc localize."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from vloc.cli.app import (
    EXECUTOR,
    RAY_ADDRESS,
    SHARD_SIZE,
    WORKERS,
    app,
    console,
    executor_conf,
    existing_file,
    existing_folder,
    file_to_extend,
    stage,
    writable_file,
)


@stage(
    app,
    "localize",
    "Localize each query (hloc queries file with intrinsics) against a triangulated model by PnP + RANSAC. "
    "Writes RESULTS ('name qw qx qy qz tx ty tz', cam_from_world) and RESULTS_log.json (per-query log). "
    "--refine featuremetric then refines each pose on dense features (see vloc refine) and fuses it with the PnP "
    "pose by their covariances, keeping the PnP pose where the two disagree beyond chi-square's 99% quantile "
    "(--refine-set max_pose_change_chi2=inf skips that test) or the fused pose reprojects fewer 2D-3D matches "
    "(--refine-set keep_pnp_inliers=false skips that one). "
    "--method lbr localizes over the candidate groups of PAIRS (vloc pairs instances) with early exit: pairs are "
    "matched when first reached (--match-conf, default nnml with --labels) and kept in MATCHES.",
    "vloc localize outputs/sfm queries.txt pairs-query.txt feats.h5 matches-query.h5 outputs/results.txt --set "
    "ransac_max_error=8 "
    "--refine featuremetric --images images/\n\n    "
    "vloc localize outputs/sfm queries.txt pairs-instances.txt feats.h5 matches-lbr.h5 outputs/results-lbr.txt "
    "--method lbr "
    "--labels instances.h5 --labels recognitions.h5",
)
def localize(
    model: Path = typer.Argument(..., help="Triangulated COLMAP model.", callback=existing_folder),
    queries: Path = typer.Argument(
        ..., help="Queries file: 'name MODEL width height params...' per line.", callback=existing_file
    ),
    pairs: Path = typer.Argument(..., help="Query-to-database pairs file.", callback=existing_file),
    features: Path = typer.Argument(
        ...,
        help=(
            "Features file of the queries (database keypoints come from the model; where present here they must agree)."
        ),
        callback=existing_file,
    ),
    matches: Path = typer.Argument(
        ..., help="Matches file of the query pairs (--method lbr: read and added to).", callback=file_to_extend
    ),
    results: Path = typer.Argument(..., help="Output results file.", callback=writable_file),
    set_: list[str] = typer.Option(
        [],
        "--set",
        help=(
            "Override, e.g. ransac_max_error=8, min_inliers=20, covisibility_clustering=true, "
            "fallback_to_top_image=true; a pose needs min_inliers, min_inlier_ratio (0.1) and "
            "max_position_std_relative (0.05) to count as localized: min_inlier_ratio=0 or "
            "max_position_std_relative=inf turns a test off."
        ),
    ),
    refine: str = typer.Option("none", help="none, or featuremetric: refine each PnP pose on dense features."),
    dense: Path | None = typer.Option(
        None, help="With --refine: dense features file (vloc extract dense).", callback=existing_file
    ),
    images: Path | None = typer.Option(
        None, help="With --refine: image folder, to compute dense features on the fly.", callback=existing_folder
    ),
    dense_conf: str = typer.Option("dsift", help="With --refine: dense backbone preset for on-the-fly features."),
    refine_set: list[str] = typer.Option(
        [], "--refine-set", help="Refinement override, e.g. featuremetric.levels=(3,4)."
    ),
    method: str = typer.Option("hloc", help="hloc (PnP over the paired images) or lbr (candidate groups, early exit)."),
    match_conf: str = typer.Option("nnml", help="With --method lbr: the matcher preset for pairs not yet in MATCHES."),
    match_set: list[str] = typer.Option(
        [], "--match-set", help="With --method lbr: matcher override, e.g. ratio_threshold=none."
    ),
    labels: list[Path] = typer.Option(
        [],
        "--labels",
        help="With --method lbr and nnml: instances.h5 of the database and the queries' recognitions.",
        callback=existing_file,
    ),
    executor: str = EXECUTOR,
    ray_address: str | None = RAY_ADDRESS,
    workers: int = WORKERS,
    shard_size: int = SHARD_SIZE,
) -> None:
    from vloc.config import override
    from vloc.errors import ConfigError
    from vloc.io.text import log_path
    from vloc.localize import hierarchical as localize_stage
    from vloc.localize.methods import localization_confs
    from vloc.pnp.inputs import LocalizationInputs

    conf, configuration = localization_confs(method, set_, match_conf, match_set)
    inputs = LocalizationInputs(model, queries, pairs, features, matches)
    sharding = executor_conf(executor, ray_address, workers, shard_size)
    if method == "lbr":
        from vloc.localize import lbr as localize_lbr

        if refine != "none":
            raise ConfigError("--refine is not available with --method lbr")
        if sharding.is_ray:
            raise ConfigError(
                "--executor ray is not available with --method lbr (it matches on demand, query by query)"
            )
        localize_lbr.main(conf, configuration, inputs, results, labels=labels or None)
        summary = json.loads(log_path(results).read_text())["summary"]
        console.print(
            f"LBR: {summary['mean_pairs_matched']:.2f} pairs matched per query, "
            f"{summary['num_early_exits']}/{summary['num_queries']} early exits"
        )
        console.print(f"poses written to {results}, log to {log_path(results)}")
        return
    if refine not in ("none", "featuremetric"):
        raise ConfigError(f"--refine must be none or featuremetric, got '{refine}'")
    refine_conf = None
    if refine == "featuremetric":  # imported here: the dense features need torch, which takes seconds to import
        from vloc.dense.pyramid import conf_by_name
        from vloc.featuremetric.query_refiner import RefineConf

        refine_conf = override(RefineConf(dense=conf_by_name(dense_conf)), refine_set)
    localize_stage.main(
        conf, inputs, results, refine=refine_conf, dense_path=dense, image_root=images, executor=sharding
    )
    if refine_conf is not None:
        outcomes = dict(json.loads(log_path(results).read_text())["summary"]["refinement"])
        fused = outcomes.pop("fused", 0)
        console.print(f"refinement: {fused} of {fused + sum(outcomes.values())} poses fused with their PnP pose")
        for reason, count in sorted(outcomes.items(), key=lambda item: -item[1]):
            console.print(f"  PnP pose kept ({reason}): {count}")
    console.print(f"poses written to {results}, log to {log_path(results)}")


@stage(
    app,
    "localize-scr",
    "The pose of each query from the scene coordinates a trained network (vloc train scr) regresses for its image: "
    "DSAC* (64 P3P hypotheses scored by soft inlier count, the best refined on its inliers). A pose counts as "
    "localized with at least 12 inliers and 40% of the cells (--set min_inliers=..., min_inlier_ratio=...); writes "
    "RESULTS and RESULTS_log.json (soft inliers, inliers, hypotheses, time), evaluated by vloc evaluate poses.",
    "vloc localize-scr outputs/scr-day/scr.pt outputs/street/queries.txt outputs/street/images outputs/scr/results.txt",
)
def localize_scr(
    network: Path = typer.Argument(..., help="Coordinate network (scr.pt of vloc train scr).", callback=existing_file),
    queries: Path = typer.Argument(
        ..., help="Queries file: name and pinhole intrinsics per line.", callback=existing_file
    ),
    images: Path = typer.Argument(..., help="Image folder; query names are relative to it.", callback=existing_folder),
    results: Path = typer.Argument(..., help="Output results file.", callback=file_to_extend),
    set_: list[str] = typer.Option([], "--set", help="Override a config field, e.g. dsac.num_hypotheses=256."),
) -> None:
    from vloc.config import override
    from vloc.io.text import log_path
    from vloc.localize import scr

    scr.main(override(scr.SCRLocalizeConf(), set_), network, queries, images, results)
    console.print(f"poses written to {results}, log to {log_path(results)}")
