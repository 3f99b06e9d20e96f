"""CLI: vloc extract local | dense | global."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from vloc.cli.app import (
    EXECUTOR,
    RAY_ADDRESS,
    SHARD_SIZE,
    WORKERS,
    console,
    executor_conf,
    existing_file,
    existing_folder,
    output_file,
    stage,
    sub_app,
)

if TYPE_CHECKING:
    from vloc.parallel.executor import ExecutorConf

extract_app = sub_app(
    "extract",
    "Extract local features, dense feature pyramids or global descriptors of every image below IMAGES into an HDF5 "
    "file (hloc layout). Images already in the file are skipped unless --overwrite.",
)

IMAGES = typer.Argument(..., help="Image folder; names are paths relative to it.", callback=existing_folder)
SET = typer.Option([], "--set", help="Override a config field, e.g. preprocessing.resize_max=1024.")
IMAGE_LIST = typer.Option(
    None, "--list", help="Text file of image names to extract (default: all).", callback=existing_file
)
OVERWRITE = typer.Option(
    False,
    help="Extract the images selected (--list, or all below IMAGES) again, even those already in the output; the "
    "output's other images are kept.",
)
SKIP_UNREADABLE = typer.Option(
    False,
    help="Warn and skip unreadable images, and images whose names text files cannot hold (whitespace, a leading '#', "
    "a control character), instead of failing.",
)


def run(
    conf_by_name: Callable[[str], Any],
    main: Callable[..., Path],
    conf: str,
    set_: list[str],
    images: Path,
    out: Path,
    image_list: Path | None,
    overwrite: bool,
    skip_unreadable: bool,
    executor: ExecutorConf | None = None,
) -> Path:
    """Build the preset with its overrides, check that OUT names a file, and extract into it (with `executor`, where
    the extraction runs in shards)."""
    from vloc.config import override

    configuration = override(conf_by_name(conf), set_)
    out = output_file(out, configuration.output_name)
    sharding = {} if executor is None else {"executor": executor}
    return main(configuration, images, out, image_list, overwrite, skip_unreadable, **sharding)


@stage(
    extract_app,
    "local",
    "Local features (keypoints, descriptors, scores) of every image, for matching.",
    "vloc extract local images/ outputs/feats-sift-n2048-r1600.h5 --conf sift --set max_keypoints=2048",
)
def local(
    images: Path = IMAGES,
    out: Path = typer.Argument(..., help="Output features file (.h5), e.g. feats-sift-n4096-r1600.h5."),
    conf: str = typer.Option(
        "sift", "--conf", help="Preset: sift, sift-colmap, sift-colmap-octave0, orb, aliked, disk, superpoint."
    ),
    set_: list[str] = SET,
    image_list: Path | None = IMAGE_LIST,
    overwrite: bool = OVERWRITE,
    skip_unreadable: bool = SKIP_UNREADABLE,
    executor: str = EXECUTOR,
    ray_address: str | None = RAY_ADDRESS,
    workers: int = WORKERS,
    shard_size: int = SHARD_SIZE,
) -> None:
    from vloc.extract import local_features

    out = run(
        local_features.conf_by_name,
        local_features.main,
        conf,
        set_,
        images,
        out,
        image_list,
        overwrite,
        skip_unreadable,
        executor_conf(executor, ray_address, workers, shard_size),
    )
    console.print(f"features written to {out}")


@stage(
    extract_app,
    "dense",
    "A pyramid of dense feature maps (float16) of every image, for feature-metric refinement and sparse-to-dense "
    "matching.",
    "vloc extract dense images/ outputs/dense-dsift-r640.h5 --conf dsift",
)
def dense(
    images: Path = IMAGES,
    out: Path = typer.Argument(..., help="Output dense features file (.h5), e.g. dense-dsift-r640.h5."),
    conf: str = typer.Option("dsift", "--conf", help="Preset: dsift, gnnet, s2dhm-vgg16."),
    set_: list[str] = SET,
    image_list: Path | None = IMAGE_LIST,
    overwrite: bool = OVERWRITE,
    skip_unreadable: bool = SKIP_UNREADABLE,
    executor: str = EXECUTOR,
    ray_address: str | None = RAY_ADDRESS,
    workers: int = WORKERS,
    shard_size: int = SHARD_SIZE,
) -> None:
    from vloc.dense.pyramid import conf_by_name
    from vloc.extract import dense_features

    sharding = executor_conf(executor, ray_address, workers, shard_size)
    out = run(
        conf_by_name, dense_features.main, conf, set_, images, out, image_list, overwrite, skip_unreadable, sharding
    )
    console.print(f"dense features written to {out}")


@stage(
    extract_app,
    "global",
    "One global descriptor per image, for image retrieval; `vlad` learns its vocabulary (OUT.vocab.npz) on the images "
    "it extracts unless --set vocabulary=FILE.",
    "vloc extract global images/ outputs/global-vlad.h5 --conf vlad --list mapping.txt",
)
def global_(
    images: Path = IMAGES,
    out: Path = typer.Argument(..., help="Output global descriptors file (.h5), e.g. global-vlad.h5."),
    conf: str = typer.Option("vlad", "--conf", help="Preset: vlad, netvlad, dinov2."),
    set_: list[str] = SET,
    image_list: Path | None = IMAGE_LIST,
    overwrite: bool = OVERWRITE,
    skip_unreadable: bool = SKIP_UNREADABLE,
    local_features: Path | None = typer.Option(
        None,
        "--local-features",
        help="VLAD: features.h5 of `vloc extract local --conf sift`; the RootSIFT of the images it holds at the "
        "size VLAD extracts them is read from it, not extracted again.",
        callback=existing_file,
    ),
) -> None:
    from vloc.extract import global_features

    out = run(
        global_features.conf_by_name,
        partial(global_features.main, local_features=local_features),
        conf,
        set_,
        images,
        out,
        image_list,
        overwrite,
        skip_unreadable,
    )
    console.print(f"global descriptors written to {out}")
