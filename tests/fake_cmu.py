"""A fake Extended CMU Seasons slice in the published layout, made of the `benchmark_scene` fixture's renders.

Every image is seen through one of the release's two cameras (OPENCV, 1024x768, strong barrel distortion): the
pinhole renders are warped into them, so that the published intrinsics describe the fake images exactly. A slice is a
stretch of the street (a range of frames); frames 1, 4, 7 and 9 are queries, the others database images, each by day
and by night (two seasons: triangulation keeps only tracks seen three times or more, which the day frames alone
hardly give), named `img_NNNNN_cK_<timestamp>us.jpg`;
sparse/ is the reference model in COLMAP text format; camera-poses/ (only with `query_poses`) gives query poses as
the release does, `name qw qx qy qz cx cy cz` with the camera centre C.
"""

from __future__ import annotations

from pathlib import Path

import cv2  # before pycolmap: the other order makes PNG writing abort (two zlibs)
import numpy as np
import pycolmap
from fake_aachen import QUERY_FRAMES

from vloc.datasets.cmu import CAMERAS, IMAGE_SIZE
from vloc.geometry.rigid3d import camera_center, qvec_wxyz


def cmu_camera(name: str, camera_id: int = 1) -> pycolmap.Camera:
    """The release's camera of an image named `img_NNNNN_cK_...`."""
    infix = name.split("_")[2]
    return pycolmap.Camera(
        model="OPENCV", width=IMAGE_SIZE[0], height=IMAGE_SIZE[1], params=CAMERAS[infix], camera_id=camera_id
    )


def warp(render: np.ndarray, pinhole: pycolmap.Camera, camera: pycolmap.Camera) -> np.ndarray:
    """`render` (taken by `pinhole`) as `camera` sees it from the same pose; black outside the render."""
    u, v = np.meshgrid(np.arange(camera.width) + 0.5, np.arange(camera.height) + 0.5)
    rays = camera.cam_from_img(np.stack([u.ravel(), v.ravel()], -1))
    pixels = pinhole.img_from_cam(np.column_stack([rays, np.ones(len(rays))])) - 0.5  # OpenCV: pixel centres at 0
    maps = pixels.reshape(camera.height, camera.width, 2).astype(np.float32)
    return cv2.remap(render, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def fake_names(number: int, frames: range) -> dict[str, str]:
    """Name in slice `number` (database/... or query/...) of each render of `frames`, unique across slices."""
    names = {}
    for k in frames:
        image = f"img_{1000 * number + k:05d}_c{(k // 3) % 2}"  # both cameras among queries and database
        folder = "query" if k in QUERY_FRAMES else "database"
        names[f"day/frame_{k:03d}.png"] = f"{folder}/{image}_{1283000000000000 + 1000 * number + k}us.jpg"
        names[f"night/frame_{k:03d}.png"] = f"{folder}/{image}_{1292900000000000 + 1000 * number + k}us.jpg"
    return names


def write_center_poses(path: Path, poses: dict[str, pycolmap.Rigid3d]) -> None:
    """The release's pose lists: `name qw qx qy qz cx cy cz`, world-to-camera rotation and camera centre."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{n} {' '.join(map(str, [*qvec_wxyz(p), *camera_center(p)]))}\n" for n, p in sorted(poses.items())]
    path.write_text("".join(lines))


def build(
    scene: Path, root: Path, number: int, frames: range, query_poses: bool = False
) -> dict[str, pycolmap.Rigid3d]:
    """Write slice `number`, the renders of `frames`, into root/slice<number>; returns the rendered truth
    (cam_from_world) by name in the slice."""
    truth_model = pycolmap.Reconstruction(scene / "model")
    pinhole = next(iter(truth_model.cameras.values()))
    truth = {image.name: image.cam_from_world() for image in truth_model.images.values()}
    folder = root / f"slice{number}"
    names = fake_names(number, frames)
    for render, name in names.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        image = warp(cv2.imread(str(scene / "images" / render)), pinhole, cmu_camera(Path(name).name))
        assert cv2.imwrite(str(folder / name), image)
    poses = {name: truth[render] for render, name in names.items()}
    database = sorted(Path(n).name for n in names.values() if n.startswith("database/"))
    queries = [Path(n).name for n in names.values() if n.startswith("query/")]
    model = pycolmap.Reconstruction()
    for camera_id, infix in enumerate(CAMERAS, 1):
        model.add_camera_with_trivial_rig(cmu_camera(f"img_0_{infix}_0us.jpg", camera_id))
    for image_id, name in enumerate(database, 1):
        image = pycolmap.Image(name=name, camera_id=1 + int(name.split("_")[2][1]), image_id=image_id)
        model.add_image_with_trivial_frame(image, poses[f"database/{name}"])
    (folder / "sparse").mkdir()
    model.write_text(folder / "sparse")
    write_center_poses(
        folder / f"ground-truth-database-images-slice{number}.txt", {n: poses[f"database/{n}"] for n in database}
    )
    (folder / f"test-images-slice{number}.txt").write_text("".join(f"{n}\n" for n in queries))
    if query_poses:
        write_center_poses(folder / "camera-poses" / f"slice{number}.txt", {n: poses[f"query/{n}"] for n in queries})
    return poses
