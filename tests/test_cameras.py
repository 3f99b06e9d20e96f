"""vloc cameras: query intrinsics of plain photos from EXIF, else from a prior, with their source beside them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from vloc.cli import app
from vloc.io.intrinsics import read_intrinsics_sources
from vloc.io.text import read_queries


def write_photo(path: Path, focal_35mm: int | None = None) -> None:
    pixels = (np.random.default_rng(0).random((480, 640, 3)) * 255).astype(np.uint8)
    exif = Image.Exif()
    if focal_35mm is not None:
        exif.get_ifd(0x8769)[0xA405] = focal_35mm  # FocalLengthIn35mmFilm
    Image.fromarray(pixels).save(path, exif=exif)


def test_focal_from_exif_else_prior_and_the_source_of_each(tmp_path: Path):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_photo(photos / "exif.jpg", focal_35mm=28)
    write_photo(photos / "plain.jpg")
    out = tmp_path / "queries.txt"
    result = CliRunner().invoke(app, ["cameras", str(photos), str(out), "--prior-focal", "1.5"])
    assert result.exit_code == 0, result.output
    assert "1 from EXIF, 1 prior" in result.output
    cameras = read_queries(out)
    # 35 mm equivalent: f = 28 mm * image diagonal (800 px) / full-frame diagonal (43.27 mm)
    assert cameras["exif.jpg"].params[0] == pytest.approx(28 * 800 / np.hypot(36, 24), rel=1e-3)
    assert cameras["plain.jpg"].params[0] == pytest.approx(1.5 * 640)
    assert (cameras["plain.jpg"].width, cameras["plain.jpg"].height) == (640, 480)
    assert read_intrinsics_sources(out) == {"exif.jpg": "exif", "plain.jpg": "prior"}
    assert json.loads((tmp_path / "queries_intrinsics.json").read_text())["plain.jpg"] == "prior"


@pytest.mark.parametrize(
    ("setup", "arguments", "message"),
    [
        ("not-an-image", [], "not a readable image"),
        ("", ["--prior-focal", "0"], "--prior-focal must be positive"),
        ("", ["--prior-focal", "inf"], "--prior-focal must be positive and finite"),
        ("spaced name", [], "(pairs, lists, results); rename it, or skip such images with --skip-unreadable"),
    ],
)
def test_bad_photos_or_prior_fail_with_one_line(tmp_path: Path, setup: str, arguments: list[str], message: str):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_photo(photos / "good.jpg")
    if setup == "not-an-image":
        (photos / "broken.jpg").write_bytes(b"not a jpeg")
    if setup == "spaced name":
        write_photo(photos / "my photo.jpg")
    out = tmp_path / "queries.txt"
    result = CliRunner().invoke(app, ["cameras", str(photos), str(out), *arguments])
    assert result.exit_code == 1 and message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_photos_whose_names_text_files_cannot_hold_are_skipped_when_asked(tmp_path: Path):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_photo(photos / "good.jpg")
    write_photo(photos / "my photo.jpg")
    out = tmp_path / "queries.txt"
    result = CliRunner().invoke(app, ["cameras", str(photos), str(out), "--skip-unreadable"])
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in out.read_text().splitlines()] == ["good.jpg"]
