"""vloc extract: keypoint pixel convention, resizing, resumable output, ORB layout, CLI errors, --overwrite of a
list, the pixel budget and two runs writing one output at once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
from helpers import assert_one_line_error, textured_image, tree_digest, vloc_env, write_image
from typer.testing import CliRunner

from vloc.cli import app
from vloc.config import override
from vloc.errors import ConfigError
from vloc.extract import local_features as extract
from vloc.io import images as image_io
from vloc.io.features import FeatureReader, list_images
from vloc.io.h5 import list_groups_with

BLOB_CENTRES = np.array([[60.3, 50.7], [160.5, 120.25], [250.8, 70.4], [90.65, 180.1], [230.2, 190.9]])


@pytest.mark.parametrize("conf_name", ["sift", "sift-colmap", "sift-colmap-octave0"])
def test_keypoints_have_pixel_centres_at_integers(tmp_path: Path, conf_name: str):
    yy, xx = np.mgrid[0:240, 0:320].astype(np.float64)
    image = np.full((240, 320), 20.0)
    for cx, cy in BLOB_CENTRES:  # (x, y) of the blob centre with the first pixel's centre at (0, 0)
        image += 200 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 3.0**2))
    write_image(tmp_path / "images" / "blobs.png", np.round(image).astype(np.uint8))

    out = extract.main(extract.conf_by_name(conf_name), tmp_path / "images", tmp_path / "feats.h5")
    with FeatureReader(out) as reader:
        keypoints = reader.read("blobs.png").keypoints
    distances = np.linalg.norm(keypoints[None] - BLOB_CENTRES[:, None], axis=2).min(1)
    print(f"{conf_name}: blob centre to nearest keypoint (px): {np.round(distances, 4)}")
    # measured about 0.015 px for both backends; COLMAP's +0.5 convention would give 0.71 px
    assert (distances < 0.2).all()


def test_octave0_detects_no_blob_finer_than_the_images_own_first_octave(tmp_path: Path):
    """first_octave=0 starts the scale space at the image's own size: no keypoint from the 2x upsampled octave, whose
    blobs are the finest and most numerous."""
    write_image(tmp_path / "images" / "texture.png", textured_image(3, 320, 240))
    scales = {}
    for name in ("sift-colmap", "sift-colmap-octave0"):
        out = extract.main(extract.conf_by_name(name), tmp_path / "images", tmp_path / f"{name}.h5")
        with h5py.File(out) as handle:
            scales[name] = handle["texture.png"]["scales"][()]
    upsampled, native = scales["sift-colmap"], scales["sift-colmap-octave0"]
    assert len(native) < 0.7 * len(upsampled)
    # finest blobs (sigma in image pixels): about 1 px in the upsampled octave, 2 px at the image's own size
    # (measured 1.08 and 1.65); sqrt(2) lies between the two octaves
    assert native.min() > np.sqrt(2) > upsampled.min()


def test_resize_max_maps_keypoints_to_original_pixels(tmp_path: Path):
    write_image(tmp_path / "images" / "texture.png", textured_image(0))
    conf = extract.conf_by_name("sift")
    full = extract.main(override(conf, ["preprocessing.resize_max=none"]), tmp_path / "images", tmp_path / "full.h5")
    half = override(conf, ["preprocessing.resize_max=320"])
    assert half.output_name == "feats-sift-n4096-r320.h5"
    half_path = extract.main(half, tmp_path / "images", tmp_path / half.output_name)

    with h5py.File(full) as handle_full, h5py.File(half_path) as handle_half:
        keypoints_full, keypoints_half = (h["texture.png/keypoints"][()] for h in (handle_full, handle_half))
        scales_full, scales_half = (h["texture.png/scales"][()] for h in (handle_full, handle_half))
        np.testing.assert_array_equal(handle_half["texture.png/image_size"][()], [640, 480])
    assert keypoints_half[:, 0].max() > 600 and keypoints_half[:, 1].max() > 440  # in original pixels, not 320x240
    distances = np.linalg.norm(keypoints_half[:, None] - keypoints_full[None], axis=2)
    nearest, distance = distances.argmin(1), distances.min(1)
    close = distance < 1.5
    offset = (keypoints_half[close] - keypoints_full[nearest[close]]).mean(0)
    scale_ratio = np.median(scales_half[close] / scales_full[nearest[close]])
    print(
        f"resize_max: median NN distance {np.median(distance):.3f} px, mean offset {offset}, "
        f"scale ratio {scale_ratio:.3f}"
    )
    assert np.median(distance) < 0.5  # measured 0.07 px; random keypoints of this density would be ~4 px apart
    assert close.mean() > 0.6
    # mapping k / scale instead of (k + 0.5) / scale - 0.5 would shift every keypoint by 0.5 px
    assert np.abs(offset).max() < 0.1
    assert scale_ratio == pytest.approx(1.0, abs=0.05)  # scales are in original pixels too


def test_resume_skips_extracted_images_unless_overwrite(tmp_path: Path):
    images = tmp_path / "images"
    for seed in range(2):
        write_image(images / f"seq/{seed}.png", textured_image(seed, 320, 240))
    conf = override(extract.conf_by_name("sift"), ["max_keypoints=256"])
    out = extract.main(conf, images, tmp_path / "feats.h5")
    assert list_images(out) == ["seq/0.png", "seq/1.png"]
    with h5py.File(out, "r") as handle:
        original = handle["seq/0.png/keypoints"][()]
        untouched = handle["seq/1.png/keypoints"][()]
    assert 100 < len(original) <= 256
    with h5py.File(out, "r+") as handle:
        handle["seq/0.png/keypoints"][...] = -7.0

    write_image(images / "seq/2.png", textured_image(2, 320, 240))
    extract.main(conf, images, out)  # resumes: only the new image is extracted
    assert list_images(out) == ["seq/0.png", "seq/1.png", "seq/2.png"]
    with h5py.File(out, "r") as handle:
        assert (handle["seq/0.png/keypoints"][()] == -7.0).all()
        np.testing.assert_array_equal(handle["seq/1.png/keypoints"][()], untouched)
        assert len(handle["seq/2.png/keypoints"]) > 100

    extract.main(conf, images, out, overwrite=True)
    with h5py.File(out, "r") as handle:
        np.testing.assert_array_equal(handle["seq/0.png/keypoints"][()], original)
    assert not out.with_name(out.name + ".tmp").exists()


def test_orb_writes_packed_binary_descriptors(tmp_path: Path):
    write_image(tmp_path / "images" / "a.png", textured_image(1, 320, 240))
    conf = extract.conf_by_name("orb")
    assert conf.output_name == "feats-orb-n4096-r1600.h5"
    out = extract.main(conf, tmp_path / "images", tmp_path / conf.output_name)
    with h5py.File(out, "r") as handle:
        descriptors, keypoints = handle["a.png/descriptors"][()], handle["a.png/keypoints"][()]
        assert json.loads(handle.attrs["config"])["extractor"] == "orb"
    assert descriptors.dtype == np.uint8 and keypoints.dtype == np.float32
    assert descriptors.shape == (32, len(keypoints)) and len(keypoints) > 100
    assert len(np.unique(descriptors, axis=1).T) > 0.9 * len(keypoints)  # real descriptors, not a constant


def test_resume_refuses_another_configuration(tmp_path: Path):
    write_image(tmp_path / "images" / "a.png", textured_image(2, 320, 240))
    out = extract.main(extract.conf_by_name("sift"), tmp_path / "images", tmp_path / "feats.h5")
    other = override(extract.conf_by_name("sift"), ["max_keypoints=100"])
    with pytest.raises(ConfigError, match="feats.h5 was written with another configuration"):
        extract.main(other, tmp_path / "images", out)
    extract.main(other, tmp_path / "images", out, overwrite=True)
    with FeatureReader(out) as reader:
        assert len(reader.keypoints("a.png")) <= 100


def test_preset_fields_cannot_be_overridden(tmp_path: Path):
    with pytest.raises(ConfigError, match="'extractor' is chosen by the preset"):
        override(extract.conf_by_name("sift"), ["extractor=orb"])
    with pytest.raises(ConfigError, match="'preprocessing' is chosen by the preset"):
        override(extract.conf_by_name("sift"), ["preprocessing=3"])
    with pytest.raises(ConfigError, match="upright=true needs backend=pycolmap"):
        extract.main(override(extract.conf_by_name("sift"), ["upright=true"]), tmp_path, tmp_path / "unused.h5")
    with pytest.raises(ConfigError, match="first_octave other than -1 needs backend=pycolmap"):
        extract.main(override(extract.conf_by_name("sift"), ["first_octave=0"]), tmp_path, tmp_path / "unused.h5")


# ---------------------------------------------------------------- CLI errors
@pytest.fixture()
def good_and_bad_images(tmp_path: Path) -> Path:
    images = tmp_path / "images"
    for name in ("a.png", "c.png"):
        write_image(images / name, textured_image(len(name) + ord(name[0]), 160, 120))
    (images / "bad.jpg").write_text("not an image\n")
    return images


def test_cli_missing_folder_and_unreadable_image_fail_cleanly(tmp_path: Path, good_and_bad_images: Path):
    runner = CliRunner()
    out = tmp_path / "feats.h5"
    result = runner.invoke(app, ["extract", "local", str(tmp_path / "nowhere"), str(out)])
    assert_one_line_error(result, "IMAGES", "nowhere", "folder not found")
    assert not out.exists()

    result = runner.invoke(app, ["extract", "local", str(good_and_bad_images), str(out)])
    assert_one_line_error(result, "bad.jpg", "not a readable image")
    assert not out.exists() and not out.with_name("feats.h5.tmp").exists()

    result = runner.invoke(app, ["extract", "local", str(good_and_bad_images), str(out), "--skip-unreadable"])
    assert result.exit_code == 0, result.output
    assert list_images(out) == ["a.png", "c.png"]
    assert not out.with_name("feats.h5.tmp").exists()


def test_a_jpeg_cut_short_is_refused_though_opencv_decodes_part_of_it(tmp_path: Path):
    ok, encoded = cv2.imencode(".jpg", textured_image(3, 160, 120))
    images = tmp_path / "images"
    images.mkdir()
    (images / "whole.jpg").write_bytes(encoded.tobytes())
    (images / "cut.jpg").write_bytes(encoded.tobytes()[: len(encoded) // 2])
    assert ok and cv2.imread(str(images / "cut.jpg")) is not None
    assert image_io.read_image(images / "whole.jpg", grayscale=True).shape == (120, 160)
    out = tmp_path / "feats.h5"
    result = CliRunner().invoke(app, ["extract", "local", str(images), str(out)])
    assert_one_line_error(result, "cut.jpg", "a JPEG cut short")
    assert not out.exists()


def test_cli_unknown_conf_and_key(tmp_path: Path, good_and_bad_images: Path):
    runner = CliRunner()
    out = tmp_path / "feats.h5"
    result = runner.invoke(app, ["extract", "local", str(good_and_bad_images), str(out), "--conf", "surf"])
    assert_one_line_error(result, "unknown extract conf 'surf'", "sift")
    result = runner.invoke(
        app, ["extract", "local", str(good_and_bad_images), str(out), "--set", "model.num_octaves=3"]
    )
    assert_one_line_error(result, "unknown config key 'model.num_octaves'", "max_keypoints")
    result = runner.invoke(app, ["extract", "local", str(good_and_bad_images), str(out), "--set", "max_keypoints=many"])
    assert_one_line_error(result, "max_keypoints", "int")
    assert not out.exists()


# ---------------------------------------------------------------- overwrite, memory, concurrent runs
def read_all(path: Path, dataset: str) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as handle:
        return {name: handle[name][dataset][()] for name in list_groups_with(handle, dataset)}


@pytest.mark.parametrize(
    "kind, options, dataset",
    [
        ("local", ["--conf", "sift"], "keypoints"),
        ("dense", ["--conf", "dsift"], "level_0"),
        ("global", ["--conf", "vlad", "--set", "num_clusters=4", "--set", "pca_dim=null"], "global_descriptor"),
    ],
)
def test_cli_overwrite_of_a_list_redoes_those_images_and_keeps_the_others(
    tmp_path: Path, kind: str, options: list[str], dataset: str
):
    names = [f"{k}.png" for k in range(4)]
    for k, name in enumerate(names):
        write_image(tmp_path / "images" / name, textured_image(k, 160, 120))
    out = tmp_path / "out.h5"
    command = ["extract", kind, str(tmp_path / "images"), str(out), *options]
    assert CliRunner().invoke(app, command).exit_code == 0
    original = read_all(out, dataset)
    with h5py.File(out, "r+") as handle:
        for name in ("0.png", "3.png"):
            handle[name][dataset][...] = 7
    vocabulary = tree_digest(tmp_path / "out.vocab.npz")  # VLAD's; 'absent' for the others

    (tmp_path / "list.txt").write_text("0.png\n1.png\n")
    result = CliRunner().invoke(app, [*command, "--list", str(tmp_path / "list.txt"), "--overwrite"])
    assert result.exit_code == 0, result.output
    after = read_all(out, dataset)
    assert sorted(after) == names  # the 4 images, not the 2 listed
    for name in ("0.png", "1.png", "2.png"):  # 0 and 1 extracted again (0's tampering gone), 2 untouched
        np.testing.assert_array_equal(after[name], original[name])
    assert (after["3.png"] == 7).all()  # not listed: kept exactly as it was, not extracted again
    assert tree_digest(tmp_path / "out.vocab.npz") == vocabulary  # the kept descriptors' vocabulary is kept too
    left = {p.name for p in tmp_path.iterdir()} - {"out.vocab.npz"}
    assert left == {"images", "list.txt", "out.h5"}  # no temporary, no lock


def test_cli_overwrite_of_a_list_with_another_configuration_is_refused(tmp_path: Path, good_and_bad_images: Path):
    out = tmp_path / "feats.h5"
    (tmp_path / "list.txt").write_text("a.png\n")
    command = ["extract", "local", str(good_and_bad_images), str(out), "--list", str(tmp_path / "list.txt")]
    assert CliRunner().invoke(app, [*command[:4], "--skip-unreadable"]).exit_code == 0
    before = tree_digest(out)
    result = CliRunner().invoke(app, [*command, "--overwrite", "--set", "max_keypoints=100"])
    assert_one_line_error(
        result,
        f"{out} was written with another configuration; redo all its entries with --overwrite, or write another "
        "output file",
    )
    assert tree_digest(out) == before  # c.png, which would mix two configurations, was not dropped either
    assert not out.with_name("feats.h5.tmp").exists()


def test_cli_image_over_the_pixel_budget_is_refused_from_its_header(tmp_path: Path, monkeypatch):
    images, out = tmp_path / "images", tmp_path / "feats.h5"
    write_image(images / "a.png", textured_image(0, 160, 120))
    assert CliRunner().invoke(app, ["extract", "local", str(images), str(out)]).exit_code == 0
    write_image(images / "big.png", textured_image(1, 400, 300))
    before = tree_digest(out)

    def never_decoded(path: Path, grayscale: bool):
        raise AssertionError(f"{path} decoded")

    monkeypatch.setattr(image_io, "read_image", never_decoded)
    budget = ["--set", "preprocessing.max_pixels=50000"]  # a guard: no "another configuration" for a.png's file
    result = CliRunner().invoke(app, ["extract", "local", str(images), str(out), *budget])
    assert_one_line_error(
        result,
        f"{images / 'big.png'}: 400x300 image is 120000 pixels to extract, over preprocessing.max_pixels=50000 "
        "(memory); set preprocessing.resize_max, or raise preprocessing.max_pixels if the machine has the memory",
    )
    assert tree_digest(out) == before and not out.with_name("feats.h5.tmp").exists()

    monkeypatch.undo()
    resized = ["--set", "preprocessing.resize_max=200"]  # 200x150 = 30000 pixels extracted: within the budget
    result = CliRunner().invoke(app, ["extract", "local", str(images), str(tmp_path / "small.h5"), *budget, *resized])
    assert result.exit_code == 0, result.output
    with FeatureReader(tmp_path / "small.h5") as features:
        np.testing.assert_array_equal(features.read("big.png").image_size, [400, 300])


def test_two_extractions_into_one_output_at_once_lose_no_image(tmp_path: Path):
    lists = {}
    for run in ("a", "b"):
        names = [f"{run}{k}.png" for k in range(6)]
        for k, name in enumerate(names):
            write_image(tmp_path / "images" / name, textured_image(k + 10 * (run == "b"), 480, 360))
        (tmp_path / f"{run}.txt").write_text("\n".join(names) + "\n")
        lists[run] = names
    out = tmp_path / "feats.h5"

    def start(run: str) -> subprocess.Popen:
        command = ["extract", "local", str(tmp_path / "images"), str(out), "--list", str(tmp_path / f"{run}.txt")]
        return subprocess.Popen(
            [sys.executable, "-m", "vloc", *command], env=vloc_env(), stderr=subprocess.PIPE, text=True
        )

    runs = {run: start(run) for run in lists}
    errors = {run: process.communicate(timeout=300)[1] for run, process in runs.items()}
    for run, process in runs.items():
        other = runs["b" if run == "a" else "a"]
        assert "Traceback" not in errors[run], errors[run]
        if process.returncode != 0:  # refused while the other one wrote
            assert process.returncode == 1
            # the holder's pid, unless the refusal fell between the other run's lock and its writing of the pid
            holder = {f"another vloc run (pid {other.pid})", "another vloc run"}
            assert errors[run].strip() in {
                f"error: {out}: {h} is writing this file; wait for it to finish" for h in holder
            }
    finished = [run for run, process in runs.items() if process.returncode == 0]
    assert finished and list_images(out) == sorted(name for run in finished for name in lists[run])
    for run in set(lists) - set(finished):  # the refused run, run again, adds its images to the other's
        assert start(run).wait(timeout=300) == 0
    assert list_images(out) == sorted(lists["a"] + lists["b"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "feats.h5", "images"]


def test_names_text_files_cannot_hold_fail_before_any_work_or_are_skipped(tmp_path: Path, caplog):
    images = tmp_path / "images"
    for seed, name in enumerate(("a b.png", "#c.png", "d.png")):
        write_image(images / name, textured_image(seed, 160, 120))
    (tmp_path / "list.txt").write_text("d.png\n")
    out = tmp_path / "feats.h5"
    runner = CliRunner()
    assert (
        runner.invoke(app, ["extract", "local", str(images), str(out), "--list", str(tmp_path / "list.txt")]).exit_code
        == 0
    )
    before = out.read_bytes()

    result = runner.invoke(app, ["extract", "local", str(images), str(out)])
    assert_one_line_error(result, f"{images / '#c.png'}: image name starts with '#'", "--skip-unreadable")
    assert out.read_bytes() == before and not out.with_name("feats.h5.tmp").exists()

    result = runner.invoke(app, ["extract", "local", str(images), str(out), "--skip-unreadable"])
    assert result.exit_code == 0, result.output
    assert "a b.png: its name contains whitespace" in caplog.text and "#c.png: its name starts with '#'" in caplog.text
    assert list_images(out) == ["d.png"]


@pytest.mark.parametrize("conf_name, value", [("sift", "0"), ("sift-colmap", "-1"), ("orb", "-1")])
def test_max_keypoints_below_one_is_a_config_error_not_unlimited(tmp_path: Path, conf_name: str, value: str):
    write_image(tmp_path / "images" / "a.png", textured_image(0, 160, 120))
    args = ["extract", "local", str(tmp_path / "images"), str(tmp_path / "feats.h5"), "--conf", conf_name]
    result = CliRunner().invoke(app, [*args, "--set", f"max_keypoints={value}"])
    assert_one_line_error(result, f"max_keypoints must be at least 1, got {value}")
    assert not (tmp_path / "feats.h5").exists()


@pytest.mark.parametrize("shape", [(1, 1), (2, 3000), (62, 80)])
def test_orb_finds_no_keypoints_in_images_narrower_than_its_border(shape: tuple[int, int]):
    """OpenCV's ORB asserts inside its pyramid on such images; vloc returns no keypoints, as for a blank image."""
    from vloc.extractors.orb import ORB

    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    found = ORB(ORB.default_conf)._forward(image)
    assert found["keypoints"].shape == (0, 2) and found["descriptors"].shape == (32, 0)
    textured = np.random.default_rng(0).integers(0, 256, (100, 100), dtype=np.uint8)
    assert len(ORB(ORB.default_conf)._forward(textured)["keypoints"]) > 100  # and keypoints where there is room


def test_resize_max_refuses_negative_sides_and_never_makes_an_empty_image():
    with pytest.raises(ConfigError, match="resize_max must be positive"):
        override(extract.conf_by_name("sift"), ["preprocessing.resize_max=-5"])
    resized, _ = image_io.resize_max(np.zeros((2, 3000), np.uint8), 100)
    assert resized.shape == (1, 100)
