"""Speed and memory of the foundations: extraction (and its overhead outside the extractor), matching, and exact
retrieval search at growing database sizes."""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch

from vloc import pairs
from vloc.config import override
from vloc.extract import local_features as extract
from vloc.extract.local_features import ExtractConf
from vloc.extractors import EXTRACTORS
from vloc.global_descriptors.index import DescriptorIndex
from vloc.io.atomic import atomic_path
from vloc.io.features import FeatureReader
from vloc.io.images import list_image_names, load_for_extraction
from vloc.io.text import read_pairs
from vloc.match import local_features as match
from vloc.matchers.pair_matcher import MatchConf, conf_by_name


def profile_extraction(conf: ExtractConf, image_root: Path, names: list[str], repeat: int) -> dict:
    """Seconds of `extract.main` on `names` against the extractor calls alone on the same preprocessed images."""
    extractor_class = EXTRACTORS.get(conf.extractor)
    extractor = extractor_class(conf.model)
    totals, pure = [], []
    loaded = [load_for_extraction(image_root / n, extractor_class.grayscale, conf.preprocessing)[0] for n in names]
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as work:
            list_file = Path(work) / "list.txt"
            list_file.write_text("\n".join(names) + "\n")
            start = time.perf_counter()
            extract.main(conf, image_root, Path(work) / "feats.h5", list_file)
            totals.append(time.perf_counter() - start)
        start = time.perf_counter()
        for image in loaded:
            extractor(image)
        pure.append(time.perf_counter() - start)
    total, extractor_only = statistics.median(totals), statistics.median(pure)
    return {
        "images": len(names),
        "total_s": total,
        "extractor_s": extractor_only,
        "images_per_s": len(names) / total,
        "overhead_fraction": max(total - extractor_only, 0.0) / total,
    }


def profile_foundation(conf: ExtractConf, image_root: Path, repeat: int, match_preset: str | None = None) -> dict:
    """Extraction profile of every image below `image_root`, and matching profile of all their pairs with the
    matcher preset `match_preset` (default: hamming for ORB, nn-ratio otherwise)."""
    names = list_image_names(image_root)
    report = {"extract": profile_extraction(conf, image_root, names, repeat)}
    match_preset = match_preset or ("hamming" if conf.extractor == "orb" else "nn-ratio")
    with tempfile.TemporaryDirectory() as work:
        features = extract.main(conf, image_root, Path(work) / "feats.h5")
        pairs_path = pairs.exhaustive(names, Path(work) / "pairs.txt")
        report["match"] = {"preset": match_preset}
        report["match"] |= profile_matching(conf_by_name(match_preset), pairs_path, features, repeat)
    return report


def profile_matching(conf: MatchConf, pairs_path: Path, features: Path, repeat: int) -> dict:
    """Pairs per second of `match.main` over a pairs file."""
    num_pairs = len(read_pairs(pairs_path))
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as work:
            start = time.perf_counter()
            match.main(conf, pairs_path, features, Path(work) / "matches.h5")
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {"pairs": num_pairs, "seconds": seconds, "pairs_per_s": num_pairs / seconds}


def profile_matchers_at_sizes(
    conf: ExtractConf, image_root: Path, match_presets: list[str], sizes: list[int], num_pairs: int, repeat: int
) -> dict:
    """Pairs/s of each matcher preset on features capped at each keypoint count in `sizes` (detection threshold
    lowered so that every image reaches the cap), over `num_pairs` neighbouring images (names in order: overlapping
    views, where adaptive depth behaves as in use), with the growth of the peak resident memory."""
    names = list_image_names(image_root)[: num_pairs + 1]
    results = []
    with tempfile.TemporaryDirectory() as work:
        pairs_path = Path(work) / "pairs.txt"
        pairs_path.write_text("".join(f"{a} {b}\n" for a, b in zip(names, names[1:])))
        list_file = Path(work) / "list.txt"
        list_file.write_text("\n".join(names) + "\n")
        for size in sizes:
            features = extract.main(capped(conf, size), image_root, Path(work) / f"feats-{size}.h5", list_file)
            with FeatureReader(features) as reader:
                extracted = statistics.median(len(reader.keypoints(name)) for name in names)
            for preset in match_presets:
                rss_start = _max_rss_bytes()
                profile = profile_matching(conf_by_name(preset), pairs_path, features, repeat)
                results.append(
                    {
                        "keypoints": size,
                        "median_keypoints": extracted,
                        "preset": preset,
                        **profile,
                        "peak_rss_growth_bytes": _max_rss_bytes() - rss_start,
                    }
                )
    return {"extractor": conf.extractor, "threads": torch.get_num_threads(), "results": results}


