"""CLI: vloc localize."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app, console, stage


@stage(
    app,
    "localize",
    "Localize each query (hloc queries file with intrinsics) against a triangulated model by PnP + RANSAC. "
    "Writes RESULTS ('name qw qx qy qz tx ty tz', cam_from_world) and RESULTS_log.json (per-query log). "
    "--refine featuremetric then refines each pose on dense features (see vloc refine).",
    "vloc localize outputs/sfm queries.txt pairs-query.txt feats.h5 matches-query.h5 outputs/results.txt --set ransac_max_error=8 "
    "--refine featuremetric --images images/",
)
def localize(
    model: Path = typer.Argument(..., help="Triangulated COLMAP model."),
    queries: Path = typer.Argument(..., help="Queries file: 'name MODEL width height params...' per line."),
    pairs: Path = typer.Argument(..., help="Query-to-database pairs file."),
    features: Path = typer.Argument(..., help="Features file of the queries (database keypoints come from the model; where present here they must agree)."),
    matches: Path = typer.Argument(..., help="Matches file of the query pairs."),
    results: Path = typer.Argument(..., help="Output results file."),
    set_: list[str] = typer.Option(
        [], "--set", help="Override, e.g. ransac_max_error=8, min_inliers=20, covisibility_clustering=true, fallback_to_top_image=true."
    ),
    refine: str = typer.Option("none", help="none, or featuremetric: refine each PnP pose on dense features."),
    dense: Path | None = typer.Option(None, help="With --refine: dense features file (vloc extract --dense)."),
    images: Path | None = typer.Option(None, help="With --refine: image folder, to compute dense features on the fly."),
    dense_conf: str = typer.Option("dsift", help="With --refine: dense backbone preset for on-the-fly features."),
    refine_set: list[str] = typer.Option([], "--refine-set", help="Refinement override, e.g. featuremetric.levels=(3,4)."),
) -> None:
    from .. import localize as localize_stage
    from ..config import override
    from ..errors import ConfigError
    from ..extract_dense import conf_by_name
    from ..refine.run import RefineConf

    if refine not in ("none", "featuremetric"):
        raise ConfigError(f"--refine must be none or featuremetric, got '{refine}'")
    conf = override(localize_stage.LocalizeConf(), set_)
    refine_conf = override(RefineConf(dense=conf_by_name(dense_conf)), refine_set) if refine == "featuremetric" else None
    localize_stage.main(conf, model, queries, pairs, features, matches, results, refine_conf, dense, images)
    console.print(f"poses written to {results}, log to {localize_stage.log_path(results)}")
