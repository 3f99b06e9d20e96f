"""CLI: vloc train gnnet, vloc train recognizer, vloc train matcher, vloc train scr, vloc train crossview."""

from __future__ import annotations

from pathlib import Path

import typer

from vloc.cli.app import console, existing_file, existing_folder, stage, sub_app, writable_folder

train_app = sub_app("train", "Train vloc's own models.")


@stage(
    train_app,
    "gnnet",
    "Train GN-Net dense features on pixel correspondences (double-margin contrastive + Gauss-Newton loss), from a "
    "vloc synth scene (day/night/season and viewpoint pairs from rendered depth) or a COLMAP model with its images. "
    "Validates each epoch (matching accuracy at 1/3/5 px, 2D refinement convergence rate); writes OUT/last.pt after "
    "every epoch (--resume it), OUT/gnnet.pt and OUT/history.json. The shipped checkpoint comes from "
    "pipelines/train_gnnet.sh.",
    "vloc train gnnet outputs/gnnet --synthetic outputs/gnnet-train/scene --validation-synthetic "
    "outputs/gnnet-train/validation --set epochs=6",
)
def gnnet(
    out: Path = typer.Argument(
        ..., help="Output folder for checkpoints and the training history.", callback=writable_folder
    ),
    synthetic: Path | None = typer.Option(None, help="A vloc synth folder to train on.", callback=existing_folder),
    colmap_model: Path | None = typer.Option(
        None, help="A COLMAP model to train on (with --images).", callback=existing_folder
    ),
    images: Path | None = typer.Option(None, help="Image folder of --colmap-model.", callback=existing_folder),
    validation_synthetic: Path | None = typer.Option(
        None, help="A vloc synth folder to validate on (else held-out pairs).", callback=existing_folder
    ),
    init: Path | None = typer.Option(
        None, help="Start from this checkpoint's weights (fine-tuning), e.g. the shipped one.", callback=existing_file
    ),
    resume: Path | None = typer.Option(
        None, help="Resume an interrupted run from its OUT/last.pt.", callback=existing_file
    ),
    set_: list[str] = typer.Option([], "--set", help="Override a config field, e.g. epochs=4 or pairs.max_side=480."),
) -> None:
    from vloc.config import override
    from vloc.errors import ConfigError
    from vloc.train import data
    from vloc.train import gnnet as trainer

    conf = override(trainer.TrainGNNetConf(), set_)
    if (synthetic is None) == (colmap_model is None):
        raise ConfigError("name one training source: --synthetic DIR or --colmap-model MODEL --images DIR")
    if colmap_model is not None:
        if images is None:
            raise ConfigError("--colmap-model needs --images (the folder its image names are relative to)")
        dataset = data.ColmapPairs(colmap_model, images, conf.pairs)
    else:
        dataset = data.SyntheticPairs(synthetic, conf.pairs)
    validation = data.SyntheticPairs(validation_synthetic, conf.pairs) if validation_synthetic else None
    checkpoint = trainer.main(conf, dataset, out, validation, resume, init)
    console.print(f"GN-Net checkpoint written to {checkpoint}")


@stage(
    train_app,
    "recognizer",
    "Train LBR's segmentation recognizer (the `seg` recognizer) from scratch on the map's database images and their "
    "instance masks (instances.h5), with day-to-night stylisation. Validates each epoch (top-1: the highest presence "
    "score is an instance present in the image's mask), on --validation-instances/--validation-images if given, else "
    "on the training images; writes OUT/last.pt after every epoch (--resume it), OUT/recognizer.pt and "
    "OUT/history.json.",
    "vloc train recognizer outputs/street/recognizer --instances outputs/street/instances.h5 "
    "--images outputs/street/scene/images --set epochs=60",
)
def recognizer(
    out: Path = typer.Argument(
        ..., help="Output folder for checkpoints and the training history.", callback=writable_folder
    ),
    instances: Path = typer.Option(
        ..., help="instances.h5 with a label mask per database image.", callback=existing_file
    ),
    images: Path = typer.Option(
        ..., help="Image folder the names of --instances are relative to.", callback=existing_folder
    ),
    validation_instances: Path | None = typer.Option(
        None, help="instances.h5 of validation images (with --validation-images).", callback=existing_file
    ),
    validation_images: Path | None = typer.Option(
        None, help="Image folder of --validation-instances.", callback=existing_folder
    ),
    resume: Path | None = typer.Option(
        None, help="Resume an interrupted run from its OUT/last.pt.", callback=existing_file
    ),
    set_: list[str] = typer.Option([], "--set", help="Override a config field, e.g. epochs=60 or max_side=240."),
) -> None:
    from vloc.config import override
    from vloc.errors import ConfigError
    from vloc.train import recognizer as trainer

    conf = override(trainer.TrainRecognizerConf(), set_)
    if (validation_instances is None) != (validation_images is None):
        raise ConfigError("--validation-instances and --validation-images go together")
    validation = (validation_instances, validation_images) if validation_instances else None
    checkpoint = trainer.main(conf, instances, images, out, resume, validation)
    console.print(f"recognizer checkpoint written to {checkpoint}")


