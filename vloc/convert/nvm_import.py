"""NVM -> COLMAP: a VisualSFM model (RobotCar Seasons' all.nvm, Cambridge Landmarks' reconstruction.nvm) as a COLMAP
model folder, as hloc's colmap_from_nvm makes it: a camera per NVM camera at the size of its image file, the poses,
and the 3D points with their tracks, each measurement a points2D entry of its image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pycolmap

from vloc.errors import FormatError, InputError
from vloc.io.images import image_size
from vloc.io.model import check_model_output, write_model
from vloc.io.nvm import NvmModel, colmap_camera, image_file_name, measurement_pixels, read_nvm


def main(nvm_path: Path, out: Path, images: Path, overwrite: bool = False) -> pycolmap.Reconstruction:
    """Convert the NVM model into the model folder `out` (written whole or not at all), refusing to replace an
    existing `out` unless `overwrite`; the model written."""
    check_output(out, overwrite)
    model = colmap_model(read_nvm(nvm_path), images)
    write_model(model, out)
    return model


def check_output(out: Path, overwrite: bool) -> None:
    """Refuse, before any work, an existing `out` unless `overwrite`, and anything but a COLMAP model folder even so."""
    empty_folder = out.is_dir() and not out.is_symlink() and not any(out.iterdir())
    if (out.exists() or out.is_symlink()) and not empty_folder and not overwrite:
        raise InputError(f"{out}: already exists; pass --overwrite to replace it, or choose a new folder")
    check_model_output(out)


def colmap_model(nvm: NvmModel, images: Path) -> pycolmap.Reconstruction:
    """The COLMAP model of an NVM model whose names are relative to `images`: image and camera ids follow the NVM's
    cameras from 1; a point without measurements is left out."""
    model = pycolmap.Reconstruction()
    by_image = np.argsort(nvm.image_index, kind="stable")  # each image's measurements, in file order: its points2D
    starts = np.searchsorted(nvm.image_index[by_image], np.arange(len(nvm.cameras) + 1))
    point2d_index = np.empty(len(by_image), np.int64)
    point2d_index[by_image] = np.arange(len(by_image)) - starts[nvm.image_index[by_image]]
    lines: dict[str, int] = {}
    for image_id, camera in enumerate(nvm.cameras, 1):
        name = image_file_name(camera.name, images)
        if name is None:
            raise InputError(f"{nvm.path}:{camera.line}: image {camera.name} not found in {images}")
        if name in lines:
            raise FormatError(
                f"{nvm.path}:{camera.line}: image {name} is also that of the camera of line {lines[name]}"
            )
        lines[name] = camera.line
        width, height = image_size(images / name)
        colmap = colmap_camera(camera, width, height)
        colmap.camera_id = image_id
        model.add_camera_with_trivial_rig(colmap)
        pixels = measurement_pixels(nvm.xy[by_image[starts[image_id - 1] : starts[image_id]]], width, height)
        points2d = pycolmap.Point2DList([pycolmap.Point2D(xy) for xy in pixels])
        image = pycolmap.Image(name=name, camera_id=image_id, image_id=image_id, points2D=points2d)
        model.add_image_with_trivial_frame(image, camera.cam_from_world)
    tracks = np.searchsorted(nvm.point_index, np.arange(len(nvm.xyz) + 1))  # measurements are stored point by point
    for point, (start, end) in enumerate(zip(tracks[:-1].tolist(), tracks[1:].tolist())):
        if start == end:
            continue
        elements = zip((nvm.image_index[start:end] + 1).tolist(), point2d_index[start:end].tolist())
        track = pycolmap.Track([pycolmap.TrackElement(i, j) for i, j in elements])
        model.add_point3D(nvm.xyz[point], track, nvm.rgb[point])
    return model
