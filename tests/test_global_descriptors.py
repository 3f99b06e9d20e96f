"""Global descriptors: VLAD normalisations and retrieval numbers, vloc extract --conf vlad|netvlad|dinov2,
weights loading."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch
from helpers import assert_one_line_error, textured_image
from typer.testing import CliRunner

from vloc.cli import app
from vloc.config import override
from vloc.errors import ConfigError, FormatError, InputError
from vloc.extract import global_features as extract_global
from vloc.extract import local_features as extract_local
from vloc.extractors.sift import SIFT
from vloc.global_descriptors import GLOBAL_DESCRIPTORS
from vloc.global_descriptors.base import to_tensor
from vloc.global_descriptors.dinov2 import DINOv2, DINOv2Conf
from vloc.global_descriptors.netvlad import NetVLAD, NetVLADConf
from vloc.global_descriptors.rootsift import RootSIFTSource
from vloc.global_descriptors.vlad import VLAD, VLADConf, power_normalise, vlad_residuals, vlad_vector
from vloc.global_descriptors.vocabulary import VocabularyConf, load_vocabulary, save_vocabulary
from vloc.global_descriptors.vocabulary_learning import build
from vloc.io import images as image_io
from vloc.io.global_features import list_global_images, read_global_descriptors
from vloc.io.images import Preprocessing
from vloc.models.netvlad import NetVLADNet


@pytest.fixture
def images(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    root.mkdir()
    for seed in range(6):
        cv2.imwrite(str(root / f"db{seed}.png"), textured_image(seed, 320, 240))
    return root


@pytest.fixture
def hub_dir(tmp_path: Path, monkeypatch) -> Path:
    """An empty torch hub cache: TORCH_HOME and torch.hub.set_dir point into tmp_path (restored afterwards)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", torch.hub._hub_dir)
    torch.hub.set_dir(str(tmp_path / "torch" / "hub"))
    return tmp_path / "torch" / "hub"


def test_vlad_normalisations():
    rng = np.random.default_rng(0)
    centroids = rng.random((4, 8)).astype(np.float32)
    descriptors = rng.random((50, 8)).astype(np.float32)
    residuals = vlad_residuals(descriptors, centroids)
    assignment = np.linalg.norm(descriptors[:, None] - centroids[None], axis=2).argmin(1)
    expected = np.stack([(descriptors[assignment == k] - centroids[k]).sum(0) for k in range(4)])
    np.testing.assert_allclose(residuals, expected, atol=1e-5)

    intra = residuals / np.linalg.norm(residuals, axis=1, keepdims=True)
    powered = power_normalise(intra.ravel(), 0.5)
    np.testing.assert_allclose(np.abs(powered), np.sqrt(np.abs(intra.ravel())), atol=1e-7)
    np.testing.assert_array_equal(np.sign(powered), np.sign(intra.ravel()))
    vector = vlad_vector(descriptors, centroids)
    assert vector.shape == (32,) and vector.dtype == np.float32
    assert np.linalg.norm(vector) == pytest.approx(1, abs=1e-6)
    np.testing.assert_allclose(vector, powered / np.linalg.norm(powered), atol=1e-6)
    # each cluster has unit norm before the power step, so after it its squared entries sum to |v|_1 of the cluster
    assert np.linalg.norm(vector.reshape(4, 8), axis=1) == pytest.approx(np.full(4, 0.5), abs=0.2)
    assert np.all(vlad_vector(np.zeros((0, 8), np.float32), centroids) == 0)  # no keypoints: zero, not NaN


def test_vlad_similarity_of_changed_copy_and_unrelated_images(images: Path, tmp_path: Path):
    names = sorted(p.name for p in images.iterdir())
    with RootSIFTSource(images, Preprocessing(resize_max=None)) as rootsift:
        vocabulary = build(VocabularyConf(pca_dim=None), names, rootsift)
    vlad = VLAD(VLADConf(vocabulary=str(save_vocabulary(vocabulary, tmp_path / "v.npz"))))
    image = textured_image(0, 320, 240)
    changed = np.clip(image * 1.1, 0, 255).astype(np.uint8)[4:, 4:]  # brightness +10 %, shifted by 4 px
    reference = vlad(image)
    assert reference.shape == (64 * 128,)
    similar = float(reference @ vlad(changed))
    unrelated = [float(reference @ vlad(textured_image(seed, 320, 240))) for seed in (100, 101, 102)]
    print(f"VLAD cosine: changed copy {similar:.3f}, unrelated {np.round(unrelated, 3)}")
    # measured 0.833 and about [0.01, 0.00, -0.01]
    assert similar > 0.8
    assert max(unrelated) < 0.5


