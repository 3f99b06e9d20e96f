"""CLI: vloc refine."""

from __future__ import annotations

from pathlib import Path

import typer

from vloc.cli.app import app, console, existing_file, existing_folder, stage, writable_file


@stage(
    app,
    "refine",
    "Refine query poses by feature-metric PnP: Levenberg-Marquardt on dense features, coarse to fine, from PnP "
    "results, a prior poses file, or the pose of each query's top retrieved image. Writes RESULTS and RESULTS_log.json "
    "(costs and feature inliers before and after, timings; a refinement that raises the cost keeps the initial pose).",
    "vloc refine outputs/model queries.txt pairs-query.txt outputs/results-refined.txt --poses outputs/results.txt "
    "--dense outputs/dense-dsift-r640.h5",
)
def refine(
    model: Path = typer.Argument(..., help="Triangulated COLMAP model.", callback=existing_folder),
    queries: Path = typer.Argument(
        ..., help="Queries file: 'name MODEL width height params...' per line.", callback=existing_file
    ),
    pairs: Path = typer.Argument(
        ..., help="Query-to-database pairs (reference images, in retrieval order).", callback=existing_file
    ),
    results: Path = typer.Argument(..., help="Output results file.", callback=writable_file),
    poses: Path | None = typer.Option(
        None,
        help="Initial poses: PnP results (its _log.json names the images used) or a prior.",
        callback=existing_file,
    ),
    init: str = typer.Option(
        "poses", help="poses (from --poses) or retrieval (pose of the top database image in PAIRS)."
    ),
    dense: Path | None = typer.Option(
        None, help="Dense features of queries and database images (vloc extract dense).", callback=existing_file
    ),
    images: Path | None = typer.Option(
        None, help="Image folder, to compute dense features on the fly instead.", callback=existing_folder
    ),
    dense_conf: str = typer.Option(
        "dsift", help="Dense backbone preset for on-the-fly features: dsift, gnnet, s2dhm-vgg16."
    ),
    set_: list[str] = typer.Option(
        [],
        "--set",
        help="Override, e.g. featuremetric.levels=(2,3,4), featuremetric.optimizer.loss=cauchy, num_db_images=5.",
    ),
) -> None:
    from vloc import refine as run
    from vloc.config import override
    from vloc.dense.pyramid import conf_by_name
    from vloc.errors import ConfigError
    from vloc.featuremetric.query_refiner import RefineConf

    if init not in ("poses", "retrieval"):
        raise ConfigError(f"--init must be poses or retrieval, got '{init}'")
    conf = override(RefineConf(dense=conf_by_name(dense_conf)), set_)
    run.main(conf, model, queries, pairs, results, poses_path=poses, init=init, dense_path=dense, image_root=images)
    console.print(f"refined poses written to {results}")
