"""vloc.vocabulary: k-means, PCA whitening, .npz round trip and one-line errors for bad files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch
from helpers import assert_one_line_error, textured_image
from typer.testing import CliRunner

from vloc.cli import app
from vloc.errors import FormatError, InputError
from vloc.global_descriptors.rootsift import RootSIFTSource
from vloc.global_descriptors.vocabulary import Vocabulary, VocabularyConf, load_vocabulary, save_vocabulary
from vloc.global_descriptors.vocabulary_learning import build, kmeans, learn_pca
from vloc.io.images import Preprocessing


def test_kmeans_finds_separated_clusters():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(8, 16)) * 10
    points = centres[rng.integers(0, 8, 4000)] + rng.normal(size=(4000, 16)) * 0.1
    for init in ("kmeans++", "random"):
        found = kmeans(
            torch.from_numpy(points).float(), VocabularyConf(num_clusters=8, iterations=10, init=init)
        ).numpy()
        error = np.linalg.norm(found[:, None] - centres[None], axis=2).min(1)
        assert found.shape == (8, 16)
        if init == "kmeans++":  # seeding spreads over all clusters; random seeds may merge two
            assert error.max() < 0.05
    with pytest.raises(InputError, match="only 5 local descriptors for 8 clusters"):
        kmeans(torch.zeros(5, 16), VocabularyConf(num_clusters=8))


def test_pca_whitening_gives_requested_dimension_and_identity_covariance():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(500, 64)) @ rng.normal(size=(64, 64)) * np.geomspace(10, 0.1, 64) + 3
    mean, projection, eigenvalues = learn_pca(vectors, 16)
    conf = VocabularyConf(num_clusters=1)
    vocabulary = Vocabulary(conf, np.zeros((1, 128), np.float32), mean, projection, eigenvalues)
    whitened = vocabulary.project(vectors)
    assert whitened.shape == (500, 16)
    covariance = np.cov(whitened.T)
    print(f"whitened covariance: max |C - I| = {np.abs(covariance - np.eye(16)).max():.2e}")
    assert np.abs(covariance - np.eye(16)).max() < 1e-3
    assert np.all(np.diff(eigenvalues) <= 0)
    assert learn_pca(vectors[:10], 16)[1].shape == (64, 9)  # rank-limited: N - 1 components


def test_pca_without_whitening_keeps_the_centred_dot_products_with_database_vectors():
    rng = np.random.default_rng(3)
    database, queries = rng.normal(size=(30, 256)), rng.normal(size=(5, 256))  # fewer vectors than dimensions
    mean, projection, eigenvalues = learn_pca(database, 512)
    conf = VocabularyConf(num_clusters=2, whiten=False)
    vocabulary = Vocabulary(conf, np.zeros((2, 128), np.float32), mean, projection, eigenvalues)
    projected = vocabulary.project(queries) @ vocabulary.project(database).T
    assert projection.shape == (256, 29)
    np.testing.assert_allclose(projected, (queries - mean) @ (database - mean).T, rtol=1e-4, atol=1e-4)


def test_save_load_round_trip_and_bad_files(tmp_path: Path):
    rng = np.random.default_rng(2)
    conf = VocabularyConf(num_clusters=4, pca_dim=3)
    vocabulary = Vocabulary(conf, rng.random((4, 128), dtype=np.float32), *learn_pca(rng.random((20, 512)), 3))
    loaded = load_vocabulary(save_vocabulary(vocabulary, tmp_path / "v.npz"))
    assert loaded.conf == conf
    np.testing.assert_array_equal(loaded.centroids, vocabulary.centroids)
    x = rng.random((2, 512))
    np.testing.assert_allclose(loaded.project(x), vocabulary.project(x), rtol=1e-4, atol=1e-4)
    no_pca = load_vocabulary(
        save_vocabulary(Vocabulary(replace(conf, pca_dim=None), vocabulary.centroids), tmp_path / "n.npz")
    )
    assert no_pca.pca_projection is None and no_pca.project(x) is x

    with pytest.raises(InputError, match="missing.npz: vocabulary file not found"):
        load_vocabulary(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(FormatError, match="junk.npz: not a readable vocabulary file") as error:
        load_vocabulary(tmp_path / "junk.npz")
    assert "\n" not in str(error.value)
    np.savez(tmp_path / "other.npz", centroids=np.zeros((4, 128)))
    with pytest.raises(FormatError, match="other.npz: not a readable vocabulary file"):
        load_vocabulary(tmp_path / "other.npz")


def test_build_from_images_and_cli(tmp_path: Path):
    images = tmp_path / "images"
    images.mkdir()
    for seed in range(4):
        cv2.imwrite(str(images / f"db{seed}.png"), textured_image(seed, 320, 240))
    conf = VocabularyConf(num_clusters=16, pca_dim=2, max_descriptors=2000)
    with RootSIFTSource(images, Preprocessing(resize_max=None)) as rootsift:
        vocabulary = build(conf, ["db0.png", "db1.png", "db2.png"], rootsift)
    assert vocabulary.centroids.shape == (16, 128)
    assert vocabulary.pca_projection.shape == (16 * 128, 2)
    np.testing.assert_allclose(np.linalg.norm(vocabulary.centroids, axis=1), 1, atol=0.3)  # means of unit RootSIFTs

    (tmp_path / "list.txt").write_text("db0.png\ndb3.png\n")
    out = tmp_path / "voc.npz"
    result = CliRunner().invoke(
        app,
        [
            "vocab",
            "build",
            str(images),
            str(out),
            "--list",
            str(tmp_path / "list.txt"),
            "--set",
            "num_clusters=8",
            "--set",
            "pca_dim=none",
        ],
    )
    assert result.exit_code == 0, result.output
    loaded = load_vocabulary(out)
    assert loaded.conf.num_clusters == 8 and loaded.pca_projection is None


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated"], ids=["zero-byte", "truncated"])
def test_empty_or_truncated_vocabulary_fails_in_one_line_naming_it(tmp_path: Path, content: bytes):
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "db0.png"), textured_image(0, 160, 120))
    (tmp_path / "v.npz").write_bytes(content)
    out = tmp_path / "global.h5"
    with h5py.File(out, "w") as handle:  # an earlier output
        handle.attrs["note"] = "earlier"
    before = out.read_bytes()
    args = ["extract", "global", str(images), str(out), "--overwrite", "--set", f"vocabulary={tmp_path / 'v.npz'}"]
    result = CliRunner().invoke(app, args)
    assert_one_line_error(result, f"{tmp_path / 'v.npz'}: not a readable vocabulary file")
    assert out.read_bytes() == before and (tmp_path / "v.npz").read_bytes() == content
