"""CLI: vloc cameras."""

from __future__ import annotations

from pathlib import Path

import typer

from vloc.cli.app import app, console, existing_file, existing_folder, output_file, stage


@stage(
    app,
    "cameras",
    "Write the queries file (hloc format: name MODEL width height params) of plain photos, so that they can be "
    "localized without hand-written intrinsics: the focal length comes from each photo's EXIF when it has one, "
    "otherwise from a prior (--prior-focal times the longer side). Where each came from is written beside it "
    "(QUERIES_intrinsics.json); vloc localize estimates the focal length of these queries with their pose.",
    "vloc cameras my_photos/queries outputs/mine/queries.txt",
)
def cameras(
    images: Path = typer.Argument(..., help="Folder of the photos.", callback=existing_folder),
    out: Path = typer.Argument(..., help="Queries file to write."),
    image_list: Path | None = typer.Option(
        None, "--list", help="Only these images (names relative to IMAGES).", callback=existing_file
    ),
    prior_focal: float = typer.Option(
        1.2, "--prior-focal", help="Focal length of a photo without EXIF, in units of its longer side."
    ),
    skip_unreadable: bool = typer.Option(
        False, help="Warn and skip photos whose names text files cannot hold (whitespace, a leading '#'), not fail."
    ),
) -> None:
    from vloc.datasets import photos
    from vloc.io.images import select_images

    names = select_images(images, image_list, skip_unreadable)
    sources = photos.main(images, names, output_file(out, "queries.txt"), prior_focal)
    counts = {s: sum(v == s for v in sources.values()) for s in ("exif", "prior")}
    console.print(
        f"{len(sources)} query cameras written to {out}: {counts['exif']} from EXIF, {counts['prior']} prior",
        soft_wrap=True,
    )
