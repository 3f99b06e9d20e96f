"""Small helpers shared by stages: rich progress bars and logging quietness."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

T = TypeVar("T")


def _progress() -> Progress:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    return Progress(*columns, transient=True)


@contextlib.contextmanager
def progress_bar(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar advanced by calling the yielded function with a step count."""
    with _progress() as progress:
        task = progress.add_task(description, total=total)
        yield lambda steps: progress.advance(task, steps)


@contextlib.contextmanager
def shard_progress(description: str, num_shards: int, num_items: int) -> Iterator[Callable[[int], None]]:
    """A progress bar over `num_items` items done in `num_shards` shards, advanced by each finished shard's item
    count; it shows the shards done and the items per second."""
    start = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task(f"{description}: 0/{num_shards} shards", total=num_items)
        shards_done = items_done = 0

        def advance(items: int) -> None:
            nonlocal shards_done, items_done
            shards_done, items_done = shards_done + 1, items_done + items
            rate = items_done / max(time.perf_counter() - start, 1e-9)
            summary = f"{description}: {shards_done}/{num_shards} shards, {rate:.1f}/s"
            progress.update(task, advance=items, description=summary)

        yield advance


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a rich progress bar (shown on the terminal only, transient)."""
    with _progress() as progress:
        yield from progress.track(items, total=total, description=description)


def quiet_pycolmap() -> None:
    """Keep COLMAP's glog output off the terminal."""
    import pycolmap

    pycolmap.logging.minloglevel = 2
    pycolmap.logging.alsologtostderr = False


@contextlib.contextmanager
def pycolmap_errors_hidden() -> Iterator[None]:
    """Keep COLMAP's error lines off the terminal too, during a call whose failure vloc reports in its own line."""
    import pycolmap

    level = pycolmap.logging.minloglevel
    pycolmap.logging.minloglevel = 3
    try:
        yield
    finally:
        pycolmap.logging.minloglevel = level
