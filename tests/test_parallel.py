"""Stages on Ray: the same outputs as in this process, and no finished shard lost when a worker dies."""

from __future__ import annotations

import json
import os
import sys
from functools import partial
from pathlib import Path

import h5py
import numpy as np
import pytest

from vloc.errors import ConfigError, WorkerError
from vloc.parallel.executor import ExecutorConf, import_ray, run_in_shards, shard_folder

RAY = ExecutorConf("ray", num_workers=2, shard_size=5)


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance with two CPUs, shared by this module's tests (vloc runs on it instead of starting one)."""
    ray = pytest.importorskip("ray", reason="the scale extra is not installed: pip install -e '.[scale]'")

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


def datasets_of(path: Path) -> dict[str, np.ndarray]:
    values = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, obj: values.update({name: obj[()]}) if isinstance(obj, h5py.Dataset) else None)
    return values


def test_extract_match_localize_on_ray_give_the_local_outputs(local_ray, synthetic_map, tmp_path):
    from vloc.extract import local_features as extract
    from vloc.localize import hierarchical
    from vloc.match import local_features as match
    from vloc.matchers.pair_matcher import conf_by_name
    from vloc.pnp.absolute_pose import LocalizeConf
    from vloc.pnp.inputs import LocalizationInputs

    m = synthetic_map
    features = extract.main(
        extract.conf_by_name("sift"), m["images"], tmp_path / "feats.h5", m["root"] / "all.txt", executor=RAY
    )
    local_features, ray_features = datasets_of(m["features"]), datasets_of(features)
    assert ray_features.keys() == local_features.keys()
    assert all(np.array_equal(ray_features[k], local_features[k]) for k in local_features)  # bit for bit
    assert not shard_folder(features).exists()

    matches = match.main(conf_by_name("nn-ratio"), m["pairs_query"], features, tmp_path / "m.h5", executor=RAY)
    local_matches, ray_matches = datasets_of(m["matches_query"]), datasets_of(matches)
    assert ray_matches.keys() == local_matches.keys()
    for key, value in local_matches.items():
        if key.endswith("matches0"):
            assert np.array_equal(ray_matches[key], value), key
        else:  # scores: NumPy's BLAS sums in another order on one thread than on two
            np.testing.assert_allclose(ray_matches[key], value, atol=1e-3)

    inputs = LocalizationInputs(m["model"], m["queries"], m["pairs_query"], m["features"], m["matches_query"])
    local_results = hierarchical.main(LocalizeConf(), inputs, tmp_path / "local.txt")
    ray_results = hierarchical.main(LocalizeConf(), inputs, tmp_path / "ray.txt", executor=RAY)
    assert ray_results.read_text() == local_results.read_text()
    assert len(ray_results.read_text().splitlines()) >= 5
    local_log, ray_log = (
        json.loads(p.with_name(p.stem + "_log.json").read_text()) for p in (local_results, ray_results)
    )
    assert ray_log["summary"] == local_log["summary"]
    for entry in (*local_log["queries"], *ray_log["queries"]):
        entry.pop("time_s")
    assert ray_log["queries"] == local_log["queries"]


def write_items(items: list[int], path: Path) -> None:
    """A shard worker that dies (the whole process) on item 7 while `path`'s folder holds no `died` marker."""
    marker = path.parent.parent / "died"
    if 7 in items and not marker.exists():
        marker.touch()
        os._exit(1)
    with (path.parent.parent / "processed.txt").open("a") as log:
        log.write("".join(f"{item}\n" for item in items))
    path.write_text(json.dumps(items))


