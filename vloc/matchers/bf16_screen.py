"""A bfloat16 screen for nearest-neighbour matching: CPUs with AMX or AVX512-BF16 multiply two descriptor sets in
bfloat16 3-4x faster than in float32, and the rows that fail the ratio or distance test even under that product's
error bound need no float32 product at all (on 7-Scenes SIFT, four rows in five)."""

from __future__ import annotations

import functools

import numpy as np
import torch

ROUNDING = 2.0**-8  # relative error of rounding to bfloat16 (8 significant bits)
ACCUMULATION = 1e-4  # float32 sums of up to a thousand unit-vector products, the screen's and the exact one's
# oneDNN compiles a kernel for each new matrix shape (about 14 ms, longer than a product of 2000 x 2000 descriptors):
# padding both sets with zero vectors to a multiple of this keeps the shapes few.
SHAPE_MULTIPLE = 256


@functools.cache
def is_fast() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (AMX tiles or AVX512-BF16)."""
    capabilities = torch.cpu.get_capabilities()
    return bool(capabilities.get("amx_bf16") or capabilities.get("avx512_bf16"))


def to_bfloat16(columns: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """Unit columns (D, N) as a bfloat16 tensor (D, N padded with zeros to SHAPE_MULTIPLE) and the norm of each
    column's rounding error."""
    num = columns.shape[1]
    rounded = torch.zeros((columns.shape[0], -(-num // SHAPE_MULTIPLE) * SHAPE_MULTIPLE), dtype=torch.bfloat16)
    rounded[:, :num] = torch.from_numpy(columns)
    return rounded, np.linalg.norm(rounded[:, :num].float().numpy() - columns, axis=0)


class Bf16Screen:
    """The rows of desc0 (unit columns, float32) in bfloat16, screened against the columns of any desc1."""

    @staticmethod
    def float32_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """a @ b in float32, by torch as the screen: NumPy's BLAS threads, spinning between products, and torch's
        threads would otherwise take turns at the cores (screened KITTI matching 2x slower on 2 cores)."""
        return (torch.from_numpy(np.ascontiguousarray(a)) @ torch.from_numpy(np.ascontiguousarray(b))).numpy()

    def __init__(self, desc0: np.ndarray):
        rounded, self.rounding_error = to_bfloat16(desc0)
        self.rows = rounded.T.contiguous()
        self.nonnegative = not np.signbit(desc0).any()  # -0.0 too: its bits order below +0.0

    def candidate_rows(self, desc1: np.ndarray, ratio: float | None, distance: float | None) -> np.ndarray:
        """Rows of desc0.T @ desc1 (at least two columns) whose nearest column may pass the ratio and distance
        tests in float32: all that do, and a few that do not.

        The bound on each row's error: |a.b - bf16(bf16(a).bf16(b))| <= |da| + |db| + |da||db| + 2^-8 |result|
        (Cauchy-Schwarz on the rounding errors da, db of unit vectors), plus the float32 accumulations.
        """
        columns, column_error = to_bfloat16(desc1)
        nonnegative = self.nonnegative and not np.signbit(desc1).any()
        best_keys, second_keys = [], []
        block = torch.empty((SHAPE_MULTIPLE, columns.shape[1]), dtype=torch.bfloat16)  # stays in the cache
        for start in range(0, len(self.rows), SHAPE_MULTIPLE):
            torch.mm(self.rows[start : start + SHAPE_MULTIPLE], columns, out=block)
            block[:, desc1.shape[1] :] = -torch.inf  # the padding is never a nearest neighbour
            best_key, second_key = top_two(ordered_keys(block, nonnegative))
            best_keys.append(best_key)
            second_keys.append(second_key)
        num0 = len(self.rounding_error)
        best_approx = key_values(np.concatenate(best_keys)[:num0])
        second_approx = key_values(np.concatenate(second_keys)[:num0])
        factors_error = self.rounding_error + column_error.max() * (1 + self.rounding_error)
        result_error = ROUNDING * (1 + ROUNDING) * np.maximum(np.abs(best_approx), np.abs(second_approx))
        error = factors_error + result_error + ACCUMULATION
        best_at_most, second_at_least = best_approx + error, second_approx - error
        possible = np.ones(num0, bool)
        if ratio is not None:
            possible &= 2 - 2 * best_at_most <= ratio**2 * (2 - 2 * second_at_least)
        if distance is not None:
            possible &= 2 - 2 * best_at_most <= distance**2
        return np.flatnonzero(possible)


def top_two(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The largest and second largest key of each row; `keys` is modified."""
    rows = np.arange(len(keys))
    best = keys.argmax(1)
    best_key = keys[rows, best]
    keys[rows, best] = np.iinfo(np.int16).min
    return best_key, keys.max(1)


def ordered_keys(values: torch.Tensor, nonnegative: bool) -> np.ndarray:
    """bfloat16 values as int16 keys that order as the values do: their bits, with the magnitude bits of negative
    values flipped (the bits of non-negative values already order, and are returned as a writable view)."""
    bits = values.view(torch.int16).numpy()
    return bits if nonnegative else bits ^ ((bits >> 15) & np.int16(0x7FFF))


def key_values(keys: np.ndarray) -> np.ndarray:
    """The float64 values of ordered bfloat16 keys."""
    bits = keys ^ ((keys >> 15) & np.int16(0x7FFF))
    return (bits.astype(np.int32) << 16).view(np.float32).astype(np.float64)
