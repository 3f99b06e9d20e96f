"""CLI: vloc match."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app, console, stage


@stage(
    app,
    "match",
    "Match the features of every pair in PAIRS into a matches file (hloc layout). Pairs already matched are skipped "
    "unless --overwrite. With --matcher sparse-to-dense, the map keypoints of each (query, database) pair are searched "
    "for in the query's dense features (vloc extract --dense): the hits are written to FEATURES as the query "
    "keypoints, and to OUT as matches, for vloc localize.",
    "vloc match pairs.txt feats-sift.h5 matches.h5 --conf nn-ratio --set ratio_threshold=0.85\n\n    "
    "vloc match pairs-query.txt feats-sift.h5 matches-nnml.h5 --conf nnml --labels instances.h5 --labels recognitions.h5\n\n    "
    "vloc match pairs-query.txt feats-s2d.h5 matches-s2d.h5 --matcher sparse-to-dense --model model --dense dense-dsift-r640.h5",
)
def match(
    pairs: Path = typer.Argument(..., help="Pairs file, 'name0 name1' per line."),
    features: Path = typer.Argument(
        ..., help="Features file of the first images (and the second, without --features-ref); for sparse-to-dense, the "
        "query keypoints it writes."
    ),
    out: Path = typer.Argument(..., help="Output matches file (.h5), or an existing folder for a self-describing name."),
    conf: str = typer.Option(
        "nn-ratio", "--conf", "--matcher", help="Preset: nn-ratio, nn-mutual, nn-ratio-verified, hamming, nnml (instance-wise, needs --labels), sparse-to-dense."
    ),
    set_: list[str] = typer.Option([], "--set", help="Override a config field, e.g. ratio_threshold=0.9 or verification.enabled=true."),
    features_ref: Path | None = typer.Option(None, "--features-ref", help="Features file of the second image of each pair."),
    overwrite: bool = typer.Option(False, help="Re-match pairs already in the output."),
    model: Path | None = typer.Option(None, help="sparse-to-dense: the triangulated model (its keypoints with 3D points)."),
    dense: Path | None = typer.Option(None, help="sparse-to-dense: dense features file (vloc extract --dense)."),
    images: Path | None = typer.Option(None, help="sparse-to-dense: image folder, to compute dense features on the fly."),
    labels: list[Path] = typer.Option(
        [], "--labels", help="nnml: keypoint instance labels (vloc instances build for the database, vloc recognize for the queries); repeat."
    ),
) -> None:
    from .. import match as match_stage
    from ..config import override

    if conf == "sparse-to-dense":
        from .. import sparse_to_dense
        from ..errors import ConfigError

        if model is None:
            raise ConfigError("--matcher sparse-to-dense needs --model (the triangulated model)")
        configuration = override(sparse_to_dense.SparseToDenseConf(), set_)
        sparse_to_dense.main(configuration, pairs, model, out, features, dense, images)
        console.print(f"query keypoints written to {features}, matches to {out}")
        return

    configuration = override(match_stage.conf_by_name(conf), set_)
    out = out / configuration.output_name(pairs) if out.is_dir() else out
    match_stage.main(configuration, pairs, features, out, features_ref, overwrite, labels or None)
    console.print(f"matches written to {out}")
