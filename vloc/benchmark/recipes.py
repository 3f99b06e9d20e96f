"""Recipe timing: a pipelines/*.sh recipe run from scratch several times, each vloc stage timed, with the accuracy
of the last run."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from vloc.errors import InputError
from vloc.io.text import write_text_atomic


def stage_label(arguments: list[str]) -> str:
    """How a vloc command line is named in timings: `pairs retrieval`, `match pairs-query`, `extract local`."""
    positional = [a for a in arguments if not a.startswith("-")]
    if positional[:2] == ["match", "features"] and len(positional) > 2:
        return f"match {Path(positional[2]).stem}"  # mapping and query matching are timed apart
    if positional[:1] in (["pairs"], ["benchmark"], ["evaluate"], ["extract"], ["match"]):
        return " ".join(positional[:2])
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
        completed = subprocess.run(
            ["bash", str(recipe), str(run_dir), *extra_args], env=environment, capture_output=True, text=True
        )
        if completed.returncode != 0:
            last_line = (completed.stderr.strip().splitlines() or [""])[-1]
            raise InputError(f"{recipe}: failed on run {k}: {last_line}")
        runs.append(
            {
                "total_s": time.perf_counter() - start,
                "stages_s": _stage_seconds(timings),
                "localize_s_per_query": _localize_seconds_per_query(run_dir),
            }
        )
    stages = sorted({s for r in runs for s in r["stages_s"]})
    accuracy = {
        str(p.relative_to(out / f"run_{repeat - 1}")): json.loads(p.read_text())["groups"]
        for p in sorted((out / f"run_{repeat - 1}").rglob("evaluation.json"))
    }
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
