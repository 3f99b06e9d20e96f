"""vloc weights: the learned presets whose weights load, a one-line error for the others."""

from __future__ import annotations

from pathlib import Path

import torch
from helpers import assert_one_line_error
from typer.testing import CliRunner

from vloc.cli import app


def test_installed_weights_load_and_missing_ones_are_named(tmp_path: Path, monkeypatch):
    result = CliRunner().invoke(app, ["weights", "aliked", "lightglue", "sift"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["aliked: weights loaded", "lightglue: weights loaded", "sift: weights loaded"]

    monkeypatch.setattr(torch.hub, "_hub_dir", torch.hub._hub_dir)
    torch.hub.set_dir(str(tmp_path / "hub"))  # an empty torch hub cache: SuperPoint's weights are not shipped
    result = CliRunner().invoke(app, ["weights", "aliked", "superpoint"])
    assert_one_line_error(result, "SuperPoint weights not found", str(tmp_path / "hub" / "checkpoints"))
    assert_one_line_error(CliRunner().invoke(app, ["weights", "nn-ratio", "alike"]), "unknown preset 'alike'")
