"""`vloc extract`: local features of every image in a folder, written to a features file."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .config import choose
from .errors import InputError
from .extractors import get_extractor
from .extractors.orb import ORBConf
from .extractors.sift import SIFTConf
from .io.features import Features, write_features
from .io.h5 import atomic_writer, list_groups_with
from .io.images import list_image_names, read_image, resize_max
from .io.text import read_image_list
from .utils import track

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preprocessing:
    resize_max: int | None = 1600
    grayscale: bool = True


@dataclass(frozen=True)
class ExtractConf:
    extractor: str
    model: Any
    preprocessing: Preprocessing = field(default_factory=Preprocessing)

    @property
    def output_name(self) -> str:
        """Self-describing file name, e.g. feats-sift-n4096-r1600.h5."""
        resize = self.preprocessing.resize_max or "full"
        return f"feats-{self.extractor}-n{self.model.max_keypoints}-r{resize}.h5"


CONFS = {
    "sift": lambda: ExtractConf("sift", SIFTConf()),
    "sift-colmap": lambda: ExtractConf("sift", SIFTConf(backend="pycolmap")),
    "orb": lambda: ExtractConf("orb", ORBConf()),
}


def conf_by_name(name: str) -> ExtractConf:
    return choose(CONFS, name, "extract")


def _load(root: Path, name: str, preprocessing: Preprocessing) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    image = read_image(root / name, preprocessing.grayscale)
    size = (image.shape[1], image.shape[0])
    image, scale = resize_max(image, preprocessing.resize_max)
    return image, scale, size


def _prefetch(root: Path, names: list[str], preprocessing: Preprocessing, skip_unreadable: bool) -> Iterator[tuple]:
    """Yield (name, loaded image or None) with the next images decoded in a background thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        futures = [pool.submit(_load, root, n, preprocessing) for n in names[:4]]
        for index, name in enumerate(names):
            if index + 4 < len(names):
                futures.append(pool.submit(_load, root, names[index + 4], preprocessing))
            try:
                yield name, futures[index].result()
            except InputError:
                if not skip_unreadable:
                    raise
                logger.warning("skipping unreadable image %s", root / name)
                yield name, None
            futures[index] = None  # free the decoded image


def main(
    conf: ExtractConf,
    image_root: Path,
    out: Path,
    image_list: Path | None = None,
    overwrite: bool = False,
    skip_unreadable: bool = False,
) -> Path:
    """Extract features of the images below `image_root` (or those in `image_list`) into `out`."""
    names = read_image_list(image_list) if image_list else list_image_names(image_root)
    if not image_root.is_dir():
        raise InputError(f"{image_root}: image folder not found")
    extractor_class = get_extractor(conf.extractor)
    extractor = extractor_class(conf.model)
    grayscale = extractor_class.grayscale
    preprocessing = Preprocessing(conf.preprocessing.resize_max, grayscale)
    with atomic_writer(out, resume=not overwrite) as handle:
        done = set() if overwrite else set(list_groups_with(handle, "keypoints"))
        todo = [n for n in names if n not in done]
        for name, loaded in track(_prefetch(image_root, todo, preprocessing, skip_unreadable), "extract", len(todo)):
            if loaded is None:
                continue
            image, scale, size = loaded
            prediction = extractor(image)
            keypoints = (prediction["keypoints"] + 0.5) / scale - 0.5  # back to the original image's pixels
            scales = prediction.get("scales")
            features = Features(
                keypoints.astype(np.float32),
                prediction["descriptors"],
                prediction["scores"],
                np.array(size),
                scales=None if scales is None else scales / scale.mean(),
                oris=prediction.get("oris"),
            )
            write_features(handle, name, features)
        handle.attrs["extractor"] = conf.extractor
    return out
