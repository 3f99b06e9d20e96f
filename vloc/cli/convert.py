"""CLI: vloc convert kapture | to-kapture | colmap | hloc | nvm."""

from __future__ import annotations

from pathlib import Path

import typer

from vloc.cli.app import console, existing_file, existing_folder, parse_pair, stage, sub_app, writable_folder

convert_app = sub_app(
    "convert",
    "Bring datasets and maps made elsewhere (kapture, COLMAP, hloc, NVM) into the files vloc's stages read, and write "
    "vloc's as kapture.",
)

THRESHOLD = typer.Option(
    [], "--threshold", help="'metres,degrees' of evaluation, repeatable (default 0.25,2 0.5,5 5,10)."
)
OVERWRITE = typer.Option(False, "--overwrite", help="Replace the outputs of an earlier conversion in OUT.")


def thresholds_of(threshold: list[str]) -> list[tuple[float, float]]:
    return [parse_pair(t, "--threshold", "metres,degrees") for t in threshold]


def report(manifest: dict, out: Path) -> None:
    counts = ", ".join(
        f"{key.removeprefix('num_').replace('_', ' ')} {value}"
        for key, value in manifest.items()
        if key.startswith("num_")
    )
    console.print(f"written to {out} ({counts}); what was read and how: {out / 'convert.json'}")


@stage(
    convert_app,
    "kapture",
    "A kapture dataset (naver/kapture, format 1.0 or 1.1) into the files `vloc prepare` writes. Mapping images: the "
    "posed images of KAPTURE (trajectories, or through a rig); queries: the images of each --query-kapture and those "
    "of KAPTURE named by --queries; query poses, where given, are the ground truth (KAPTURE's other images without a "
    "pose are left out). Poses are "
    "cam_from_world in both formats; images kept in several records_data folders are linked into OUT/images. The "
    "keypoints of one type (the only one, or --keypoints-type) become feats-kapture-TYPE.h5 (hloc's layout; x, y "
    "moved by -0.5 from kapture's convention, see --keypoint-origin; descriptors where given), its matches "
    "matches-kapture-TYPE.h5 with pairs-mapping.txt and pairs-query.txt, and KAPTURE's points3d.txt and "
    "observations.txt a map in OUT/model for `vloc localize`. Features kept outside the kaptures "
    "(kapture-localization's local_features/TYPE/) are given with --keypoints, --descriptors and --matches.",
    "vloc convert kapture Aachen-Day-Night-v1.1/mapping outputs/aachen --query-kapture "
    "Aachen-Day-Night-v1.1/query_day --query-kapture Aachen-Day-Night-v1.1/query_night\n\n    "
    "vloc convert kapture gallery/mapping outputs/gallery --query-kapture gallery/query "
    "--keypoints gallery/local_features/r2d2_500/keypoints --matches gallery/local_features/r2d2_500/NN_no_gv/matches",
)
def kapture(
    kapture_folder: Path = typer.Argument(
        ..., help="Mapping kapture folder (sensors/, reconstruction/).", callback=existing_folder
    ),
    out: Path = typer.Argument(..., help="Output folder.", callback=writable_folder),
    query_kapture: list[Path] = typer.Option(
        [], "--query-kapture", help="Kapture folder of query images, repeatable.", callback=existing_folder
    ),
    queries: Path | None = typer.Option(
        None,
        "--queries",
        help="Names of KAPTURE's images that are queries (the first word of each line: an hloc queries file works).",
        callback=existing_file,
    ),
    keypoints_type: str | None = typer.Option(
        None, "--keypoints-type", help="The keypoints type to import when the kaptures hold several."
    ),
    keypoints: Path | None = typer.Option(
        None, "--keypoints", help="Keypoints folder (keypoints.txt) outside the kaptures.", callback=existing_folder
    ),
    descriptors: Path | None = typer.Option(
        None, "--descriptors", help="Descriptors folder; default: beside --keypoints.", callback=existing_folder
    ),
    matches: list[Path] = typer.Option(
        [], "--matches", help="Matches folder (*.overlapping), repeatable.", callback=existing_folder
    ),
    keypoint_origin: str = typer.Option(
        "corner",
        "--keypoint-origin",
        help="Where (0, 0) is in the kapture keypoints: corner (the image's top-left corner: kapture's format and its "
        "COLMAP converters; vloc subtracts 0.5 px) or centre (the top-left pixel's centre, as extractors writing "
        "pixel indices do; kept).",
    ),
    threshold: list[str] = THRESHOLD,
    overwrite: bool = OVERWRITE,
) -> None:
    from vloc.convert import kapture_import

    manifest = kapture_import.main(
        kapture_folder,
        out,
        tuple(query_kapture),
        queries,
        keypoints_type,
        keypoints,
        descriptors,
        tuple(matches),
        keypoint_origin,
        thresholds_of(threshold),
        overwrite,
    )
    report(manifest, out)


