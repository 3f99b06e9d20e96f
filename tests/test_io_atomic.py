"""Atomic outputs: one run at a time per output (a lock that dies with its run), leftovers of killed runs cleaned,
model folders swapped in whole and nothing but a model folder ever replaced by one."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pycolmap
import pytest
from helpers import tree_digest, vloc_env

from vloc.errors import BusyError, InputError
from vloc.io import atomic
from vloc.io.atomic import atomic_path, output_lock, write_bytes_atomic
from vloc.io.model import build_posed_model, write_model

HOLD_LOCK = (
    "import sys, time; from pathlib import Path; from vloc.io.atomic import output_lock\n"
    "with output_lock(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(60)\n"
)


def test_a_second_writer_of_one_output_is_refused_with_the_holders_pid(tmp_path: Path):
    out = tmp_path / "feats.h5"
    out.write_bytes(b"old")
    with output_lock(out):
        assert (tmp_path / "feats.h5.lock").read_text().split()[0] == str(os.getpid())
        with pytest.raises(BusyError) as refused, atomic_path(out) as temporary:
            temporary.write_bytes(b"new")
    assert str(refused.value) == (
        f"{out}: another vloc run (pid {os.getpid()}) is writing this file; wait for it to finish"
    )
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feats.h5"]  # no lock, no temporary left


def test_the_lock_of_a_killed_run_is_taken_over(tmp_path: Path):
    out = tmp_path / "feats.h5"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True, env=vloc_env()
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(BusyError, match=f"another vloc run \\(pid {holder.pid}\\) is writing this file"):
            write_bytes_atomic(out, b"refused")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (tmp_path / "feats.h5.lock").exists()  # left behind by the killed run, with its pid
    write_bytes_atomic(out, b"after")
    assert out.read_bytes() == b"after"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feats.h5"]


def test_a_temporary_left_by_a_killed_run_is_removed_with_a_warning(tmp_path: Path, caplog):
    out = tmp_path / "pairs.txt"
    (tmp_path / "pairs.txt.tmp").write_text("half written by a killed run")
    (tmp_path / "pairs.txt.lock").write_text("999999999 elsewhere\n")  # its lock file, no longer locked
    with caplog.at_level(logging.WARNING):
        write_bytes_atomic(out, b"a b\n")
    assert out.read_bytes() == b"a b\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.txt"]
    assert f"removing {tmp_path / 'pairs.txt.tmp'}, left by a vloc run that was stopped" in caplog.messages


def one_image_model(name: str) -> pycolmap.Reconstruction:
    camera = pycolmap.Camera(model="SIMPLE_PINHOLE", width=64, height=48, params=[50.0, 32.0, 24.0])
    return build_posed_model({name: camera}, {name: pycolmap.Rigid3d()})


@pytest.mark.parametrize("renameat2", [True, False], ids=["exchange", "without-renameat2"])
def test_a_model_folder_is_swapped_for_the_new_model(tmp_path: Path, monkeypatch, renameat2: bool):
    if not renameat2:
        monkeypatch.setattr(atomic.ctypes, "CDLL", lambda *args, **kwargs: object())  # a libc without renameat2
    out = tmp_path / "sfm"
    write_model(one_image_model("old.png"), out)
    old_folder = out.stat().st_ino
    write_model(one_image_model("new.png"), out)
    assert [image.name for image in pycolmap.Reconstruction(out).images.values()] == ["new.png"]
    assert out.stat().st_ino != old_folder  # the staging folder itself, moved in whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sfm"]


@pytest.mark.parametrize("existing", ["image folder", "folder with a model and more", "file"])
def test_a_model_never_replaces_anything_but_a_model_folder(tmp_path: Path, existing: str):
    out = tmp_path / "out"
    if existing == "file":
        out.write_text("results\n")
    elif existing == "image folder":
        out.mkdir()
        (out / "a.png").write_bytes(b"image")
    else:
        write_model(one_image_model("a.png"), out)
        (out / "notes.txt").write_text("mine\n")
    before = tree_digest(out)
    with pytest.raises(InputError) as refused:
        write_model(one_image_model("new.png"), out)
    assert str(refused.value) == f"{out}: exists and is not a COLMAP model folder; choose a new folder"
    assert tree_digest(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_model_may_replace_an_empty_folder(tmp_path: Path):
    (tmp_path / "sfm").mkdir()
    write_model(one_image_model("a.png"), tmp_path / "sfm")
    assert sorted(p.name for p in (tmp_path / "sfm").iterdir()) == sorted(
        f"{name}.bin" for name in ("cameras", "frames", "images", "points3D", "rigs")
    )
