"""A stage's work split into shards and run by Ray workers: each worker loads its model once and writes every shard it
finishes to a file of its own, which survives the run until the stage merges the finished shards into its output."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vloc.console import shard_progress
from vloc.errors import ConfigError, VlocError, WorkerError
from vloc.io.atomic import output_lock

logger = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")
RAY_EXTRA = 'Ray is not installed: pip install -e ".[scale]" (or pip install ray) to use --executor ray'

ShardWorker = Callable[[list, Path], None]  # processes a shard's items and writes them whole to the path


@dataclass(frozen=True)
class ExecutorConf:
    """Where a stage runs: in this process (`local`), or in shards by workers of a Ray cluster (`ray`)."""

    kind: str = "local"
    ray_address: str | None = None  # an existing cluster, e.g. "auto" or "ray://head:10001"; None starts a local one
    num_workers: int = 0  # Ray workers, each with one CPU; 0: one per CPU of the cluster
    shard_size: int = 16  # items (images, pairs, queries) per shard

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise ConfigError(f"unknown executor '{self.kind}'; choose one of {', '.join(EXECUTORS)}")
        if self.num_workers < 0 or self.shard_size < 1:
            raise ConfigError("the number of workers must be >= 0 and the shard size >= 1")

    @property
    def is_ray(self) -> bool:
        return self.kind == "ray"


LOCAL = ExecutorConf()


@dataclass(frozen=True)
class Shard:
    items: list
    path: Path


def import_ray() -> Any:
    """The ray module, or a one-line error naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_EXTRA) from None
    return ray


def shard_folder(out: Path) -> Path:
    """Where the shards of `out` are kept until merged: `<out>.shards` beside it."""
    return out.with_name(out.name + ".shards")


def finished_shards(folder: Path, suffix: str) -> list[Path]:
    """The shard files a run has finished (written whole: a shard being written still ends in `.tmp`)."""
    return sorted(folder.glob(f"*{suffix}")) if folder.is_dir() else []


def run_in_shards(
    out: Path,
    pending: Callable[[list[Path]], Sequence],
    make_worker: Callable[[], ShardWorker],
    merge: Callable[[list[Path]], None],
    conf: ExecutorConf,
    description: str,
    suffix: str = ".h5",
) -> None:
    """Run `pending(finished shard files)` in shards on Ray, then `merge` every finished shard into `out`.

    Shards finished before a failure (a worker or this process killed included) stay in `<out>.shards`: the next run
    skips their items and merges them with its own.
    """
    folder = shard_folder(out)
    folder.mkdir(parents=True, exist_ok=True)
    with output_lock(folder):
        items = list(pending(finished_shards(folder, suffix)))
        run_id = f"{os.getpid()}-{time.time_ns()}"
        size = conf.shard_size
        shards = [
            Shard(items[start : start + size], folder / f"{run_id}-{start // size:06d}{suffix}")
            for start in range(0, len(items), size)
        ]
        if shards:
            run_on_ray(shards, make_worker, conf, description)
        finished = finished_shards(folder, suffix)
        merge(finished)
        for path in finished:
            path.unlink()
    if not any(folder.iterdir()):
        folder.rmdir()


class ShardActor:
    """A Ray worker: builds its worker (model loaded) once, then processes the shards it is given."""

    def __init__(self, make_worker: Callable[[], ShardWorker]):
        import cv2

        cv2.setNumThreads(1)  # one CPU per worker: Ray sets OMP_NUM_THREADS=1 for torch and BLAS, not OpenCV's pool
        self.process = make_worker()

    def run(self, shard: Shard) -> Shard:
        with contextlib.redirect_stdout(io.StringIO()):  # the stage's own progress bars: the driver shows the shards
            self.process(shard.items, shard.path)
        return shard


def run_on_ray(
    shards: list[Shard], make_worker: Callable[[], ShardWorker], conf: ExecutorConf, description: str
) -> None:
    """Process `shards` on Ray workers, one CPU each, under a progress bar of shards and items."""
    ray = import_ray()
    from ray.util import ActorPool

    if not ray.is_initialized():
        ray.init(address=conf.ray_address, include_dashboard=False, logging_level=logging.ERROR)
    num_workers = conf.num_workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    actor_class = ray.remote(num_cpus=1)(ShardActor)
    actors = [actor_class.remote(make_worker) for _ in range(min(num_workers, len(shards)))]
    pool = ActorPool(actors)
    done = 0
    try:
        with shard_progress(description, len(shards), sum(len(s.items) for s in shards)) as advance:
            for shard in pool.map_unordered(lambda actor, shard: actor.run.remote(shard), shards):
                done += 1
                advance(len(shard.items))
    except ray.exceptions.RayTaskError as error:
        if isinstance(error.cause, VlocError):
            raise error.cause from None
        raise
    except ray.exceptions.RayActorError as error:
        reason = str(error).strip().splitlines()[0]
        raise WorkerError(
            f"{description}: a Ray worker died ({reason}); {done} of {len(shards)} shards finished, kept in "
            f"{shards[0].path.parent}: run the command again to do the rest"
        ) from None
    finally:
        for actor in actors:
            ray.kill(actor)
