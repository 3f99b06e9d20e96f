"""CLI: vloc recognize."""

from __future__ import annotations

from pathlib import Path

import typer

from vloc.cli.app import app, console, existing_file, existing_folder, stage, writable_file


@stage(
    app,
    "recognize",
    "Recognise the global instances of the map (vloc instances build) in each query: instances best first with "
    "scores, a label map, and the instance label of each query keypoint, written to a recognitions file. "
    "Recognizers: vote (weight-free: query descriptors vote through labelled database keypoints) and seg "
    "(a segmentation network trained by vloc train recognizer; --set checkpoint=PATH).",
    "vloc recognize outputs/instances.h5 images/ feats-sift.h5 outputs/recognitions.h5 --queries query_list.txt "
    "--conf vote",
)
def recognize(
    instances: Path = typer.Argument(
        ..., help="Instance labels of the database images (vloc instances build).", callback=existing_file
    ),
    images: Path = typer.Argument(..., help="Image folder.", callback=existing_folder),
    features: Path = typer.Argument(
        ..., help="Local features of the queries (and the database, without --db-features).", callback=existing_file
    ),
    out: Path = typer.Argument(..., help="Output recognitions file (.h5).", callback=writable_file),
    query_list: Path = typer.Option(..., "--queries", help="Query image names, one per line.", callback=existing_file),
    conf: str = typer.Option("vote", "--conf", help="Recognizer: vote or seg."),
    set_: list[str] = typer.Option(
        [], "--set", help="Override a config field, e.g. checkpoint=outputs/rec/recognizer.pt."
    ),
    db_features: Path | None = typer.Option(
        None, "--db-features", help="Local features of the database images, if in another file.", callback=existing_file
    ),
    overwrite: bool = typer.Option(
        False, help="Recognise the queries of --queries again, even those already in the output; its others are kept."
    ),
) -> None:
    from vloc.config import override
    from vloc.io.text import read_image_list
    from vloc.recognize import queries as recognize_stage

    configuration = override(recognize_stage.conf_by_name(conf), set_)
    queries = read_image_list(query_list)
    recognize_stage.main(
        configuration, instances, queries, images, features, out, db_features=db_features, overwrite=overwrite
    )
    console.print(f"recognitions written to {out}")
