"""`vloc benchmark scale`: stage throughput against the number of Ray workers with the cost of merging shards, and
retrieval time, memory and recall against database size for exact and approximate (faiss) search."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from vloc.extract import local_features as extract
from vloc.global_descriptors.index import DescriptorIndex
from vloc.io.h5 import atomic_writer, copy_entries, list_groups_with, open_for_reading
from vloc.io.images import list_image_names
from vloc.io.text import write_pairs
from vloc.match import local_features as match
from vloc.matchers.pair_matcher import conf_by_name as match_conf
from vloc.parallel.executor import LOCAL, ExecutorConf, import_ray
from vloc.search.faiss_index import FaissIndex, IndexConf, recall_per_query


def profile_workers(
    image_root: Path, worker_counts: list[int], images_per_shard: int, pairs_per_shard: int, neighbours: int = 8
) -> dict:
    """Images/s of `vloc extract local` (SIFT) and pairs/s of `vloc match features` (nn-ratio; each image with the
    `neighbours` next in name order) in this process and on a local Ray instance with each number of workers; the Ray
    start-up time; and the seconds of merging shards of each output into one file."""
    ray = import_ray()
    names = list_image_names(image_root)
    pairs = [(name, other) for i, name in enumerate(names) for other in names[i + 1 : i + 1 + neighbours]]
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        write_pairs(folder / "pairs.txt", pairs)

        def run(workers: int) -> dict:
            label = f"ray{workers}" if workers else "local"
            executors = [
                ExecutorConf("ray", num_workers=workers, shard_size=size) if workers else LOCAL
                for size in (images_per_shard, pairs_per_shard)
            ]
            start = time.perf_counter()
            features = extract.main(
                extract.conf_by_name("sift"), image_root, folder / f"feats-{label}.h5", executor=executors[0]
            )
            extracted = time.perf_counter()
            match.main(
                match_conf("nn-ratio"),
                folder / "pairs.txt",
                features,
                folder / f"matches-{label}.h5",
                executor=executors[1],
            )
            matched = time.perf_counter()
            return {
                "executor": "ray" if workers else "local",
                "workers": workers or 1,
                "images_per_s": len(names) / (extracted - start),
                "pairs_per_s": len(pairs) / (matched - extracted),
            }

        runs = [run(0)]
        started_here = not ray.is_initialized()  # else: the caller's instance, e.g. a cluster
        start = time.perf_counter()
        if started_here:
            ray.init(num_cpus=max(worker_counts), include_dashboard=False, logging_level="ERROR")
        startup = time.perf_counter() - start
        try:
            runs += [run(workers) for workers in worker_counts]
        finally:
            if started_here:
                ray.shutdown()
        merges = {
            "features": time_merge(folder / "feats-local.h5", "keypoints", folder / "features", images_per_shard),
            "matches": time_merge(folder / "matches-local.h5", "matches0", folder / "matches", pairs_per_shard),
        }
    return {"images": len(names), "pairs": len(pairs), "ray_startup_s": startup, "runs": runs, "merge": merges}


def time_merge(path: Path, dataset: str, folder: Path, shard_size: int) -> dict:
    """Seconds of merging the entries of the file at `path` (groups holding `dataset`), split into shards of
    `shard_size` entries in `folder`, into one file."""
    with open_for_reading(path) as handle:
        names = list_groups_with(handle, dataset)
    shards = []
    for start in range(0, len(names), shard_size):
        shards.append(folder / f"{start:06d}.h5")
        others = frozenset(names[:start] + names[start + shard_size :])
        with atomic_writer(shards[-1], resume=False) as shard:
            copy_entries(path, shard, dataset, skip=others)
    start = time.perf_counter()
    with atomic_writer(folder / "merged.h5", resume=False) as merged:
        for shard in shards:
            copy_entries(shard, merged, dataset)
    seconds = time.perf_counter() - start
    return {"entries": len(names), "shards": len(shards), "seconds": seconds, "bytes": path.stat().st_size}


def place_descriptors(num: int, dim: int, num_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Global descriptors as a map gives them: 10 noisy views of each of num/10 places, and queries that are new
    noisy views of random places (exact neighbours are the views of the same place, as in a real map)."""
    rng = np.random.default_rng(seed)
    views = 10
    places = rng.standard_normal((max(1, num // views), dim), dtype=np.float32)
    database = np.empty((num, dim), np.float32)
    rows = 2**16
    for start in range(0, num, rows):  # block by block: no float64 copy of a 1M x 256 database
        stop = min(start + rows, num)
        noise = rng.standard_normal((stop - start, dim), dtype=np.float32)
        database[start:stop] = places[np.arange(start, stop) // views % len(places)] + 0.7 * noise
    queries = places[rng.integers(0, len(places), num_queries)] + 0.7 * rng.standard_normal(
        (num_queries, dim), dtype=np.float32
    )
    return database, queries


def median_latency(search, queries: np.ndarray, k: int) -> float:
    """Median seconds of one-query searches."""
    search(queries[:1], k)  # warm-up
    times = []
    for row in range(len(queries)):
        start = time.perf_counter()
        search(queries[row : row + 1], k)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def profile_search(sizes: list[int], dim: int, kinds: list[str], hnsw_up_to: int, k: int = 10) -> dict:
    """For each database size: build seconds, one-query median latency, recall@k against exact search on 500 held-out
    queries (the index tuned on 500 others) and index bytes, for exact torch search and each faiss kind."""
    results = []
    for num in sorted(sizes):
        database, queries = place_descriptors(num, dim, 1000)
        tuning, held_out = queries[:500], queries[500:]
        start = time.perf_counter()
        exact = DescriptorIndex(database)
        build = time.perf_counter() - start
        truth = exact.search(held_out, k)[1]
        latency = median_latency(exact.search, held_out[:50], k)
        results.append(search_row(num, "exact (torch)", build, latency, 1.0, exact.nbytes, 0))
        del exact
        for kind in kinds:
            if kind == "hnsw" and num > hnsw_up_to:
                continue
            start = time.perf_counter()
            index = FaissIndex.build(database, IndexConf(kind=kind))
            index.tune(tuning, database, k)
            build = time.perf_counter() - start
            found = index.search(held_out, k)[1]
            recall = float(recall_per_query(found, truth).mean())
            latency = median_latency(index.search, held_out[:100], k)
            name = f"{kind} (faiss)"
            results.append(search_row(num, name, build, latency, recall, index_bytes(index), index.effort))
            del index
    return {"dim": dim, "k": k, "sizes": results}


def search_row(num: int, name: str, build_s: float, latency_s: float, recall: float, nbytes: int, effort: int) -> dict:
    """One row of the search report."""
    return {
        "num_db": num,
        "index": name,
        "build_s": build_s,
        "query_ms": 1000 * latency_s,
        "recall": recall,
        "index_bytes": nbytes,
        "effort": effort,
    }


def index_bytes(index: FaissIndex) -> int:
    """Bytes of the index as faiss serialises it."""
    return int(index.faiss.serialize_index(index.index).nbytes)


def plot_scale(report: dict, path: Path) -> None:
    """Left: images/s against Ray workers (dashed: this process); right: query time against database size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    runs = report["workers"]["runs"]
    ray_runs = [r for r in runs if r["executor"] == "ray"]
    local = next(r for r in runs if r["executor"] == "local")
    for key, label, colour in (
        ("images_per_s", "extract (images/s)", "C0"),
        ("pairs_per_s", "match (pairs/s / 10)", "C1"),
    ):
        scale = 0.1 if key == "pairs_per_s" else 1.0
        left.plot([r["workers"] for r in ray_runs], [scale * r[key] for r in ray_runs], "o-", color=colour, label=label)
        left.axhline(scale * local[key], linestyle="--", color=colour, label=f"{label.split()[0]} in this process")
    left.set(xlabel="Ray workers", ylabel="throughput", title="stages on Ray")
    left.legend()
    for name in dict.fromkeys(r["index"] for r in report["search"]["sizes"]):
        rows = [r for r in report["search"]["sizes"] if r["index"] == name]
        right.loglog([r["num_db"] for r in rows], [r["query_ms"] for r in rows], "o-", label=name)
    right.set(xlabel="database descriptors", ylabel="ms per query", title=f"top-{report['search']['k']} search")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
