"""CLI: vloc extract."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app, console, stage


@stage(
    app,
    "extract",
    "Extract local features (or, with a global preset, one retrieval descriptor; with --dense, a pyramid of dense "
    "feature maps for feature-metric refinement) of every image below IMAGES into an HDF5 file (hloc layout). "
    "Images already in the file are skipped unless --overwrite.",
    "vloc extract images/ outputs/feats-sift.h5 --conf sift --set max_keypoints=2048",
)
def extract(
    images: Path = typer.Argument(..., help="Image folder; names are paths relative to it."),
    out: Path = typer.Argument(..., help="Output features file (.h5), or an existing folder for a self-describing name."),
    conf: str = typer.Option(
        "sift", "--conf", help="Preset: sift, sift-colmap, orb; global: vlad, netvlad, dinov2; --dense: dsift, gnnet, s2dhm-vgg16."
    ),
    dense: bool = typer.Option(False, "--dense", help="Dense feature pyramids (float16), e.g. --dense --conf dsift."),
    set_: list[str] = typer.Option([], "--set", help="Override a config field, e.g. max_keypoints=2048 or preprocessing.resize_max=1024."),
    image_list: Path | None = typer.Option(None, "--list", help="Text file of image names to extract (default: all)."),
    overwrite: bool = typer.Option(False, help="Re-extract images already in the output."),
    skip_unreadable: bool = typer.Option(False, help="Warn and skip unreadable images instead of failing."),
) -> None:
    from .. import extract as extract_stage
    from .. import extract_dense, extract_global
    from ..config import override

    if dense:
        dense_conf = override(extract_dense.conf_by_name("dsift" if conf == "sift" else conf), set_)
        out = out / dense_conf.output_name if out.is_dir() else out
        extract_dense.main(dense_conf, images, out, image_list, overwrite, skip_unreadable)
        console.print(f"dense features written to {out}")
        return
    if conf in extract_global.CONFS:
        global_conf = override(extract_global.conf_by_name(conf), set_)
        out = out / global_conf.output_name if out.is_dir() else out
        extract_global.main(global_conf, images, out, image_list, overwrite, skip_unreadable)
        console.print(f"global descriptors written to {out}")
        return
    configuration = override(extract_stage.conf_by_name(conf), set_)
    out = out / configuration.output_name if out.is_dir() else out
    extract_stage.main(configuration, images, out, image_list, overwrite, skip_unreadable)
    console.print(f"features written to {out}")