def test_a_killed_worker_loses_no_finished_shard_and_the_rerun_does_the_rest(local_ray, tmp_path):
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import the test module
    out = tmp_path / "out.json"
    merged: list[int] = []

    def pending(finished: list[Path]) -> list[int]:
        done = {item for path in finished for item in json.loads(path.read_text())}
        return [item for item in range(12) if item not in done]

    def merge(finished: list[Path]) -> None:
        merged.extend(item for path in finished for item in json.loads(path.read_text()))

    one_worker = ExecutorConf("ray", num_workers=1, shard_size=2)  # one worker: the shards run in order
    with pytest.raises(WorkerError, match=r"a Ray worker died .*3 of 6 shards finished"):
        run_in_shards(out, pending, lambda: write_items, merge, one_worker, "test", suffix=".json")
    assert len(list(shard_folder(out).glob("*.json"))) == 3 and not merged

    run_in_shards(out, pending, lambda: write_items, merge, one_worker, "test", suffix=".json")
    assert sorted(merged) == list(range(12))
    processed = [int(line) for line in (tmp_path / "processed.txt").read_text().split()]
    assert sorted(processed) == list(range(12))  # each item once: the rerun did only what the first run had not
    assert not shard_folder(out).exists()


def test_ray_not_installed_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r'pip install -e "\.\[scale\]"'):
        import_ray()


def test_executor_settings_are_checked():
    with pytest.raises(ConfigError, match="unknown executor 'dask'"):
        ExecutorConf("dask")
    with pytest.raises(ConfigError, match="shard size"):
        ExecutorConf("ray", shard_size=0)


def test_cli_matches_on_ray_and_refuses_what_it_cannot_shard(local_ray, synthetic_map, tmp_path):
    from typer.testing import CliRunner

    from vloc.cli import app

    m = synthetic_map
    out = tmp_path / "m.h5"
    command = ["match", "features", str(m["pairs_query"]), str(m["features"]), str(out), "--executor", "ray"]
    result = CliRunner().invoke(app, [*command, "--workers", "2", "--shard-size", "7"])
    assert result.exit_code == 0, result.output
    assert datasets_of(out).keys() == datasets_of(m["matches_query"]).keys()

    result = CliRunner().invoke(app, [*command[:-1], "dask"])
    assert result.exit_code == 1 and "unknown executor 'dask'; choose one of local, ray" in result.output
    localize = ["localize", str(m["model"]), str(m["queries"]), str(m["pairs_query"]), str(m["features"])]
    result = CliRunner().invoke(
        app, [*localize, str(out), str(tmp_path / "r.txt"), "--method", "lbr", "--executor", "ray"]
    )
    assert result.exit_code == 1 and "--executor ray is not available with --method lbr" in result.output
    assert not (tmp_path / "r.txt").exists()


def test_a_rerun_merges_the_shards_a_stopped_run_finished_instead_of_redoing_them(local_ray, synthetic_map, tmp_path):
    from vloc.config import to_json
    from vloc.extract import local_features as extract
    from vloc.extract.pending import Extraction
    from vloc.io.text import read_image_list
    from vloc.localize import hierarchical
    from vloc.pnp.absolute_pose import LocalizeConf
    from vloc.pnp.inputs import LocalizationInputs

    m = synthetic_map
    conf = extract.conf_by_name("sift")
    out = tmp_path / "feats.h5"
    names = read_image_list(m["root"] / "all.txt")
    # a shard a stopped run finished: three images, their scores marked so that a recomputation would show
    extraction = Extraction(
        partial(extract.LocalFeatureWriter, conf),
        to_json(conf),
        "keypoints",
        m["images"],
        conf.preprocessing,
        False,
        "extract",
    )
    shard = shard_folder(out) / "stopped-000000.h5"
    shard.parent.mkdir()
    extraction.shard_worker()(names[:3], shard)
    with h5py.File(shard, "r+") as handle:
        for name in names[:3]:
            handle[name]["scores"][...] = 7.0
    extract.main(conf, m["images"], out, m["root"] / "all.txt", executor=RAY)
    merged, local = datasets_of(out), datasets_of(m["features"])
    assert merged.keys() == local.keys() and not shard.parent.exists()
    for key, value in local.items():
        taken_from_shard = key.rsplit("/", 1)[0] in names[:3] and key.endswith("scores")
        assert np.all(merged[key] == 7.0) if taken_from_shard else np.array_equal(merged[key], value), key

    inputs = LocalizationInputs(m["model"], m["queries"], m["pairs_query"], m["features"], m["matches_query"])
    results = tmp_path / "results.txt"
    hierarchical.main(LocalizeConf(), inputs, results, executor=RAY)
    logs = json.loads(results.with_name("results_log.json").read_text())["queries"]
    # a stopped run's shard: the first query's entry, marked; and one of other settings, removed unread
    stamp = hierarchical.settings_stamp(LocalizeConf(), inputs, None, None, None)
    folder = shard_folder(results)
    folder.mkdir()
    (folder / "stopped-000000.json").write_text(json.dumps({"settings": stamp, "queries": [{**logs[0], "mark": 1}]}))
    (folder / "other-000000.json").write_text(json.dumps({"settings": "other", "queries": [{**logs[1], "mark": 2}]}))
    hierarchical.main(LocalizeConf(), inputs, results, executor=RAY)
    again = json.loads(results.with_name("results_log.json").read_text())["queries"]
    assert [log["name"] for log in again] == [log["name"] for log in logs]
    assert again[0].get("mark") == 1 and all("mark" not in log for log in again[1:])
    assert not folder.exists()