def capped(conf: ExtractConf, size: int) -> ExtractConf:
    """`conf` extracting `size` keypoints per image: the cap set, and the detection threshold lowered to the
    weakest responses (SIFT's contrast threshold, the learned extractors' score threshold)."""
    threshold = "contrast_threshold=0.001" if hasattr(conf.model, "contrast_threshold") else "detection_threshold=0"
    return override(conf, [f"max_keypoints={size}", threshold])


def _max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def random_unit_descriptors(num: int, dim: int, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    """`num` random unit vectors, drawn in blocks so float16 storage never exists in float32 as a whole."""
    generator = torch.Generator().manual_seed(seed)
    out = torch.empty((num, dim), dtype=dtype)
    rows = max(1, 2**22 // dim)
    for start in range(0, num, rows):
        block = torch.randn((min(rows, num - start), dim), generator=generator)
        out[start : start + rows] = torch.nn.functional.normalize(block, dim=1).to(dtype)
    return out


def profile_retrieval(sizes: list[int], dim: int, repeat: int, k: int = 10, float16_from: int = 1_000_000) -> dict:
    """Median seconds of one query's top-k search against N random unit descriptors, for each N in `sizes`.

    Databases of `float16_from` images or more are stored as float16. Memory: the index's bytes, and the growth of
    the process's peak resident size while building it and while searching (peaks only grow: sizes ascend).
    """
    results = []
    for num in sorted(sizes):
        dtype = torch.float16 if num >= float16_from else torch.float32
        rss_start = _max_rss_bytes()
        index = DescriptorIndex(random_unit_descriptors(num, dim, dtype), dtype=dtype)
        rss_built = _max_rss_bytes()
        query = random_unit_descriptors(1, dim, torch.float32, seed=1)
        index.search(query, k)  # warm-up
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            index.search(query, k)
            times.append(time.perf_counter() - start)
        results.append(
            {
                "num_db": num,
                "dtype": str(dtype).removeprefix("torch."),
                "median_query_s": statistics.median(times),
                "min_query_s": min(times),
                "index_bytes": index.nbytes,
                "peak_rss_growth_build_bytes": rss_built - rss_start,
                "peak_rss_growth_search_bytes": _max_rss_bytes() - rss_built,
            }
        )
        del index
    return {"dim": dim, "k": k, "repeat": repeat, "threads": torch.get_num_threads(), "sizes": results}


def plot_retrieval_profile(report: dict, path: Path) -> None:
    """Query time against database size on log-log axes, with a line proportional to N through the largest size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["num_db"] for r in report["sizes"]]
    milliseconds = [1000 * r["median_query_s"] for r in report["sizes"]]
    figure, axis = plt.subplots(figsize=(5, 4))
    axis.loglog(sizes, milliseconds, "o-", label=f"exact search, D={report['dim']}")
    axis.loglog(sizes, [milliseconds[-1] * n / sizes[-1] for n in sizes], "--", color="gray", label="linear in N")
    axis.set_xlabel("database images N")
    axis.set_ylabel("one query (ms, median)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, format="png")  # the format is explicit: the temporary name ends in .tmp
    plt.close(figure)
