"""The `vloc` typer application and the decorator that turns VlocError into one line and exit code 1."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from vloc.errors import ConfigError, InputError, VlocError

app = typer.Typer(
    help="vloc: visual localization from image folders, one stage per command; stages talk through files.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True)
console = Console()


def stage(parent: typer.Typer, name: str, help_text: str, example: str) -> Callable:
    """Register a command on `parent` whose VlocErrors print as one line; the help ends with an example."""

    def register(function: Callable) -> Callable:
        @functools.wraps(function)
        def run(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except VlocError as error:
                err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
                raise typer.Exit(1) from None

        text = f"{help_text}\n\nExample:\n\n    {example}"
        return parent.command(name, help=text)(run)

    return register


def parse_pair(text: str, option: str, meaning: str) -> tuple[float, float]:
    """'a,b' -> (a, b), or a one-line error naming the option and what its two numbers mean."""
    try:
        first, second = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"{option} '{text}' is not '{meaning}' (two comma-separated numbers)") from None
    return first, second


def output_file(path: Path, self_describing_name: str) -> Path:
    """An output argument, which names a file: a folder is refused, naming the file it could hold."""
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give the output file, e.g. {path / self_describing_name}")
    return path


def sub_app(name: str, help_text: str) -> typer.Typer:
    """A command group such as `vloc pairs ...`."""
    group = typer.Typer(help=help_text, no_args_is_help=True, pretty_exceptions_enable=False)
    app.add_typer(group, name=name)
    return group


@app.callback()
def main(
    ctx: typer.Context, verbose: bool = typer.Option(False, "--verbose", "-v", help="Show info-level logs.")
) -> None:
    """vloc: visual localization from image folders, one stage per command; stages talk through files."""
    import logging
    import os

    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        handlers=[RichHandler(console=err_console)],
        format="%(message)s",
    )
    if os.environ.get("VLOC_TIMINGS"):
        from vloc.benchmark.recipes import record_stage_time

        ctx.call_on_close(record_stage_time(os.environ["VLOC_TIMINGS"]))
