"""A fake Aachen Day-Night v1.1 in the published layout, made of the `benchmark_scene` fixture's renders.

Frames 1, 4, 7 and 9 are queries by day and by night, under query/day|night/<camera>/ with distinct file names (the
server knows them by file name alone). The other eight are database images by day (db/*.jpg) and by night (.png
frames of the v1.1 sequences): triangulation keeps only tracks seen three times or more, which the day frames alone,
metres apart and turned left and right, hardly give. The reference model (3D-models/aachen_v_1_1, COLMAP binary)
poses the database images, the query lists give the queries' intrinsics in hloc's format.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2  # before pycolmap: the other order makes PNG writing abort (two zlibs)
import pycolmap

CAMERA = "SIMPLE_RADIAL 480 360 375 240 180 0"  # the renders' pinhole, as a SIMPLE_RADIAL like the release's
DAY_FOLDERS = ("query/day/milestone", "query/day/nexus4", "query/day/nexus5x")
NIGHT_FOLDERS = ("query/night/nexus5x", "query/night/nexus5x_additional_night")
QUERY_FRAMES = (1, 4, 7, 9)  # each has database frames looking its way on both sides


def fake_names(frames: int = 12) -> dict[str, str]:
    """Aachen image name of each render (`day/frame_000.png` ...): its database or query name."""
    names = {}
    for k in sorted(set(range(frames)) - set(QUERY_FRAMES)):
        names[f"day/frame_{k:03d}.png"] = f"db/{2000 + k}.jpg"
        names[f"night/frame_{k:03d}.png"] = f"sequences/gopro3_undistorted/gopro3_{k:05d}.png"
    for i, k in enumerate(QUERY_FRAMES):
        names[f"day/frame_{k:03d}.png"] = f"{DAY_FOLDERS[i % 3]}/2010-10-30_17-47-25_{k}.jpg"
        names[f"night/frame_{k:03d}.png"] = f"{NIGHT_FOLDERS[i % 2]}/IMG_20161227_1724{k:02d}.jpg"
    return names


def build(scene: Path, root: Path, image_folder: str = "images/images_upright") -> dict[str, pycolmap.Rigid3d]:
    """Write the fake dataset into `root`; returns the rendered truth (cam_from_world) by Aachen name."""
    truth_model = pycolmap.Reconstruction(scene / "model")
    truth = {image.name: image.cam_from_world() for image in truth_model.images.values()}
    names = fake_names(len([n for n in truth if n.startswith("day/")]))
    images = root / image_folder
    for render, name in names.items():
        (images / name).parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".png"):
            shutil.copyfile(scene / "images" / render, images / name)
        else:
            assert cv2.imwrite(str(images / name), cv2.imread(str(scene / "images" / render)))
    model = pycolmap.Reconstruction()
    camera = pycolmap.Camera(model="SIMPLE_RADIAL", width=480, height=360, params=[375, 240, 180, 0], camera_id=1)
    model.add_camera_with_trivial_rig(camera)
    database = sorted(name for name in names.values() if not name.startswith("query/"))
    for image_id, name in enumerate(database, 1):
        render = next(r for r, n in names.items() if n == name)
        model.add_image_with_trivial_frame(pycolmap.Image(name=name, camera_id=1, image_id=image_id), truth[render])
    (root / "3D-models" / "aachen_v_1_1").mkdir(parents=True)
    model.write_binary(root / "3D-models" / "aachen_v_1_1")
    (root / "queries").mkdir()
    for condition in ("day", "night"):
        lines = [f"{n} {CAMERA}\n" for n in names.values() if n.startswith(f"query/{condition}/")]
        (root / "queries" / f"{condition}_time_queries_with_intrinsics.txt").write_text("".join(lines))
    return {name: truth[render] for render, name in names.items()}
