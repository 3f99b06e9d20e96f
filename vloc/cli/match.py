"""CLI: vloc match."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app, console, stage


@stage(
    app,
    "match",
    "Match the features of every pair in PAIRS into a matches file (hloc layout). Pairs already matched are skipped unless --overwrite.",
    "vloc match pairs.txt feats-sift.h5 matches.h5 --conf nn-ratio --set ratio_threshold=0.85",
)
def match(
    pairs: Path = typer.Argument(..., help="Pairs file, 'name0 name1' per line."),
    features: Path = typer.Argument(..., help="Features file of the first images (and the second, without --features-ref)."),
    out: Path = typer.Argument(..., help="Output matches file (.h5), or an existing folder for a self-describing name."),
    conf: str = typer.Option("nn-ratio", "--conf", help="Preset: nn-ratio, nn-mutual, nn-ratio-verified, hamming."),
    set_: list[str] = typer.Option([], "--set", help="Override a config field, e.g. ratio_threshold=0.9 or verification.enabled=true."),
    features_ref: Path | None = typer.Option(None, "--features-ref", help="Features file of the second image of each pair."),
    overwrite: bool = typer.Option(False, help="Re-match pairs already in the output."),
) -> None:
    from .. import match as match_stage
    from ..config import override

    configuration = override(match_stage.conf_by_name(conf), set_)
    out = out / configuration.output_name(pairs) if out.is_dir() else out
    match_stage.main(configuration, pairs, features, out, features_ref, overwrite)
    console.print(f"matches written to {out}")
