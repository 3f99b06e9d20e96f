"""InLoc adapter on a fake copy of the published layout: cutout poses and intrinsics recovered from XYZcut through
the scan alignment, query intrinsics by the 28 mm rule, names and thresholds, and bad layouts as one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import fake_inloc
import h5py
import numpy as np
import pytest
import scipy.io
from helpers import assert_one_line_error
from typer.testing import CliRunner

from vloc.cli import app
from vloc.datasets import InLoc
from vloc.datasets.inloc import query_camera
from vloc.errors import FormatError
from vloc.geometry.rigid3d import pose_errors
from vloc.io.point_maps import inloc_alignment_path, read_mat_points, read_scan_alignment


@pytest.fixture(scope="module")
def inloc(benchmark_scene: Path, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("inloc")
    truth = fake_inloc.build(benchmark_scene, root)
    return {"root": root, "truth": truth, "prepared": InLoc(root).load()}


def test_names_thresholds_and_submission_names(inloc: dict):
    prepared = inloc["prepared"]
    assert prepared.mapping == sorted(fake_inloc.cutout_name(k) for k in range(0, 12, 2))
    assert prepared.queries == [fake_inloc.query_name(k) for k in range(1, 12, 2)]
    assert prepared.image_root == inloc["root"]
    assert prepared.thresholds == [(0.25, 10.0), (0.5, 10.0), (1.0, 10.0)]
    assert prepared.submission_names == "basename"
    assert not prepared.poses.keys() & set(prepared.queries)  # query poses are the server's
    prepared.check()


def test_cutout_poses_come_from_xyzcut_through_the_scan_alignment(inloc: dict):
    # Each scan's axes are turned at random and its alignment (lines 8-11, not the coarser one above) undoes that:
    # the rendered camera comes back only if the alignment is read and applied.
    for name in inloc["prepared"].mapping:
        dt, dr = pose_errors(inloc["prepared"].poses[name], inloc["truth"][name])
        assert dt < 1e-4 and dr < 1e-3, (name, dt, dr)


def test_cutout_intrinsics_come_from_xyzcut(inloc: dict):
    for name in inloc["prepared"].mapping:
        camera = inloc["prepared"].cameras[name]
        assert (camera.model_name, camera.width, camera.height) == ("PINHOLE", 480, 360)
        np.testing.assert_allclose(camera.params, [375, 375, 240, 180], atol=1e-3)


def test_query_intrinsics_follow_the_28mm_rule_on_any_size(inloc: dict, tmp_path: Path):
    camera = inloc["prepared"].cameras[fake_inloc.query_name(1)]
    assert camera.model_name == "SIMPLE_PINHOLE"
    np.testing.assert_allclose(camera.params, [480 * 28 / 36, 240, 180])
    for width, height in ((4032, 3024), (3024, 4032)):
        path = tmp_path / f"IMG_{width}.JPG"
        assert cv2.imwrite(str(path), np.zeros((height, width), np.uint8))
        # InLoc's 4032 x 28 / 36 = 3136 px over the longer side, portrait or landscape.
        np.testing.assert_allclose(query_camera(path).params, [3136, width / 2, height / 2])


def test_alignment_lines_8_to_11(tmp_path: Path):
    matrix = np.array([[0, -1, 0, 5], [1, 0, 0, -2], [0, 0, 1, 0.5], [0, 0, 0, 1]], float)
    path = tmp_path / "DUC_trans_024.txt"
    path.write_text(fake_inloc.alignment_text(matrix))
    np.testing.assert_array_equal(read_scan_alignment(path), matrix)
    name = "database/cutouts/DUC2/024/DUC_cutout_024_150_-30.jpg"
    assert (
        inloc_alignment_path(tmp_path, name) == tmp_path / "database/alignments/DUC2/transformations/DUC_trans_024.txt"
    )


def test_matlab_v73_files_are_read_through_hdf5(inloc: dict, tmp_path: Path):
    name = fake_inloc.cutout_name(0)
    xyz = read_mat_points(inloc["root"] / f"{name}.mat")
    path = tmp_path / "v73.mat"
    with h5py.File(path, "w", userblock_size=512) as handle:
        handle["XYZcut"] = xyz.transpose(2, 1, 0)  # MATLAB writes column-major: (3, W, H) as h5py sees it
    with open(path, "r+b") as handle:  # MATLAB's 128-byte header: text, subsystem offset, version 0x0200, 'IM'
        handle.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116) + bytes(8) + b"\x00\x02IM")
    with pytest.raises(NotImplementedError):
        scipy.io.loadmat(path)
    np.testing.assert_array_equal(read_mat_points(path), xyz)


@pytest.fixture
def copy(inloc: dict, tmp_path: Path) -> Path:
    root = tmp_path / "inloc"
    shutil.copytree(inloc["root"], root)
    return root


def prepare(root: Path, out: Path):
    return CliRunner().invoke(app, ["prepare", "inloc", str(out), "--root", str(root)])


def test_prepare_writes_the_dataset(copy: Path, tmp_path: Path):
    result = prepare(copy, tmp_path / "out")
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert info["submission_names"] == "basename" and info["num_mapping"] == 6 and info["num_queries"] == 6
    assert (tmp_path / "out" / "ground_truth.txt").read_text() == ""
    first = (tmp_path / "out" / "queries.txt").read_text().splitlines()[0].split()
    assert first[:4] == [fake_inloc.query_name(1), "SIMPLE_PINHOLE", "480", "360"]


def test_missing_cutouts_folder(copy: Path, tmp_path: Path):
    shutil.rmtree(copy / "database" / "cutouts")
    assert_one_line_error(prepare(copy, tmp_path / "out"), str(copy / "database" / "cutouts"), "not found")


def test_missing_queries(copy: Path, tmp_path: Path):
    for path in (copy / "query" / "iphone7").iterdir():
        path.unlink()
    assert_one_line_error(prepare(copy, tmp_path / "out"), str(copy / "query" / "iphone7"), "no .JPG query images")


def test_missing_xyzcut_file(copy: Path, tmp_path: Path):
    mat = copy / f"{fake_inloc.cutout_name(4)}.mat"
    mat.unlink()
    assert_one_line_error(prepare(copy, tmp_path / "out"), str(mat), "point map not found")


def test_missing_alignment(copy: Path, tmp_path: Path):
    alignment = copy / fake_inloc.alignment_path(2)
    alignment.unlink()
    assert_one_line_error(prepare(copy, tmp_path / "out"), str(alignment), "scan alignment not found")


def test_short_alignment_names_the_line(copy: Path, tmp_path: Path):
    alignment = copy / fake_inloc.alignment_path(2)
    alignment.write_text("".join(alignment.read_text().splitlines(True)[:9]))
    assert_one_line_error(prepare(copy, tmp_path / "out"), f"{alignment}:10", "P_after_GICP")


def test_mat_without_xyzcut(copy: Path, tmp_path: Path):
    mat = copy / f"{fake_inloc.cutout_name(0)}.mat"
    scipy.io.savemat(mat, {"RGBcut": np.zeros((2, 2, 3), np.uint8)})
    assert_one_line_error(prepare(copy, tmp_path / "out"), str(mat), "no array 'XYZcut'")


def test_unreadable_mat(copy: Path, tmp_path: Path):
    mat = copy / f"{fake_inloc.cutout_name(0)}.mat"
    mat.write_bytes(b"not a mat file at all" * 10)
    assert_one_line_error(prepare(copy, tmp_path / "out"), str(mat), "not a readable MATLAB file")


def test_xyzcut_that_is_no_view_from_the_scan_origin(copy: Path, tmp_path: Path):
    mat = copy / f"{fake_inloc.cutout_name(0)}.mat"
    scipy.io.savemat(mat, {"XYZcut": np.random.default_rng(0).normal(size=(360, 480, 3))})
    assert_one_line_error(prepare(copy, tmp_path / "out"), str(mat), "not a pinhole view from its scan's origin")


def test_cutout_name_that_is_not_inlocs(copy: Path, tmp_path: Path):
    cutout = copy / fake_inloc.cutout_name(0)
    renamed = cutout.with_name("frame_000.jpg")
    cutout.rename(renamed)
    assert_one_line_error(prepare(copy, tmp_path / "out"), str(renamed), "not an InLoc cutout name")


def test_matlab_v73_xyzcut_that_is_not_hxwx3(tmp_path: Path):
    path = tmp_path / "flat.mat"
    with h5py.File(path, "w") as handle:
        handle["XYZcut"] = np.zeros((4, 5))
    with pytest.raises(FormatError, match=f"{path}: XYZcut has shape \\(5, 4\\)"):
        read_mat_points(path)


def test_unreadable_matlab_v73(tmp_path: Path):
    path = tmp_path / "truncated.mat"
    with h5py.File(path, "w") as handle:
        handle["XYZcut"] = np.zeros((3, 40, 30))
    path.write_bytes(path.read_bytes()[:600])  # the HDF5 signature stays, the rest is cut
    with pytest.raises(FormatError, match=f"{path}: "):
        read_mat_points(path)


def test_unreadable_query_image(copy: Path, tmp_path: Path):
    query = copy / fake_inloc.query_name(1)
    query.write_bytes(b"not a jpeg")
    assert_one_line_error(prepare(copy, tmp_path / "out"), str(query), "image not found or not readable")
