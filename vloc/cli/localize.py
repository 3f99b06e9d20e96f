"""CLI: vloc localize."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app, console, stage


@stage(
    app,
    "localize",
    "Localize each query (hloc queries file with intrinsics) against a triangulated model by PnP + RANSAC. "
    "Writes RESULTS ('name qw qx qy qz tx ty tz', cam_from_world) and RESULTS_log.json (per-query log).",
    "vloc localize outputs/sfm queries.txt pairs-query.txt feats.h5 matches-query.h5 outputs/results.txt --set ransac_max_error=8",
)
def localize(
    model: Path = typer.Argument(..., help="Triangulated COLMAP model."),
    queries: Path = typer.Argument(..., help="Queries file: 'name MODEL width height params...' per line."),
    pairs: Path = typer.Argument(..., help="Query-to-database pairs file."),
    features: Path = typer.Argument(..., help="Features file with query and database images."),
    matches: Path = typer.Argument(..., help="Matches file of the query pairs."),
    results: Path = typer.Argument(..., help="Output results file."),
    set_: list[str] = typer.Option(
        [], "--set", help="Override, e.g. ransac_max_error=8, min_inliers=20, covisibility_clustering=true, fallback_to_top_image=true."
    ),
) -> None:
    from .. import localize as localize_stage
    from ..config import override

    conf = override(localize_stage.LocalizeConf(), set_)
    localize_stage.main(conf, model, queries, pairs, features, matches, results)
    console.print(f"poses written to {results}, log to {localize_stage.log_path(results)}")
