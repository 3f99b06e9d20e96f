"""vloc.io.images: which files of a folder are its images."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import pytest
from helpers import textured_image, write_image
from PIL import Image

from vloc.errors import InputError
from vloc.io.images import jpeg_cut_short, list_image_names


def test_hidden_files_and_folders_are_not_images(tmp_path: Path):
    """macOS copies leave '._NAME.jpg' metadata beside each photo; viewers keep '.thumbnails' folders."""
    for name in ("b.jpg", "sub/a.PNG", ".thumbnails/b.jpg", "sub/._a.png"):
        write_image(tmp_path / name, textured_image(1, 40, 30))
    (tmp_path / "._b.jpg").write_bytes(b"\x00\x05\x16\x07")
    (tmp_path / "notes.txt").write_text("not an image\n")
    assert list_image_names(tmp_path) == ["b.jpg", "sub/a.PNG"]
    write_image(tmp_path / "photos" / ".hidden" / "c.jpg", textured_image(2, 40, 30))
    with pytest.raises(InputError, match="photos: no images found .*; left out 1 hidden files"):
        list_image_names(tmp_path / "photos")


def jpeg_bytes(**options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(textured_image(5, 96, 64)).convert("RGB").save(buffer, "JPEG", **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name, data, cut",
    [
        ("whole", jpeg_bytes(), False),
        ("progressive", jpeg_bytes(progressive=True), False),
        (
            "a video after the image, as in a phone's motion photo",
            jpeg_bytes() + b"\x00\x00\x00\x18ftypmp42" * 50,
            False,
        ),
        ("png named .jpg", cv2.imencode(".png", textured_image(5, 96, 64))[1].tobytes(), False),
        ("cut in half", jpeg_bytes()[: len(jpeg_bytes()) // 2], True),
        ("progressive cut at 90%", jpeg_bytes(progressive=True)[: int(0.9 * len(jpeg_bytes(progressive=True)))], True),
        ("without its end marker", jpeg_bytes()[:-2], True),
    ],
)
def test_jpeg_cut_short(tmp_path: Path, name: str, data: bytes, cut: bool):
    path = tmp_path / "image.jpg"
    path.write_bytes(data)
    assert cv2.imread(str(path)) is not None  # OpenCV decodes every one of them
    assert jpeg_cut_short(path) == cut, name
