"""`vloc benchmark`: stage timings of a recipe over repetitions, with its accuracy; extraction, matching and
retrieval profiles; the spread of localization accuracy over RANSAC seeds."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .errors import ConfigError, InputError
from .io.text import write_text_atomic

if TYPE_CHECKING:
    import torch

    from .extract import ExtractConf
    from .match import MatchConf


def stage_label(arguments: list[str]) -> str:
    """How a vloc command line is named in timings: `pairs retrieval`, `match pairs-query`, `extract`."""
    positional = [a for a in arguments if not a.startswith("-")]
    if positional[:1] in (["pairs"], ["benchmark"]):
        return " ".join(positional[:2])
    if positional[:1] == ["match"] and len(positional) > 1:
        return f"match {Path(positional[1]).stem}"  # mapping and query matching are timed apart
    return " ".join(positional[:1])


def record_stage_time(path: str) -> Callable[[], None]:
    """Start a clock now; the returned function appends this command's wall time to the JSON-lines file `path`."""
    start = time.perf_counter()
    label = stage_label(sys.argv[1:])

    def append() -> None:
        with open(path, "a") as handle:
            handle.write(json.dumps({"stage": label, "seconds": time.perf_counter() - start}) + "\n")

    return append


def _stage_seconds(timings: Path) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for line in timings.read_text().splitlines():
        record = json.loads(line)
        totals[record["stage"]] += record["seconds"]
    return dict(totals)


def _localize_seconds_per_query(out: Path) -> float | None:
    times = [q["time_s"] for log in out.rglob("*_log.json") for q in json.loads(log.read_text())["queries"]]
    return statistics.median(times) if times else None


