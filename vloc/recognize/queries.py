"""`vloc recognize`: which global instances of the map each query sees (LBR), with scores and a label map."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vloc.config import preset_field, to_json
from vloc.console import track
from vloc.errors import FormatError
from vloc.geometry.label_maps import pixel_indices
from vloc.io.features import FeatureReader
from vloc.io.h5 import Entries, atomic_writer, stamp_config
from vloc.io.images import read_image
from vloc.io.instances import InstanceReader, write_instance_image
from vloc.recognizers import RECOGNIZERS


@dataclass(frozen=True)
class RecognizeConf:
    recognizer: str = preset_field()
    model: Any = preset_field()


def conf_by_name(name: str) -> RecognizeConf:
    """The recognize conf of the recognizer preset `name`, e.g. `vote`."""
    return RECOGNIZERS.conf(name, "recognize", RecognizeConf)


def keypoint_labels(label_map: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """Label of each keypoint (features-file convention, pixel centres at integers) read from a label map."""
    rows, cols = pixel_indices(np.asarray(keypoints).reshape(-1, 2) + 0.5, label_map.shape)
    return label_map[rows, cols]


def main(
    conf: RecognizeConf,
    instances: Path,
    queries: list[str],
    images: Path,
    features: Path,
    out: Path,
    *,
    db_features: Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Recognise the instances of `instances` in each query;
    writes `out` (a recognitions file, queries' keypoints labelled).

    Recognizers that match local features read the database's from `db_features` (default: `features`). With
    `overwrite`, the queries named are recognised again and the others in `out` kept.
    """
    with contextlib.ExitStack() as stack:
        instance_reader = stack.enter_context(InstanceReader(instances))
        query_features = stack.enter_context(FeatureReader(features))
        db_reader = query_features if db_features is None else stack.enter_context(FeatureReader(db_features))
        for name in queries:
            if name not in query_features:
                raise FormatError(f"{features}: no features for query '{name}'")
        recognizer = RECOGNIZERS.get(conf.recognizer)(conf.model, instance_reader, db_reader)
        redo = Entries("keypoint_labels", frozenset(queries)) if overwrite else None
        handle = stack.enter_context(atomic_writer(out, resume=not overwrite, redo=redo))
        stamp_config(handle, out, to_json(conf))
        handle.attrs["num_instances"] = instance_reader.num_instances
        unrecognised = []
        for name in track([q for q in queries if overwrite or q not in handle], "recognize"):
            query = query_features.read(name)
            recognition = recognizer.recognize(read_image(images / name, grayscale=False), query)
            if not len(recognition.instances):
                unrecognised.append(name)
            labels = keypoint_labels(recognition.label_map, query.keypoints)
            write_instance_image(handle, name, labels, recognition.label_map, recognition.instances, recognition.scores)
    if unrecognised:
        logging.warning(
            "%d queries with no recognised instance (instance pairs fall back to retrieval): %s",
            len(unrecognised),
            ", ".join(unrecognised[:5]) + (" ..." if len(unrecognised) > 5 else ""),
        )
    return out
