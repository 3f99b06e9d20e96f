"""Shared test fixtures."""

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest-xdist runs one worker per core: torch, OpenBLAS, MKL and OpenCV compute on one thread in each (and in the
    # recipes' `vloc` processes), as threads beyond the cores wait on each other in every parallel region (two SIFT
    # extractions at once: 9.6 s with OpenCV's two threads each, 6.6-8.7 s with one; same features). pycolmap keeps its
    # own thread count.
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENCV_FOR_THREADS_NUM"):
        os.environ[variable] = "1"

from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
from helpers import build_once

from vloc.matchers.pair_matcher import conf_by_name as match_conf

# Units of work for pytest-xdist: a test module (its module-scoped fixtures run once), or one split of a module whose
# recipe fixtures are parametrized by split, so that the two 7-Scenes splits run at once.
SPLIT_MODULES = {"tests/pipelines/test_7scenes.py": ("easy", "hard")}


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: the suite also runs in one process without it
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Tests in collection order (the recipes first), distributed by module, the 7-Scenes recipes by split."""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module, _, test = nodeid.partition("::")
            parameters = test.partition("[")[2].rstrip("]").split("-")
            splits = [split for split in SPLIT_MODULES.get(module, ()) if split in parameters]
            return f"{module}[{splits[0]}]" if splits else module

    config.option.loadscopereorder = False
    return ModuleScheduling(config, log)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The datasets folder `<x>/shared/data` beside the repository `<x>/main`; skips the test if absent."""
    path = Path(__file__).parents[1].parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"shared datasets not found at {path}")
    return path


@pytest.fixture(scope="session")
def sacre_coeur_map(shared_data: Path, tmp_path_factory) -> tuple[Path, Path, str]:
    """`vloc map` of the 10 Sacre Coeur photos with the defaults (about 40 s on 2 free cores): folder, map, output."""
    from typer.testing import CliRunner

    from vloc.cli import app

    images = shared_data / "hloc_sacre_coeur" / "mapping"

    def build(folder: Path) -> None:
        result = CliRunner().invoke(app, ["map", str(images), str(folder / "sacre_coeur")])
        assert result.exit_code == 0, result.output
        (folder / "output.txt").write_text(result.output)

    folder = build_once(tmp_path_factory, "sacre_coeur_map", build)
    return images, folder / "sacre_coeur", (folder / "output.txt").read_text()


@pytest.fixture(scope="session")
def benchmark_scene(tmp_path_factory) -> Path:
    """A small synthetic street (12 cameras, 480x360, day and night, with geometry maps) from which the benchmark
    recipes' tests build fake copies of each dataset's published layout."""
    from vloc.synth import SynthConfig
    from vloc.synth import main as synthesize

    conf = SynthConfig(num_cameras=12, width=480, height=360, focal=375.0, conditions=("day", "night"), seed=5)
    return build_once(tmp_path_factory, "benchmark_scene", lambda out: synthesize(conf, out / "scene")) / "scene"


@pytest.fixture(scope="session")
def synthetic_map(tmp_path_factory) -> dict[str, Path]:
    """A small synthetic scene mapped with vloc's stages: day images triangulated, night queries matched to them."""
    from vloc import datasets, pairs
    from vloc.extract import local_features as extract
    from vloc.io.text import read_image_list
    from vloc.mapping import triangulation
    from vloc.match import local_features as match
    from vloc.synth import SynthConfig
    from vloc.synth import main as synthesize

    def build(out: Path) -> None:
        synthesize(SynthConfig(num_cameras=24, conditions=("day", "night"), seed=3), out / "scene")
        datasets.prepare(datasets.Synthetic(out / "scene", "night"), out)
        images = out / "scene" / "images"
        names = read_image_list(out / "mapping.txt") + read_image_list(out / "query_list.txt")
        (out / "all.txt").write_text("\n".join(names) + "\n")
        features = extract.main(extract.conf_by_name("sift"), images, out / "feats.h5", out / "all.txt")
        pairs.exhaustive(read_image_list(out / "mapping.txt"), out / "pairs-mapping.txt")
        pairs.exhaustive(
            read_image_list(out / "query_list.txt"), out / "pairs-query.txt", read_image_list(out / "mapping.txt")
        )
        nn = match_conf("nn-ratio")
        match.main(nn, out / "pairs-mapping.txt", features, out / "matches-mapping.h5")
        match.main(nn, out / "pairs-query.txt", features, out / "matches-query.h5")
        triangulation.main(
            triangulation.TriangulationConf(),
            out / "reference",
            images,
            out / "pairs-mapping.txt",
            features,
            out / "matches-mapping.h5",
            out / "model",
        )

    out = build_once(tmp_path_factory, "synthetic_map", build)
    images, features = out / "scene" / "images", out / "feats.h5"
    return {
        "root": out,
        "images": images,
        "scene": out / "scene",
        "features": features,
        "model": out / "model",
        "queries": out / "queries.txt",
        "pairs_query": out / "pairs-query.txt",
        "matches_query": out / "matches-query.h5",
        "ground_truth": out / "ground_truth.txt",
        "reference": out / "reference",
        "pairs_mapping": out / "pairs-mapping.txt",
        "matches_mapping": out / "matches-mapping.h5",
    }


