"""vloc.cli.app: a folder, a missing or an unreadable path given where a file (or a folder) is expected is one error
line naming the argument and the path, for every command."""

from __future__ import annotations

import os
from pathlib import Path

import pycolmap
import pytest
from helpers import assert_one_line_error
from typer.testing import CliRunner

from vloc.cli import app

# Each command with one argument marked BAD; the other inputs are a valid file (FILE) or folder (DIR).
FILE_ARGUMENTS = {
    "localize QUERIES": ["localize", "DIR", "BAD", "FILE", "FILE", "FILE", "OUT"],
    "match features PAIRS": ["match", "features", "BAD", "FILE", "OUT"],
    "pairs exhaustive --list": ["pairs", "exhaustive", "OUT", "--list", "BAD"],
    "sfm MATCHES": ["sfm", "DIR", "FILE", "FILE", "BAD", "OUT"],
    "evaluate poses --dataset-json": ["evaluate", "poses", "FILE", "FILE", "--dataset-json", "BAD"],
    "match features --labels": ["match", "features", "FILE", "FILE", "OUT", "--labels", "FILE", "--labels", "BAD"],
}
FOLDER_ARGUMENTS = {
    "extract local IMAGES": ["extract", "local", "BAD", "OUT"],
    "triangulate REFERENCE": ["triangulate", "BAD", "DIR", "FILE", "FILE", "FILE", "OUT"],
    "pairs covisibility --model": ["pairs", "covisibility", "OUT", "--model", "BAD"],
}


