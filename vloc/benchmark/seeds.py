"""The spread of localization accuracy over RANSAC seeds: a difference between two configurations smaller than it
is not a difference."""

from __future__ import annotations

import shutil
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from vloc.errors import ConfigError
from vloc.evaluate.poses import evaluate
from vloc.evaluate.setup import EvaluationSetup
from vloc.io.model import read_ground_truth
from vloc.io.text import read_poses
from vloc.localize import hierarchical, lbr
from vloc.localize.lbr import LbrConf
from vloc.matchers.pair_matcher import MatchConf
from vloc.pnp.absolute_pose import LocalizeConf
from vloc.pnp.inputs import LocalizationInputs


def method_seed_spread(
    conf: LocalizeConf | LbrConf,
    match_conf: MatchConf | None,
    inputs: LocalizationInputs,
    *,
    labels: list[Path] | None,
    ground_truth: Path,
    setup: EvaluationSetup,
    num_seeds: int,
) -> dict:
    """Localize with seeds 0..num_seeds-1, by hierarchical localization (a LocalizeConf) or LBR (an LbrConf, whose
    pairs not yet in `inputs.matches` are matched into a copy of it), and evaluate every run."""
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        if isinstance(conf, LbrConf):
            copy_inputs = replace(inputs, matches=work / "matches.h5")
            if inputs.matches.exists():
                shutil.copyfile(inputs.matches, copy_inputs.matches)

            def localize_with_seed(seed: int, results: Path) -> Path:
                seeded = replace(conf, random_seed=seed)
                return lbr.main(seeded, match_conf, copy_inputs, results, labels=labels)
        else:

            def localize_with_seed(seed: int, results: Path) -> Path:
                seeded = replace(conf, random_seed=seed)
                return hierarchical.main(seeded, inputs, results)

        method = "lbr" if isinstance(conf, LbrConf) else "hloc"
        return localization_seed_spread(
            localize_with_seed,
            {"method": method, **asdict(conf)},
            list(range(num_seeds)),
            ground_truth,
            setup,
            work,
        )


def localization_seed_spread(
    localize_with_seed: Callable[[int, Path], Path],
    conf: dict,
    seeds: list[int],
    truth: Path,
    setup: EvaluationSetup,
    work: Path,
) -> dict:
    """Localize once per RANSAC seed (`localize_with_seed(seed, results)`, results written under `work`) and
    evaluate each run: per-seed summaries, and the min / median / max of each figure over the seeds."""
    if not seeds:
        raise ConfigError("no RANSAC seeds to run (--seeds must be at least 1)")
    poses = read_ground_truth(truth)
    runs = []
    for seed in seeds:
        results = localize_with_seed(seed, work / f"results-seed{seed}.txt")
        summary = evaluate(
            read_poses(results),
            poses,
            setup.thresholds,
            setup.queries,
            source=str(results),
            truth_source=str(truth),
            query_source=setup.query_source,
        )
        runs.append({"seed": seed, **summary["groups"]["all"]})
    figures = {
        name: [run[name] for run in runs] for name in ("median_translation_m", "median_rotation_deg", "num_failed")
    }
    figures.update(
        {f"recall_percent@{k}": [run["recall_percent"][k] for run in runs] for k in range(len(setup.thresholds))}
    )
    spread = {
        name: {"min": min(values), "median": statistics.median(values), "max": max(values)}
        for name, values in figures.items()
    }
    return {"conf": conf, "thresholds": [list(t) for t in setup.thresholds], "runs": runs, "spread": spread}