@stage(
    convert_app,
    "to-kapture",
    "A COLMAP model (vloc's or hloc's) as a kapture folder: a camera sensor per model camera, a record per image, its "
    "pose (cam_from_world) in trajectories.txt, the model's 3D points with their observations; with --queries, the "
    "queries of an hloc queries file as records without poses (`vloc convert kapture OUT ... --queries QUERIES` reads "
    "them back as queries); with --features, their keypoints (x + 0.5: kapture's "
    "and COLMAP's convention; float64, exact) and descriptors, and with --pairs and --matches, the matches of the "
    "listed pairs (those that passed geometric verification, where it ran). The model's 3D points are observed "
    "through the features' keypoints, which must be its points2D (the features it was triangulated from), or through "
    "its own points2D without --features. With --images, sensors/records_data links to the image folder. OUT is "
    "written whole or not at all.",
    "vloc convert to-kapture outputs/7scenes/easy/model outputs/7scenes-kapture --images frames --queries "
    "outputs/7scenes/easy/queries.txt --features outputs/7scenes/feats-sift.h5 --pairs "
    "outputs/7scenes/easy/pairs-mapping.txt --matches outputs/7scenes/easy/matches-mapping.h5",
)
def to_kapture(
    model: Path = typer.Argument(..., help="COLMAP model folder.", callback=existing_folder),
    out: Path = typer.Argument(..., help="Output kapture folder.", callback=writable_folder),
    images: Path | None = typer.Option(None, "--images", help="Image folder of the model.", callback=existing_folder),
    queries: Path | None = typer.Option(
        None,
        "--queries",
        help="hloc queries file with intrinsics ('name MODEL w h params...').",
        callback=existing_file,
    ),
    features: Path | None = typer.Option(None, "--features", help="Local-features file (.h5).", callback=existing_file),
    pairs: list[Path] = typer.Option(
        [],
        "--pairs",
        help="Pairs file, repeatable; its matches in the --matches of the same rank.",
        callback=existing_file,
    ),
    matches: list[Path] = typer.Option(
        [], "--matches", help="Matches file (.h5) of the --pairs of the same rank.", callback=existing_file
    ),
    keypoints_type: str | None = typer.Option(
        None, "--keypoints-type", help="Name of the keypoints type (default: the features file's name without feats-)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a kapture folder written by vloc convert."),
) -> None:
    from vloc.convert import kapture_export
    from vloc.errors import ConfigError

    if len(pairs) != len(matches):
        raise ConfigError(f"{len(pairs)} --pairs but {len(matches)} --matches: give each pairs file its matches file")
    manifest = kapture_export.main(
        model, out, images, features, tuple(zip(pairs, matches)), queries, keypoints_type, overwrite
    )
    report(manifest, out)


