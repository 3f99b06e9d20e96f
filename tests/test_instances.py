"""Instance labels: generated clusters agree with the rendered buildings, masks give their ids exactly,
bad input fails."""

from __future__ import annotations

from pathlib import Path

import cv2  # before pycolmap: the other order makes PNG writing abort (two zlibs)
import numpy as np
import pycolmap
import pytest
from helpers import assert_one_line_error
from typer.testing import CliRunner

from vloc.cli import app
from vloc.errors import FormatError, InputError
from vloc.io.h5 import open_for_reading
from vloc.io.instances import InstanceReader
from vloc.io.model import read_model
from vloc.recognize import map_instances as instances


def rendered_instances(scene: Path, name: str) -> np.ndarray:
    """The renderer's (H, W) instance map of image `name` ('day/frame_007.png')."""
    return np.load(scene / "geometry" / Path(name).with_suffix(".npz").name)["instances"]


def keypoint_pixels(image: pycolmap.Image) -> tuple[np.ndarray, np.ndarray]:
    xy = np.array([p.xy for p in image.points2D])
    return np.floor(xy[:, 1]).astype(int), np.floor(xy[:, 0]).astype(int)


@pytest.fixture(scope="module")
def rendered_masks(synthetic_map: dict[str, Path], tmp_path_factory) -> Path:
    """The renderer's instance maps of the model's images as RGB PNG masks, id in the R channel."""
    folder = tmp_path_factory.mktemp("masks")
    for image in read_model(synthetic_map["model"]).images.values():
        bgr = np.zeros((*rendered_instances(synthetic_map["scene"], image.name).shape, 3), np.uint8)
        bgr[..., 2] = rendered_instances(synthetic_map["scene"], image.name)
        (folder / image.name).parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(folder / image.name), bgr)
    return folder


def test_agreement_matches_hand_computed_values():
    result = instances.agreement(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 2]))
    assert result["purity"] == 0.75 and result["inverse_purity"] == 1.0
    assert result["ari"] == pytest.approx(4 / 7)  # (1 - 1/3) / (3/2 - 1/3), from the contingency table
    assert instances.agreement(np.array([5, 5, 2, 7]), np.array([1, 1, 3, 0]))["ari"] == pytest.approx(1.0)
    assert instances.agreement(np.zeros(4, int), np.arange(4))["ari"] == pytest.approx(0.0)


def test_generated_clusters_agree_with_rendered_buildings(synthetic_map: dict[str, Path], tmp_path: Path):
    out = instances.main(instances.InstancesConf(), synthetic_map["model"], tmp_path / "instances.h5")
    model = read_model(synthetic_map["model"])
    with InstanceReader(out) as reader, open_for_reading(out) as handle:
        assert handle.attrs["source"] == "generated" and "original_ids" not in handle
        assert 5 <= reader.num_instances <= 12  # 8 buildings, of which 6 are seen by the day images
        assert handle["instance_ids"][()].tolist() == list(range(1, reader.num_instances + 1))
        predicted, truth, labels_at_keypoints = {}, {}, []
        for image in model.images.values():
            labels, mask = reader.keypoint_labels(image.name), reader.mask(image.name)
            camera = model.cameras[image.camera_id]
            assert mask.shape == (camera.height, camera.width) and len(labels) == len(image.points2D)
            assert reader.instances(image.name).tolist() == sorted((set(np.unique(mask)) | set(labels)) - {0})
            rows, cols = keypoint_pixels(image)
            rendered = rendered_instances(synthetic_map["scene"], image.name)
            labelled = labels > 0
            labels_at_keypoints.append(mask[rows[labelled], cols[labelled]] == labels[labelled])
            for index, point in enumerate(image.points2D):
                if point.has_point3D():
                    predicted[point.point3D_id] = labels[index]
                    truth.setdefault(point.point3D_id, []).append(rendered[rows[index], cols[index]])
    assert np.mean(np.concatenate(labels_at_keypoints)) > 0.99  # masks hold each labelled keypoint's label
    ids = sorted(truth)
    result = instances.agreement(
        np.array([predicted[i] for i in ids]), np.array([np.bincount(truth[i]).argmax() for i in ids])
    )
    assert np.mean([predicted[i] > 0 for i in ids]) > 0.9
    # measured 0.980 / 0.932 / 0.947 (ground points are a class of their own)
    assert result["purity"] > 0.94 and result["inverse_purity"] > 0.88 and result["ari"] > 0.9, result


