"""`vloc match features`: match the local features of every listed pair, optionally with geometric verification."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path

import h5py

from vloc.config import to_json
from vloc.console import progress_bar
from vloc.io.features import FeatureReader
from vloc.io.h5 import (
    Entries,
    atomic_writer,
    check_config,
    copy_entries,
    shards_of_config,
    stamp_config,
)
from vloc.io.instances import KeypointLabels
from vloc.io.matches import MatchReader, check_pair_keys, stored_keys, write_matches
from vloc.io.text import read_pairs
from vloc.matchers.pair_matcher import MatchConf, PairMatcher, check_descriptors, check_pairs
from vloc.parallel.executor import LOCAL, ExecutorConf, run_in_shards

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


class PairsMatcher:
    """The pair matcher over open features files, writing the matches of any list of pairs into an open matches file."""

    def __init__(self, conf: MatchConf, features: Path, features_ref: Path | None, labels: list[Path] | None):
        self.conf = conf
        self.files = contextlib.ExitStack()
        self.reader0 = self.files.enter_context(FeatureReader(features))
        self.reader1 = self.reader0 if features_ref is None else self.files.enter_context(FeatureReader(features_ref))
        label_source = self.files.enter_context(KeypointLabels(labels)) if labels else None
        self.matcher = PairMatcher(conf, self.reader0, self.reader1, label_source)
        self.inputs_json = json.dumps([reader.config_stamp() for reader in (self.reader0, self.reader1)])

    def close(self) -> None:
        self.files.close()

    def write(
        self, handle: h5py.File, path: Path, pairs: list[tuple[str, str]], advance: Callable[[int], None]
    ) -> None:
        """Match `pairs` into the open file `handle` of `path`, the pairs of one first image at a time."""
        stamp_config(handle, path, to_json(self.conf))
        stamp_config(handle, path, self.inputs_json, "inputs")
        by_first: dict[str, list[str]] = {}
        for name0, name1 in pairs:
            by_first.setdefault(name0, []).append(name1)
        for name0, names1 in by_first.items():
            for name1, matched in zip(names1, self.matcher(name0, names1)):
                write_matches(handle, name0, name1, *matched)
            advance(len(names1))

    def shard_writer(self) -> Callable[[list[tuple[str, str]], Path], None]:
        """A function matching a shard's pairs into a matches file of its own, for a Ray worker."""

        def match_shard(pairs: list[tuple[str, str]], path: Path) -> None:
            with atomic_writer(path, resume=False) as handle:
                self.write(handle, path, pairs, lambda _: None)

        return match_shard


def shard_worker(
    conf: MatchConf, features: Path, features_ref: Path | None, labels: list[Path] | None
) -> Callable[[list[tuple[str, str]], Path], None]:
    """In a Ray worker: the features files opened and the matcher built once, for every shard it is given."""
    return PairsMatcher(conf, features, features_ref, labels).shard_writer()


def unmatched(pairs: list[tuple[str, str]], files: list[Path]) -> list[tuple[str, str]]:
    """The pairs that none of the matches `files` holds (in either order)."""
    for path in files:
        with MatchReader(path) as existing:
            pairs = [pair for pair in pairs if pair not in existing]
    return pairs


def main(
    conf: MatchConf,
    pairs_path: Path,
    features: Path,
    out: Path,
    features_ref: Path | None = None,
    overwrite: bool = False,
    labels: list[Path] | None = None,
    executor: ExecutorConf = LOCAL,
) -> Path:
    """Match every pair of `pairs_path`; the second image's features come from `features_ref` if given.

    With `overwrite`, the pairs listed are matched again and the other pairs of `out` kept. Instance-wise matchers
    (nnml) read keypoint labels from `labels`: instance and recognitions files. With a Ray `executor`, the pairs are
    matched in shards by Ray workers.
    """
    pairs = pairs_to_match(pairs_path)
    check_pair_keys(pairs, pairs_path)
    matching = PairsMatcher(conf, features, features_ref, labels)
    try:
        check_pairs(pairs, pairs_path, matching.reader0, matching.reader1)
        check_descriptors(pairs, matching.reader0, matching.reader1, matching.matcher.matcher)
        todo = sorted(unmatched(pairs, [out] if out.exists() and not overwrite else []))
        redo = Entries("matches0", frozenset(k for pair in pairs for k, _ in stored_keys(*pair))) if overwrite else None
        if executor.is_ray:
            if not overwrite:
                check_config(out, to_json(conf))
                check_config(out, matching.inputs_json, "inputs")

            def pending(finished: list[Path]) -> list[tuple[str, str]]:
                return unmatched(todo, shards_of_config(finished, to_json(conf)))

            def merge(finished: list[Path]) -> None:
                with atomic_writer(out, resume=not overwrite, redo=redo) as handle:
                    stamp_config(handle, out, to_json(conf))
                    stamp_config(handle, out, matching.inputs_json, "inputs")
                    for path in finished:
                        copy_entries(path, handle, "matches0")

            worker = partial(shard_worker, conf, features, features_ref, labels)
            run_in_shards(out, pending, worker, merge, executor, "match")
            return out
        with atomic_writer(out, resume=not overwrite, redo=redo) as handle, progress_bar("match", len(todo)) as advance:
            matching.write(handle, out, todo, advance)
    finally:
        matching.close()
    return out
