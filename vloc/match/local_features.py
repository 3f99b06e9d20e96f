"""`vloc match features`: match the local features of every listed pair, optionally with geometric verification."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from vloc.config import to_json
from vloc.console import progress_bar
from vloc.io.features import FeatureReader
from vloc.io.h5 import Entries, atomic_writer, stamp_config
from vloc.io.instances import KeypointLabels
from vloc.io.matches import MatchReader, check_pair_keys, stored_keys, write_matches
from vloc.io.text import read_pairs
from vloc.matchers.pair_matcher import MatchConf, PairMatcher, check_descriptor_sizes, check_pairs

logger = logging.getLogger(__name__)


def pairs_to_match(pairs_path: Path) -> list[tuple[str, str]]:
    """The pairs of a pairs file, each once: self pairs are skipped with a warning, and a pair listed in both orders
    is matched once, in the order listed first (readers find it either way)."""
    pairs = read_pairs(pairs_path)
    self_pairs = sorted({name0 for name0, name1 in pairs if name0 == name1})
    if self_pairs:
        logger.warning("%s: %d self pair(s) skipped, e.g. '%s' with itself", pairs_path, len(self_pairs), self_pairs[0])
    unique: dict[frozenset[str], tuple[str, str]] = {}
    for name0, name1 in pairs:
        if name0 != name1:
            unique.setdefault(frozenset((name0, name1)), (name0, name1))
    return list(unique.values())


def main(
    conf: MatchConf,
    pairs_path: Path,
    features: Path,
    out: Path,
    features_ref: Path | None = None,
    overwrite: bool = False,
    labels: list[Path] | None = None,
) -> Path:
    """Match every pair of `pairs_path`; the second image's features come from `features_ref` if given.

    With `overwrite`, the pairs listed are matched again and the other pairs of `out` kept. Instance-wise matchers
    (nnml) read keypoint labels from `labels`: instance and recognitions files.
    """
    pairs = pairs_to_match(pairs_path)
    check_pair_keys(pairs, pairs_path)
    with contextlib.ExitStack() as stack:
        reader0 = stack.enter_context(FeatureReader(features))
        reader1 = reader0 if features_ref is None else stack.enter_context(FeatureReader(features_ref))
        label_source = stack.enter_context(KeypointLabels(labels)) if labels else None
        matcher = PairMatcher(conf, reader0, reader1, label_source)
        check_pairs(pairs, pairs_path, reader0, reader1)
        check_descriptor_sizes(pairs, reader0, reader1)
        done: set[tuple[str, str]] = set()
        if out.exists() and not overwrite:
            with MatchReader(out) as existing:
                done = {p for p in pairs if p in existing}
        todo = sorted(p for p in pairs if p not in done)
        by_first: dict[str, list[str]] = {}
        for name0, name1 in todo:
            by_first.setdefault(name0, []).append(name1)
        redo = Entries("matches0", frozenset(k for pair in pairs for k, _ in stored_keys(*pair))) if overwrite else None
        with atomic_writer(out, resume=not overwrite, redo=redo) as handle, progress_bar("match", len(todo)) as advance:
            stamp_config(handle, out, to_json(conf))
            for name0, names1 in by_first.items():
                for name1, matched in zip(names1, matcher(name0, names1)):
                    write_matches(handle, name0, name1, *matched)
                advance(len(names1))
    return out
