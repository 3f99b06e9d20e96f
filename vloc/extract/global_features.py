"""`vloc extract global`: one global descriptor per image, for image retrieval (hloc layout)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vloc.config import preset_field, to_json
from vloc.errors import ConfigError, InputError
from vloc.extract.pending import extraction_output, pending_images
from vloc.global_descriptors import GLOBAL_DESCRIPTORS
from vloc.global_descriptors.rootsift import RootSIFTSource
from vloc.global_descriptors.vlad import VLADConf
from vloc.global_descriptors.vocabulary import conf_of, load_vocabulary, save_vocabulary
from vloc.io.global_features import list_global_images, write_global_descriptor
from vloc.io.h5 import stamp_config
from vloc.io.images import Preprocessing, select_images


@dataclass(frozen=True)
class GlobalConf:
    descriptor: str = preset_field()
    model: Any = preset_field()
    preprocessing: Preprocessing = field(default_factory=Preprocessing)

    @property
    def output_name(self) -> str:
        """Self-describing file name, e.g. global-vlad.h5."""
        return f"global-{self.descriptor}.h5"


def conf_by_name(name: str) -> GlobalConf:
    """The global extract conf of the global-descriptor preset `name`, e.g. `vlad`."""
    return GLOBAL_DESCRIPTORS.conf(name, "global extract", GlobalConf)


def vocabulary_path(out: Path) -> Path:
    """Where `main` keeps the vocabulary it builds for `out`: `<out stem>.vocab.npz` beside it."""
    return out.with_name(out.stem + ".vocab.npz")


def _plan_vocabulary(conf: GlobalConf, out: Path, rebuild: bool) -> tuple[GlobalConf, bool]:
    """The conf naming the vocabulary file it uses (with that file's settings), and whether that file must be built."""
    model: VLADConf = conf.model
    if model.vocabulary:
        vocabulary = load_vocabulary(Path(model.vocabulary))
        return replace(
            conf, model=replace(model, **vars(vocabulary.conf))
        ), False  # the file's settings describe the output
    path = vocabulary_path(out)
    conf = replace(conf, model=replace(model, vocabulary=str(path)))
    if rebuild or not path.exists():
        if out.exists() and not rebuild:
            raise InputError(f"{path}: vocabulary of {out} is missing; redo all its images with --overwrite")
        return conf, True
    if load_vocabulary(path).conf != conf_of(model):
        raise ConfigError(
            f"{path} was built with other settings; redo all images of {out} with --overwrite, or set vocabulary=FILE"
        )
    return conf, False


def _kept_images(out: Path, names: list[str]) -> list[str]:
    """Images of an existing output that an --overwrite of `names` keeps."""
    selected = set(names)
    return [n for n in list_global_images(out) if n not in selected] if out.exists() else []


def main(
    conf: GlobalConf,
    image_root: Path,
    out: Path,
    image_list: Path | None = None,
    overwrite: bool = False,
    skip_unreadable: bool = False,
    local_features: Path | None = None,
) -> Path:
    """Write the global descriptor of each image below `image_root` (or in `image_list`) into `out`.

    VLAD without a `vocabulary` first learns one from these images into `<out stem>.vocab.npz`; an `overwrite` that
    keeps images of `out` (not in `image_list`) keeps its vocabulary too. VLAD reads the RootSIFT of the images that
    `local_features` (SIFT, default settings) holds at the same size, rather than extracting it again.
    """
    descriptor_class = GLOBAL_DESCRIPTORS.get(conf.descriptor)
    names = select_images(image_root, image_list, skip_unreadable)
    is_vlad = isinstance(conf.model, VLADConf)
    if local_features is not None and not is_vlad:
        raise ConfigError(f"{local_features}: local features serve VLAD only, not {conf.descriptor}")
    needs_build = False
    if is_vlad:
        rebuild = overwrite and not _kept_images(out, names)  # kept descriptors need the vocabulary they were made with
        conf, needs_build = _plan_vocabulary(conf, out, rebuild)
    vocabulary = Path(conf.model.vocabulary) if needs_build else None
    pending = vocabulary.with_name(vocabulary.name + ".new") if vocabulary else None  # committed along with `out`
    keeps_old_output = overwrite and out.exists()  # what atomic_writer does on Ctrl-C
    try:
        with (
            extraction_output(out, "global_descriptor", names, overwrite) as handle,
            RootSIFTSource(image_root, conf.preprocessing, local_features) as rootsift,
        ):
            stamp_config(handle, out, to_json(conf))  # before building: refuse a mismatching file first
            if pending:
                from vloc.global_descriptors.vocabulary_learning import build  # k-means on torch: 1.3 s to import

                save_vocabulary(build(conf_of(conf.model), names, rootsift), pending)
            descriptor = descriptor_class(replace(conf.model, vocabulary=str(pending)) if pending else conf.model)
            images = pending_images(
                handle,
                "global_descriptor",
                image_root,
                names,
                descriptor_class.grayscale,
                conf.preprocessing,
                overwrite=overwrite,
                skip_unreadable=skip_unreadable,
                description=f"global {conf.descriptor}",
            )
            for name, image, _, _ in images:
                vector = descriptor.from_rootsift(rootsift.pop(name, image)) if is_vlad else descriptor(image)
                write_global_descriptor(handle, name, vector)
    except KeyboardInterrupt:
        _settle(pending, vocabulary, keep=not keeps_old_output)
        raise
    except BaseException:
        _settle(pending, vocabulary, keep=False)
        raise
    _settle(pending, vocabulary, keep=True)
    return out


def _settle(pending: Path | None, path: Path | None, keep: bool) -> None:
    """Move a newly built vocabulary to its place when the output made with it is kept, else drop it."""
    if pending is not None and path is not None and pending.exists():
        if keep:
            pending.replace(path)
        else:
            pending.unlink()