def test_scale_benchmark_times_stages_on_ray_and_merges_whole_files(local_ray, synthetic_map, tmp_path):
    from vloc.benchmark.scale import plot_scale, profile_search, profile_workers, time_merge

    m = synthetic_map
    stages = profile_workers(m["images"] / "day", [1, 2], images_per_shard=4, pairs_per_shard=16, neighbours=2)
    assert [(r["executor"], r["workers"]) for r in stages["runs"]] == [("local", 1), ("ray", 1), ("ray", 2)]
    assert stages["images"] == 24 and stages["pairs"] == 23 + 22
    assert all(r["images_per_s"] > 0 and r["pairs_per_s"] > 0 for r in stages["runs"])
    assert stages["merge"]["features"]["shards"] == 6 and stages["merge"]["matches"]["shards"] == 3

    (tmp_path / "shards").mkdir()
    merge = time_merge(m["matches_query"], "matches0", tmp_path / "shards", shard_size=10)
    merged, original = datasets_of(tmp_path / "shards" / "merged.h5"), datasets_of(m["matches_query"])
    assert merged.keys() == original.keys() and all(np.array_equal(merged[k], original[k]) for k in original)
    assert merge["entries"] == len([k for k in original if k.endswith("matches0")])

    report = {"workers": stages, "search": profile_search([3000], dim=32, kinds=["ivf", "hnsw"], hnsw_up_to=10_000)}
    rows = {r["index"]: r for r in report["search"]["sizes"]}
    assert rows["exact (torch)"]["recall"] == 1.0 and rows["ivf (faiss)"]["effort"] > 0
    assert rows["ivf (faiss)"]["recall"] >= 0.9 and rows["hnsw (faiss)"]["recall"] >= 0.9
    plot_scale(report, tmp_path / "scale.png")
    assert (tmp_path / "scale.png").stat().st_size > 10_000


def test_dense_extraction_on_ray_gives_the_local_pyramids(local_ray, synthetic_map, tmp_path):
    from vloc.dense.pyramid import conf_by_name
    from vloc.extract import dense_features
    from vloc.io.text import read_image_list

    m = synthetic_map
    (tmp_path / "list.txt").write_text("\n".join(read_image_list(m["root"] / "all.txt")[:5]) + "\n")
    conf = conf_by_name("dsift")
    local = dense_features.main(conf, m["images"], tmp_path / "local.h5", tmp_path / "list.txt")
    ray = dense_features.main(conf, m["images"], tmp_path / "ray.h5", tmp_path / "list.txt", executor=RAY)
    local_maps, ray_maps = datasets_of(local), datasets_of(ray)
    assert ray_maps.keys() == local_maps.keys() and len(ray_maps) >= 5
    assert all(np.array_equal(ray_maps[k], local_maps[k]) for k in local_maps)
