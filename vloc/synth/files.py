"""Atomic writes of label maps (compressed .npz)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from vloc.io.atomic import write_bytes_atomic


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An .npz as `np.savez_compressed` writes it, at zlib's fastest level (2.5x faster, 4% larger)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
    write_bytes_atomic(path, buffer.getvalue())
