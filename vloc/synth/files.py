"""Atomic writes of rendered images (PNG) and label maps (compressed .npz)."""

from __future__ import annotations

import io
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
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_bytes_atomic(path, buffer.getvalue())
