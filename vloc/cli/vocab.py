"""CLI: vloc vocab build."""

from __future__ import annotations

from pathlib import Path

import typer

from vloc.cli.app import console, existing_file, existing_folder, stage, sub_app, writable_file

vocab_app = sub_app("vocab", "Visual vocabularies for VLAD retrieval (k-means of RootSIFT + PCA whitening, .npz).")


@stage(
    vocab_app,
    "build",
    "Learn a vocabulary from the database images: k-means centroids of their RootSIFT, then the PCA of their "
    "VLADs (whitened unless --set whiten=false). Use it with `vloc extract global --conf vlad --set "
    "vocabulary=OUT.npz`.",
    "vloc vocab build images/ outputs/vlad.vocab.npz --list mapping.txt --set num_clusters=64",
)
def build(
    images: Path = typer.Argument(..., help="Image folder; names are paths relative to it.", callback=existing_folder),
    out: Path = typer.Argument(..., help="Output vocabulary file (.npz).", callback=writable_file),
    image_list: Path | None = typer.Option(
        None, "--list", help="Text file of database image names (default: all).", callback=existing_file
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="Override a field, e.g. num_clusters=128, pca_dim=none or whiten=false."
    ),
    resize_max: int = typer.Option(
        1024, help="Downscale images to this longer side, as `vloc extract global --conf vlad` does."
    ),
    local_features: Path | None = typer.Option(
        None,
        "--local-features",
        help="features.h5 of `vloc extract local --conf sift`: RootSIFT read from it where it holds the image at "
        "the same size.",
        callback=existing_file,
    ),
) -> None:
    from vloc.config import override
    from vloc.errors import InputError
    from vloc.global_descriptors import vocabulary
    from vloc.global_descriptors.rootsift import RootSIFTSource
    from vloc.global_descriptors.vocabulary_learning import build as build_vocabulary
    from vloc.io.images import Preprocessing, list_image_names
    from vloc.io.text import read_image_list

    if not images.is_dir():
        raise InputError(f"{images}: image folder not found")
    conf = override(vocabulary.VocabularyConf(), set_)
    names = read_image_list(image_list) if image_list else list_image_names(images)
    with RootSIFTSource(images, Preprocessing(resize_max or None), local_features) as rootsift:
        vocabulary.save_vocabulary(build_vocabulary(conf, names, rootsift), out)
    console.print(f"vocabulary written to {out}")
