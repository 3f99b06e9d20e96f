"""A scene written by `vloc synth`: images/<condition>/..., a model posing every image, splits, scene.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vloc.datasets.base import Prepared, require
from vloc.errors import InputError
from vloc.io.model import model_cameras, model_poses, read_model
from vloc.io.text import read_image_list


@dataclass
class Synthetic:
    root: Path
    query_condition: str = "night"

    def load(self) -> Prepared:
        model = read_model(require(self.root / "model", "synthetic scene model"))
        queries = read_image_list(self.root / "splits" / f"query_{self.query_condition}.txt")
        scene_json = require(self.root / "scene.json", "synthetic scene.json")
        try:
            thresholds = [(float(m), float(d)) for m, d in json.loads(scene_json.read_text())["thresholds"]]
        except (ValueError, KeyError, TypeError):
            raise InputError(f"{scene_json}: no valid 'thresholds' ([[metres, degrees], ...])") from None
        return Prepared(
            name=f"synthetic-{self.root.name}-{self.query_condition}",
            image_root=require(self.root / "images", "synthetic images folder"),
            mapping=read_image_list(self.root / "splits" / "mapping.txt"),
            queries=queries,
            cameras=model_cameras(model),
            poses=model_poses(model),
            thresholds=thresholds,
            conditions={name: name.split("/")[0] for name in queries},
        )
