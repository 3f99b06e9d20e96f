"""The common result of every dataset adapter, and `prepare`, which writes it as the files the stages read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pycolmap

from vloc.errors import ConfigError, InputError
from vloc.io.dataset_info import write_dataset_json
from vloc.io.model import build_posed_model, write_model
from vloc.io.text import write_poses, write_queries, write_text_atomic


@dataclass
class Prepared:
    """A dataset in memory: image names, intrinsics and ground truth (cam_from_world)."""

    name: str
    image_root: Path  # the folder image names are relative to
    mapping: list[str]
    queries: list[str]
    cameras: dict[str, pycolmap.Camera]  # every image
    poses: dict[str, pycolmap.Rigid3d]  # ground truth, every image that has it
    thresholds: list[tuple[float, float]]  # (metres, degrees)
    conditions: dict[str, str] = field(default_factory=dict)  # query name -> 'day', 'night', ...
    submission_names: str = "as-is"  # how an evaluation server names a query: as-is, basename or parent/basename

    def check(self) -> None:
        """Raise InputError if a listed image lacks a file, intrinsics or (mapping) a pose."""
        for names, what in ((self.mapping, "mapping"), (self.queries, "query")):
            for name in names:
                if name not in self.cameras:
                    raise InputError(f"{self.name}: {what} image {name} has no intrinsics")
                if what == "mapping" and name not in self.poses:
                    raise InputError(f"{self.name}: mapping image {name} has no ground-truth pose")
                if not (self.image_root / name).is_file():
                    raise InputError(f"{self.name}: image {self.image_root / name} not found")
        if not self.mapping or not self.queries:
            raise InputError(f"{self.name}: empty mapping or query list")


class Dataset(Protocol):
    def load(self) -> Prepared: ...


def require(path: Path, what: str) -> Path:
    """`path` if it exists, else a one-line InputError."""
    if not path.exists():
        raise InputError(f"{path}: {what} not found")
    return path


def prepare(dataset: Dataset, out: Path, thresholds: list[tuple[float, float]] | None = None) -> Path:
    """Write mapping/query lists, queries with intrinsics, the posed reference model and ground truth into `out`;
    `thresholds` (metres, degrees), when given, replace the dataset's own in dataset.json."""
    data = dataset.load()
    data.check()
    if thresholds:
        if any(metres <= 0 or degrees <= 0 for metres, degrees in thresholds):
            raise ConfigError(f"{out}: evaluation thresholds must be positive (metres, degrees), got {thresholds}")
        data.thresholds = list(thresholds)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "mapping.txt", "".join(f"{n}\n" for n in data.mapping))
    write_text_atomic(out / "query_list.txt", "".join(f"{n}\n" for n in data.queries))
    write_queries(out / "queries.txt", {n: data.cameras[n] for n in data.queries})
    write_model(build_posed_model(data.cameras, {n: data.poses[n] for n in data.mapping}), out / "reference")
    write_poses(out / "ground_truth.txt", {n: data.poses[n] for n in data.queries if n in data.poses})
    info = {
        "name": data.name,
        "image_root": str(data.image_root.resolve()),
        "thresholds": [list(t) for t in data.thresholds],
        "conditions": {n: data.conditions[n] for n in data.queries if n in data.conditions},
        "submission_names": data.submission_names,
        "num_mapping": len(data.mapping),
        "num_queries": len(data.queries),
    }
    write_dataset_json(out / "dataset.json", info)
    return out