def run_recipe(recipe: Path, out: Path, repeat: int, extra_args: list[str]) -> dict:
    """Run `recipe OUT/run_k ...` `repeat` times from scratch; median per-stage times, accuracy of the last run."""
    if not recipe.is_file():
        raise InputError(f"{recipe}: recipe not found")
    runs = []
    for k in range(repeat):
        run_dir = out / f"run_{k}"
        timings = out / f"timings_{k}.jsonl"
        timings.unlink(missing_ok=True)
        shutil.rmtree(run_dir, ignore_errors=True)
        environment = {
            **os.environ,
            "VLOC_TIMINGS": str(timings.resolve()),
            # the recipe's `vloc` is this installation's, also when it is not on PATH
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        start = time.perf_counter()
        completed = subprocess.run(["bash", str(recipe), str(run_dir), *extra_args], env=environment, capture_output=True, text=True)
        if completed.returncode != 0:
            last_line = (completed.stderr.strip().splitlines() or [""])[-1]
            raise InputError(f"{recipe}: failed on run {k}: {last_line}")
        runs.append({
            "total_s": time.perf_counter() - start,
            "stages_s": _stage_seconds(timings),
            "localize_s_per_query": _localize_seconds_per_query(run_dir),
        })
    stages = sorted({s for r in runs for s in r["stages_s"]})
    accuracy = {str(p.relative_to(out / f"run_{repeat - 1}")): json.loads(p.read_text())["groups"]
                for p in sorted((out / f"run_{repeat - 1}").rglob("evaluation.json"))}
    report = {
        "recipe": str(recipe),
        "repeat": repeat,
        "median_total_s": statistics.median(r["total_s"] for r in runs),
        "median_stage_s": {s: statistics.median(r["stages_s"].get(s, 0.0) for r in runs) for s in stages},
        "median_localize_s_per_query": statistics.median(
            [r["localize_s_per_query"] for r in runs if r["localize_s_per_query"] is not None] or [float("nan")]
        ),
        "runs": runs,
        "accuracy": accuracy,
    }
    write_text_atomic(out / "benchmark.json", json.dumps(report, indent=1))
    return report


def profile_extraction(conf: ExtractConf, image_root: Path, names: list[str], repeat: int) -> dict:
    """Seconds of `extract.main` on `names` against the extractor calls alone on the same preprocessed images."""
    import tempfile

    from . import extract
    from .extractors import get_extractor
    from .io.images import load_for_extraction

    extractor_class = get_extractor(conf.extractor)
    extractor = extractor_class(conf.model)
    totals, pure = [], []
    loaded = [
        load_for_extraction(image_root / n, extractor_class.grayscale, conf.preprocessing.resize_max)[0]
        for n in names
    ]
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as work:
            list_file = Path(work) / "list.txt"
            list_file.write_text("\n".join(names) + "\n")
            start = time.perf_counter()
            extract.main(conf, image_root, Path(work) / "feats.h5", list_file)
            totals.append(time.perf_counter() - start)
        start = time.perf_counter()
        for image in loaded:
            extractor(image)
        pure.append(time.perf_counter() - start)
    total, extractor_only = statistics.median(totals), statistics.median(pure)
    return {
        "images": len(names),
        "total_s": total,
        "extractor_s": extractor_only,
        "images_per_s": len(names) / total,
        "overhead_fraction": max(total - extractor_only, 0.0) / total,
    }


def profile_matching(conf: MatchConf, pairs_path: Path, features: Path, repeat: int) -> dict:
    """Pairs per second of `match.main` over a pairs file."""
    import tempfile

    from . import match
    from .io.text import read_pairs

    num_pairs = len(read_pairs(pairs_path))
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as work:
            start = time.perf_counter()
            match.main(conf, pairs_path, features, Path(work) / "matches.h5")
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {"pairs": num_pairs, "seconds": seconds, "pairs_per_s": num_pairs / seconds}


def _max_rss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def random_unit_descriptors(num: int, dim: int, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    """`num` random unit vectors, drawn in blocks so float16 storage never exists in float32 as a whole."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    out = torch.empty((num, dim), dtype=dtype)
    rows = max(1, 2**22 // dim)
    for start in range(0, num, rows):
        block = torch.randn((min(rows, num - start), dim), generator=generator)
        out[start : start + rows] = torch.nn.functional.normalize(block, dim=1).to(dtype)
    return out


def profile_retrieval(
    sizes: list[int], dim: int, repeat: int, k: int = 10, float16_from: int = 1_000_000
) -> dict:
    """Median seconds of one query's top-k search against N random unit descriptors, for each N in `sizes`.

    Databases of `float16_from` images or more are stored as float16. Memory: the index's bytes, and the growth of
    the process's peak resident size while building it and while searching (peaks only grow: sizes ascend).
    """
    import torch

    from .retrieval import DescriptorIndex

    results = []
    for num in sorted(sizes):
        dtype = torch.float16 if num >= float16_from else torch.float32
        rss_start = _max_rss_bytes()
        index = DescriptorIndex(random_unit_descriptors(num, dim, dtype), dtype=dtype)
        rss_built = _max_rss_bytes()
        query = random_unit_descriptors(1, dim, torch.float32, seed=1)
        index.search(query, k)  # warm-up
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            index.search(query, k)
            times.append(time.perf_counter() - start)
        results.append({
            "num_db": num,
            "dtype": str(dtype).removeprefix("torch."),
            "median_query_s": statistics.median(times),
            "min_query_s": min(times),
            "index_bytes": index.nbytes,
            "peak_rss_growth_build_bytes": rss_built - rss_start,
            "peak_rss_growth_search_bytes": _max_rss_bytes() - rss_built,
        })
        del index
    return {"dim": dim, "k": k, "repeat": repeat, "threads": torch.get_num_threads(), "sizes": results}


def plot_retrieval_profile(report: dict, path: Path) -> None:
    """Query time against database size on log-log axes, with a line proportional to N through the largest size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["num_db"] for r in report["sizes"]]
    milliseconds = [1000 * r["median_query_s"] for r in report["sizes"]]
    figure, axis = plt.subplots(figsize=(5, 4))
    axis.loglog(sizes, milliseconds, "o-", label=f"exact search, D={report['dim']}")
    axis.loglog(sizes, [milliseconds[-1] * n / sizes[-1] for n in sizes], "--", color="gray", label="linear in N")
    axis.set_xlabel("database images N")
    axis.set_ylabel("one query (ms, median)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    figure.savefig(tmp, dpi=100, format="png")
    plt.close(figure)
    os.replace(tmp, path)


def localization_seed_spread(
    localize_with_seed: Callable[[int, Path], Path], conf: dict, seeds: list[int], truth: Path,
    thresholds: list[tuple[float, float]], queries: list[str] | None, work: Path,
) -> dict:
    """Localize once per RANSAC seed (`localize_with_seed(seed, results)`, results written under `work`) and
    evaluate each run: per-seed summaries, and the min / median / max of each figure over the seeds."""
    from .evaluate import evaluate, load_ground_truth
    from .io.text import read_poses

    if not seeds:
        raise ConfigError("no RANSAC seeds to run (--seeds must be at least 1)")
    poses = load_ground_truth(truth)
    runs = []
    for seed in seeds:
        results = localize_with_seed(seed, work / f"results-seed{seed}.txt")
        summary = evaluate(read_poses(results), poses, thresholds, queries, source=str(results), truth_source=str(truth))
        runs.append({"seed": seed, **summary["groups"]["all"]})
    figures = {name: [run[name] for run in runs] for name in ("median_translation_m", "median_rotation_deg", "num_failed")}
    figures.update({f"recall_percent@{k}": [run["recall_percent"][k] for run in runs] for k in range(len(thresholds))})
    spread = {name: {"min": min(values), "median": statistics.median(values), "max": max(values)}
              for name, values in figures.items()}
    return {"conf": conf, "thresholds": [list(t) for t in thresholds], "runs": runs, "spread": spread}
