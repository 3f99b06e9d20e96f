"""vloc beside an installed hloc on one prepared dataset, with hloc's SIFT protocol: NN-ratio matching, the mapping
images triangulated from their known poses with their 20 nearest cameras, every query paired with every mapping image,
PnP. The two tools run alternately (the order swapped every repetition), each stage timed in this process; vloc's
evaluation scores both."""

from __future__ import annotations

import contextlib
import importlib
import json
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from vloc import pairs
from vloc.errors import ConfigError, InputError
from vloc.evaluate import poses as evaluate_poses
from vloc.evaluate.setup import evaluation_setup
from vloc.extract import local_features as extract
from vloc.io.features import FeatureReader, list_images
from vloc.io.model import read_model
from vloc.io.text import read_image_list, read_pairs, read_poses, write_poses, write_text_atomic
from vloc.localize import hierarchical
from vloc.mapping import triangulation
from vloc.match import local_features as match
from vloc.matchers.pair_matcher import conf_by_name as match_conf
from vloc.pnp.absolute_pose import LocalizeConf
from vloc.pnp.inputs import LocalizationInputs

STAGES = ("extract", "pairs", "match mapping", "match query", "triangulate", "localize")
MAPPING_NEIGHBOURS = 20
HLOC_MODULES = (
    "extract_features",
    "match_features",
    "pairs_from_exhaustive",
    "pairs_from_poses",
    "triangulation",
    "localize_sfm",
)


def import_hloc() -> dict[str, ModuleType]:
    """hloc's pipeline modules, or a one-line error when hloc is not installed."""
    try:
        return {name: importlib.import_module(f"hloc.{name}") for name in HLOC_MODULES}
    except ImportError as error:
        raise InputError(
            f"hloc is not importable ({error}): install it (github.com/cvg/Hierarchical-Localization) to compare"
        ) from None


class StageClock:
    """Wall seconds per named stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


@dataclass(frozen=True)
class Dataset:
    """A folder written by `vloc prepare` (mapping.txt, query_list.txt, queries.txt, reference/, ground_truth.txt,
    dataset.json) and the folder of its images."""

    root: Path
    images: Path

    def names(self, kind: str) -> list[str]:
        """The image names of its list `kind`: mapping or query_list."""
        return read_image_list(self.root / f"{kind}.txt")


@dataclass(frozen=True)
class RunFiles:
    """The files one run of the protocol writes in its folder."""

    folder: Path
    features: Path
    pairs_mapping: Path
    pairs_query: Path
    matches_mapping: Path
    matches_query: Path
    model: Path
    results: Path

    @classmethod
    def in_folder(cls, folder: Path) -> RunFiles:
        names = ("feats.h5", "pairs-mapping.txt", "pairs-query.txt", "matches-mapping.h5", "matches-query.h5")
        return cls(folder, *(folder / name for name in names), folder / "model", folder / "results.txt")


def run_hloc(dataset: Dataset, files: RunFiles) -> dict[str, float]:
    """hloc's pipeline on the protocol; seconds per stage."""
    hloc, clock = import_hloc(), StageClock()
    mapping, queries = dataset.names("mapping"), dataset.names("query_list")
    with clock("extract"):
        hloc["extract_features"].main(
            hloc["extract_features"].confs["sift"],
            dataset.images,
            image_list=mapping + queries,
            feature_path=files.features,
        )
    with clock("pairs"):
        hloc["pairs_from_poses"].main(dataset.root / "reference", files.pairs_mapping, MAPPING_NEIGHBOURS)
        hloc["pairs_from_exhaustive"].main(files.pairs_query, image_list=queries, ref_list=mapping)
    nn_ratio = hloc["match_features"].confs["NN-ratio"]
    with clock("match mapping"):
        hloc["match_features"].main(nn_ratio, files.pairs_mapping, files.features, matches=files.matches_mapping)
    with clock("match query"):
        hloc["match_features"].main(nn_ratio, files.pairs_query, files.features, matches=files.matches_query)
    with clock("triangulate"):
        hloc["triangulation"].main(
            files.model,
            dataset.root / "reference",
            dataset.images,
            files.pairs_mapping,
            files.features,
            files.matches_mapping,
        )
    with clock("localize"):
        hloc["localize_sfm"].main(
            files.model,
            dataset.root / "queries.txt",
            files.pairs_query,
            files.features,
            files.matches_query,
            files.results,
        )
    restore_query_folders(files.results, queries)
    return clock.seconds


def restore_query_folders(results: Path, queries: list[str]) -> None:
    """hloc's localize_sfm writes each query by its file name alone (`night/0001.png` as `0001.png`): the names back."""
    by_file_name = {Path(name).name: name for name in queries}
    if len(by_file_name) < len(queries):
        raise InputError(
            f"{results}: two queries share a file name in different folders; hloc's results cannot tell them apart"
        )
    poses = read_poses(results)
    write_poses(results, {by_file_name.get(name, name): pose for name, pose in poses.items()})


