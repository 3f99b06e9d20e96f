"""faiss indexes of global descriptors: exact search as DescriptorIndex, approximate search tuned to a recall, saved
beside the descriptors and reused."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from test_pairs_retrieval import write_descriptors

from vloc import pairs
from vloc.errors import ConfigError
from vloc.global_descriptors.index import DescriptorIndex
from vloc.io.text import read_pairs
from vloc.search.faiss_index import FaissIndex, IndexConf, import_faiss


@pytest.fixture(autouse=True)
def faiss_installed(request):
    """The tests that search need the scale extra; the one about its absence does not."""
    if "not_installed" not in request.node.name:
        pytest.importorskip("faiss", reason="the scale extra is not installed: pip install -e '.[scale]'")


def places(num_places: int, views: int, dim: int, num_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Database descriptors of `views` noisy views per place, and queries: new noisy views of random places."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((num_places, dim)).astype(np.float32)
    database = np.repeat(centres, views, axis=0) + 0.7 * rng.standard_normal((num_places * views, dim))
    queries = centres[rng.integers(0, num_places, num_queries)] + 0.7 * rng.standard_normal((num_queries, dim))
    return database.astype(np.float32), queries.astype(np.float32)


def recall_bound(found: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Mean recall of the queries, and its one-sided 95% lower confidence bound."""
    per_query = np.array([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)])
    return float(per_query.mean()), float(per_query.mean() - 1.645 * per_query.std() / np.sqrt(len(per_query)))


def test_exact_faiss_index_ranks_as_descriptor_index():
    database, queries = places(300, 5, 32, 40)
    exclude = np.array([[0, 7], [3, 100]])
    scores, indices = FaissIndex.build(database, IndexConf(kind="exact")).search(queries, 10, exclude)
    expected_scores, expected_indices = DescriptorIndex(database).search(queries, 10, exclude)
    assert np.array_equal(indices, expected_indices)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5)
    assert 7 not in indices[0] and 100 not in indices[3] and (indices >= 0).all()


@pytest.mark.parametrize(("kind", "target"), [("ivf", 0.95), ("hnsw", 0.999)])  # HNSW finds 0.99 at its least
def test_approximate_index_searches_as_little_as_reaches_the_target_recall(kind, target):
    database, queries = places(2000, 10, 64, 600)
    tuning, held_out = queries[:300], queries[300:]
    index = FaissIndex.build(database, IndexConf(kind=kind, target_recall=target))
    recall, tuned = index.tune(tuning, database, 10), index.effort
    efforts = index.efforts(10)
    assert efforts[0] < tuned < efforts[-1]  # more than the least effort, less than a full search
    truth = DescriptorIndex(database).search(tuning, 10)[1]
    mean, bound = recall_bound(index.search(tuning, 10)[1], truth)
    assert mean == pytest.approx(recall) and bound >= target  # reached with 95% confidence
    index.effort = tuned - 1
    assert recall_bound(index.search(tuning, 10)[1], truth)[1] < target  # the least effort that does
    index.effort = tuned
    exact = DescriptorIndex(database).search(held_out, 10)[1]
    mean, lower = recall_bound(index.search(held_out, 10)[1], exact)
    assert 2 * mean - lower >= target  # other queries: consistent with the target (their own 95% upper bound)


def test_ivf_lists_and_fixed_effort_follow_the_configuration():
    database, _ = places(500, 10, 16, 1)
    index = FaissIndex.build(database, IndexConf(kind="ivf", nlist=50, nprobe=7))
    assert index.index.nlist == 50 and index.effort == 7 and index.efforts(10) == [7]
    assert IndexConf().kind_for(99_999) == "exact" and IndexConf().kind_for(100_000) == "ivf"
    assert IndexConf(kind="hnsw").kind_for(10) == "hnsw"
    assert IndexConf().num_lists(1_000_000) == 4000 and IndexConf().num_lists(1000) == 25  # 39 points per list


def test_retrieval_saves_the_index_beside_the_descriptors_and_reuses_it(tmp_path: Path):
    database, queries = places(400, 5, 32, 30, seed=1)
    db_names = [f"db/{i:05d}" for i in range(len(database))]
    query_names = [f"q/{i:03d}" for i in range(len(queries))]
    db_path = write_descriptors(tmp_path / "db.h5", dict(zip(db_names, database)))
    query_path = write_descriptors(tmp_path / "q.h5", dict(zip(query_names, queries)))
    conf = IndexConf(kind="ivf", target_recall=0.98)

    def retrieve(out: Path, index: IndexConf) -> list[tuple[str, str]]:
        return read_pairs(pairs.retrieval(query_path, out, 5, db_descriptors=db_path, index=index))

    approximate = retrieve(tmp_path / "ivf.txt", conf)
    saved = tmp_path / "db.h5.ivf.faiss"
    record = json.loads(saved.with_name(saved.name + ".json").read_text())
    assert record["kind"] == "ivf" and record["k"] == 5 and record["recall"] >= 0.98
    exact = retrieve(tmp_path / "exact.txt", IndexConf(kind="exact"))
    assert len(set(approximate) & set(exact)) / len(exact) >= 0.95

    built = saved.stat().st_mtime_ns
    assert retrieve(tmp_path / "again.txt", conf) == approximate and saved.stat().st_mtime_ns == built  # reused
    write_descriptors(db_path, dict(zip(db_names, database[::-1].copy())))  # other descriptors: built again
    retrieve(tmp_path / "changed.txt", conf)
    assert saved.stat().st_mtime_ns != built


def test_faiss_not_installed_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(ConfigError, match=r'faiss is not installed: pip install -e "\.\[scale\]".* --index ivf'):
        import_faiss("ivf")
    with pytest.raises(ConfigError, match="unknown index 'annoy'"):
        IndexConf(kind="annoy")
