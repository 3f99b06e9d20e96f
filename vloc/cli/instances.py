"""CLI: vloc instances build."""

from __future__ import annotations

from pathlib import Path

import typer

from vloc.cli.app import console, existing_file, existing_folder, stage, sub_app, writable_file

instances_app = sub_app("instances", "Global instance labels of database images (LBR-style recognition).")


@stage(
    instances_app,
    "build",
    "Label every keypoint of the model's images with a global instance and write per-image masks. With --masks, labels "
    "come from one RGB PNG per image (id = B*65536 + G*256 + R, 0 = none; optionally mapped by --remap); otherwise "
    "vloc's "
    "own generator clusters the model's 3D points into landmarks.",
    "vloc instances build outputs/street/model outputs/street/instances.h5 --set fill_radius=30",
)
def build(
    model: Path = typer.Argument(
        ..., help="Triangulated COLMAP model of the database images.", callback=existing_folder
    ),
    out: Path = typer.Argument(..., help="Output instances file (.h5).", callback=writable_file),
    masks: Path | None = typer.Option(
        None, help="Folder of instance masks: the image's relative name with .png.", callback=existing_folder
    ),
    remap: Path | None = typer.Option(
        None, help="Text file of 'mask_id instance_id' lines mapping mask ids (needs --masks).", callback=existing_file
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="Override a config field, e.g. clusters.radius_factor=2 or fill_radius=30."
    ),
) -> None:
    from vloc.config import override
    from vloc.errors import ConfigError
    from vloc.io.h5 import open_for_reading
    from vloc.recognize import map_instances as instances

    conf = override(instances.InstancesConf(), set_)
    if remap is not None and masks is None:
        raise ConfigError("--remap maps mask ids: give --masks too")
    instances.main(conf, model, out, masks, remap)
    with open_for_reading(out) as handle:
        count, source, fraction = (handle.attrs[key] for key in ("num_instances", "source", "labelled_fraction"))
    console.print(
        f"{count} instances ({source}); {fraction:.1%} of keypoints with 3D points labelled -> {out}", soft_wrap=True
    )
