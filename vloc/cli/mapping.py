"""CLI: vloc triangulate, vloc sfm."""

from __future__ import annotations

from pathlib import Path

import typer

from vloc.cli.app import app, console, existing_file, existing_folder, stage


@stage(
    app,
    "triangulate",
    "Triangulate 3D points for a reference model with known poses and cameras (held fixed); matches are first "
    "verified against the poses.",
    "vloc triangulate outputs/reference images/ pairs-mapping.txt feats.h5 matches.h5 outputs/sfm",
)
def triangulate(
    reference: Path = typer.Argument(
        ..., help="COLMAP model with posed images (points are ignored).", callback=existing_folder
    ),
    images: Path = typer.Argument(..., help="Image folder (for point colours).", callback=existing_folder),
    pairs: Path = typer.Argument(..., help="Mapping pairs file.", callback=existing_file),
    features: Path = typer.Argument(..., help="Features file.", callback=existing_file),
    matches: Path = typer.Argument(..., help="Matches file of the mapping pairs.", callback=existing_file),
    out: Path = typer.Argument(..., help="Output model folder."),
    set_: list[str] = typer.Option([], "--set", help="Override, e.g. max_epipolar_error=2 or min_angle=1."),
) -> None:
    from vloc.config import override
    from vloc.mapping import triangulation

    conf = override(triangulation.TriangulationConf(), set_)
    model = triangulation.main(conf, reference, images, pairs, features, matches, out)
    console.print(
        f"{model.num_points3D()} points in {model.num_reg_images()} images, "
        f"mean track length {model.compute_mean_track_length():.2f}, "
        f"mean reprojection error {model.compute_mean_reprojection_error():.3f} px -> {out}"
    )
    for line in triangulation.pose_support_warnings(triangulation.pose_support(model)):
        console.print(line)


@stage(
    app,
    "sfm",
    "Structure from motion from scratch (pycolmap incremental mapping) of the images in PAIRS; keeps the largest "
    "model.",
    "vloc sfm images/ pairs-exhaustive.txt feats.h5 matches.h5 outputs/sfm",
)
def sfm(
    images: Path = typer.Argument(..., help="Image folder.", callback=existing_folder),
    pairs: Path = typer.Argument(..., help="Pairs file.", callback=existing_file),
    features: Path = typer.Argument(..., help="Features file.", callback=existing_file),
    matches: Path = typer.Argument(..., help="Matches file.", callback=existing_file),
    out: Path = typer.Argument(..., help="Output model folder."),
    set_: list[str] = typer.Option([], "--set", help="Override, e.g. min_num_inliers=30."),
) -> None:
    from vloc.config import override
    from vloc.io.text import names_in_pairs, read_pairs
    from vloc.mapping import sfm as sfm_stage

    conf = override(sfm_stage.SfMConf(), set_)
    model = sfm_stage.main(conf, images, pairs, features, matches, out)
    names = names_in_pairs(read_pairs(pairs))
    missing = sfm_stage.unregistered(model, names)
    console.print(
        f"registered {model.num_reg_images()}/{len(names)} images, {model.num_points3D()} points, "
        f"mean reprojection error {model.compute_mean_reprojection_error():.3f} px -> {out}"
    )
    if missing:
        console.print(f"not registered: {' '.join(missing)}")
