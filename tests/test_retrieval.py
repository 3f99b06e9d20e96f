"""vloc.retrieval: exact cosine search equals a brute-force sort, with exclusions, clamped k and dimension checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vloc.errors import FormatError
from vloc.global_descriptors.index import DescriptorIndex


def unit_rows(rng: np.random.Generator, num: int, dim: int) -> np.ndarray:
    rows = rng.standard_normal((num, dim))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_search_equals_brute_force_sort():
    rng = np.random.default_rng(0)
    database = rng.standard_normal((1000, 64)).astype(np.float32) * rng.uniform(0.1, 10, (1000, 1))  # unnormalised
    queries = rng.standard_normal((37, 64)).astype(np.float32)
    # a tiny score block forces several query blocks
    scores, indices = DescriptorIndex(database, max_block_bytes=10 * 4 * 1000).search(queries, 15)
    db64 = database.astype(np.float64) / np.linalg.norm(database.astype(np.float64), axis=1, keepdims=True)
    q64 = queries.astype(np.float64) / np.linalg.norm(queries.astype(np.float64), axis=1, keepdims=True)
    similarity = q64 @ db64.T
    expected = np.argsort(-similarity, axis=1)[:, :15]
    assert scores.shape == indices.shape == (37, 15)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(similarity, expected, 1), atol=1e-5)
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_float16_storage_finds_the_same_neighbours():
    rng = np.random.default_rng(2)
    database = unit_rows(rng, 500, 32).astype(np.float32)
    queries = database[:20] + 0.05 * rng.standard_normal((20, 32)).astype(np.float32)
    index = DescriptorIndex(torch.from_numpy(database), dtype=torch.float16)
    assert index.descriptors.dtype == torch.float16 and index.nbytes == 500 * 32 * 2
    scores, indices = index.search(queries, 1)
    np.testing.assert_array_equal(indices[:, 0], np.arange(20))  # each perturbed row finds its source
    assert np.all(scores[:, 0] > 0.9)


def test_exclusion_and_clamped_k():
    rng = np.random.default_rng(3)
    database = unit_rows(rng, 6, 8).astype(np.float32)
    index = DescriptorIndex(database)
    scores, indices = index.search(database, 2, exclude=np.array([[q, q] for q in range(6)]))
    assert np.all(indices[:, 0] != np.arange(6)) and np.all(indices[:, 1] != np.arange(6))
    scores_all, indices_all = index.search(database, 2)
    np.testing.assert_array_equal(indices_all[:, 0], np.arange(6))  # without exclusion, each row finds itself
    np.testing.assert_allclose(scores_all[:, 0], 1.0, atol=1e-6)

    # k = 10 > N = 6: clamped to 6; excluding 2 of query 0's rows leaves its last two slots empty
    scores, indices = index.search(database[:2], 10, exclude=np.array([[0, 4], [0, 1], [1, 1]]))
    assert scores.shape == indices.shape == (2, 6)
    assert set(indices[0, :4]) == {0, 2, 3, 5} and list(indices[0, 4:]) == [-1, -1]
    assert np.all(np.isneginf(scores[0, 4:])) and np.all(np.isfinite(scores[0, :4]))
    assert set(indices[1, :5]) == {0, 2, 3, 4, 5} and indices[1, 5] == -1


def test_dimension_mismatch_is_one_line():
    index = DescriptorIndex(np.ones((4, 16), np.float32))
    assert index.dim == 16 and len(index) == 4
    with pytest.raises(FormatError, match="dimension 8, the database has 16") as error:
        index.search(np.ones((2, 8), np.float32), 1)
    assert "\n" not in str(error.value)


def test_profile_retrieval_reports_each_size(tmp_path):
    from vloc.benchmark.speed import plot_retrieval_profile, profile_retrieval

    report = profile_retrieval([2000, 500], dim=16, repeat=3, float16_from=2000)
    assert [r["num_db"] for r in report["sizes"]] == [500, 2000]  # ascending: peak-RSS growth needs it
    assert [r["dtype"] for r in report["sizes"]] == ["float32", "float16"]
    assert [r["index_bytes"] for r in report["sizes"]] == [500 * 16 * 4, 2000 * 16 * 2]
    assert all(r["median_query_s"] > 0 and r["peak_rss_growth_search_bytes"] >= 0 for r in report["sizes"])
    plot_retrieval_profile(report, tmp_path / "retrieval.png")
    assert (tmp_path / "retrieval.png").read_bytes()[:4] == b"\x89PNG"
