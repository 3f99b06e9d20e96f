"""CLI: vloc prepare."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from vloc.cli.app import app, console, existing_file, existing_folder, parse_pair, stage, writable_folder

if TYPE_CHECKING:
    from vloc.datasets import Dataset

DATASETS = (
    "7scenes",
    "templering",
    "kitti",
    "aachen",
    "robotcar",
    "cmu",
    "cambridge",
    "inloc",
    "synthetic",
    "colmap",
    "plain",
)


@stage(
    app,
    "prepare",
    "Turn a dataset into the files the stages read: mapping.txt, queries.txt (with intrinsics), query_list.txt, "
    "reference/ (posed COLMAP model of the mapping images, no points), ground_truth.txt and dataset.json. "
    f"DATASET is one of {', '.join(DATASETS)}. kitti is one KITTI odometry sequence folder (--root; image_0/ or "
    "image_l/, calib.txt, poses in poses.txt or KITTI's poses/XX.txt, else --poses): even frames map, odd frames are "
    "queries. The public benchmarks, in their published layouts (docs/datasets.md): 7scenes is one scene folder "
    "(seq-XX/, TrainSplit.txt, TestSplit.txt: train sequences map, test sequences are queries; --pgt FILE, repeatable, "
    "takes the poses from Brachmann et al.'s SfM pseudo ground truth) or vloc's redkitchen subset (frames/, splits/, "
    "--split easy or hard); aachen is the Aachen Day-Night v1.1 folder (images_upright, 3D-models/aachen_v_1_1, day "
    "and night query lists with intrinsics); robotcar is RobotCar Seasons v2 (images/<condition>/<camera>/, "
    "3D-models/all-merged/all.nvm, intrinsics/, robotcar_v2_test.txt); cmu is one Extended CMU Seasons slice folder "
    "(database/, query/, sparse/, test-images-sliceN.txt); cambridge is one Cambridge Landmarks scene folder "
    "(dataset_train.txt, dataset_test.txt, reconstruction.nvm); inloc is InLoc's folder (database/cutouts, "
    "database/alignments, query/iphone7; each cutout's pose is recovered from its XYZcut). dataset.json says how the "
    "dataset's evaluation server names a query (vloc evaluate submission). plain is your own layout: --images, "
    "--poses (hloc results "
    "'name qw qx qy qz tx ty tz', cam_from_world; or with --poses-format c2w-matrix, 'name' and the 16 numbers of a "
    "camera-to-world 4x4 matrix, row by row, OpenCV camera axes), --intrinsics ('name MODEL width height params...' "
    "per image, as hloc's queries files; --query-intrinsics for the queries' in a second file), --mapping and "
    "--queries (image lists). --threshold sets the evaluation thresholds stored in dataset.json, which "
    "`vloc evaluate poses --dataset-json` uses.",
    "vloc prepare 7scenes outputs/7scenes-easy --root ../shared/data/7scenes_redkitchen_subset --split easy\n\n    "
    "vloc prepare kitti outputs/kitti-04 --root kitti/dataset/sequences/04\n\n    "
    "vloc prepare aachen outputs/aachen --root datasets/aachen_v1.1\n\n    "
    "vloc prepare plain outputs/office --images office/images --poses office/poses.txt --intrinsics "
    "office/cameras.txt --mapping office/mapping.txt --queries office/queries.txt --threshold 0.05,2 --threshold 0.1,5",
)
def prepare(
    dataset: str = typer.Argument(..., help=f"One of {', '.join(DATASETS)}."),
    out: Path = typer.Argument(..., help="Output folder.", callback=writable_folder),
    root: Path | None = typer.Option(
        None, "--root", help="Dataset folder (for colmap: the COLMAP model folder).", callback=existing_folder
    ),
    split: str = typer.Option("easy", "--split", help="7scenes: easy or hard."),
    pgt: list[Path] = typer.Option(
        [],
        "--pgt",
        help="7scenes (a published scene): pseudo ground truth pose files replacing pose.txt, repeatable: the "
        "scene's <scene>_train.txt and <scene>_test.txt of Brachmann et al. 2021 ('rgb_file qw qx qy qz tx ty tz f').",
        callback=existing_file,
    ),
    condition: str = typer.Option("night", "--condition", help="synthetic: the query condition."),
    images: Path | None = typer.Option(
        None, "--images", help="colmap and plain: the image folder.", callback=existing_folder
    ),
    query_list: Path | None = typer.Option(
        None, "--queries", help="colmap and plain: list of query image names.", callback=existing_file
    ),
    mapping_list: Path | None = typer.Option(
        None, "--mapping", help="plain: list of mapping image names.", callback=existing_file
    ),
    poses: Path | None = typer.Option(
        None, "--poses", help="plain: poses of the images; kitti: the sequence's poses file.", callback=existing_file
    ),
    poses_format: str = typer.Option(
        "results", "--poses-format", help="plain: results (cam_from_world quaternions) or c2w-matrix."
    ),
    intrinsics: Path | None = typer.Option(
        None,
        "--intrinsics",
        help="plain: intrinsics of every image (or of the mapping images).",
        callback=existing_file,
    ),
    query_intrinsics: Path | None = typer.Option(
        None, "--query-intrinsics", help="plain: intrinsics of the query images.", callback=existing_file
    ),
    threshold: list[str] = typer.Option(
        [], "--threshold", help="'metres,degrees' of evaluation, repeatable (default: the dataset's own)."
    ),
) -> None:
    from vloc import datasets

    thresholds = [parse_pair(t, "--threshold", "metres,degrees") for t in threshold]
    if dataset == "plain":
        options = {"--images": images, "--poses": poses, "--intrinsics": intrinsics, "--mapping": mapping_list}
        require_options(dataset, options | {"--queries": query_list})
        chosen = datasets.PosesFile(
            images,
            poses,
            intrinsics,
            mapping_list,
            query_list,
            poses_format=poses_format,
            query_intrinsics=query_intrinsics,
        )
    else:
        chosen = named_dataset(dataset, root, split, condition, images, query_list, poses, tuple(pgt))
    datasets.prepare(chosen, out, thresholds)
    console.print(f"dataset written to {out}")


def named_dataset(
    dataset: str,
    root: Path | None,
    split: str,
    condition: str,
    images: Path | None,
    query_list: Path | None,
    poses: Path | None = None,
    pgt: tuple[Path, ...] = (),
) -> Dataset:
    """The adapter of a dataset vloc knows, or a one-line error naming the options it lacks."""
    from vloc import datasets
    from vloc.errors import ConfigError

    if dataset not in DATASETS:
        raise ConfigError(f"unknown dataset '{dataset}'; choose one of {', '.join(DATASETS)}")
    if dataset == "colmap":
        require_options(dataset, {"--root": root, "--images": images, "--queries": query_list})
        return datasets.ColmapImages(root, images, query_list)
    require_options(dataset, {"--root": root})
    if dataset == "7scenes":
        return datasets.SevenScenes(root, split, pgt)
    if dataset == "templering":
        return datasets.TempleRing(root)
    if dataset == "kitti":
        return datasets.KittiOdometry(root, poses)
    if dataset == "aachen":
        return datasets.AachenDayNight(root)
    if dataset == "robotcar":
        return datasets.RobotCarSeasons(root)
    if dataset == "cmu":
        return datasets.ExtendedCMUSeasons(root)
    if dataset == "cambridge":
        return datasets.CambridgeLandmarks(root)
    if dataset == "inloc":
        return datasets.InLoc(root)
    return datasets.Synthetic(root, condition)


def require_options(dataset: str, options: dict[str, Path | None]) -> None:
    """A one-line error naming the options of `dataset` that were not given."""
    from vloc.errors import ConfigError

    missing = [option for option, value in options.items() if value is None]
    if missing:
        raise ConfigError(f"{dataset} needs {', '.join(missing)}")
