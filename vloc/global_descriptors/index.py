"""Nearest-neighbour search over global descriptors: exact inner product on L2-normalised vectors, in torch."""

from __future__ import annotations

import numpy as np
import torch

from vloc.errors import FormatError


def _as_tensor(array: np.ndarray | torch.Tensor) -> torch.Tensor:
    return array if isinstance(array, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(array))


class DescriptorIndex:
    """Exact cosine-similarity search: database rows are L2-normalised once and stored as float32 or float16.

    Queries are answered in blocks whose (block, N) score matrix stays under `max_block_bytes`, so memory is
    bounded whatever the number of queries. Scores of float16 storage are accurate to about 1e-3.
    """

    def __init__(
        self,
        descriptors: np.ndarray | torch.Tensor,
        dtype: torch.dtype = torch.float32,
        max_block_bytes: int = 256 * 2**20,
    ):
        descriptors = _as_tensor(descriptors)
        if descriptors.ndim != 2:
            raise FormatError(f"database descriptors must be an (N, D) array, got shape {tuple(descriptors.shape)}")
        if dtype not in (torch.float32, torch.float16):
            raise ValueError(f"storage dtype must be float32 or float16, not {dtype}")
        self.dtype = dtype
        self.max_block_bytes = max_block_bytes
        # normalised block by block, so a float16 database never exists as a whole in float32
        self.descriptors = torch.empty(descriptors.shape, dtype=dtype)
        rows = max(1, 2**24 // max(descriptors.shape[1], 1))
        for start in range(0, len(descriptors), rows):
            block = descriptors[start : start + rows].float()
            self.descriptors[start : start + rows] = torch.nn.functional.normalize(block, dim=1).to(dtype)

    def __len__(self) -> int:
        return self.descriptors.shape[0]

    @property
    def dim(self) -> int:
        return self.descriptors.shape[1]

    @property
    def nbytes(self) -> int:
        return self.descriptors.element_size() * self.descriptors.nelement()

    def search(
        self, queries: np.ndarray | torch.Tensor, k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k most similar database rows of each query: scores (Q, k) float32 and indices (Q, k) int64, best first.

        `exclude` is an (E, 2) array of (query row, database row) pairs never returned (e.g. self-matches).
        k is clamped to the database size; slots left without a match (all excluded) have score -inf and index -1.
        """
        queries = _as_tensor(queries)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise FormatError(
                f"query descriptors have dimension {queries.shape[-1] if queries.ndim else 0}, "
                f"the database has {self.dim}"
            )
        num_queries, k = queries.shape[0], min(k, len(self))
        scores = np.full((num_queries, k), -np.inf, np.float32)
        indices = np.full((num_queries, k), -1, np.int64)
        if k <= 0 or num_queries == 0:
            return scores, indices
        queries = torch.nn.functional.normalize(queries.float(), dim=1).to(self.dtype)
        exclude = np.zeros((0, 2), np.int64) if exclude is None else np.asarray(exclude, np.int64).reshape(-1, 2)
        exclude = exclude[np.argsort(exclude[:, 0], kind="stable")]
        block = max(1, self.max_block_bytes // (4 * len(self)))
        with torch.inference_mode():
            for start in range(0, num_queries, block):
                stop = min(start + block, num_queries)
                similarity = (queries[start:stop] @ self.descriptors.T).float()
                lo, hi = np.searchsorted(exclude[:, 0], [start, stop])
                if hi > lo:
                    rows = torch.from_numpy(exclude[lo:hi, 0] - start)
                    similarity[rows, torch.from_numpy(exclude[lo:hi, 1])] = -torch.inf
                top_scores, top_indices = torch.topk(similarity, k, dim=1)
                scores[start:stop] = top_scores.numpy()
                indices[start:stop] = top_indices.numpy()
        indices[~np.isfinite(scores)] = -1
        return scores, indices
