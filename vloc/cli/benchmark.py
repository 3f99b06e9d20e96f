"""CLI: vloc benchmark recipe | foundation | matchers | retrieval | scale | basin | dense-matching | ransac-seeds |
versus-hloc."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from vloc.cli.app import (
    console,
    existing_file,
    existing_folder,
    existing_path,
    file_to_extend,
    parse_pair,
    stage,
    sub_app,
    writable_file,
    writable_folder,
)

benchmark_app = sub_app("benchmark", "Time recipes and stages (median of repetitions); results as JSON.")


@stage(
    benchmark_app,
    "recipe",
    "Run a pipeline recipe REPEAT times from scratch, timing every vloc stage; writes OUT/benchmark.json with stage "
    "times, localization time per query and the accuracy of the last run.",
    "vloc benchmark recipe pipelines/templering.sh outputs/bench-templering --repeat 3",
)
def recipe(
    recipe_path: Path = typer.Argument(..., help="A pipelines/*.sh recipe.", callback=existing_file),
    out: Path = typer.Argument(..., help="Output folder (one sub-folder per run).", callback=writable_folder),
    repeat: int = typer.Option(3, "--repeat", help="Number of runs."),
    args: list[str] = typer.Option([], "--arg", help="Extra arguments passed to the recipe after OUT."),
) -> None:
    from vloc.benchmark.recipes import run_recipe

    report = run_recipe(recipe_path, out, repeat, args)
    table = Table(title=f"{recipe_path.name}: median of {repeat} runs")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for name, seconds in report["median_stage_s"].items():
        table.add_row(name, f"{seconds:.2f}")
    table.add_row("[bold]total", f"{report['median_total_s']:.2f}")
    table.add_row("localize per query (median)", f"{report['median_localize_s_per_query']:.4f}")
    console.print(table)
    console.print(f"report written to {out / 'benchmark.json'}")


@stage(
    benchmark_app,
    "foundation",
    "Extraction speed and the fraction of time spent outside the extractor (I/O, resizing, HDF5), and matching pairs/s "
    "over all pairs of the images.",
    "vloc benchmark foundation ../shared/data/middlebury_templeRing/images outputs/bench-foundation.json\n\n    "
    "vloc benchmark foundation images/ outputs/bench-aliked.json --conf aliked --match-conf lightglue --repeat 1",
)
def foundation(
    images: Path = typer.Argument(..., help="Image folder.", callback=existing_folder),
    out: Path = typer.Argument(..., help="Output JSON.", callback=writable_file),
    conf: str = typer.Option("sift", "--conf", help="Extraction preset."),
    match_conf: str | None = typer.Option(
        None, "--match-conf", help="Matcher preset (default: hamming for orb, nn-ratio otherwise), e.g. lightglue."
    ),
    repeat: int = typer.Option(3, "--repeat", help="Repetitions (the median is reported)."),
) -> None:
    from vloc.benchmark.speed import profile_foundation
    from vloc.extract import local_features as extract
    from vloc.io.text import write_text_atomic

    report = profile_foundation(extract.conf_by_name(conf), images, repeat, match_conf)
    write_text_atomic(out, json.dumps(report, indent=1))
    console.print_json(json.dumps(report))


@stage(
    benchmark_app,
    "matchers",
    "Pairs/s of matcher presets at fixed keypoint counts (every image extracted up to the cap), over pairs of "
    "neighbouring images, with peak memory: e.g. LightGlue with and without adaptive depth and width.",
    "vloc benchmark matchers ../shared/data/middlebury_templeRing/images outputs/bench-lightglue.json --conf aliked "
    "--match-conf lightglue --match-conf lightglue-full --keypoints 1024 --keypoints 2048",
)
def matchers(
    images: Path = typer.Argument(
        ..., help="Image folder (names in order: neighbours overlap).", callback=existing_folder
    ),
    out: Path = typer.Argument(..., help="Output JSON.", callback=writable_file),
    conf: str = typer.Option("sift", "--conf", help="Extraction preset."),
    match_confs: list[str] = typer.Option(["nn-ratio"], "--match-conf", help="Matcher preset, repeatable."),
    sizes: list[int] = typer.Option([1024, 2048], "--keypoints", help="Keypoints per image, repeatable."),
    num_pairs: int = typer.Option(10, "--pairs", help="Pairs of neighbouring images to match."),
    repeat: int = typer.Option(1, "--repeat", help="Repetitions (the median is reported)."),
) -> None:
    from vloc.benchmark.speed import profile_matchers_at_sizes
    from vloc.extract import local_features as extract
    from vloc.io.text import write_text_atomic

    report = profile_matchers_at_sizes(extract.conf_by_name(conf), images, match_confs, sizes, num_pairs, repeat)
    write_text_atomic(out, json.dumps(report, indent=1))
    table = Table(title=f"{report['extractor']} features, {report['threads']} threads")
    for column in ("keypoints", "matcher", "pairs/s", "peak RSS growth MB"):
        table.add_column(column, justify="right")
    for r in report["results"]:
        growth = f"{r['peak_rss_growth_bytes'] / 2**20:.0f}"
        table.add_row(str(r["keypoints"]), r["preset"], f"{r['pairs_per_s']:.2f}", growth)
    console.print(table)
    console.print(f"report written to {out}")


@stage(
    benchmark_app,
    "retrieval",
    "Time of one query's exact top-10 search against 1k, 10k, 100k and 1M random unit global descriptors (1M "
    "stored as float16), median of repetitions, with memory; writes the JSON and a log-log plot beside it (.png).",
    "vloc benchmark retrieval outputs/bench-retrieval.json --dim 512",
)
def retrieval(
    out: Path = typer.Argument(
        ..., help="Output JSON; the plot is written with the suffix .png.", callback=writable_file
    ),
    dim: int = typer.Option(512, "--dim", help="Descriptor dimension."),
    sizes: list[int] = typer.Option([1_000, 10_000, 100_000, 1_000_000], "--size", help="Database sizes, repeatable."),
    repeat: int = typer.Option(20, "--repeat", help="Repetitions per size (the median is reported)."),
) -> None:
    from vloc.benchmark.speed import plot_retrieval_profile, profile_retrieval
    from vloc.io.text import write_text_atomic

    report = profile_retrieval(sizes, dim, repeat)
    write_text_atomic(out, json.dumps(report, indent=1))
    plot_retrieval_profile(report, out.with_suffix(".png"))
    table = Table(title=f"one query, top-{report['k']}, D={dim}, {report['threads']} threads")
    for column in ("database", "storage", "median ms", "index MB", "peak RSS growth MB"):
        table.add_column(column, justify="right")
    for r in report["sizes"]:
        growth = r["peak_rss_growth_build_bytes"] + r["peak_rss_growth_search_bytes"]
        table.add_row(
            f"{r['num_db']:,}",
            r["dtype"],
            f"{1000 * r['median_query_s']:.2f}",
            f"{r['index_bytes'] / 2**20:.0f}",
            f"{growth / 2**20:.0f}",
        )
    console.print(table)
    console.print(f"report written to {out} and {out.with_suffix('.png')}")


@stage(
    benchmark_app,
    "basin",
    "Convergence basin of feature-metric refinement: refine every query from its true pose perturbed by each "
    "(angle, distance) of the grid (fixed seed) and report the fraction ending within THRESHOLD; the JSON also holds "
    "each start's query and final errors. Reference images: the database images nearest the true pose.",
    "vloc benchmark basin outputs/templering/model outputs/templering/queries.txt outputs/templering/ground_truth.txt "
    "outputs/basin.json --images ../shared/data/middlebury_templeRing/images --grid 2,0.01 --grid 5,0.01 --threshold "
    "0.001,0.5",
)
def basin(
    model: Path = typer.Argument(..., help="Triangulated COLMAP model.", callback=existing_folder),
    queries: Path = typer.Argument(..., help="Queries file with intrinsics.", callback=existing_file),
    ground_truth: Path = typer.Argument(
        ..., help="True poses of the queries (results format).", callback=existing_file
    ),
    out: Path = typer.Argument(..., help="Output JSON.", callback=writable_file),
    images: Path | None = typer.Option(
        None, help="Image folder (dense features computed on the fly).", callback=existing_folder
    ),
    dense: Path | None = typer.Option(None, help="Dense features file instead of --images.", callback=existing_file),
    dense_conf: str = typer.Option("dsift", help="Dense backbone preset."),
    grid: list[str] = typer.Option(["2,0.01"], "--grid", help="'angle_deg,distance' of a perturbation (repeatable)."),
    threshold: str = typer.Option("0.001,0.5", help="'distance,angle_deg' a refined pose must be within."),
    starts: int = typer.Option(1, help="Random starts per query and grid cell."),
    set_: list[str] = typer.Option([], "--set", help="Refinement override, e.g. featuremetric.levels=(2,3,4)."),
) -> None:
    from vloc.benchmark.basin import basin_report
    from vloc.config import override
    from vloc.dense.pyramid import conf_by_name
    from vloc.featuremetric.query_refiner import RefineConf
    from vloc.io.text import write_text_atomic

    cells = [parse_pair(cell, "--grid", "angle_deg,distance") for cell in grid]
    limit = parse_pair(threshold, "--threshold", "distance,angle_deg")
    conf = override(RefineConf(dense=conf_by_name(dense_conf)), set_)
    report = basin_report(
        conf, model, queries, ground_truth, images=images, dense=dense, cells=cells, limit=limit, starts=starts
    )
    write_text_atomic(out, json.dumps(report, indent=1))
    rows = report["grid"]
    table = Table(title=f"convergence basin, within {limit[0]:g}, {limit[1]:g} deg")
    for column in ("angle (deg)", "distance", "starts", "within", "median t", "median R (deg)", "s/start"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            f"{r['angle_deg']:g}",
            f"{r['distance']:g}",
            str(r["num_starts"]),
            f"{r['within_percent']:.1f}%",
            f"{r['median_translation']:.4g}",
            f"{r['median_rotation_deg']:.3f}",
            f"{r['seconds_per_start']:.2f}",
        )
    console.print(table)


@stage(
    benchmark_app,
    "dense-matching",
    "Dense features compared on ground-truth correspondences of a COLMAP model (the observations of shared 3D "
    "points): nearest-neighbour matching accuracy at 1/3/5 px over the whole finest map, and the rate at which a 2D "
    "Gauss-Newton alignment started within 6 px converges to 1 px. BACKBONE is a dense preset, or gnnet:CHECKPOINT "
    "(a file, shipped or random).",
    "vloc benchmark dense-matching outputs/templering/model ../shared/data/middlebury_templeRing/images "
    "outputs/dense-matching.json --backbone dsift --backbone gnnet --backbone gnnet:random",
)
def dense_matching(
    model: Path = typer.Argument(
        ..., help="Triangulated COLMAP model (correspondences from its 3D points).", callback=existing_folder
    ),
    images: Path = typer.Argument(..., help="Image folder of the model.", callback=existing_folder),
    out: Path = typer.Argument(..., help="Output JSON.", callback=writable_file),
    backbone: list[str] = typer.Option(["dsift"], "--backbone", help="Dense preset, or gnnet:CHECKPOINT (repeatable)."),
    max_pairs: int = typer.Option(40, help="Image pairs evaluated, evenly spread over those sharing enough points."),
    max_side: int = typer.Option(640, help="Images resized to this longer side."),
) -> None:
    from vloc.benchmark.dense_matching import dense_matching_report
    from vloc.io.text import write_text_atomic

    report = dense_matching_report(model, images, backbone, max_pairs, max_side)
    write_text_atomic(out, json.dumps(report, indent=1))
    table = Table(title=f"dense matching on {report['num_pairs']} pairs of {model}")
    metrics = list(next(iter(report["backbones"].values())))
    for column in ["backbone", *metrics]:
        table.add_column(column, justify="right")
    for name, values in report["backbones"].items():
        table.add_row(name, *(f"{100 * values[m]:.1f}%" for m in metrics))
    console.print(table)


def seed_spread_table(report: dict, num_seeds: int) -> Table:
    """Each seed's medians and recalls, then their min / median / max."""
    recalls = [f"{m:g} m, {d:g} deg" for m, d in report["thresholds"]]
    table = Table(title=f"localization over {num_seeds} RANSAC seeds")
    for column in ("seed", "failed", "median t (m)", "median R (deg)", *recalls):
        table.add_column(column, justify="right")

    def add_row(label: str, failed: float, translation: float, rotation: float, recalls: list[float]) -> None:
        table.add_row(label, f"{failed:g}", f"{translation:.4g}", f"{rotation:.3f}", *(f"{r:.1f}%" for r in recalls))

    for run in report["runs"]:
        figures = (run["num_failed"], run["median_translation_m"], run["median_rotation_deg"], run["recall_percent"])
        add_row(str(run["seed"]), *figures)
    spread = report["spread"]
    for statistic in ("min", "median", "max"):
        recall = [spread[f"recall_percent@{k}"][statistic] for k in range(len(recalls))]
        figures = (spread[name][statistic] for name in ("num_failed", "median_translation_m", "median_rotation_deg"))
        add_row(f"[bold]{statistic}", *figures, recall)
    return table