@stage(
    convert_app,
    "colmap",
    "A COLMAP model folder and its images into the files `vloc prepare` writes. Queries: the model's images named by "
    "--queries (their model poses are the ground truth) and those of an hloc queries file (--query-intrinsics: images "
    "that may be outside the model); mapping images: the model's other posed images. With --database (the COLMAP "
    "database the model was made from), the keypoints (moved by -0.5 px to hloc's convention) and descriptors of "
    "the dataset's images become feats-colmap.h5, the inlier matches of its verified pairs matches-colmap.h5 with "
    "pairs-mapping.txt and pairs-query.txt, and the model without the queries the map in OUT/model.",
    "vloc convert colmap my_scene/sparse/0 outputs/my_scene --images my_scene/images --query-intrinsics "
    "my_scene/queries_with_intrinsics.txt --database my_scene/database.db",
)
def colmap(
    model: Path = typer.Argument(..., help="COLMAP model folder.", callback=existing_folder),
    out: Path = typer.Argument(..., help="Output folder.", callback=writable_folder),
    images: Path = typer.Option(..., "--images", help="Image folder of the model.", callback=existing_folder),
    queries: Path | None = typer.Option(
        None, "--queries", help="Names of the model's images that are queries.", callback=existing_file
    ),
    query_intrinsics: Path | None = typer.Option(
        None, "--query-intrinsics", help="hloc queries file ('name MODEL w h params...').", callback=existing_file
    ),
    database: Path | None = typer.Option(
        None, "--database", help="COLMAP database (.db) of the model.", callback=existing_file
    ),
    threshold: list[str] = THRESHOLD,
    overwrite: bool = OVERWRITE,
) -> None:
    from vloc.convert import colmap_import

    manifest = colmap_import.main(
        model, out, images, queries, query_intrinsics, database, thresholds_of(threshold), overwrite
    )
    report(manifest, out)


@stage(
    convert_app,
    "hloc",
    "An hloc outputs folder into the files `vloc prepare` writes: its SfM model (the one folder with images.bin, or "
    "--model) gives the mapping images and, without the queries, the map in OUT/model; its queries file with "
    "intrinsics (*with_intrinsics*.txt, or --queries) the queries (ground truth where the model poses them). vloc "
    "reads hloc's features, pairs and matches files as they are: the features file whose keypoints are the model's "
    "points2D (checked) and the pairs and matches files named after it are listed in OUT/convert.json.",
    "vloc convert hloc hloc/outputs/cambridge/KingsCollege outputs/kings --images datasets/cambridge/KingsCollege",
)
def hloc(
    outputs: Path = typer.Argument(..., help="hloc outputs folder.", callback=existing_folder),
    out: Path = typer.Argument(..., help="Output folder.", callback=writable_folder),
    images: Path = typer.Option(..., "--images", help="Image folder of the dataset.", callback=existing_folder),
    model: Path | None = typer.Option(None, "--model", help="The SfM model folder.", callback=existing_folder),
    queries: Path | None = typer.Option(
        None, "--queries", help="hloc queries file with intrinsics.", callback=existing_file
    ),
    features: Path | None = typer.Option(
        None, "--features", help="The model's features file (default: found in OUTPUTS).", callback=existing_file
    ),
    threshold: list[str] = THRESHOLD,
    overwrite: bool = OVERWRITE,
) -> None:
    from vloc.convert import hloc_import

    manifest = hloc_import.main(outputs, out, images, model, queries, features, thresholds_of(threshold), overwrite)
    report(manifest, out)


@stage(
    convert_app,
    "nvm",
    "A VisualSFM NVM model (NVM_V3: RobotCar Seasons' all.nvm, Cambridge Landmarks' reconstruction.nvm; the file's "
    "first model) as a COLMAP model folder, as hloc's colmap_from_nvm: a SIMPLE_RADIAL camera per NVM camera at the "
    "size of its image file in --images (an NVM name ending .jpg finds the .png of the same name, and the reverse), "
    "its pose (cam_from_world), and the 3D points with their colours and tracks, each measurement a points2D entry of "
    "its image (COLMAP's pixel convention). OUT_MODEL is written whole or not at all.",
    "vloc convert nvm datasets/cambridge/KingsCollege/reconstruction.nvm outputs/kings/nvm_model --images "
    "datasets/cambridge/KingsCollege",
)
def nvm(
    nvm_file: Path = typer.Argument(..., help="NVM model file (.nvm).", callback=existing_file),
    out_model: Path = typer.Argument(..., help="Output COLMAP model folder.", callback=writable_folder),
    images: Path = typer.Option(
        ..., "--images", help="Image folder the NVM's names are relative to.", callback=existing_folder
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the COLMAP model folder OUT_MODEL."),
) -> None:
    from vloc.convert import nvm_import

    model = nvm_import.main(nvm_file, out_model, images, overwrite)
    console.print(f"written to {out_model} ({model.num_reg_images()} images, {model.num_points3D()} points3D)")
