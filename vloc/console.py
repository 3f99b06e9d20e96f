"""Small helpers shared by stages: rich progress bars and logging quietness."""

from __future__ import annotations

import contextlib
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