@stage(
    benchmark_app,
    "ransac-seeds",
    "Spread of localization accuracy over RANSAC seeds: localize the queries once per seed (as vloc localize, "
    "--method hloc or lbr) and evaluate each run; prints each seed's medians and recall and their min / median / max, "
    "and writes them as JSON. A difference between two configurations smaller than this spread is not a difference. "
    "With --method lbr, pairs not yet in MATCHES are matched into a copy of it; MATCHES is left as it is.",
    "vloc benchmark ransac-seeds outputs/7scenes/model outputs/7scenes/queries.txt outputs/7scenes/pairs-query.txt "
    "outputs/7scenes/feats.h5 outputs/7scenes/matches-query.h5 outputs/7scenes/ground_truth.txt outputs/seeds.json "
    "--dataset-json outputs/7scenes/dataset.json --seeds 8\n\n    "
    "vloc benchmark ransac-seeds outputs/7scenes/model outputs/7scenes/queries.txt outputs/7scenes/pairs-instances.txt "
    "outputs/7scenes/feats.h5 outputs/7scenes/matches-lbr.h5 outputs/7scenes/ground_truth.txt outputs/seeds-lbr.json "
    "--dataset-json outputs/7scenes/dataset.json --method lbr --labels outputs/7scenes/instances.h5 "
    "--labels outputs/7scenes/recognitions.h5",
)
def ransac_seeds(
    model: Path = typer.Argument(..., help="Triangulated COLMAP model.", callback=existing_folder),
    queries: Path = typer.Argument(..., help="Queries file with intrinsics.", callback=existing_file),
    pairs: Path = typer.Argument(
        ..., help="Query-to-database pairs file (--method lbr: of vloc pairs instances).", callback=existing_file
    ),
    features: Path = typer.Argument(..., help="Features file of the queries.", callback=existing_file),
    matches: Path = typer.Argument(..., help="Matches file of the query pairs.", callback=file_to_extend),
    ground_truth: Path = typer.Argument(
        ..., help="Poses file or COLMAP model with the queries' true poses.", callback=existing_path
    ),
    out: Path = typer.Argument(..., help="Output JSON.", callback=writable_file),
    seeds: int = typer.Option(8, "--seeds", help="Number of RANSAC seeds (0, 1, ...)."),
    dataset_json: Path | None = typer.Option(
        None,
        "--dataset-json",
        help="dataset.json of `vloc prepare`: thresholds and query list.",
        callback=existing_file,
    ),
    threshold: list[str] = typer.Option(
        [], "--threshold", help="'metres,degrees', repeatable; overrides dataset.json."
    ),
    set_: list[str] = typer.Option([], "--set", help="Localization override, e.g. ransac_max_error=8."),
    method: str = typer.Option("hloc", help="hloc (PnP over the paired images) or lbr (candidate groups, early exit)."),
    match_conf: str = typer.Option("nnml", help="With --method lbr: the matcher preset for pairs not yet in MATCHES."),
    match_set: list[str] = typer.Option([], "--match-set", help="With --method lbr: matcher override."),
    labels: list[Path] = typer.Option(
        [],
        "--labels",
        help="With --method lbr and nnml: instances.h5 and the queries' recognitions.",
        callback=existing_file,
    ),
) -> None:
    from vloc.benchmark.seeds import method_seed_spread
    from vloc.evaluate.poses import finite_or_none
    from vloc.evaluate.setup import evaluation_setup
    from vloc.io.text import write_text_atomic
    from vloc.localize.methods import localization_confs
    from vloc.pnp.inputs import LocalizationInputs

    conf, configuration = localization_confs(method, set_, match_conf, match_set)
    setup = evaluation_setup(dataset_json, [parse_pair(t, "--threshold", "metres,degrees") for t in threshold], None)
    report = method_seed_spread(
        conf,
        configuration,
        LocalizationInputs(model, queries, pairs, features, matches),
        labels=labels or None,
        ground_truth=ground_truth,
        setup=setup,
        num_seeds=seeds,
    )
    write_text_atomic(out, json.dumps(finite_or_none(report), indent=1))
    console.print(seed_spread_table(report, seeds))
    console.print(f"report written to {out}")


