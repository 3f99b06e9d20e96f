"""vloc.io.images: which files of a folder are its images."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import textured_image, write_image

from vloc.errors import InputError
from vloc.io.images import list_image_names


def test_hidden_files_and_folders_are_not_images(tmp_path: Path):
    """macOS copies leave '._NAME.jpg' metadata beside each photo; viewers keep '.thumbnails' folders."""
    for name in ("b.jpg", "sub/a.PNG", ".thumbnails/b.jpg", "sub/._a.png"):
        write_image(tmp_path / name, textured_image(1, 40, 30))
    (tmp_path / "._b.jpg").write_bytes(b"\x00\x05\x16\x07")
    (tmp_path / "notes.txt").write_text("not an image\n")
    assert list_image_names(tmp_path) == ["b.jpg", "sub/a.PNG"]
    write_image(tmp_path / "photos" / ".hidden" / "c.jpg", textured_image(2, 40, 30))
    with pytest.raises(InputError, match="photos: no images found"):
        list_image_names(tmp_path / "photos")
