"""`vloc synth`: generate a synthetic scene with ground truth (argument parsing only)."""

from __future__ import annotations

from pathlib import Path

import typer

from vloc.cli.app import app, existing_folder, stage, writable_folder


@stage(
    app,
    "synth",
    "Generate a synthetic scene: textured buildings rendered per camera by day, night and in another season, with "
    "depth, "
    "scene coordinates, normals, instances, a posed COLMAP model, queries, splits and thresholds.",
    "vloc synth outputs/synth --num-cameras 30 --seed 0",
)
def synth(
    out: Path = typer.Argument(..., help="Output folder.", callback=writable_folder),
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


@stage(
    app,
    "synth-twin",
    "A synthetic twin of a 7-Scenes scene (CrossLoc's synthetic domain): the depth maps of the split's mapping frames "
    "are fused into a coloured point cloud with normals, rendered at --set num_renders=N new poses sampled around the "
    "mapping trajectory (Latin hypercube). Writes OUT in vloc synth's layout: condition `real` (the mapping frames, "
    "with scene coordinates, depth and normals from their depth maps) and condition `twin` (the renders, with theirs), "
    "for vloc train scr.",
    "vloc synth-twin outputs/7scenes_twin --root ../shared/data/7scenes_redkitchen_subset --split easy "
    "--set num_renders=300",
)
def synth_twin(
    out: Path = typer.Argument(..., help="Output folder (new).", callback=writable_folder),
    root: Path = typer.Option(..., help="7-Scenes scene folder (frames/, splits/).", callback=existing_folder),
    split: str = typer.Option("easy", help="Split whose mapping frames make the twin: easy or hard."),
    max_frames: int = typer.Option(0, help="Use at most this many mapping frames, evenly spaced (0: all)."),
    set_: list[str] = typer.Option([], "--set", help="Override a config field, e.g. num_renders=300 or voxel=0.02."),
) -> None:
    from vloc.config import override
    from vloc.datasets.seven_scenes import SevenScenes, depth_camera, depth_path
    from vloc.synth import twin

    data = SevenScenes(root, split).load()
    data.check()
    sensor = depth_camera(root)
    frames = [
        twin.DepthFrame(
            data.image_root / name,
            depth_path(data.image_root / name),
            data.cameras[name],
            sensor,
            data.poses[name],
        )
        for name in data.mapping
    ]
    if 0 < max_frames < len(frames):
        frames = [frames[round(i * (len(frames) - 1) / max(max_frames - 1, 1))] for i in range(max_frames)]
    twin.main(frames, out, override(twin.TwinConf(), set_))
    typer.echo(f"wrote the twin of {len(frames)} frames to {out}")


@stage(
    app,
    "synth-crossview",
    "Generate a cross-view dataset (DenseFlow's data): scenes of open land with roads and a few buildings, each "
    "rendered from above (the aerial image, orthographic, north up, metres per pixel known) and from ground cameras "
    "at a fixed height with known x, y and yaw, by day and by night; the last scenes are the test split. Writes "
    "OUT/crossview.json with a seeded prior per view (within --set prior_offset metres and prior_yaw degrees).",
    "vloc synth-crossview outputs/crossview_data --set num_scenes=40 --set num_test_scenes=8",
)
def synth_crossview(
    out: Path = typer.Argument(..., help="Output folder.", callback=writable_folder),
    seed: int = typer.Option(0, help="Random seed; scene k is drawn from (seed, k)."),
    set_: list[str] = typer.Option([], "--set", help="Override a config field, e.g. num_scenes=10 or height=96."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Render every scene again, even those already written."),
) -> None:
    from vloc.config import override
    from vloc.synth import crossview

    conf = override(crossview.CrossviewSynthConfig(seed=seed), set_)
    views = crossview.main(conf, out, overwrite)
    typer.echo(f"wrote {conf.num_scenes} aerial images and {views} ground views to {out}/crossview.json")


@stage(
    app,
    "synth-homographies",
    "Warp real photographs by random homographies (rotation, zoom, shift, perspective) under random photometric "
    "changes, for training matchers (`vloc train matcher --homographies OUT`): every keypoint's partner location is "
    "known. Writes OUT/images/<folder name>/ (each photograph, resized, and its warps) and OUT/homographies.json (each "
    "photograph with each warp, and every two warps of one photograph). Extract OUT/images with vloc extract local.",
    "vloc synth-homographies outputs/homographies ../shared/data/hloc_sacre_coeur/mapping --set warps_per_image=3",
)
def synth_homographies(
    out: Path = typer.Argument(..., help="Output folder.", callback=writable_folder),
    folders: list[Path] = typer.Argument(
        ..., help="Folders of photographs (their names must differ).", callback=existing_folder
    ),
    seed: int = typer.Option(0, help="Random seed; photograph k of the sorted list is warped with (seed, k)."),
    set_: list[str] = typer.Option([], "--set", help="Override a config field, e.g. max_rotation_deg=45."),
) -> None:
    from vloc.config import override
    from vloc.synth import homographies

    pairs = homographies.main(override(homographies.HomographySynthConfig(seed=seed), set_), folders, out)
    typer.echo(f"wrote {len(pairs)} homography pairs to {out}/homographies.json")
