"""`vloc synth`: generate a synthetic scene with ground truth (argument parsing only)."""

from __future__ import annotations

from pathlib import Path

import typer

from vloc.cli.app import app, stage


@stage(
    app,
    "synth",
    "Generate a synthetic scene: textured buildings rendered per camera by day, night and in another season, with "
    "depth, "
    "scene coordinates, normals, instances, a posed COLMAP model, queries, splits and thresholds.",
    "vloc synth outputs/synth --num-cameras 30 --seed 0",
)
def synth(
    out: Path = typer.Argument(..., help="Output folder."),
    seed: int = typer.Option(0, help="Random seed: the same seed gives byte-identical outputs."),
    num_cameras: int = typer.Option(40, help="Number of camera poses (each rendered in every condition)."),
    width: int = typer.Option(640, help="Image width in pixels."),
    height: int = typer.Option(480, help="Image height in pixels."),
    focal: float = typer.Option(500.0, help="Focal length in pixels (SIMPLE_PINHOLE, principal point at the centre)."),
    layout: str = typer.Option(
        "street", help="'street' (a walk between two rows of buildings) or 'ring' (around a cluster)."
    ),
    num_buildings: int = typer.Option(8, help="Number of buildings (instance ids 1..N)."),
    conditions: str = typer.Option("day,night,season", help="Comma-separated conditions to render."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Render every frame again, even those already written."),
) -> None:
    from vloc import synth as synth_stage

    conf = synth_stage.SynthConfig(
        seed=seed,
        num_cameras=num_cameras,
        width=width,
        height=height,
        focal=focal,
        layout=layout,
        num_buildings=num_buildings,
        conditions=tuple(c.strip() for c in conditions.split(",") if c.strip()),
    )
    synth_stage.main(conf, out, overwrite=overwrite)
    typer.echo(f"wrote {conf.num_cameras * len(conf.conditions)} images, geometry, model and splits to {out}")
