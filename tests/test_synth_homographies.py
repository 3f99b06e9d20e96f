"""`vloc synth-homographies`: warps whose homographies carry every pixel to its place, pairs between every two views
of a photograph, reproducible output, and the homographies.json reader's one-line errors."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from vloc.errors import ConfigError, InputError
from vloc.geometry.homography import apply_homography
from vloc.io.homographies import HomographyPair, read_homographies, write_homographies
from vloc.io.images import read_image, write_png
from vloc.synth.homographies import HomographySynthConfig, main, random_homography


def write_photographs(folder: Path, sizes: list[tuple[int, int]]) -> None:
    """Smooth random textures (blurred noise: bilinear sampling is exact to a few grey levels) of (width, height),
    photo0.png, photo1.jpg, ..."""
    rng = np.random.default_rng(0)
    for k, (width, height) in enumerate(sizes):
        noise = rng.uniform(0, 255, (height, width, 3)).astype(np.float32)
        write_png(
            folder / f"photo{k}.{('png', 'jpg')[k % 2]}",
            cv2.GaussianBlur(noise, (0, 0), 3).clip(0, 255).astype(np.uint8),
        )


def sampled(image0: np.ndarray, H: np.ndarray, pixels1: np.ndarray) -> np.ndarray:
    """Image 0 read (bilinear) where `H` says pixels (N, 2) of image 1 come from."""
    map0 = apply_homography(np.linalg.inv(H), pixels1).astype(np.float32)
    return cv2.remap(image0, map0[:, :1], map0[:, 1:], cv2.INTER_LINEAR)[:, 0]


def test_warps_follow_their_homographies_and_every_two_views_of_a_photograph_pair(tmp_path: Path):
    write_photographs(tmp_path / "photos", [(200, 150), (900, 300)])
    conf = HomographySynthConfig(warps_per_image=2, max_side=640, photometric=False)
    pairs = main(conf, [tmp_path / "photos"], tmp_path / "out")
    assert len(pairs) == 2 * 3  # each photograph and its 2 warps: 3 views, 3 pairs
    images = tmp_path / "out" / "images"
    assert read_image(images / "photos/photo1.png", grayscale=True).shape == (213, 640)  # resized to max_side
    for pair in pairs:
        image0 = read_image(images / pair.image0, grayscale=True).astype(np.float32)
        image1 = read_image(images / pair.image1, grayscale=True).astype(np.float32)
        height, width = image1.shape
        rows, cols = np.mgrid[8 : height - 8 : 4, 8 : width - 8 : 4]
        pixels1 = np.c_[cols.ravel(), rows.ravel()].astype(np.float64)
        pixels0 = apply_homography(np.linalg.inv(pair.H), pixels1)
        valid = np.all((pixels0 > 8) & (pixels0 < (width - 9, height - 9)), axis=1)
        inside0, inside1 = (cv2.erode((image > 0).astype(np.uint8), np.ones((7, 7))) for image in (image0, image1))
        nearest0 = pixels0.round().astype(int).clip(0, (width - 1, height - 1))
        valid &= (inside1[rows.ravel(), cols.ravel()] > 0) & (inside0[nearest0[:, 1], nearest0[:, 0]] > 0)
        assert valid.sum() > 200  # black (0) where a warp left the photograph: never compared

        truth = image1[rows.ravel(), cols.ravel()][valid]
        difference = np.abs(sampled(image0, pair.H, pixels1[valid]) - truth).mean()
        shift = np.array([[1, 0, 3], [0, 1, 0], [0, 0, 1]])
        shifted = np.abs(sampled(image0, shift @ pair.H, pixels1[valid]) - truth).mean()
        assert difference < 1.0 and shifted > 5 * difference  # measured: 0.28-0.35 against 2.6-4.0 grey levels


def test_the_same_config_writes_the_same_files_and_another_is_refused(tmp_path: Path):
    write_photographs(tmp_path / "photos", [(160, 120)])
    conf = HomographySynthConfig(warps_per_image=1)
    main(conf, [tmp_path / "photos"], tmp_path / "out")
    written = {path: path.read_bytes() for path in sorted((tmp_path / "out").rglob("*.*"))}
    main(conf, [tmp_path / "photos"], tmp_path / "out")
    assert {path: path.read_bytes() for path in sorted((tmp_path / "out").rglob("*.*"))} == written
    warp = read_image(tmp_path / "out/images/photos/photo0-warp0.png", grayscale=False)
    assert warp.shape == (120, 160, 3)
    with pytest.raises(ConfigError, match="another config or photographs"):
        main(HomographySynthConfig(warps_per_image=2), [tmp_path / "photos"], tmp_path / "out")
    (tmp_path / "other" / "photos").mkdir(parents=True)
    with pytest.raises(InputError, match="two photograph folders are named alike"):
        main(conf, [tmp_path / "photos", tmp_path / "other" / "photos"], tmp_path / "out2")


def test_random_homographies_keep_the_image_a_convex_quadrilateral():
    rng, conf = np.random.default_rng(1), HomographySynthConfig()
    for _ in range(200):
        corners = apply_homography(
            random_homography(rng, 640, 480, conf), np.array([[0, 0], [639, 0], [639, 479], [0, 479]])
        )
        edges = np.roll(corners, -1, axis=0) - corners
        turns = edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1] - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
        assert (turns > 0).all()  # the corners turn the same way: no fold, no mirror


def test_broken_homography_files_are_one_line_errors(tmp_path: Path):
    with pytest.raises(InputError, match="homographies.json: not found"):
        read_homographies(tmp_path)
    (tmp_path / "homographies.json").write_text("{")
    with pytest.raises(InputError, match="not JSON"):
        read_homographies(tmp_path)
    write_homographies(tmp_path, [HomographyPair("a.png", "b.png", np.zeros((3, 3)))], {})
    with pytest.raises(InputError, match=r"pair 0 \(a.png, b.png\): H is not an invertible 3x3 matrix"):
        read_homographies(tmp_path)
    info = json.loads((tmp_path / "homographies.json").read_text())
    info["pairs"][0].pop("image1")
    (tmp_path / "homographies.json").write_text(json.dumps(info))
    with pytest.raises(InputError, match="pair 0 needs image0, image1 and a 3x3 H"):
        read_homographies(tmp_path)
