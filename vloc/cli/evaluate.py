"""CLI: vloc evaluate poses | consistency | retrieval | pairs | submission."""

from __future__ import annotations

from pathlib import Path

import typer

from vloc.cli.app import (
    console,
    existing_file,
    existing_folder,
    existing_path,
    parse_pair,
    stage,
    sub_app,
    writable_file,
)

evaluate_app = sub_app(
    "evaluate", "Evaluate poses, their consistency with the ground truth, retrieval, and the matches of image pairs."
)


@stage(
    evaluate_app,
    "poses",
    "Compare a results file (name qw qx qy qz tx ty tz, cam_from_world) with ground truth (poses file or COLMAP "
    "model): median errors, recall at thresholds, failures (queries without a result), per condition.",
    "vloc evaluate poses outputs/7scenes/results.txt outputs/7scenes/ground_truth.txt "
    "--dataset-json outputs/7scenes/dataset.json --plot outputs/7scenes/cdf.png",
)
def poses(
    results: Path = typer.Argument(..., help="Results file of the localizer.", callback=existing_file),
    ground_truth: Path = typer.Argument(..., help="Poses file or COLMAP model folder.", callback=existing_path),
    dataset_json: Path | None = typer.Option(
        None,
        "--dataset-json",
        help="dataset.json of `vloc prepare`: thresholds, conditions and query list.",
        callback=existing_file,
    ),
    threshold: list[str] = typer.Option(
        [], "--threshold", help="'metres,degrees', repeatable; overrides dataset.json."
    ),
    query_list: Path | None = typer.Option(
        None,
        "--queries",
        help="Query names to evaluate (default: the dataset's query list, else all of the ground truth).",
        callback=existing_file,
    ),
    out_json: Path | None = typer.Option(None, "--out-json", help="Write the report as JSON.", callback=writable_file),
    plot: Path | None = typer.Option(
        None,
        "--plot",
        help="Write cumulative error curves as PNG (default with --out-json: beside it, as <stem>.png).",
        callback=writable_file,
    ),
    model_units: bool = typer.Option(
        False,
        "--model-units",
        help="Ground truth without metric scale (an SfM model): thresholds and errors in its units, shown as 'units'.",
    ),
) -> None:
    from vloc.evaluate import poses as evaluate_stage
    from vloc.evaluate.setup import evaluation_setup

    setup = evaluation_setup(
        dataset_json, [parse_pair(t, "--threshold", "metres,degrees") for t in threshold], query_list
    )
    if plot is None and out_json is not None:
        plot = out_json.with_suffix(".png")
    evaluate_stage.main(results, ground_truth, setup, out_json=out_json, plot=plot, model_units=model_units)
    if out_json is not None:
        console.print(f"report written to {out_json}")
    if plot is not None:
        console.print(f"cumulative error curves written to {plot}")


@stage(
    evaluate_app,
    "consistency",
    "How well the ground truth explains each query's 2D-3D matches, beside the estimate: the matches (through every "
    "image the query is paired with, each keypoint-point pair once) that each pose reprojects within --max-error "
    "pixels. Where the ground truth has far fewer than the estimate, the query's true pose and the map's poses "
    "disagree, and the localization error measured against it is partly the ground truth's own.",
    "vloc evaluate consistency outputs/7scenes/hard/model outputs/7scenes/hard/queries.txt "
    "outputs/7scenes/hard/pairs-query.txt outputs/7scenes/feats-sift.h5 outputs/7scenes/hard/matches-query.h5 "
    "outputs/7scenes/hard/results.txt outputs/7scenes/hard/ground_truth.txt --dataset-json "
    "outputs/7scenes/hard/dataset.json",
)
def consistency(
    model: Path = typer.Argument(
        ..., help="Triangulated COLMAP model the queries were localized against.", callback=existing_folder
    ),
    queries: Path = typer.Argument(..., help="Queries file with intrinsics.", callback=existing_file),
    pairs: Path = typer.Argument(..., help="Query-to-database pairs file (as localized).", callback=existing_file),
    features: Path = typer.Argument(..., help="Features file of the queries.", callback=existing_file),
    matches: Path = typer.Argument(..., help="Matches file of the query pairs.", callback=existing_file),
    results: Path = typer.Argument(..., help="Results file of the localizer.", callback=existing_file),
    ground_truth: Path = typer.Argument(..., help="Poses file or COLMAP model folder.", callback=existing_path),
    max_error: float = typer.Option(4.0, "--max-error", help="Reprojection error of an inlier, pixels."),
    weak_ratio: float = typer.Option(
        0.5,
        "--weak-ratio",
        help="Count the queries whose ground truth has fewer than this fraction of the estimate's inliers.",
    ),
    dataset_json: Path | None = typer.Option(
        None,
        "--dataset-json",
        help="dataset.json of `vloc prepare`: conditions and query list.",
        callback=existing_file,
    ),
    query_list: Path | None = typer.Option(
        None,
        "--queries",
        help=(
            "A list of the query names to evaluate, one per line (default: the dataset's query list, else every "
            "query of the QUERIES file)."
        ),
        callback=existing_file,
    ),
    out_json: Path | None = typer.Option(None, "--out-json", help="Write the report as JSON.", callback=writable_file),
) -> None:
    from vloc.evaluate import consistency as stage_module
    from vloc.evaluate.setup import dataset_conditions, query_list_file
    from vloc.pnp.inputs import LocalizationInputs

    stage_module.main(
        LocalizationInputs(model, queries, pairs, features, matches),
        results,
        ground_truth,
        max_error=max_error,
        weak_ratio=weak_ratio,
        query_list=query_list_file(dataset_json, query_list),
        conditions=dataset_conditions(dataset_json),
        out_json=out_json,
    )
    if out_json is not None:
        console.print(f"report written to {out_json}")