@stage(
    benchmark_app,
    "compare-runs",
    "Compare two runs of a recipe file by file (results, pairs, evaluation, consistency, retrieval and dataset files, "
    "each run's folder name aside): which are byte-identical, which differ (for results, the largest pose change) "
    "and which are missing. Exits with 1 when any file differs or is missing, so a refactoring can be checked.",
    "vloc benchmark compare-runs outputs/templering-before outputs/templering-after --out-json outputs/compare.json",
)
def compare_runs(
    before: Path = typer.Argument(..., help="Output folder of the first run.", callback=existing_folder),
    after: Path = typer.Argument(..., help="Output folder of the second run.", callback=existing_folder),
    out_json: Path | None = typer.Option(
        None, "--out-json", help="Write the comparison as JSON.", callback=writable_file
    ),
) -> None:
    from vloc.benchmark.compare import compare_runs as compare
    from vloc.io.text import write_text_atomic

    report = compare(before, after)
    if out_json is not None:
        write_text_atomic(out_json, json.dumps(report, indent=1))
    table = Table(title=f"{before} -> {after}")
    for column in ("file", "verdict"):
        table.add_column(column)
    for name in report["identical"]:
        table.add_row(name, "identical")
    for name, change in report["different"].items():
        detail = ""
        if change:
            detail = f" (max {change['max_translation']:.3g} / {change['max_rotation_deg']:.3g} deg"
            unmatched = len(change["only_before"]) + len(change["only_after"])
            detail += f", {unmatched} queries in one run only)" if unmatched else ")"
        table.add_row(name, f"[bold red]different{detail}")
    for name in report["missing"]:
        table.add_row(name, "[bold red]missing in the second run")
    console.print(table)
    console.print(
        f"{len(report['identical'])} identical, {len(report['different'])} different, {len(report['missing'])} missing"
    )
    if report["different"] or report["missing"]:
        raise typer.Exit(1)