def test_extract_builds_vocabulary_shares_it_with_queries_and_resumes(images: Path, tmp_path: Path, monkeypatch):
    conf = override(extract_global.conf_by_name("vlad"), ["num_clusters=16", "pca_dim=4"])
    assert conf.output_name == "global-vlad.h5"
    (tmp_path / "db.txt").write_text("db0.png\ndb1.png\ndb2.png\ndb3.png\ndb4.png\n")
    sift_runs = []
    original_forward = SIFT._forward
    monkeypatch.setattr(SIFT, "_forward", lambda self, image: sift_runs.append(1) or original_forward(self, image))
    out = extract_global.main(conf, images, tmp_path / "db.h5", tmp_path / "db.txt")
    assert len(sift_runs) == 5  # once per image: the vocabulary's k-means and PCA passes and the VLADs share it
    monkeypatch.undo()
    vocabulary_file = tmp_path / "db.vocab.npz"
    assert load_vocabulary(vocabulary_file).pca_projection.shape == (16 * 128, 4)
    assert not (tmp_path / "db.vocab.npz.new").exists()
    with h5py.File(out) as handle:
        assert json.loads(handle.attrs["config"])["model"]["vocabulary"] == str(vocabulary_file)
        assert handle["db0.png/global_descriptor"].dtype == np.float32
    database = read_global_descriptors(out, [f"db{i}.png" for i in range(5)])
    assert database.shape == (5, 4)
    np.testing.assert_allclose(np.linalg.norm(database, axis=1), 1, atol=1e-5)

    query_conf = override(extract_global.conf_by_name("vlad"), [f"vocabulary={vocabulary_file}"])
    query = extract_global.main(query_conf, images, tmp_path / "q.h5")  # all six images, settings from the file
    np.testing.assert_array_equal(read_global_descriptors(query, ["db0.png"]), database[:1])  # kept = recomputed
    with h5py.File(query) as handle:
        assert json.loads(handle.attrs["config"])["model"]["num_clusters"] == 16

    loaded = []
    original = image_io.load_for_extraction
    monkeypatch.setattr(
        image_io, "load_for_extraction", lambda path, *a: loaded.append(path.name) or original(path, *a)
    )
    extract_global.main(conf, images, out)  # resume: only the image not yet in the file, same vocabulary
    assert loaded == ["db5.png"]
    assert list_global_images(out) == [f"db{i}.png" for i in range(6)]
    with pytest.raises(ConfigError, match="db.vocab.npz was built with other settings"):
        extract_global.main(override(conf, ["num_clusters=8"]), images, out)
    with pytest.raises(InputError, match="nothing.npz: vocabulary file not found"):
        extract_global.main(override(conf, [f"vocabulary={tmp_path / 'nothing.npz'}"]), images, tmp_path / "x.h5")
    with pytest.raises(ConfigError, match="vlad needs a vocabulary"):
        VLAD(VLADConf())


def test_vlad_reads_the_rootsift_of_local_sift_features_holding_the_same_pixels(
    images: Path, tmp_path: Path, monkeypatch
):
    cv2.imwrite(str(images / "large.png"), textured_image(9, 1280, 960))  # VLAD works at 1024 pixels, SIFT at 1600
    features = extract_local.main(extract_local.conf_by_name("sift"), images, tmp_path / "feats.h5")
    conf = override(extract_global.conf_by_name("vlad"), ["num_clusters=16", "pca_dim=4"])
    alone = extract_global.main(conf, images, tmp_path / "alone.h5")
    sift_runs = []
    original_forward = SIFT._forward
    monkeypatch.setattr(SIFT, "_forward", lambda self, image: sift_runs.append(1) or original_forward(self, image))
    reused = extract_global.main(conf, images, tmp_path / "reused.h5", local_features=features)
    assert len(sift_runs) == 1  # large.png: the file holds it at another size
    names = list_global_images(alone)
    assert len(names) == 7
    np.testing.assert_array_equal(read_global_descriptors(reused, names), read_global_descriptors(alone, names))
    vocabularies = [load_vocabulary(tmp_path / f"{m}.vocab.npz") for m in ("alone", "reused")]
    np.testing.assert_array_equal(vocabularies[0].centroids, vocabularies[1].centroids)
    np.testing.assert_array_equal(vocabularies[0].pca_projection, vocabularies[1].pca_projection)

    few = override(extract_local.conf_by_name("sift"), ["max_keypoints=100"])
    (tmp_path / "one.txt").write_text("db0.png\n")
    other = extract_local.main(few, images, tmp_path / "few.h5", tmp_path / "one.txt")
    command = ["extract", "global", str(images), str(tmp_path / "x.h5"), "--local-features", str(other)]
    result = CliRunner().invoke(app, command)
    assert_one_line_error(result, "few.h5: VLAD reuses features of `vloc extract local --conf sift` with its default")
    assert not (tmp_path / "x.h5").exists()


