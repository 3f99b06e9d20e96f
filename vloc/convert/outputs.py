"""What every conversion shares: the files `vloc prepare` writes, refusing to replace outputs unless asked, a folder
of links to images kept in several places, and `convert.json`, which says what was converted and how."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from vloc.datasets import Prepared
from vloc.errors import FormatError, InputError
from vloc.io.atomic import atomic_path
from vloc.io.text import write_text_atomic

PREPARED = ("mapping.txt", "query_list.txt", "queries.txt", "reference", "ground_truth.txt", "dataset.json")
MANIFEST = "convert.json"


@dataclass
class Loaded:
    """A dataset already read, for `vloc.datasets.prepare`."""

    prepared: Prepared

    def load(self) -> Prepared:
        return self.prepared


def check_outputs(out: Path, names: list[str], overwrite: bool) -> None:
    """Refuse, before any work, to replace what `out` already holds of `names` unless `overwrite`."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file; give an output folder")
    existing = [name for name in names if (out / name).exists() or (out / name).is_symlink()]
    if existing and not overwrite:
        raise InputError(
            f"{out}: already holds {', '.join(existing)}; pass --overwrite to replace them, or choose a new folder"
        )


def link_images(sources: dict[str, Path], folder: Path) -> Path:
    """A folder in which each image name links to its file: one image root for images kept in several folders."""
    for name, source in sources.items():
        if not source.is_file():
            raise InputError(f"{source}: image '{name}' not found")
    if folder.exists() and any(not p.is_symlink() for p in folder.rglob("*") if not p.is_dir()):
        raise InputError(f"{folder}: holds files that are not links to images; choose a new output folder")
    with atomic_path(folder) as staging:
        for name, source in sorted(sources.items()):
            link = staging / name
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(source.resolve(), link)
    return folder


def common_image_root(roots: dict[str, Path]) -> Path | None:
    """The one folder every image name is relative to, if the images' roots (by name) resolve to a single folder."""
    resolved = {root.resolve() for root in roots.values()}
    return next(iter(resolved)) if len(resolved) == 1 else None


def image_sources(roots: dict[str, Path]) -> dict[str, Path]:
    """The file of each image name below its root."""
    return {name: root / name for name, root in roots.items()}


def write_manifest(out: Path, manifest: dict) -> Path:
    """convert.json: the inputs, the conventions applied and the files written."""
    path = out / MANIFEST
    write_text_atomic(path, json.dumps(manifest, indent=1, default=str) + "\n")
    return path


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    return path


def one_of(candidates: list[Path], where: Path, what: str, option: str) -> Path | None:
    """The single candidate, None without any; one line listing them (and the option that chooses) if several."""
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise FormatError(f"{where}: holds several {what} ({names}); choose one with {option}")
    return candidates[0] if candidates else None