@stage(
    evaluate_app,
    "retrieval",
    "Recall@k of a retrieval pairs file (query first, rank order): the fraction of queries with at least one of "
    "their first k images within --max-distance metres (camera centres) and --max-angle degrees (between optical "
    "axes) of the query, by ground-truth poses.",
    "vloc evaluate retrieval outputs/pairs-query-netvlad20.txt --ground-truth outputs/7scenes/ground_truth.txt "
    "--db-ground-truth outputs/7scenes/reference --queries outputs/7scenes/query_list.txt",
)
def retrieval(
    pairs_path: Path = typer.Argument(
        ..., help="Retrieval pairs file, query first, best first.", callback=existing_file
    ),
    ground_truth: Path = typer.Option(
        ..., "--ground-truth", help="Poses file or COLMAP model with the queries' poses.", callback=existing_path
    ),
    db_ground_truth: Path | None = typer.Option(
        None,
        "--db-ground-truth",
        help="Poses file or COLMAP model with the database poses (e.g. the reference model).",
        callback=existing_path,
    ),
    query_list: Path | None = typer.Option(
        None, "--queries", help="Query names (default: the first names of the pairs file).", callback=existing_file
    ),
    ks: list[int] = typer.Option([1, 5, 10], "--k", help="Recall at k, repeatable."),
    max_distance: float = typer.Option(0.5, "--max-distance", help="Largest camera-centre distance, metres."),
    max_angle: float = typer.Option(30.0, "--max-angle", help="Largest angle between optical axes, degrees."),
    out_json: Path | None = typer.Option(None, "--out-json", help="Write the report as JSON.", callback=writable_file),
) -> None:
    from vloc.evaluate import retrieval as stage_module
    from vloc.io.text import read_image_list

    queries = read_image_list(query_list) if query_list is not None else None
    stage_module.main(
        pairs_path,
        ground_truth,
        queries=queries,
        ks=tuple(ks),
        max_distance=max_distance,
        max_angle_deg=max_angle,
        db_ground_truth=db_ground_truth,
        out_json=out_json,
    )
    if out_json is not None:
        console.print(f"report written to {out_json}")


@stage(
    evaluate_app,
    "pairs",
    "How well each pair's matches give its relative pose: essential-matrix RANSAC with the known intrinsics, error = "
    "the larger of the rotation error and the translation direction's (degrees), pose AUC up to 5 / 10 / 20 deg over "
    "the pairs; and the matches' precision (symmetric epipolar distance under the true relative pose below "
    "--epipolar-threshold, normalised coordinates) and matching score (correct matches per keypoint of the first "
    "image). GROUND_TRUTH: a posed COLMAP model, or a `vloc prepare` folder (its reference model and queries).",
    "vloc evaluate pairs outputs/7scenes/easy/pairs-query.txt outputs/7scenes/feats-sift.h5 "
    "outputs/7scenes/easy/matches-query.h5 outputs/7scenes/easy --out-json outputs/7scenes/easy/pairs-eval.json",
)
def pairs(
    pairs_path: Path = typer.Argument(..., help="Pairs file.", callback=existing_file),
    features: Path = typer.Argument(..., help="Features file of both images of every pair.", callback=existing_file),
    matches: Path = typer.Argument(..., help="Matches file of the pairs.", callback=existing_file),
    ground_truth: Path = typer.Argument(
        ..., help="Posed COLMAP model, or a `vloc prepare` output folder.", callback=existing_folder
    ),
    ransac_max_error: float = typer.Option(1.0, "--ransac-max-error", help="Essential-matrix RANSAC, pixels."),
    epipolar_threshold: float = typer.Option(
        5e-4, "--epipolar-threshold", help="Correct match: epipolar distance below this, normalised coordinates."
    ),
    out_json: Path | None = typer.Option(
        None, "--out-json", help="Write the report (summary and per pair) as JSON.", callback=writable_file
    ),
) -> None:
    from vloc.evaluate import pairs as stage_module

    conf = stage_module.PairEvaluationConf(ransac_max_error=ransac_max_error, epipolar_threshold=epipolar_threshold)
    stage_module.main(conf, pairs_path, features, matches, ground_truth, out_json)
    if out_json is not None:
        console.print(f"report written to {out_json}")


@stage(
    evaluate_app,
    "submission",
    "Write the file an evaluation server takes (visuallocalization.net): every query of the dataset that `vloc "
    "prepare` wrote beside DATASET_JSON, once, named as the server names it (dataset.json's submission_names), "
    "'name qw qx qy qz tx ty tz' (cam_from_world). A query without a pose is an error unless --allow-missing; "
    "OUT.json beside it counts the queries and lists the missing ones and those whose pose is a fallback.",
    "vloc evaluate submission outputs/aachen/results.txt outputs/aachen/dataset.json outputs/aachen/submission.txt",
)
def submission(
    results: Path = typer.Argument(..., help="Results file of the localizer.", callback=existing_file),
    dataset_json: Path = typer.Argument(..., help="dataset.json of `vloc prepare`.", callback=existing_file),
    out: Path = typer.Argument(..., help="Output submission file.", callback=writable_file),
    allow_missing: bool = typer.Option(
        False, "--allow-missing", help="Leave queries without a pose out (the server counts them as not localized)."
    ),
) -> None:
    from vloc.evaluate import submission as submission_stage

    summary = submission_stage.main(results, dataset_json, out, allow_missing)
    fallbacks = f", {len(summary['fallbacks'])} of them fallbacks" if summary["fallbacks"] else ""
    console.print(
        f"{summary['num_submitted']}/{summary['num_queries']} queries written to {out}{fallbacks} "
        f"({summary['naming']} names)"
    )