def unreadable(path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`path` without read permission; as root, where permissions do not apply, os.access is made to say so."""
    path.chmod(0)
    if os.access(path, os.R_OK):
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != path and real_access(p, mode))
    return path


def bad_path(kind: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A path that is the mistake `kind` where a file or folder (`expected`) is wanted, and the message it gets."""
    if kind == "wrong kind":
        if expected == "file":
            (tmp_path / "a_folder").mkdir()
            return tmp_path / "a_folder", "is a folder, expected a file"
        (tmp_path / "a_file.txt").write_text("x\n")
        return tmp_path / "a_file.txt", "is a file, expected a folder"
    if kind == "missing":
        return tmp_path / "nowhere", f"{expected} not found"
    path = tmp_path / "locked"
    path.mkdir() if expected == "folder" else path.write_text("x\n")
    return unreadable(path, monkeypatch), "not readable (permission denied)"


@pytest.fixture()
def valid(tmp_path: Path) -> dict[str, str]:
    """Valid values of the other arguments: a file, a folder, an output that does not exist yet."""
    (tmp_path / "ok.txt").write_text("a b\n")
    (tmp_path / "ok_dir").mkdir()
    return {"FILE": str(tmp_path / "ok.txt"), "DIR": str(tmp_path / "ok_dir"), "OUT": str(tmp_path / "out" / "x")}


def run_with(arguments: list[str], bad: Path, valid: dict[str, str]):
    return CliRunner().invoke(app, [{**valid, "BAD": str(bad)}.get(a, a) for a in arguments])


@pytest.mark.parametrize("kind", ["wrong kind", "missing", "unreadable"])
@pytest.mark.parametrize("command", FILE_ARGUMENTS)
def test_file_argument_mistakes_are_one_line(command: str, kind: str, valid, tmp_path: Path, monkeypatch):
    bad, message = bad_path(kind, "file", tmp_path, monkeypatch)
    result = run_with(FILE_ARGUMENTS[command], bad, valid)
    assert_one_line_error(result, f"{command.split()[-1]} {bad}: {message}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["wrong kind", "missing", "unreadable"])
@pytest.mark.parametrize("command", FOLDER_ARGUMENTS)
def test_folder_argument_mistakes_are_one_line(command: str, kind: str, valid, tmp_path: Path, monkeypatch):
    bad, message = bad_path(kind, "folder", tmp_path, monkeypatch)
    result = run_with(FOLDER_ARGUMENTS[command], bad, valid)
    assert_one_line_error(result, f"{command.split()[-1]} {bad}: {message}")
    assert not (tmp_path / "out").exists()


def test_a_matches_file_to_create_may_be_absent_but_not_a_folder(valid, tmp_path: Path):
    """localize MATCHES is created by --method lbr: absent, it passes the check and the stage reports what it lacks."""
    arguments = ["localize", "DIR", "FILE", "FILE", "FILE", "BAD", "OUT"]
    result = run_with(arguments, tmp_path / "matches-new.h5", valid)
    assert_one_line_error(result)
    assert "MATCHES" not in result.output
    (tmp_path / "a_folder.h5").mkdir()
    result = run_with(arguments, tmp_path / "a_folder.h5", valid)
    assert_one_line_error(result, f"MATCHES {tmp_path / 'a_folder.h5'}: is a folder, expected a file")


# Each command with its output marked BAD, all inputs valid: the output is checked before any input is read.
OUTPUT_ARGUMENTS = {
    "pairs exhaustive OUT": (["pairs", "exhaustive", "BAD", "--list", "FILE"], "file"),
    "localize RESULTS": (["localize", "DIR", "FILE", "FILE", "FILE", "FILE", "BAD"], "file"),
    "evaluate poses --out-json": (["evaluate", "poses", "FILE", "FILE", "--out-json", "BAD"], "file"),
    "sfm OUT": (["sfm", "DIR", "FILE", "FILE", "FILE", "BAD"], "folder"),
    "locate OUT": (["locate", "DIR", "DIR", "BAD"], "folder"),
}


def unwritable_output(kind: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """An output path that cannot be written for reason `kind`, and the message it gets."""
    if kind == "wrong kind":
        if expected == "file":
            (tmp_path / "a_folder").mkdir()
            return tmp_path / "a_folder", "is a folder, expected a file to write"
        (tmp_path / "a_file").write_text("x\n")
        return tmp_path / "a_file", "is a file, expected a folder to write into"
    if kind == "under a file":
        (tmp_path / "a_file").write_text("x\n")
        return tmp_path / "a_file" / "sub" / "out", f"cannot be created: {tmp_path / 'a_file'} is a file"
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.access(locked, os.W_OK):  # root: permissions do not apply, so os.access is made to say so
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: real_access(p, mode) and not (Path(p) == locked and mode & 2))
    return locked / "new" / "out", f"cannot be written: {locked} is not writable (permission denied)"


@pytest.mark.parametrize("kind", ["wrong kind", "under a file", "not writable"])
@pytest.mark.parametrize("command", OUTPUT_ARGUMENTS)
def test_output_mistakes_are_one_line_before_any_work(command: str, kind: str, valid, tmp_path: Path, monkeypatch):
    arguments, expected = OUTPUT_ARGUMENTS[command]
    bad, message = unwritable_output(kind, expected, tmp_path, monkeypatch)
    result = run_with(arguments, bad, valid)
    assert_one_line_error(result, f"{command.split()[-1]} {bad}: {message}")


def test_a_file_system_refusal_during_a_command_is_one_line(tmp_path: Path):
    """What the checks cannot foresee (here the plot beside the report is a folder) ends the command in one line
    naming the path, after the report table."""
    from vloc.io.text import write_poses

    pose = pycolmap.Rigid3d()
    write_poses(tmp_path / "results.txt", {"q.jpg": pose})
    (tmp_path / "report.png").mkdir()
    arguments = ["evaluate", "poses", str(tmp_path / "results.txt"), str(tmp_path / "results.txt")]
    result = CliRunner().invoke(app, [*arguments, "--threshold", "1,1", "--out-json", str(tmp_path / "report.json")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1] == f"error: {tmp_path / 'report.png'}: Is a directory"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["localize", "DIR", "FILE", "FILE", "FILE", "FILE", "OUT", "--set", "ransac_max_error=-1"],
            "ransac_max_error",
        ),
        (
            ["localize", "DIR", "FILE", "FILE", "FILE", "FILE", "OUT", "--set", "ransac_max_error=nan"],
            "ransac_max_error",
        ),
        (["triangulate", "DIR", "DIR", "FILE", "FILE", "FILE", "OUT", "--set", "min_angle=-1"], "min_angle"),
        (["sfm", "DIR", "FILE", "FILE", "FILE", "OUT", "--set", "max_verification_error=0"], "max_verification_error"),
        (["sfm", "DIR", "FILE", "FILE", "FILE", "OUT", "--set", "num_threads=-3"], "num_threads"),
    ],
)
def test_settings_pycolmap_would_refuse_are_one_line_errors(arguments: list[str], message: str, valid, tmp_path):
    result = run_with(arguments, tmp_path, valid)
    assert_one_line_error(result, message)
    assert not (tmp_path / "out").exists()


def test_an_output_that_is_one_of_the_inputs_is_refused_before_it_is_overwritten(valid, tmp_path: Path):
    pairs = Path(valid["FILE"])
    before = pairs.read_bytes()
    result = run_with(["localize", "DIR", "FILE", "FILE", "FILE", "FILE", "BAD"], pairs, valid)
    assert_one_line_error(result, f"RESULTS {pairs}: is also the input ", "; write elsewhere")  # each FILE is it
    assert pairs.read_bytes() == before
