"""The `vloc` typer application, the decorator that turns VlocError into one line and exit code 1, and the checks
of file and folder arguments."""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from vloc.errors import ConfigError, InputError, VlocError

if TYPE_CHECKING:
    from vloc.parallel.executor import ExecutorConf

app = typer.Typer(
    help="vloc: visual localization from image folders, one stage per command; stages talk through files.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True)
console = Console()
PathArgument = Path | list[Path] | None  # the value of a file or folder argument, repeatable or optional


def fail(message: str) -> NoReturn:
    """Print `error: message` as one line on stderr and exit with code 1."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def path_problem(path: Path, kind: str) -> str | None:
    """Why `path` cannot be read as a `kind` ('file', 'folder' or 'file or folder'), or None if it can."""
    if kind == "file" and path.is_dir():
        return "is a folder, expected a file"
    if kind == "folder" and path.exists() and not path.is_dir():
        return "is a file, expected a folder"
    if not path.exists():
        return f"{kind} not found"
    if not os.access(path, os.R_OK | (os.X_OK if path.is_dir() else 0)):
        return "not readable (permission denied)"
    return None


def output_problem(path: Path, kind: str) -> str | None:
    """Why a `kind` ('file' or 'folder') cannot be written at `path`, or None if it can: the path is of the other
    kind, or the nearest existing folder at or above it is a file or not writable."""
    if kind == "file" and path.is_dir():
        return "is a folder, expected a file to write"
    if kind == "folder" and path.exists() and not path.is_dir():
        return "is a file, expected a folder to write into"
    existing = path if kind == "folder" else path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"cannot be created: {existing} is a file"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot be written: {existing} is not writable (permission denied)"
    return None


def check_paths(param: typer.CallbackParam, value: PathArgument, kind: str, output: bool = False) -> PathArgument:
    """`value` (one path, None or several) if each path is a readable `kind` (a writable one if `output`), else one
    error line naming the argument and the path."""
    for path in value if isinstance(value, (list, tuple)) else [value]:
        problem = None if path is None else (output_problem if output else path_problem)(path, kind)
        if problem:
            name = max(param.opts, key=len) if param.param_type_name == "option" else (param.name or "").upper()
            fail(f"{name} {path}: {problem}")
    return value


def existing_file(param: typer.CallbackParam, value: PathArgument) -> PathArgument:
    """Typer callback of an input file argument: a folder, a missing or an unreadable file is a one-line error."""
    return check_paths(param, value, "file")


def existing_folder(param: typer.CallbackParam, value: PathArgument) -> PathArgument:
    """Typer callback of an input folder argument: a file, a missing or an unreadable folder is a one-line error."""
    return check_paths(param, value, "folder")


def existing_path(param: typer.CallbackParam, value: PathArgument) -> PathArgument:
    """Typer callback of an input that may be a file or a folder (poses file or model): it must exist, readable."""
    return check_paths(param, value, "file or folder")


def file_to_extend(param: typer.CallbackParam, value: PathArgument) -> PathArgument:
    """Typer callback of a file that is read if present and created otherwise: a folder or an unreadable file is a
    one-line error."""
    if isinstance(value, Path) and value.exists():
        check_paths(param, value, "file")
    return value


def writable_file(param: typer.CallbackParam, value: PathArgument) -> PathArgument:
    """Typer callback of an output file argument, checked before any work: a folder there, or a place where no file
    can be written, is a one-line error."""
    return check_paths(param, value, "file", output=True)


def writable_folder(param: typer.CallbackParam, value: PathArgument) -> PathArgument:
    """Typer callback of an output folder argument, checked before any work: a file there, or a place where no
    folder can be made, is a one-line error."""
    return check_paths(param, value, "folder", output=True)


PATH_CHECKS = (existing_file, existing_folder, existing_path, file_to_extend)


def checks_own_paths(function: Callable) -> None:
    """Switch off typer's readability check of the parameters checked above: it would print a usage panel, not a
    line naming the argument."""
    for parameter in inspect.signature(function).parameters.values():
        if getattr(parameter.default, "callback", None) in PATH_CHECKS:
            parameter.default.readable = False


def paths_by_role(function: Callable) -> tuple[list[str], list[str]]:
    """The names of a command's output path parameters and of its input path parameters (by their checks)."""
    outputs, inputs = [], []
    for parameter in inspect.signature(function).parameters.values():
        check = getattr(parameter.default, "callback", None)
        if check in (writable_file, writable_folder):
            outputs.append(parameter.name)
        elif check in (existing_file, existing_folder, existing_path):
            inputs.append(parameter.name)
    return outputs, inputs


def check_outputs_are_not_inputs(values: dict, outputs: list[str], inputs: list[str]) -> None:
    """One error line where an output path is one of the command's input paths (it would be overwritten)."""
    given = {}
    for name in inputs:
        for path in values[name] if isinstance(values.get(name), (list, tuple)) else [values.get(name)]:
            if path is not None:
                given[Path(path).resolve()] = name
    for name in outputs:
        path = values.get(name)
        if path is not None and Path(path).resolve() in given:
            fail(f"{name.upper()} {path}: is also the input {given[Path(path).resolve()].upper()}; write elsewhere")


def stage(parent: typer.Typer, name: str, help_text: str, example: str) -> Callable:
    """Register a command on `parent` whose VlocErrors, the file system's refusals (an OSError naming a file) and the
    failed checks of its file and folder arguments print as one line; the help ends with an example."""

    def register(function: Callable) -> Callable:
        checks_own_paths(function)
        outputs, inputs = paths_by_role(function)

        @functools.wraps(function)
        def run(*args, **kwargs):
            check_outputs_are_not_inputs(kwargs, outputs, inputs)
            try:
                return function(*args, **kwargs)
            except VlocError as error:
                fail(str(error))
            except OSError as error:
                if error.filename is None:  # not a file's problem: a bug, shown whole
                    raise
                fail(f"{error.filename2 or error.filename}: {error.strerror or error}")  # a rename's target second

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
    """An output argument, which names a file, checked as `writable_file` does: a folder is refused naming the file
    it could hold."""
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give the output file, e.g. {path / self_describing_name}")
    problem = output_problem(path, "file")
    if problem:
        raise InputError(f"{path}: {problem}")
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


EXECUTOR = typer.Option(
    "local", "--executor", help="local: in this process; ray: in shards on Ray workers (pip install -e '.\\[scale]')."
)
RAY_ADDRESS = typer.Option(
    None, "--ray-address", help="Ray cluster to run on, e.g. auto (default: start a local Ray instance)."
)
WORKERS = typer.Option(0, "--workers", help="Ray workers, one CPU each (default 0: one per CPU of the cluster).")
SHARD_SIZE = typer.Option(16, "--shard-size", help="Images, pairs or queries per Ray shard.")


def executor_conf(kind: str, ray_address: str | None, workers: int, shard_size: int) -> ExecutorConf:
    """The executor the --executor, --ray-address, --workers and --shard-size options describe."""
    from vloc.parallel.executor import ExecutorConf

    return ExecutorConf(kind, ray_address, workers, shard_size)
