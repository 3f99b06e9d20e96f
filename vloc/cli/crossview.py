"""CLI: vloc crossview prepare, localize, evaluate (ground-to-aerial 3-DoF localization, DenseFlow)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from vloc.cli.app import console, existing_file, existing_folder, stage, sub_app, writable_file, writable_folder

crossview_app = sub_app(
    "crossview",
    "Ground-to-aerial localization (DenseFlow): the x, y and yaw of ground cameras on an aerial image, from a prior.",
)


@stage(
    crossview_app,
    "prepare",
    "Write OUT/crossview.json for a published cross-view dataset in its own folder layout (no image is copied; OUT "
    "must lie outside it): kitti (KITTI raw with the satmap/ tiles of HighlyAccurate / DenseFlow; --split-file "
    "test1_files.txt etc., whose published perturbations become the priors), vigor (panoramas and satellite tiles; "
    "--area same|cross), ford (Ford Multi-AV as HighlyAccurate / DenseFlow lay it out; --log to choose logs). Views "
    "without a published prior get a seeded one within --prior-offset metres and --prior-yaw degrees.",
    "vloc crossview prepare kitti /data/KITTI outputs/kitti_crossview --split-file /data/KITTI/test1_files.txt",
)
def prepare(
    layout: str = typer.Argument(..., help="kitti, vigor or ford."),
    root: Path = typer.Argument(..., help="The dataset's folder.", callback=existing_folder),
    out: Path = typer.Argument(..., help="Output folder for crossview.json.", callback=writable_folder),
    split_file: list[Path] = typer.Option([], help="kitti: a split file (repeatable).", callback=existing_file),
    area: str = typer.Option("same", help="vigor: same or cross area splits."),
    log: list[str] = typer.Option([], help="ford: a log to use (repeatable; default all)."),
    prior_offset: float = typer.Option(20.0, help="Seeded priors: metres along and across the heading."),
    prior_yaw: float = typer.Option(10.0, help="Seeded priors: degrees."),
    seed: int = typer.Option(0, help="Seed of the priors."),
) -> None:
    from vloc.errors import ConfigError

    priors = {"prior_offset_m": prior_offset, "prior_yaw_deg": prior_yaw, "seed": seed}
    if layout == "kitti":
        from vloc.datasets.crossview_kitti import prepare_kitti_crossview

        views = prepare_kitti_crossview(root, out, tuple(split_file), **priors)
    elif layout == "vigor":
        from vloc.datasets.vigor import prepare_vigor

        views = prepare_vigor(root, out, area=area, **priors)
    elif layout == "ford":
        from vloc.datasets.ford_crossview import prepare_ford_crossview

        views = prepare_ford_crossview(root, out, tuple(log), **priors)
    else:
        raise ConfigError(f"unknown cross-view layout {layout!r} (choose from kitti, vigor, ford)")
    console.print(f"{views} ground views written to {out / 'crossview.json'}")


@stage(
    crossview_app,
    "localize",
    "Localize the ground views of a cross-view dataset (crossview.json: aerial images with metres per pixel, ground "
    "images with intrinsics, camera height and a prior) on their aerial images: a tile is cut around each prior, the "
    "ground features are projected to a bird's-eye view on it (flat ground), DenseFlow's flow and confidence give the "
    "planar pose by a weighted rigid fit (--method flow), or the view is slid and turned over the aerial features "
    "(--method correlation, the baseline). Writes OUT (lines 'image x y yaw_deg') and OUT's _log.json; --draw DIR "
    "writes a PNG per view: prior blue, estimate green, ground truth red.",
    "vloc crossview localize outputs/crossview_data outputs/crossview_model/denseflow.pt "
    "outputs/crossview/poses.txt --split test --condition night",
)
def localize(
    dataset: Path = typer.Argument(..., help="Cross-view dataset folder (crossview.json).", callback=existing_folder),
    checkpoint: Path = typer.Argument(..., help="DenseFlow checkpoint (vloc train crossview).", callback=existing_file),
    out: Path = typer.Argument(..., help="Output poses file.", callback=writable_file),
    split: str | None = typer.Option(None, help="Only the views of this split, e.g. test."),
    condition: str | None = typer.Option(None, help="Only the views of this condition, e.g. night."),
    method: str = typer.Option("flow", help="flow (DenseFlow), flow-unweighted, or correlation (the baseline)."),
    draw: Path | None = typer.Option(None, help="Folder for a drawing per view (created)."),
    set_: list[str] = typer.Option([], "--set", help="Override a config field, e.g. search_offset=20."),
) -> None:
    from vloc.config import override
    from vloc.crossview import localize as stage_module
    from vloc.io.crossview import read_crossview

    conf = override(stage_module.CrossviewLocalizeConf(method=method), set_)
    stage_module.main(read_crossview(dataset), checkpoint, out, conf, split, condition, draw)
    console.print(f"planar poses written to {out}")


@stage(
    crossview_app,
    "evaluate",
    "Errors of planar poses against the dataset's ground truth, per condition, beside those of the priors: mean and "
    "median distance and yaw, recall within 1/3/5 m (distance, lateral, longitudinal along the true heading) and "
    "1/3/5 deg.",
    "vloc crossview evaluate outputs/crossview_data outputs/crossview/poses.txt --json outputs/crossview/metrics.json",
)
def evaluate(
    dataset: Path = typer.Argument(..., help="Cross-view dataset folder (crossview.json).", callback=existing_folder),
    results: Path = typer.Argument(..., help="Poses from vloc crossview localize.", callback=existing_file),
    json_out: Path | None = typer.Option(
        None, "--json", help="Also write the metrics as JSON here.", callback=writable_file
    ),
) -> None:
    from rich.table import Table

    from vloc.crossview.evaluate import THRESHOLDS, evaluate
    from vloc.io.crossview import read_crossview
    from vloc.io.text import write_text_atomic

    metrics = evaluate(read_crossview(dataset), results)
    table = Table(title=f"cross-view localization: {results}")
    for column in ("condition", "", "views", "median m / deg", "mean m / deg", "recall m (dist)", "lat", "lon", "deg"):
        table.add_column(column)
    recall = lambda s, key: " / ".join(f"{s[f'recall_{key}_{t:g}']:.0f}" for t in THRESHOLDS)  # noqa: E731
    for condition, rows in metrics.items():
        for which in ("prior", "estimate"):
            s = rows[which]
            table.add_row(
                condition,
                which,
                str(s["views"]),
                f"{s['median_distance_m']:.2f} / {s['median_yaw_deg']:.2f}",
                f"{s['mean_distance_m']:.2f} / {s['mean_yaw_deg']:.2f}",
                recall(s, "distance_m"),
                recall(s, "lateral_m"),
                recall(s, "longitudinal_m"),
                recall(s, "yaw_deg"),
            )
    console.print(table)
    if json_out is not None:
        write_text_atomic(json_out, json.dumps(metrics, indent=1) + "\n")
