"""CLI: vloc triangulate, vloc points-from-depth, vloc sfm, vloc map."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from vloc.cli.app import app, console, existing_file, existing_folder, stage, writable_folder

OUT_HELP = "Output model folder: a new one, or a COLMAP model folder to replace; anything else is refused."


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
    out: Path = typer.Argument(..., help=OUT_HELP, callback=writable_folder),
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
    "points-from-depth",
    "A map for vloc localize from per-pixel 3D points instead of triangulation: every keypoint of a database image "
    "whose point map has a 3D point there (bilinear between the four nearest pixels; where one of them has none, the "
    "nearest pixel's, as hloc's InLoc localization) becomes a 3D point observed by that image alone, in a model with "
    "REFERENCE's cameras and poses. Point maps below --xyz: inloc reads <image>.mat (XYZcut, in its scan's frame) and "
    "the scan's alignment (database/alignments/<floor>/transformations/<building>_trans_<scan>.txt); synth reads "
    "geometry/<frame>.npz (scene_coordinates) of a vloc synth scene; auto picks by what the folder holds. With "
    "--pairs and --matches (of the queries), only the database images of PAIRS get keypoints, and only those a query "
    "matches get 3D points: all localization reads, without a point for every keypoint of every image (InLoc: ~10k "
    "cutouts). The points have single observations: keep covisibility clustering off when localizing.",
    "vloc points-from-depth outputs/inloc/reference outputs/inloc/feats-sift-n4096-r1600.h5 outputs/inloc/model "
    "--xyz datasets/inloc --pairs outputs/inloc/pairs-query.txt --matches outputs/inloc/matches-query.h5",
)
def points_from_depth(
    reference: Path = typer.Argument(
        ..., help="COLMAP model with posed images (vloc prepare's reference/).", callback=existing_folder
    ),
    features: Path = typer.Argument(..., help="Features file of the database images.", callback=existing_file),
    out: Path = typer.Argument(..., help=OUT_HELP, callback=writable_folder),
    xyz: Path = typer.Option(
        ..., "--xyz", help="Folder of the point maps (the dataset's root).", callback=existing_folder
    ),
    layout: str = typer.Option("auto", "--layout", help="auto, inloc or synth."),
    pairs: Path | None = typer.Option(
        None, "--pairs", help="Query pairs: only their database images and matched keypoints.", callback=existing_file
    ),
    matches: Path | None = typer.Option(None, "--matches", help="Matches of --pairs.", callback=existing_file),
    set_: list[str] = typer.Option([], "--set", help="Override, e.g. nearest_fallback=false."),
) -> None:
    from vloc.config import override
    from vloc.errors import ConfigError
    from vloc.io.point_maps import point_maps
    from vloc.mapping import from_depth

    if (pairs is None) != (matches is None):
        raise ConfigError("--pairs and --matches go together")
    conf = override(from_depth.FromDepthConf(), set_)
    model = from_depth.main(conf, reference, features, point_maps(xyz, layout), out, pairs, matches)
    with_keypoints = [image for image in model.images.values() if image.num_points2D()]
    console.print(
        f"{model.num_points3D()} points from the point maps of {len(with_keypoints)} images "
        f"({model.num_points3D() / max(sum(image.num_points2D() for image in with_keypoints), 1):.0%} of their "
        f"keypoints) -> {out}"
    )


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
    out: Path = typer.Argument(..., help=OUT_HELP, callback=writable_folder),
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


@stage(
    app,
    "map",
    "Structure from motion from scratch of a folder of photos, in one command: local features, pairs (every pair up "
    "to 30 photos; above, each photo with its 20 most similar by global descriptor), matches, then vloc sfm. Writes "
    "MAP_DIR/model (COLMAP) beside the features, pairs and matches it used (self-describing names) and "
    "MAP_DIR/map.json (presets, overrides and the conf they give, the image folder, the photos registered and not). "
    "Features and matches already in MAP_DIR are reused. The defaults (pycolmap SIFT, nn-ratio) register all 10 "
    "Sacre Coeur photos on each of 8 SfM seeds, where OpenCV SIFT (--conf sift) registers 3 on 7 of them.",
    "vloc map photos/ outputs/my-map\n\n    "
    "vloc map photos/ outputs/my-map --set extract.max_keypoints=8192 --set sfm.min_num_inliers=30",
)
def map_(
    images: Path = typer.Argument(..., help="Folder of photos (sub-folders included).", callback=existing_folder),
    map_dir: Path = typer.Argument(
        ..., help="Output folder: model/, features, pairs, matches, map.json.", callback=writable_folder
    ),
    conf: str = typer.Option(
        "sift-colmap", "--conf", help="Local-feature preset: sift-colmap, sift, orb (with --matcher hamming)."
    ),
    matcher: str = typer.Option("nn-ratio", "--matcher", help="Matcher preset: nn-ratio, nn-mutual, hamming."),
    retrieval: str = typer.Option(
        "vlad", "--retrieval", help="Global-descriptor preset of retrieval pairs: vlad, netvlad, dinov2."
    ),
    set_: list[str] = typer.Option(
        [],
        "--set",
        help="Override, prefixed by its stage: extract.max_keypoints=8192, match.ratio_threshold=0.9, "
        "retrieval.preprocessing.resize_max=640, sfm.min_num_inliers=30; or num_retrieved=30, "
        "max_exhaustive_images=50.",
    ),
    overwrite: bool = typer.Option(False, help="Extract and match again what MAP_DIR already holds."),
) -> None:
    from vloc.workflows import map as map_workflow

    recipe = map_workflow.MapRecipe(conf, matcher, retrieval, tuple(set_))
    info = map_workflow.main(recipe, images, map_dir, overwrite)
    console.print(map_workflow.summary_table(info))
    console.print(
        f"model written to {map_dir / 'model'}, its recipe and photos to {map_dir / 'map.json'}", soft_wrap=True
    )
    message = map_workflow.unregistered_message(info)
    if message:
        console.print(f"[yellow]{escape(message)}", soft_wrap=True)


@stage(
    app,
    "locate",
    "Localize plain photos in a map made by vloc map, in one command: each photo's camera from its EXIF or a prior "
    "(vloc cameras), the map's local features, pairs (every registered map photo, or the map's retrieval), matches, "
    "then localization that estimates each focal length with the pose. Writes OUT/results.txt (hloc format, in the "
    "map's frame) and OUT/results_log.json (per photo: inliers, intrinsics source and values, position uncertainty, "
    "failure reason), and prints a table of them.",
    "vloc locate outputs/my-map new_photos/ outputs/my-map-located",
)
def locate(
    map_dir: Path = typer.Argument(..., help="Folder written by vloc map.", callback=existing_folder),
    query_images: Path = typer.Argument(..., help="Folder of the photos to localize.", callback=existing_folder),
    out: Path = typer.Argument(..., help="Output folder.", callback=writable_folder),
    image_list: Path | None = typer.Option(
        None, "--list", help="Only these photos (names relative to QUERY_IMAGES).", callback=existing_file
    ),
    prior_focal: float = typer.Option(
        1.2, "--prior-focal", help="Focal length of a photo without EXIF, in units of its longer side."
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="Localization override, e.g. estimate_focal_length=false or min_inlier_ratio=0.05."
    ),
) -> None:
    from vloc.config import override
    from vloc.pnp.absolute_pose import LocalizeConf
    from vloc.workflows import locate as locate_workflow

    conf = override(LocalizeConf(), set_)
    results = locate_workflow.main(
        map_dir, query_images, out, image_list=image_list, localize_conf=conf, prior_focal_factor=prior_focal
    )
    console.print(locate_workflow.summary_table(results))
    console.print(f"poses written to {results}", soft_wrap=True)
