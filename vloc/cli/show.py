"""CLI: vloc show."""

from __future__ import annotations

from pathlib import Path

import typer

from vloc.cli.app import app, console, existing_file, existing_folder, existing_path, output_file, stage


@stage(
    app,
    "show",
    "Write a 3D view of a COLMAP model as one HTML page that opens offline in a browser: its 3D points in their "
    "colours (at most --max-points), its cameras as blue frustums and, with --results, the localized queries as "
    "frustums coloured red to green by their PnP inliers (from RESULTS_log.json; green from 100) or, with "
    "--ground-truth, by their position error (red from 2% of the scene extent). Hover over a camera for its name "
    "and numbers.",
    "vloc show outputs/demo/model outputs/demo/scene.html --results outputs/demo/results.txt "
    "--ground-truth outputs/demo/ground_truth.txt",
)
def show(
    model: Path = typer.Argument(..., help="COLMAP model folder.", callback=existing_folder),
    out_html: Path = typer.Argument(..., help="Output HTML page."),
    results: Path | None = typer.Option(
        None,
        "--results",
        help="Results file (name qw qx qy qz tx ty tz, cam_from_world) of queries to draw.",
        callback=existing_file,
    ),
    ground_truth: Path | None = typer.Option(
        None,
        "--ground-truth",
        help="Poses file or COLMAP model: colour the queries by position error.",
        callback=existing_path,
    ),
    max_points: int = typer.Option(50_000, "--max-points", help="Draw at most this many 3D points (a random subset)."),
) -> None:
    from vloc.show import page

    page.main(
        model,
        output_file(out_html, "scene.html"),
        results=results,
        ground_truth=ground_truth,
        max_points=max_points,
    )
    console.print(f"3D view written to {out_html}")