@stage(
    benchmark_app,
    "scale",
    "Extraction images/s and matching pairs/s in this process and on a local Ray instance with 1, 2, ... workers, the "
    "time to merge shards, and one-query search time, recall@10 against exact search and index size at growing "
    "database sizes for exact and approximate (faiss IVF, HNSW) search; writes OUT.json and the plot OUT.png. Needs "
    "pip install -e '.\\[scale]'.",
    "vloc benchmark scale outputs/bench-scale.json --size 10000 --size 100000 --size 1000000 --workers 1 --workers 2",
)
def scale(
    out: Path = typer.Argument(
        ..., help="Output JSON; the plot is written with the suffix .png.", callback=writable_file
    ),
    images: Path | None = typer.Option(
        None, "--images", help="Images to extract (default: 160 synthetic views).", callback=existing_folder
    ),
    workers: list[int] = typer.Option([1, 2], "--workers", help="Ray worker counts, repeatable."),
    images_per_shard: int = typer.Option(8, "--images-per-shard", help="Images per extraction shard."),
    pairs_per_shard: int = typer.Option(128, "--pairs-per-shard", help="Pairs per matching shard."),
    sizes: list[int] = typer.Option([10_000, 100_000, 1_000_000], "--size", help="Database sizes, repeatable."),
    dim: int = typer.Option(256, "--dim", help="Global descriptor dimension."),
    hnsw_up_to: int = typer.Option(100_000, "--hnsw-up-to", help="Largest database to build an HNSW graph for."),
) -> None:
    import tempfile

    from vloc.benchmark.scale import plot_scale, profile_search, profile_workers
    from vloc.io.text import write_text_atomic
    from vloc.synth import SynthConfig
    from vloc.synth import main as synthesize

    with tempfile.TemporaryDirectory() as folder:
        if images is None:
            images = synthesize(SynthConfig(num_cameras=160, conditions=("day",)), Path(folder) / "scene") / "images"
        report = {"workers": profile_workers(images, workers, images_per_shard, pairs_per_shard)}
    report["search"] = profile_search(sizes, dim, ["ivf", "hnsw"], hnsw_up_to)
    write_text_atomic(out, json.dumps(report, indent=1))
    plot_scale(report, out.with_suffix(".png"))
    stages = report["workers"]
    runs = Table(
        title=f"{stages['images']} images ({images_per_shard} per shard), {stages['pairs']} pairs ({pairs_per_shard})"
    )
    for column in ("executor", "workers", "extract images/s", "match pairs/s"):
        runs.add_column(column, justify="right")
    for run in stages["runs"]:
        runs.add_row(run["executor"], str(run["workers"]), f"{run['images_per_s']:.2f}", f"{run['pairs_per_s']:.1f}")
    console.print(runs)
    console.print(f"Ray start-up {stages['ray_startup_s']:.1f} s")
    for name, merge in stages["merge"].items():
        console.print(
            f"merging {merge['shards']} shards of {name} ({merge['entries']} entries, "
            f"{merge['bytes'] / 2**20:.1f} MB): {merge['seconds']:.3f} s, "
            f"{1000 * merge['seconds'] / merge['entries']:.2f} ms per entry"
        )
    search = Table(title=f"one query, top-{report['search']['k']}, D={dim}")
    for column in ("database", "index", "build s", "query ms", "recall@10", "effort", "index MB"):
        search.add_column(column, justify="right")
    for r in report["search"]["sizes"]:
        search.add_row(
            f"{r['num_db']:,}",
            r["index"],
            f"{r['build_s']:.1f}",
            f"{r['query_ms']:.2f}",
            f"{r['recall']:.3f}",
            str(r["effort"]),
            f"{r['index_bytes'] / 2**20:.0f}",
        )
    console.print(search)
    console.print(f"report written to {out} and {out.with_suffix('.png')}")


