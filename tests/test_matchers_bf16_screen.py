"""The bfloat16 screen of nearest-neighbour matching: its keys order as the values, and screened matching gives
exactly the float32 matches while ruling most rows out."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vloc.matchers import bf16_screen, nearest_neighbor
from vloc.matchers.bf16_screen import Bf16Screen, key_values, ordered_keys
from vloc.matchers.hamming import Hamming, HammingConf
from vloc.matchers.nearest_neighbor import NearestNeighbor, NearestNeighborConf, match_descriptors


def test_keys_order_as_the_values_and_decode_to_them():
    values = torch.tensor([-3.0, -1.0, -0.5, -1e-3, -0.0, 0.0, 1e-3, 0.25, 0.5, 0.75, 1.0, 7.0]).bfloat16()
    keys = ordered_keys(values[None], nonnegative=False)[0]
    assert (np.diff(keys.astype(int)) >= 0).all() and (np.diff(keys[5:].astype(int)) > 0).all()
    np.testing.assert_array_equal(key_values(keys), values.double().numpy())
    nonnegative = values[~values.signbit()]
    np.testing.assert_array_equal(ordered_keys(nonnegative[None], nonnegative=True)[0], keys[5:])


def descriptors_near_the_thresholds(kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit columns (D, N) of two images, 250 of the second a copy of one of the first under noise growing from none
    to more than the descriptors' spread, so that many rows lie near the ratio and distance thresholds."""
    rng = np.random.default_rng(seed)
    dimension = 256 if kind == "binary" else 128
    desc0, desc1 = rng.normal(size=(dimension, 600)), rng.normal(size=(dimension, 500))
    planted = rng.choice(600, 250, replace=False)
    desc1[:, :250] = desc0[:, planted] + rng.uniform(0, 2.5, 250) * rng.normal(size=(dimension, 250))
    if kind == "binary":  # ORB-like bit strings, as the Hamming matcher prepares them
        return tuple(Hamming.prepare(None, np.packbits(d > 0, axis=0)) for d in (desc0, desc1))
    if kind == "nonnegative":  # RootSIFT-like
        desc0, desc1 = np.abs(desc0), np.abs(desc1)
    return tuple((d / np.linalg.norm(d, axis=0)).astype(np.float32) for d in (desc0, desc1))


@pytest.mark.parametrize("kind", ["signed", "nonnegative", "binary"])
@pytest.mark.parametrize(
    "ratio, distance, mutual", [(0.8, None, True), (0.95, None, True), (0.9, None, False), (0.97, 1.2, False)]
)
def test_screened_matches_are_the_float32_matches(kind, ratio, distance, mutual):
    desc0, desc1 = descriptors_near_the_thresholds(kind)
    expected, expected_squared = match_descriptors(desc0, desc1, ratio, distance, mutual)
    screen = Bf16Screen(desc0)
    matches0, squared0 = match_descriptors(desc0, desc1, ratio, distance, mutual, screen)
    np.testing.assert_array_equal(matches0, expected)
    matched = expected > -1
    np.testing.assert_allclose(squared0[matched], expected_squared[matched], rtol=0, atol=1e-6)
    assert 40 < matched.sum() < 300
    if ratio <= 0.9:  # what makes it faster: most rows need no float32 product (measured 16-37 % kept)
        assert len(screen.candidate_rows(desc1, ratio, distance)) < 0.4 * desc0.shape[1]


def test_the_matcher_screens_once_its_products_would_have_paid_for_torch(monkeypatch):
    desc0, desc1 = descriptors_near_the_thresholds("nonnegative", seed=1)
    monkeypatch.setattr(nearest_neighbor, "SCREEN_AFTER_ENTRIES", 2 * desc0.shape[1] * desc1.shape[1])
    monkeypatch.setattr(bf16_screen, "is_fast", lambda: False)  # a CPU without bfloat16 products: never screened
    assert NearestNeighbor(NearestNeighborConf()).screen(desc0, [desc1, desc1]) is None
    monkeypatch.setattr(bf16_screen, "is_fast", lambda: True)  # one with them (elsewhere the screen only runs slower)
    matcher = NearestNeighbor(NearestNeighborConf())
    assert matcher.screen(desc0, [desc1]) is None
    assert isinstance(matcher.screen(desc0, [desc1]), Bf16Screen)
    ((screened, _, _),) = matcher(desc0, [desc1])
    np.testing.assert_array_equal(screened, match_descriptors(desc0, desc1, 0.8, None, True)[0])
    hamming = Hamming(HammingConf())
    hamming.entries_matched = nearest_neighbor.SCREEN_AFTER_ENTRIES
    bits0, bits1 = descriptors_near_the_thresholds("binary")
    ((screened, _, _),) = hamming(bits0, [bits1])
    np.testing.assert_array_equal(screened, match_descriptors(bits0, bits1, *hamming.thresholds(len(bits0)), True)[0])
