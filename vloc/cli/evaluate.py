"""CLI: vloc evaluate | evaluate-consistency | evaluate-retrieval."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app, console, stage


def parse_threshold(text: str) -> tuple[float, float]:
    """'0.02,2' -> (0.02 m, 2 deg)."""
    from ..errors import ConfigError

    try:
        metres, degrees = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"threshold '{text}' is not 'metres,degrees' (e.g. 0.05,5)") from None
    return metres, degrees


def read_dataset(dataset_json: Path | None) -> dict:
    """dataset.json of `vloc prepare` (thresholds, conditions), or none of either."""
    from ..datasets import read_dataset_json

    return read_dataset_json(dataset_json) if dataset_json is not None else {"thresholds": [], "conditions": {}}


def query_names(dataset_json: Path | None, query_list: Path | None) -> list[str] | None:
    """Query names: the list, else dataset.json's query_list.txt beside it, else None (all)."""
    from ..io.text import read_image_list

    if query_list is None and dataset_json is not None and (dataset_json.parent / "query_list.txt").exists():
        query_list = dataset_json.parent / "query_list.txt"
    return read_image_list(query_list) if query_list is not None else None


def evaluation_setup(
    dataset_json: Path | None, threshold: list[str], query_list: Path | None
) -> tuple[list[tuple[float, float]], list[str] | None, dict[str, str] | None]:
    """Thresholds (--threshold, else dataset.json's), query names and conditions of an evaluation."""
    from ..errors import ConfigError

    info = read_dataset(dataset_json)
    thresholds = [parse_threshold(t) for t in threshold] or info["thresholds"]
    if not thresholds:
        raise ConfigError("no thresholds: give --threshold metres,degrees or --dataset-json")
    return thresholds, query_names(dataset_json, query_list), info["conditions"] or None


@stage(
    app,
    "evaluate",
    "Compare a results file (name qw qx qy qz tx ty tz, cam_from_world) with ground truth (poses file or COLMAP "
    "model): median errors, recall at thresholds, failures (queries without a result), per condition.",
    "vloc evaluate outputs/7scenes/results.txt outputs/7scenes/ground_truth.txt "
    "--dataset-json outputs/7scenes/dataset.json --plot outputs/7scenes/cdf.png",
)
def evaluate(
    results: Path = typer.Argument(..., help="Results file of the localizer."),
    ground_truth: Path = typer.Argument(..., help="Poses file or COLMAP model folder."),
    dataset_json: Path | None = typer.Option(None, "--dataset-json", help="dataset.json of `vloc prepare`: thresholds, conditions and query list."),
    threshold: list[str] = typer.Option([], "--threshold", help="'metres,degrees', repeatable; overrides dataset.json."),
    query_list: Path | None = typer.Option(None, "--queries", help="Query names to evaluate (default: the dataset's query list, else all of the ground truth)."),
    out_json: Path | None = typer.Option(None, "--out-json", help="Write the report as JSON."),
    plot: Path | None = typer.Option(None, "--plot", help="Write cumulative error curves as PNG."),
    model_units: bool = typer.Option(False, "--model-units", help="Ground truth without metric scale (an SfM model): thresholds and errors in its units, shown as 'units'."),
) -> None:
    from .. import evaluate as evaluate_stage

    thresholds, queries, conditions = evaluation_setup(dataset_json, threshold, query_list)
    evaluate_stage.main(results, ground_truth, thresholds, queries, conditions, out_json, plot, model_units)
    if out_json is not None:
        console.print(f"report written to {out_json}")


