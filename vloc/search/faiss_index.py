"""Nearest-neighbour search over global descriptors with faiss: exact for small databases, an inverted file (IVF) or
an HNSW graph above a size threshold; built once and saved beside the descriptors."""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vloc.errors import ConfigError, FormatError
from vloc.io.atomic import atomic_path
from vloc.io.text import write_text_atomic

logger = logging.getLogger(__name__)

INDEX_KINDS = ("auto", "exact", "ivf", "hnsw")
FAISS_EXTRA = 'faiss is not installed: pip install -e ".[scale]" (or pip install faiss-cpu) to use --index {kind}'


class SearchIndex(Protocol):
    """A searchable index of database descriptors (exact DescriptorIndex or FaissIndex)."""

    def search(
        self, queries: np.ndarray, k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class IndexConf:
    """How the database descriptors are searched: `exact`, `ivf` or `hnsw`; `auto` is exact below `approximate_from`
    database images and IVF from there on. An approximate index searches as little as reaches `target_recall`."""

    kind: str = "auto"
    approximate_from: int = 100_000
    target_recall: float = 0.95  # recall@k against exact search that the search effort is raised to reach
    recall_queries: int = 500  # queries on which that recall is measured
    nlist: int = 0  # IVF: inverted lists; 0: about 4 sqrt(N)
    ivf_codes: str = "sq8"  # IVF: vectors stored as 8-bit scalar codes (sq8, a quarter of the memory) or float (flat)
    nprobe: int = 0  # IVF: lists visited per query; 0: the fewest (a power of two) reaching target_recall
    hnsw_neighbors: int = 32  # HNSW: links per node (M)
    ef_search: int = 0  # HNSW: candidates kept while searching; 0: the fewest (a power of two) reaching target_recall

    def __post_init__(self) -> None:
        if self.kind not in INDEX_KINDS:
            raise ConfigError(f"unknown index '{self.kind}'; choose one of {', '.join(INDEX_KINDS)}")
        if self.ivf_codes not in ("sq8", "flat"):
            raise ConfigError(f"ivf_codes must be sq8 or flat, got '{self.ivf_codes}'")
        if not 0 < self.target_recall <= 1:
            raise ConfigError(f"target_recall must be in (0, 1], got {self.target_recall}")

    def kind_for(self, size: int) -> str:
        """The kind of index a database of `size` descriptors gets."""
        if self.kind != "auto":
            return self.kind
        return "exact" if size < self.approximate_from else "ivf"

    def num_lists(self, size: int) -> int:
        return self.nlist or max(1, min(size // 39, round(4 * math.sqrt(size))))  # faiss wants >= 39 points per list


EXACT_BELOW_100K = IndexConf()


def import_faiss(kind: str) -> Any:
    """The faiss module, or a one-line error naming the extra to install."""
    try:
        import faiss
    except ImportError:
        raise ConfigError(FAISS_EXTRA.format(kind=kind)) from None
    return faiss


def recall_per_query(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """For each query, the share of its true neighbours (truth, (Q, k) indices) among those found."""
    return np.array([len(set(t) & set(f)) / len(t) for f, t in zip(found, truth)])


def normalized(descriptors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (cosine similarity becomes the inner product), as contiguous float32."""
    descriptors = np.ascontiguousarray(descriptors, np.float32)
    norms = np.linalg.norm(descriptors, axis=1, keepdims=True)
    return descriptors / np.maximum(norms, 1e-12)


class FaissIndex:
    """Cosine-similarity search with faiss over L2-normalised database rows; `search` has DescriptorIndex's contract."""

    def __init__(self, index: Any, kind: str, conf: IndexConf):
        self.index, self.kind, self.conf = index, kind, conf
        self.faiss = import_faiss(kind)
        fixed_effort = conf.nprobe if kind == "ivf" else conf.ef_search if kind == "hnsw" else 0
        if fixed_effort:
            self.effort = fixed_effort

    @property
    def effort(self) -> int:
        """How much a search visits: IVF lists probed, or HNSW candidates kept (0 for exact search)."""
        if self.kind == "ivf":
            return self.index.nprobe
        return self.index.hnsw.efSearch if self.kind == "hnsw" else 0

    @effort.setter
    def effort(self, value: int) -> None:
        if self.kind == "ivf":
            self.index.nprobe = value
        elif self.kind == "hnsw":
            self.index.hnsw.efSearch = value

    @classmethod
    def build(cls, descriptors: np.ndarray, conf: IndexConf, seed: int = 0) -> FaissIndex:
        """Index `descriptors` (N, D) with the kind of index `conf` gives N; IVF lists are learnt by k-means."""
        if descriptors.ndim != 2:
            raise FormatError(f"database descriptors must be an (N, D) array, got shape {descriptors.shape}")
        size, dim = descriptors.shape
        kind = conf.kind_for(size)
        faiss = import_faiss(kind)
        database = normalized(descriptors)
        if kind == "exact":
            index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, conf.hnsw_neighbors, faiss.METRIC_INNER_PRODUCT)
        else:
            nlist = conf.num_lists(size)
            quantizer, metric = faiss.IndexFlatIP(dim), faiss.METRIC_INNER_PRODUCT
            if conf.ivf_codes == "sq8":
                codes = faiss.ScalarQuantizer.QT_8bit
                index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, codes, metric)
            else:
                index = faiss.IndexIVFFlat(quantizer, dim, nlist, metric)
            sample = np.random.default_rng(seed).permutation(size)[: 64 * nlist]  # k-means on 64 points per list
            index.cp.seed = seed
            index.train(database[np.sort(sample)])
        index.add(database)
        return cls(index, kind, conf)

    def __len__(self) -> int:
        return self.index.ntotal

    def search(self, queries: np.ndarray, k: int, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k most similar database rows of each query: scores (Q, k) float32 and indices (Q, k) int64, best first;
        (query row, database row) pairs of `exclude` are never returned, and empty slots have score -inf, index -1."""
        queries = normalized(queries)
        if queries.shape[1] != self.index.d:
            raise FormatError(f"query descriptors have dimension {queries.shape[1]}, the database has {self.index.d}")
        k = min(k, len(self))
        excluded: dict[int, set[int]] = {}
        for query, row in np.asarray(exclude if exclude is not None else [], np.int64).reshape(-1, 2):
            excluded.setdefault(int(query), set()).add(int(row))
        extra = max((len(rows) for rows in excluded.values()), default=0)
        found_scores, found_indices = self.index.search(queries, min(k + extra, len(self)))
        if excluded:
            for query, rows in excluded.items():
                dropped = np.isin(found_indices[query], list(rows))
                order = np.argsort(dropped, kind="stable")  # excluded rows to the end, the others in rank order
                found_indices[query] = np.where(np.sort(dropped), -1, found_indices[query][order])
                found_scores[query] = found_scores[query][order]
        scores, indices = found_scores[:, :k].copy(), found_indices[:, :k].copy()
        scores[indices < 0] = -np.inf
        return scores, indices

    def tune(self, queries: np.ndarray, database: np.ndarray, k: int) -> float:
        """Set the search effort to the least (doubling from the least, then bisecting; the configured one when fixed)
        whose recall@k against exact search reaches the target with 95% confidence on `queries`: the mean recall less
        1.645 standard errors, since the least effort that merely reaches it on a sample falls short on other queries.
        Returns the mean recall at that effort."""
        exact = self.faiss.IndexFlatIP(database.shape[1])
        exact.add(normalized(database))
        _, truth = exact.search(normalized(queries), k)
        recalls: dict[int, float] = {}

        def reaches_target(effort: int) -> bool:
            self.effort = effort
            _, found = self.search(queries, k)
            per_query = recall_per_query(found, truth)
            recalls[effort] = float(per_query.mean())
            standard_error = per_query.std() / np.sqrt(len(per_query))
            return recalls[effort] - 1.645 * standard_error >= self.conf.target_recall

        efforts = self.efforts(k)
        failed, passed = None, efforts[-1]
        for effort in efforts:
            if reaches_target(effort):
                passed = effort
                break
            failed = effort
        while failed is not None and passed - failed > 1:  # bisect between the last effort short and the first reaching
            middle = (failed + passed) // 2
            failed, passed = (failed, middle) if reaches_target(middle) else (middle, passed)
        self.effort = passed
        return recalls[passed]

    def efforts(self, k: int) -> list[int]:
        """The search efforts `tune` tries first, in order: the configured one, else doublings up to a full search."""
        fixed = {"ivf": self.conf.nprobe, "hnsw": self.conf.ef_search}.get(self.kind, 0)
        if fixed or self.kind == "exact":
            return [fixed]
        effort, limit = (1, self.index.nlist) if self.kind == "ivf" else (k, max(len(self), k))
        efforts = []
        while effort < limit:
            efforts.append(effort)
            effort *= 2
        return [*efforts, limit]

    def save(self, path: Path, record: dict) -> None:
        """Write the index to `path` and, beside it, `record` (what it indexes, how well it searches) with its kind,
        configuration and search effort."""
        with atomic_path(path) as temporary:
            self.faiss.write_index(self.index, str(temporary))
        saved = {"kind": self.kind, "conf": asdict(self.conf), "effort": self.effort, **record}
        write_text_atomic(sidecar(path), json.dumps(saved, indent=1))

    @classmethod
    def load(cls, path: Path, fingerprint: dict, conf: IndexConf) -> FaissIndex | None:
        """The index saved at `path` if it indexes the descriptors `fingerprint` describes with this `conf`."""
        if not path.exists() or not sidecar(path).exists():
            return None
        saved = json.loads(sidecar(path).read_text())
        if saved.get("conf") != asdict(conf) or any(saved.get(key) != value for key, value in fingerprint.items()):
            return None
        index = cls(import_faiss(saved["kind"]).read_index(str(path)), saved["kind"], conf)
        index.effort = saved["effort"]
        return index


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def database_index(
    database: np.ndarray, db_path: Path, db_names: list[str], conf: IndexConf, queries: np.ndarray, k: int
) -> FaissIndex | None:
    """The approximate index `conf` gives the database descriptors `database` (of `db_names`, read from `db_path`), or
    None for exact search. It is loaded from beside `db_path` when saved there for the same descriptors, else built and
    saved; its recall@k against exact search, on some of `queries`, is logged and kept in its sidecar file."""
    kind = conf.kind_for(len(database))
    if kind == "exact":
        return None
    stat = db_path.stat()
    fingerprint = {
        "descriptors": str(db_path.resolve()),
        "size_bytes": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "names": hashlib.sha256("\n".join(db_names).encode()).hexdigest(),
        "k": k,
    }
    path = db_path.with_name(f"{db_path.name}.{kind}.faiss")
    index = FaissIndex.load(path, fingerprint, conf)
    if index is None:
        index = FaissIndex.build(database, conf)
        sample = queries[np.random.default_rng(0).permutation(len(queries))[: conf.recall_queries]]
        recall = index.tune(sample, database, k)
        index.save(path, {**fingerprint, "recall": recall, "recall_queries": len(sample)})
        logger.info(
            "%s index of %d descriptors (search effort %d) saved to %s; recall@%d against exact search %.3f on %d "
            "queries",
            kind,
            len(database),
            index.effort,
            path,
            k,
            recall,
            len(sample),
        )
    return index
