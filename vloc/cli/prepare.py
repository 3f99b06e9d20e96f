"""CLI: vloc prepare."""

from __future__ import annotations

from pathlib import Path

import typer

from vloc.cli.app import app, console, existing_file, existing_folder, stage

DATASETS = ("7scenes", "templering", "synthetic", "colmap")


@stage(
    app,
    "prepare",
    "Turn a dataset into the files the stages read: mapping.txt, queries.txt (with intrinsics), query_list.txt, "
    "reference/ (posed COLMAP model of the mapping images, no points), ground_truth.txt and dataset.json. "
    f"DATASET is one of {', '.join(DATASETS)}.",
    "vloc prepare 7scenes outputs/7scenes-easy --root ../shared/data/7scenes_redkitchen_subset --split easy",
)
def prepare(
    dataset: str = typer.Argument(..., help=f"One of {', '.join(DATASETS)}."),
    out: Path = typer.Argument(..., help="Output folder."),
    root: Path = typer.Option(
        ..., "--root", help="Dataset folder (for colmap: the COLMAP model folder).", callback=existing_folder
    ),
    split: str = typer.Option("easy", "--split", help="7scenes: easy or hard."),
    condition: str = typer.Option("night", "--condition", help="synthetic: the query condition."),
    images: Path | None = typer.Option(None, "--images", help="colmap: the image folder.", callback=existing_folder),
    query_list: Path | None = typer.Option(
        None, "--queries", help="colmap: list of query image names.", callback=existing_file
    ),
) -> None:
    from vloc import datasets
    from vloc.errors import ConfigError, InputError

    if not root.exists():
        raise InputError(f"{root}: dataset root not found")
    if dataset == "7scenes":
        adapter = datasets.SevenScenes(root, split)
    elif dataset == "templering":
        adapter = datasets.TempleRing(root)
    elif dataset == "synthetic":
        adapter = datasets.Synthetic(root, condition)
    elif dataset == "colmap":
        if images is None or query_list is None:
            raise ConfigError("colmap needs --images IMAGE_FOLDER and --queries QUERY_LIST")
        adapter = datasets.ColmapImages(root, images, query_list)
    else:
        raise ConfigError(f"unknown dataset '{dataset}'; choose one of {', '.join(DATASETS)}")
    datasets.prepare(adapter, out)
    console.print(f"dataset written to {out}")