def test_masks_give_the_rendered_ids_exactly(synthetic_map: dict[str, Path], rendered_masks: Path, tmp_path: Path):
    remap = tmp_path / "remap.txt"
    remap.write_text("# mask_id instance_id\n" + "".join(f"{i} {100 + 7 * (i // 2)}\n" for i in range(1, 9)))
    out = instances.main(instances.InstancesConf(), synthetic_map["model"], tmp_path / "a.h5", rendered_masks)
    remapped = instances.main(
        instances.InstancesConf(), synthetic_map["model"], tmp_path / "b.h5", rendered_masks, remap
    )
    model = read_model(synthetic_map["model"])
    with InstanceReader(out) as reader, InstanceReader(remapped) as merged, open_for_reading(out) as handle:
        assert handle.attrs["source"] == "masks"
        original = np.r_[0, handle["original_ids"][()]]  # compact id -> rendered id
        merged_original = np.r_[0, merged.handle["original_ids"][()]]
        assert merged_original[1:].tolist() == sorted({100 + 7 * (i // 2) for i in original[1:]})
        for image in model.images.values():
            truth = rendered_instances(synthetic_map["scene"], image.name)
            rows, cols = keypoint_pixels(image)
            assert np.array_equal(original[reader.keypoint_labels(image.name)], truth[rows, cols])
            assert np.array_equal(original[reader.mask(image.name)], truth)
            assert np.array_equal(
                merged_original[merged.mask(image.name)], np.where(truth > 0, 100 + 7 * (truth // 2), 0)
            )
            assert original[reader.instances(image.name)].tolist() == sorted(set(np.unique(truth)) - {0})


def test_mask_errors_name_the_file(synthetic_map: dict[str, Path], rendered_masks: Path, tmp_path: Path):
    remap = tmp_path / "remap.txt"
    remap.write_text("".join(f"{i} {i}\n" for i in range(1, 9) if i != 4))  # id 4 is visible but not remapped
    runner = CliRunner()
    args = ["instances", "build", str(synthetic_map["model"]), str(tmp_path / "out.h5"), "--masks", str(rendered_masks)]
    result = runner.invoke(app, args + ["--remap", str(remap)])
    assert_one_line_error(result, "mask id 4 is not in the remap file", str(rendered_masks))
    assert not (tmp_path / "out.h5").exists()
    missing = tmp_path / "few-masks"
    (missing / "day").mkdir(parents=True)
    (missing / "day" / "frame_000.png").write_bytes((rendered_masks / "day" / "frame_000.png").read_bytes())
    with pytest.raises(InputError, match=r"few-masks/day/frame_\d+\.png: mask not found"):
        instances.main(instances.InstancesConf(), synthetic_map["model"], tmp_path / "out.h5", missing)


def test_models_without_points_or_images_fail_with_one_line(synthetic_map: dict[str, Path], tmp_path: Path):
    with pytest.raises(FormatError, match=f"{synthetic_map['reference']}: model has no 3D points"):
        instances.main(instances.InstancesConf(), synthetic_map["reference"], tmp_path / "out.h5")
    empty = tmp_path / "empty"
    empty.mkdir()
    pycolmap.Reconstruction().write_binary(empty)
    result = CliRunner().invoke(app, ["instances", "build", str(empty), str(tmp_path / "out.h5")])
    assert_one_line_error(result, str(empty), "no registered images")
    assert not (tmp_path / "out.h5").exists()


def test_cli_prints_a_one_line_summary(synthetic_map: dict[str, Path], tmp_path: Path):
    out = tmp_path / "instances.h5"
    result = CliRunner().invoke(
        app, ["instances", "build", str(synthetic_map["model"]), str(out), "--set", "fill_radius=5"]
    )
    assert result.exit_code == 0, result.output
    with open_for_reading(out) as handle:
        summary = (
            f"{handle.attrs['num_instances']} instances (generated); "
            f"{handle.attrs['labelled_fraction']:.1%} of keypoints"
        )
        assert handle.attrs["labelled_fraction"] > 0.9 and '"fill_radius": 5.0' in handle.attrs["config"]
    assert result.output.strip() == f"{summary} with 3D points labelled -> {out}"
    result = CliRunner().invoke(
        app, ["instances", "build", str(synthetic_map["model"]), str(out), "--set", "clusters.radius=big"]
    )
    assert_one_line_error(result, "config key 'clusters.radius' expects float, got 'big'")