@stage(
    app,
    "evaluate-consistency",
    "How well the ground truth explains each query's 2D-3D matches, beside the estimate: the matches (through every "
    "image the query is paired with, each keypoint-point pair once) that each pose reprojects within --max-error "
    "pixels. Where the ground truth has far fewer than the estimate, the query's true pose and the map's poses "
    "disagree, and the localization error measured against it is partly the ground truth's own.",
    "vloc evaluate-consistency outputs/7scenes/hard/model outputs/7scenes/hard/queries.txt "
    "outputs/7scenes/hard/pairs-query.txt outputs/7scenes/feats-sift.h5 outputs/7scenes/hard/matches-query.h5 "
    "outputs/7scenes/hard/results.txt outputs/7scenes/hard/ground_truth.txt --dataset-json outputs/7scenes/hard/dataset.json",
)
def evaluate_consistency(
    model: Path = typer.Argument(..., help="Triangulated COLMAP model the queries were localized against."),
    queries: Path = typer.Argument(..., help="Queries file with intrinsics."),
    pairs: Path = typer.Argument(..., help="Query-to-database pairs file (as localized)."),
    features: Path = typer.Argument(..., help="Features file of the queries."),
    matches: Path = typer.Argument(..., help="Matches file of the query pairs."),
    results: Path = typer.Argument(..., help="Results file of the localizer."),
    ground_truth: Path = typer.Argument(..., help="Poses file or COLMAP model folder."),
    max_error: float = typer.Option(4.0, "--max-error", help="Reprojection error of an inlier, pixels."),
    weak_ratio: float = typer.Option(0.5, "--weak-ratio", help="Count the queries whose ground truth has fewer than this fraction of the estimate's inliers."),
    dataset_json: Path | None = typer.Option(None, "--dataset-json", help="dataset.json of `vloc prepare`: conditions and query list."),
    query_list: Path | None = typer.Option(None, "--queries", help="A list of the query names to evaluate, one per line (default: the dataset's query list, else every query of the QUERIES file)."),
    out_json: Path | None = typer.Option(None, "--out-json", help="Write the report as JSON."),
) -> None:
    from .. import evaluate_consistency as stage_module

    conditions = read_dataset(dataset_json)["conditions"] or None
    stage_module.main(
        model, queries, pairs, features, matches, results, ground_truth, max_error, weak_ratio,
        query_names(dataset_json, query_list), conditions, out_json,
    )
    if out_json is not None:
        console.print(f"report written to {out_json}")


@stage(
    app,
    "evaluate-retrieval",
    "Recall@k of a retrieval pairs file (query first, rank order): the fraction of queries with at least one of "
    "their first k images within --max-distance metres (camera centres) and --max-angle degrees (between optical "
    "axes) of the query, by ground-truth poses.",
    "vloc evaluate-retrieval outputs/pairs-query-netvlad20.txt --ground-truth outputs/7scenes/ground_truth.txt "
    "--db-ground-truth outputs/7scenes/reference --queries outputs/7scenes/query_list.txt",
)
def evaluate_retrieval(
    pairs_path: Path = typer.Argument(..., help="Retrieval pairs file, query first, best first."),
    ground_truth: Path = typer.Option(..., "--ground-truth", help="Poses file or COLMAP model with the queries' poses."),
    db_ground_truth: Path | None = typer.Option(None, "--db-ground-truth", help="Poses file or COLMAP model with the database poses (e.g. the reference model)."),
    query_list: Path | None = typer.Option(None, "--queries", help="Query names (default: the first names of the pairs file)."),
    ks: list[int] = typer.Option([1, 5, 10], "--k", help="Recall at k, repeatable."),
    max_distance: float = typer.Option(0.5, "--max-distance", help="Largest camera-centre distance, metres."),
    max_angle: float = typer.Option(30.0, "--max-angle", help="Largest angle between optical axes, degrees."),
    out_json: Path | None = typer.Option(None, "--out-json", help="Write the report as JSON."),
) -> None:
    from .. import evaluate_retrieval as stage_module
    from ..io.text import read_image_list

    queries = read_image_list(query_list) if query_list is not None else None
    stage_module.main(pairs_path, ground_truth, queries, tuple(ks), max_distance, max_angle, db_ground_truth, out_json)
    if out_json is not None:
        console.print(f"report written to {out_json}")
