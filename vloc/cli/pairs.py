"""CLI: vloc pairs exhaustive | from-poses | covisibility."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import console, stage, sub_app

pairs_app = sub_app("pairs", "Choose image pairs to match (writes a pairs file: 'name0 name1' per line).")


def _names(image_list: Path | None, features: Path | None, what: str) -> list[str] | None:
    from ..errors import InputError
    from ..io.features import list_images
    from ..io.text import read_image_list

    if image_list is not None and features is not None:
        raise InputError(f"give either --{what}list or --{what}features, not both")
    if image_list is not None:
        return read_image_list(image_list)
    if features is not None:
        return list_images(features)
    return None


@stage(
    pairs_app,
    "exhaustive",
    "All pairs within a list of images, or every query-reference pair when reference images are given.",
    "vloc pairs exhaustive outputs/pairs-query.txt --list queries.txt --ref-list mapping.txt",
)
def exhaustive(
    out: Path = typer.Argument(..., help="Output pairs file."),
    image_list: Path | None = typer.Option(None, "--list", help="Image names, one per line."),
    features: Path | None = typer.Option(None, "--features", help="Take the image names from a features file."),
    ref_list: Path | None = typer.Option(None, "--ref-list", help="Reference image names (query-to-reference pairs)."),
    ref_features: Path | None = typer.Option(None, "--ref-features", help="Take reference names from a features file."),
) -> None:
    from .. import pairs
    from ..errors import InputError

    names = _names(image_list, features, "")
    if names is None:
        raise InputError("give --list or --features")
    pairs.exhaustive(names, out, _names(ref_list, ref_features, "ref-"))
    console.print(f"pairs written to {out}")


@stage(
    pairs_app,
    "from-poses",
    "The k nearest cameras of each image by camera-centre distance, within a viewing-angle limit, from a COLMAP model or a poses file.",
    "vloc pairs from-poses outputs/pairs-mapping.txt --model outputs/reference --num 20",
)
def from_poses(
    out: Path = typer.Argument(..., help="Output pairs file."),
    model: Path | None = typer.Option(None, "--model", help="COLMAP model folder with posed images."),
    poses: Path | None = typer.Option(None, "--poses", help="Poses file 'name qw qx qy qz tx ty tz' (cam_from_world)."),
    num: int = typer.Option(20, "--num", help="Neighbours per image."),
    max_angle: float = typer.Option(90.0, "--max-angle", help="Largest angle between viewing directions, degrees."),
    query_list: Path | None = typer.Option(None, "--queries", help="Pair only these images (default: every image)."),
) -> None:
    from .. import pairs
    from ..errors import InputError
    from ..io.model import model_poses, read_model
    from ..io.text import read_image_list, read_poses

    if (model is None) == (poses is None):
        raise InputError("give exactly one of --model or --poses")
    known = model_poses(read_model(model)) if model else read_poses(poses)
    pairs.from_poses(known, out, num, max_angle, read_image_list(query_list) if query_list else None)
    console.print(f"pairs written to {out}")


@stage(
    pairs_app,
    "covisibility",
    "The k most covisible images of each image in a COLMAP model with 3D points.",
    "vloc pairs covisibility outputs/pairs-covis.txt --model outputs/sfm --num 20",
)
def covisibility(
    out: Path = typer.Argument(..., help="Output pairs file."),
    model: Path = typer.Option(..., "--model", help="COLMAP model folder with 3D points."),
    num: int = typer.Option(20, "--num", help="Neighbours per image."),
) -> None:
    from .. import pairs
    from ..io.model import read_model

    pairs.covisibility(read_model(model, need_points=True), out, num)
    console.print(f"pairs written to {out}")