@stage(
    train_app,
    "matcher",
    "Train the IMP matcher (`vloc match features --conf imp`) on keypoint pairs with ground-truth matches: the pairs "
    "of vloc synth scenes (their rendered depth gives the ground truth) and of COLMAP models (keypoints observing the "
    "same 3D point match), of vloc synth-homographies folders (every keypoint transferred through the homography), "
    "and with `--set matches.negative_pairs=R` R negative pairs per pair, joining two places' images (nothing "
    "matches); deep supervision of every iteration. One features file holds the keypoints of every "
    "image. Validates on held-out pairs (the untrained network, then each epoch: match precision and recall, matches "
    "per negative pair, relative-pose AUC at 5/10/20 deg); writes OUT/last.pt after every epoch (--resume it), "
    "OUT/imp.pt and OUT/history.json. The recipe: pipelines/train_imp.sh.",
    "vloc train matcher outputs/imp --synthetic outputs/imp-train/scene --model outputs/kitti/model "
    "--features outputs/imp-train/feats-sift.h5 --set epochs=10",
)
def matcher(
    out: Path = typer.Argument(
        ..., help="Output folder for checkpoints and the training history.", callback=writable_folder
    ),
    features: Path = typer.Option(
        ..., help="Local features of every training image (vloc extract local).", callback=existing_file
    ),
    synthetic: list[Path] = typer.Option([], help="A vloc synth folder to train on (repeatable)."),
    model: list[Path] = typer.Option([], help="A COLMAP model with 3D points to train on (repeatable)."),
    homographies: list[Path] = typer.Option(
        [], help="A vloc synth-homographies folder to train on (repeatable).", callback=existing_folder
    ),
    resume: Path | None = typer.Option(
        None, help="Resume an interrupted run from its OUT/last.pt.", callback=existing_file
    ),
    set_: list[str] = typer.Option([], "--set", help="Override a config field, e.g. model.num_iterations=6."),
) -> None:
    from vloc.config import override
    from vloc.errors import InputError
    from vloc.io.features import FeatureReader
    from vloc.train import matcher as trainer
    from vloc.train.data import SyntheticPairs
    from vloc.train.keypoint_matches import DepthMatches, HomographyMatches, KeypointMatchPairs, ModelMatches

    if not synthetic and not model and not homographies:
        raise InputError("train matcher: give at least one --synthetic scene, --model or --homographies folder")
    conf = override(trainer.TrainMatcherConf(), set_)
    sources = [DepthMatches(SyntheticPairs(folder)) for folder in synthetic]
    sources += [ModelMatches(folder, conf.matches.min_shared_points) for folder in model]
    sources += [HomographyMatches(folder) for folder in homographies]
    with FeatureReader(features) as reader:
        pairs = KeypointMatchPairs(sources, reader, conf.matches)
        checkpoint = trainer.main(conf, pairs, out, resume)
    console.print(f"IMP checkpoint written to {checkpoint}")