@pytest.fixture(scope="session")
def lbr_inputs(synthetic_map: dict[str, Path], tmp_path_factory) -> dict[str, Path]:
    """Renderer instance labels of the day map, vote recognitions of the night queries,
    VLAD groups of at most 6 images."""
    from helpers import renderer_instances

    from vloc import pairs
    from vloc.extract import global_features as extract_global
    from vloc.io.text import read_image_list
    from vloc.recognize import queries as recognize

    root, images = synthetic_map["root"], synthetic_map["images"]

    def build(out: Path) -> None:
        instances = renderer_instances(synthetic_map["model"], synthetic_map["scene"], out / "instances.h5")
        queries = read_image_list(root / "query_list.txt")
        recognize.main(
            recognize.conf_by_name("vote"),
            instances,
            queries,
            images,
            synthetic_map["features"],
            out / "recognitions.h5",
        )
        vlad = extract_global.conf_by_name("vlad")
        vlad_of = partial(extract_global.main, image_root=images, local_features=synthetic_map["features"])
        db_global = vlad_of(vlad, out=out / "global-db.h5", image_list=root / "mapping.txt")
        vocabulary = replace(vlad.model, vocabulary=str(out / "global-db.vocab.npz"))
        query_global = vlad_of(
            replace(vlad, model=vocabulary), out=out / "global-queries.h5", image_list=root / "query_list.txt"
        )
        pairs.instance_groups(
            out / "recognitions.h5", instances, query_global, db_global, out / "pairs-instances.txt", max_pairs=6
        )

    out = build_once(tmp_path_factory, "lbr_inputs", build)
    return {
        **synthetic_map,
        "out": out,
        "instances": out / "instances.h5",
        "recognitions": out / "recognitions.h5",
        "pairs_instances": out / "pairs-instances.txt",
    }


@pytest.fixture(scope="session")
def keypoint_scene(tmp_path_factory) -> tuple:
    """A small synthetic scene by day and night: its frame pairs (SyntheticPairs), the SIFT features of all its images,
    and its folder."""
    from vloc.extract import local_features as extract
    from vloc.synth import SynthConfig
    from vloc.synth import main as synthesize
    from vloc.train.data import PairsConf, SyntheticPairs

    def build(out: Path) -> None:
        synthesize(SynthConfig(num_cameras=8, conditions=("day", "night"), seed=3), out / "scene")
        extract.main(extract.conf_by_name("sift"), out / "scene" / "images", out / "feats.h5")

    out = build_once(tmp_path_factory, "keypoint_scene", build)
    return SyntheticPairs(out / "scene", PairsConf()), out / "feats.h5", out / "scene"


@pytest.fixture(scope="session")
def scr_scene(tmp_path_factory) -> Path:
    """A tiny vloc synth scene (3 frames of 164x124, day and night) for scene coordinate regression."""
    from vloc.synth import SynthConfig
    from vloc.synth import main as synthesize

    conf = SynthConfig(num_cameras=3, width=164, height=124, focal=125.0, conditions=("day", "night"), seed=4)
    return build_once(tmp_path_factory, "scr_scene", lambda out: synthesize(conf, out / "scene")) / "scene"


@pytest.fixture(scope="session")
def scr_run(scr_scene: Path, tmp_path_factory) -> Path:
    """A tiny coordinate network trained on the day frames of `scr_scene` (300 full-batch steps): the run's folder."""
    from vloc.models.scr import SCRConf
    from vloc.train import scr
    from vloc.train.scr_data import synthetic_frames
    from vloc.train.scr_losses import CoordinateLossConf

    frames = synthetic_frames(scr_scene, "day")
    tiny = SCRConf(widths=(8, 16, 16, 32), channels=32, extra_blocks=1, groups=4)
    plain = CoordinateLossConf(uncertainty=False)  # the 3D error itself: faster to learn in a short run
    conf = scr.TrainSCRConf(
        model=tiny, loss=plain, epochs=300, batch_frames=3, learning_rate=1e-3, validation_interval=150, augment=False
    )
    return build_once(tmp_path_factory, "scr_run", lambda out: scr.main(conf, frames, frames, out))