def test_netvlad_random_weights_checkpoint_round_trip_and_errors(tmp_path: Path, hub_dir: Path):
    image = np.random.default_rng(0).integers(0, 256, (96, 128, 3), np.uint8)
    random_net = NetVLAD(NetVLADConf(random_init=True, num_clusters=4))
    vector = random_net(image)
    assert vector.shape == (4 * 512,) and np.linalg.norm(vector) == pytest.approx(1, abs=1e-5)
    assert NetVLAD(NetVLADConf(random_init=True))(image).shape == (64 * 512,)

    with pytest.raises(InputError) as error:
        NetVLAD(NetVLADConf())
    expected = hub_dir / "checkpoints" / "pittsburgh_WPCA4096.pth.tar"
    assert str(expected) in str(error.value) and "\n" not in str(error.value)

    net = NetVLADNet(2, whitening_dim=8)  # the Patch-NetVLAD layout, with a (tiny) whitening layer
    expected.parent.mkdir(parents=True)
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}, "epoch": 3}, expected)
    loaded = NetVLAD(NetVLADConf())(image)
    with torch.inference_mode():
        np.testing.assert_allclose(loaded, net.eval()(to_tensor(image))[0].numpy(), atol=1e-5)
    assert loaded.shape == (8,)

    state = net.state_dict()
    del state["pool.centroids"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(FormatError, match="partial.pth: not a NetVLAD checkpoint: missing pool.centroids"):
        NetVLAD(NetVLADConf(weights=str(tmp_path / "partial.pth")))
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(FormatError, match="junk.pth: not a readable PyTorch checkpoint"):
        NetVLAD(NetVLADConf(weights=str(tmp_path / "junk.pth")))


def test_dinov2_random_weights_round_trip_and_errors(tmp_path: Path, hub_dir: Path):
    image = np.random.default_rng(0).integers(0, 256, (120, 150, 3), np.uint8)  # cropped to 112 x 140
    model = DINOv2(DINOv2Conf(random_init=True))
    vector = model(image)
    assert vector.shape == (2 * 384,) and np.linalg.norm(vector) == pytest.approx(1, abs=1e-5)
    keys = set(model.net.state_dict())
    assert {
        "patch_embed.proj.weight",
        "cls_token",
        "pos_embed",
        "mask_token",
        "blocks.11.attn.qkv.weight",
        "blocks.0.ls1.gamma",
        "blocks.0.mlp.fc2.bias",
        "norm.weight",
    } <= keys
    assert model.net.pos_embed.shape == (1, 1370, 384)

    with pytest.raises(InputError, match="DINOv2 weights not found") as error:
        DINOv2(DINOv2Conf())
    assert str(hub_dir / "checkpoints" / "dinov2_vits14_pretrain.pth") in str(error.value)

    checkpoint = hub_dir / "checkpoints" / "dinov2_vits14_pretrain.pth"
    checkpoint.parent.mkdir(parents=True)
    torch.save(model.net.state_dict(), checkpoint)
    np.testing.assert_allclose(DINOv2(DINOv2Conf())(image), vector, atol=1e-5)  # from the hub cache
    np.testing.assert_allclose(DINOv2(DINOv2Conf(weights=str(checkpoint)))(image), vector, atol=1e-5)
    with pytest.raises(FormatError, match="does not fit the model"):
        DINOv2(DINOv2Conf(arch="vitb14", weights=str(checkpoint)))


def test_registry_and_cli(images: Path, tmp_path: Path, hub_dir: Path):
    assert GLOBAL_DESCRIPTORS.get("vlad") is VLAD
    with pytest.raises(ConfigError, match="unknown global descriptor 'foo'; known: dinov2, netvlad, vlad"):
        GLOBAL_DESCRIPTORS.get("foo")
    runner = CliRunner()
    out = tmp_path / "out"
    out.mkdir()
    command = ["extract", "global", str(images), str(out), "--conf", "vlad", "--set", "num_clusters=8"]
    result = runner.invoke(app, [*command, "--set", "pca_dim=none"])  # a folder: the file's self-describing name
    assert result.exit_code == 1 and result.output.count("\n") == 1 and str(out / "global-vlad.h5") in result.output
    command[3] = str(out / "global-vlad.h5")
    result = runner.invoke(app, [*command, "--set", "pca_dim=none"])
    assert result.exit_code == 0, result.output
    assert read_global_descriptors(out / "global-vlad.h5", ["db0.png"]).shape == (1, 8 * 128)
    assert (out / "global-vlad.vocab.npz").is_file()

    result = runner.invoke(app, ["extract", "global", str(images), str(tmp_path / "n.h5"), "--conf", "netvlad"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "pittsburgh_WPCA4096.pth.tar" in result.output
    assert not (tmp_path / "n.h5").exists()
