"""Instance files: global instance labels of database images (`instances.h5`) and recognitions of queries.

Both hold one group per image name (hloc's nesting, `/` in names makes subgroups) with `keypoint_labels`
(N,) int32 aligned with the image's keypoints (0 = no instance) and a `mask` (H, W) int32 label map.
An `instances.h5` group also lists the `instances` (M,) int32 present in the image; its root holds
`instance_ids` (K,) int32 (1..K) and the attribute `num_instances`. A recognitions file's group holds the
recognised `instances` (M,) int32, best first, with their `scores` (M,) float32.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from vloc.errors import FormatError
from vloc.io.h5 import ImageGroupsReader, list_groups_with, require, write_group


def write_instance_image(
    handle: h5py.File,
    name: str,
    keypoint_labels: np.ndarray,
    mask: np.ndarray,
    instances: np.ndarray,
    scores: np.ndarray | None = None,
) -> None:
    """Write one image's labels; `scores` (best first) only for a recognised query."""
    datasets = {"keypoint_labels": np.asarray(keypoint_labels, np.int32), "instances": np.asarray(instances, np.int32)}
    if scores is not None:
        datasets["scores"] = np.asarray(scores, np.float32)
    write_group(handle, name, datasets)
    try:  # label maps are mostly constant regions: gzip makes them about 50x smaller
        handle[name].create_dataset("mask", data=np.asarray(mask, np.int32), compression="gzip", compression_opts=4)
    except BaseException:
        del handle[name]
        raise


class InstanceReader(ImageGroupsReader):
    """Reads per-image instance labels from an `instances.h5` or a recognitions file, keeping it open."""

    dataset = "keypoint_labels"
    contents = "instance labels"

    def __init__(self, path: Path):
        super().__init__(path)
        self.names = list_groups_with(self.handle, self.dataset)
        if not self.names:
            self.close()
            raise FormatError(f"{path}: no image has instance labels (not an instances or recognitions file?)")
        self.num_instances = int(self.handle.attrs.get("num_instances", 0))

    def keypoint_labels(self, name: str) -> np.ndarray:
        return self.group(name)["keypoint_labels"][()].astype(np.int64)

    def mask(self, name: str) -> np.ndarray:
        group = self.group(name)
        require(group, ("mask",), self.path, f"image '{name}'")
        return group["mask"][()].astype(np.int64)

    def instances(self, name: str) -> np.ndarray:
        """Instances present in the image (database) or recognised in it, best first (query)."""
        group = self.group(name)
        require(group, ("instances",), self.path, f"image '{name}'")
        return group["instances"][()].astype(np.int64)

    def scores(self, name: str) -> np.ndarray:
        group = self.group(name)
        require(group, ("scores",), self.path, f"image '{name}' (not a recognitions file?)")
        return group["scores"][()].astype(np.float32)

    def images_by_instance(self) -> dict[int, list[str]]:
        """Database images containing each instance, in name order."""
        by_instance: dict[int, list[str]] = {}
        for name in self.names:
            for instance in self.instances(name).tolist():
                by_instance.setdefault(instance, []).append(name)
        return by_instance


class KeypointLabels:
    """Instance labels of any image's keypoints, from the first of several instance or recognitions files holding it."""

    def __init__(self, paths: list[Path]):
        self.readers = [InstanceReader(path) for path in paths]

    def __enter__(self) -> KeypointLabels:
        return self

    def __exit__(self, *args) -> None:
        for reader in self.readers:
            reader.close()

    def __call__(self, name: str, num_keypoints: int) -> np.ndarray:
        for reader in self.readers:
            if name in reader:
                labels = reader.keypoint_labels(name)
                if len(labels) != num_keypoints:
                    raise FormatError(
                        f"{reader.path}: image '{name}' has {len(labels)} keypoint labels "
                        f"for {num_keypoints} keypoints "
                        "(labels of another extraction?)"
                    )
                return labels
        raise FormatError(f"no instance labels for image '{name}' in {', '.join(str(r.path) for r in self.readers)}")