@stage(
    train_app,
    "scr",
    "Train a scene coordinate regression network (CrossLoc / DSAC*: scene coordinates, depth or normals at stride 8, "
    "with an uncertainty) on the frames of a vloc synth or synth-twin folder in one or more conditions, from scratch "
    "or from another run's network (--init: pretrain on one condition, fine-tune on others); with --helper (a depth "
    "or normal network, repeatable), train CrossLoc's fusion of the --init coordinate network with their frozen "
    "encoders. Validates on the frames of --validation-condition (median label error; for coordinates the median "
    "DSAC* pose error); writes OUT/last.pt after every epoch (--resume it), OUT/scr.pt and OUT/history.json. The "
    "recipe: pipelines/7scenes_scr.sh.",
    "vloc train scr outputs/scr-coord --synthetic outputs/7scenes_twin --condition real,twin --init "
    "outputs/scr-coord-twin/scr.pt --set epochs=10",
)
def scr(
    out: Path = typer.Argument(
        ..., help="Output folder for checkpoints and the training history.", callback=writable_folder
    ),
    synthetic: Path = typer.Option(..., help="A vloc synth folder to train on.", callback=existing_folder),
    condition: str = typer.Option("day", help="The conditions whose frames are trained on, e.g. real,twin."),
    validation_condition: str | None = typer.Option(
        None, help="The conditions whose frames are validated on (default: --condition's)."
    ),
    task: str = typer.Option("coord", help="coord (scene coordinates), depth or normal."),
    init: Path | None = typer.Option(
        None, help="Start from this network (scr.pt of a run of the same task).", callback=existing_file
    ),
    image_list: Path | None = typer.Option(
        None,
        "--list",
        help="Use only the frames named here (condition/image, as in the folder's model).",
        callback=existing_file,
    ),
    helper: list[Path] = typer.Option(
        [], "--helper", help="A depth or normal network whose frozen encoder the coordinate network fuses."
    ),
    resume: Path | None = typer.Option(
        None, help="Resume an interrupted run from its OUT/last.pt.", callback=existing_file
    ),
    set_: list[str] = typer.Option([], "--set", help="Override a config field, e.g. epochs=50 or model.channels=64."),
) -> None:
    from vloc.config import override
    from vloc.errors import InputError
    from vloc.io.text import read_image_list
    from vloc.models.scr import SCRConf
    from vloc.train import scr as trainer
    from vloc.train.scr_data import synthetic_frames

    conf = override(trainer.TrainSCRConf(model=SCRConf(task=task)), set_)

    listed = set(read_image_list(image_list)) if image_list else None

    def frames(conditions: str) -> list:
        found = [frame for c in conditions.split(",") if c.strip() for frame in synthetic_frames(synthetic, c.strip())]
        kept = [f for f in found if listed is None or f"{f.image.parent.name}/{f.image.name}" in listed]
        if not kept:
            raise InputError(f"{image_list}: names none of the frames of conditions {conditions} in {synthetic}")
        return kept

    training, validation = frames(condition), frames(validation_condition or condition)
    checkpoint = trainer.main(conf, training, validation, out, init, resume, helper)
    console.print(f"scene coordinate regression network written to {checkpoint}")


@stage(
    train_app,
    "crossview",
    "Train DenseFlow (ground-to-aerial flow, confidence and planar pose) on the train split of a cross-view dataset: "
    "random priors around each view (--set prior_offset metres, prior_yaw degrees), the sequence flow loss with the "
    "confidence term, then (after --set flow_only_fraction of the steps) end to end with the pose loss. Validates on "
    "held-out training scenes every --set validation_interval steps and writes OUT/last.pt then (--resume it); "
    "OUT/denseflow.pt and OUT/history.json at the end. The default recipe: pipelines/synthetic_crossview.sh.",
    "vloc train crossview outputs/crossview_data outputs/crossview_model --set steps=2000",
)
def crossview(
    dataset: Path = typer.Argument(..., help="Cross-view dataset folder (crossview.json).", callback=existing_folder),
    out: Path = typer.Argument(
        ..., help="Output folder for checkpoints and the training history.", callback=writable_folder
    ),
    resume: Path | None = typer.Option(
        None, help="Resume an interrupted run from its OUT/last.pt.", callback=existing_file
    ),
    set_: list[str] = typer.Option([], "--set", help="Override a config field, e.g. steps=500 or model.iterations=4."),
) -> None:
    from vloc.config import override
    from vloc.io.crossview import read_crossview
    from vloc.train import crossview as trainer

    conf = override(trainer.TrainCrossviewConf(), set_)
    checkpoint = trainer.main(read_crossview(dataset), conf, out, resume)
    console.print(f"DenseFlow network written to {checkpoint}")