def run_vloc(dataset: Dataset, files: RunFiles, features_preset: str) -> dict[str, float]:
    """vloc's stages on the protocol, with the local-feature preset given; seconds per stage."""
    clock = StageClock()
    mapping, queries = dataset.names("mapping"), dataset.names("query_list")
    image_list = files.folder / "images.txt"
    write_text_atomic(image_list, "\n".join(mapping + queries) + "\n")
    with clock("extract"):
        extract.main(extract.conf_by_name(features_preset), dataset.images, files.features, image_list)
    with clock("pairs"):
        reference = read_model(dataset.root / "reference")
        poses = {image.name: image.cam_from_world() for image in reference.images.values()}
        pairs.from_poses(poses, files.pairs_mapping, MAPPING_NEIGHBOURS)
        pairs.exhaustive(queries, files.pairs_query, mapping)
    nn_ratio = match_conf("nn-ratio")
    with clock("match mapping"):
        match.main(nn_ratio, files.pairs_mapping, files.features, files.matches_mapping)
    with clock("match query"):
        match.main(nn_ratio, files.pairs_query, files.features, files.matches_query)
    with clock("triangulate"):
        triangulation.main(
            triangulation.TriangulationConf(),
            dataset.root / "reference",
            dataset.images,
            files.pairs_mapping,
            files.features,
            files.matches_mapping,
            files.model,
        )
    with clock("localize"):
        inputs = LocalizationInputs(
            files.model, dataset.root / "queries.txt", files.pairs_query, files.features, files.matches_query
        )
        hierarchical.main(LocalizeConf(), inputs, files.results)
    return clock.seconds


def median_keypoints(features: Path) -> float:
    """Median keypoints per image of a features file (hloc's or vloc's layout)."""
    with FeatureReader(features) as reader:
        counts = [len(reader.group(name)["keypoints"]) for name in list_images(features)]
    return float(statistics.median(counts)) if counts else 0.0


def summarize(dataset: Dataset, runs: list[dict[str, float]], files: RunFiles) -> dict:
    """Median stage and total seconds of a tool's runs; accuracy, keypoints and query pairs/s of its last run."""
    stages = {stage: statistics.median(run.get(stage, 0.0) for run in runs) for stage in STAGES}
    setup = evaluation_setup(dataset.root / "dataset.json", [], None)
    report = evaluate_poses.main(files.results, dataset.root / "ground_truth.txt", setup)
    return {
        "median_stage_s": stages,
        "median_total_s": statistics.median(sum(run.values()) for run in runs),
        "accuracy": report["groups"]["all"],
        "keypoints_per_image": median_keypoints(files.features),
        "query_pairs_per_s": len(read_pairs(files.pairs_query)) / max(stages["match query"], 1e-9),
    }


def main(dataset: Dataset, out: Path, repeat: int, features_preset: str = "sift") -> dict:
    """Run hloc and vloc `repeat` times each, alternately; writes OUT/versus_hloc.json with medians and vloc / hloc.
    OUT must not hold an earlier comparison (nothing in it is replaced)."""
    if repeat < 1:
        raise ConfigError(f"--repeat {repeat}: at least one run of each tool")
    earlier = sorted(p.name for p in out.glob("*") if p.name == "versus_hloc.json" or p.name[:5] in ("hloc_", "vloc_"))
    if earlier:
        raise ConfigError(f"{out}: holds an earlier comparison ({', '.join(earlier[:3])}); choose another folder")
    import_hloc()  # before any work
    tools: dict[str, Callable[[Dataset, RunFiles], dict[str, float]]] = {
        "hloc": run_hloc,
        "vloc": lambda data, files: run_vloc(data, files, features_preset),
    }
    runs: dict[str, list[dict[str, float]]] = {tool: [] for tool in tools}
    for k in range(repeat):
        for tool in sorted(tools, reverse=k % 2 == 1):  # hloc first on even repetitions, vloc first on odd ones
            folder = out / f"{tool}_{k}"
            folder.mkdir(parents=True)
            runs[tool].append(tools[tool](dataset, RunFiles.in_folder(folder)))
    summary = {tool: summarize(dataset, runs[tool], RunFiles.in_folder(out / f"{tool}_{repeat - 1}")) for tool in tools}
    ratios = {
        stage: summary["vloc"]["median_stage_s"][stage] / max(summary["hloc"]["median_stage_s"][stage], 1e-9)
        for stage in STAGES
    }
    ratios["total"] = summary["vloc"]["median_total_s"] / max(summary["hloc"]["median_total_s"], 1e-9)
    report = {
        "dataset": str(dataset.root),
        "repeat": repeat,
        "vloc_features": features_preset,
        **summary,
        "vloc_over_hloc": ratios,
        "runs": runs,
    }
    write_text_atomic(out / "versus_hloc.json", json.dumps(report, indent=1))
    return report
