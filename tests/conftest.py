"""Shared test fixtures."""

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest-xdist runs one worker per core: torch, OpenBLAS and MKL compute on one thread in each (and in the recipes'
    # `vloc` processes), as threads beyond the cores wait on each other in every parallel region. OpenCV and pycolmap
    # keep their own thread counts.
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"

from pathlib import Path

import pytest

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
    map_dir = tmp_path_factory.mktemp("map") / "sacre_coeur"
    result = CliRunner().invoke(app, ["map", str(images), str(map_dir)])
    assert result.exit_code == 0, result.output
    return images, map_dir, result.output


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

    out = tmp_path_factory.mktemp("synthetic_map")
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

    out = tmp_path_factory.mktemp("lbr")
    root, images = synthetic_map["root"], synthetic_map["images"]
    instances = renderer_instances(synthetic_map["model"], synthetic_map["scene"], out / "instances.h5")
    queries = read_image_list(root / "query_list.txt")
    recognitions = recognize.main(
        recognize.conf_by_name("vote"), instances, queries, images, synthetic_map["features"], out / "recognitions.h5"
    )
    vlad = extract_global.conf_by_name("vlad")
    db_global = extract_global.main(vlad, images, out / "global-db.h5", root / "mapping.txt")
    vlad = extract_global.conf_by_name("vlad")
    query_global = extract_global.main(
        extract_global.GlobalConf(
            "vlad",
            type(vlad.model)(**{**vars(vlad.model), "vocabulary": str(out / "global-db.vocab.npz")}),
            vlad.preprocessing,
        ),
        images,
        out / "global-queries.h5",
        root / "query_list.txt",
    )
    pairs_path = pairs.instance_groups(
        recognitions, instances, query_global, db_global, out / "pairs-instances.txt", max_pairs=6
    )
    return {
        **synthetic_map,
        "out": out,
        "instances": instances,
        "recognitions": recognitions,
        "pairs_instances": pairs_path,
    }


@pytest.fixture(scope="session")
def keypoint_scene(tmp_path_factory) -> tuple:
    """A small synthetic scene by day and night: its frame pairs (SyntheticPairs), the SIFT features of all its images,
    and its folder."""
    from vloc.extract import local_features as extract
    from vloc.synth import SynthConfig
    from vloc.synth import main as synthesize
    from vloc.train.data import PairsConf, SyntheticPairs

    out = tmp_path_factory.mktemp("keypoint_scene")
    synthesize(SynthConfig(num_cameras=8, conditions=("day", "night"), seed=3), out / "scene")
    features = extract.main(extract.conf_by_name("sift"), out / "scene" / "images", out / "feats.h5")
    return SyntheticPairs(out / "scene", PairsConf()), features, out / "scene"


@pytest.fixture(scope="session")
def scr_scene(tmp_path_factory) -> Path:
    """A tiny vloc synth scene (3 frames of 164x124, day and night) for scene coordinate regression."""
    from vloc.synth import SynthConfig
    from vloc.synth import main as synthesize

    conf = SynthConfig(num_cameras=3, width=164, height=124, focal=125.0, conditions=("day", "night"), seed=4)
    return synthesize(conf, tmp_path_factory.mktemp("scr") / "scene")


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
    out = tmp_path_factory.mktemp("scr_run")
    scr.main(conf, frames, frames, out)
    return out