@stage(
    benchmark_app,
    "versus-hloc",
    "vloc beside an installed hloc on a dataset prepared by `vloc prepare`, with hloc's SIFT protocol (NN-ratio, the "
    "mapping images triangulated from their known poses with their 20 nearest cameras, every query paired with every "
    "mapping image, PnP): both run REPEAT times alternately in this process, every stage timed, both evaluated by "
    "vloc; writes OUT/versus_hloc.json with the medians, keypoints per image, query pairs/s and vloc / hloc.",
    "vloc benchmark versus-hloc outputs/kitti ../shared/data/kitti_odometry_seq1/image_l outputs/kitti-vs-hloc "
    "--features sift-colmap-octave0 --repeat 3",
)
def versus_hloc(
    prepared: Path = typer.Argument(..., help="A folder written by `vloc prepare`.", callback=existing_folder),
    images: Path = typer.Argument(..., help="The dataset's image folder.", callback=existing_folder),
    out: Path = typer.Argument(..., help="Output folder (one sub-folder per tool and run).", callback=writable_folder),
    repeat: int = typer.Option(3, "--repeat", help="Runs of each tool."),
    features: str = typer.Option("sift", "--features", help="vloc's local-feature preset (hloc runs its 'sift')."),
) -> None:
    from vloc.benchmark.versus_hloc import STAGES, Dataset
    from vloc.benchmark.versus_hloc import main as compare_with_hloc

    report = compare_with_hloc(Dataset(prepared, images), out, repeat, features)
    table = Table(title=f"{prepared}: median of {repeat} runs each")
    for column in ("", "hloc", "vloc", "vloc / hloc"):
        table.add_column(column, justify="right")
    for stage_name in STAGES:
        seconds = [report[tool]["median_stage_s"][stage_name] for tool in ("hloc", "vloc")]
        table.add_row(
            f"{stage_name} (s)", *(f"{s:.2f}" for s in seconds), f"{report['vloc_over_hloc'][stage_name]:.2f}"
        )
    totals = [report[tool]["median_total_s"] for tool in ("hloc", "vloc")]
    table.add_row("[bold]total (s)", *(f"{s:.2f}" for s in totals), f"{report['vloc_over_hloc']['total']:.2f}")
    for label, key in (("keypoints per image", "keypoints_per_image"), ("query pairs/s", "query_pairs_per_s")):
        table.add_row(label, *(f"{report[tool][key]:.1f}" for tool in ("hloc", "vloc")), "")
    for label, key, scale in (
        ("median t (mm)", "median_translation_m", 1000),
        ("median R (deg)", "median_rotation_deg", 1),
    ):
        table.add_row(label, *(f"{report[tool]['accuracy'][key] * scale:.3g}" for tool in ("hloc", "vloc")), "")
    recalls = [" / ".join(f"{r:.0f}" for r in report[tool]["accuracy"]["recall_percent"]) for tool in ("hloc", "vloc")]
    table.add_row("recall (%)", *recalls, "")
    console.print(table)
    console.print(f"report written to {out / 'versus_hloc.json'}")
