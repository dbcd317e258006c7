"""The batched / reordered reductions of the map task give the very floats of the plain expressions they
replace (bit for bit), on random pictures and on flat ones."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.scores.quality import laplacian_variance, laplacian_variances
from pipeline.scores.text import background_flatness, stroke_map
from pipeline.shots.signals import _mean_colours


def _pictures(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    out[0] = 255  # flat white: the largest sums
    return out


@pytest.mark.parametrize("shape", [(7, 36, 64), (1, 36, 64), (5, 9, 16)])
def test_mean_colours_is_ndarray_mean(shape: tuple[int, int, int]) -> None:
    small_f = _pictures(*shape).astype(np.float32)
    ref = small_f.reshape(shape[0], -1, 3).mean(axis=1)
    got = _mean_colours(small_f, from_uint8=True)
    assert got.dtype == ref.dtype and got.shape == ref.shape
    assert got.tobytes() == ref.tobytes()


def test_laplacian_variances_are_per_frame_variances() -> None:
    gray = _pictures(9, 60, 111, seed=1).astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    ref = np.array([laplacian_variance(g) for g in gray])
    assert laplacian_variances(gray).tobytes() == ref.tobytes()


def test_background_flatness_unchanged() -> None:
    gray = _pictures(6, 40, 71, seed=2).astype(np.float32).mean(axis=-1, dtype=np.float32)
    gray[1] = 12.0  # flat frame
    strokes = [stroke_map(g) for g in gray]
    expected = []  # the per-frame loop it replaced: np.median of each frame alone
    for g, s in zip(gray, strokes, strict=True):
        rest = g[cv2.dilate(s.astype(np.uint8), np.ones((3, 3), np.uint8)) == 0]
        expected.append(float((np.abs(rest - np.median(g)) < 12).mean()) if rest.size else 0.0)
    assert background_flatness(gray, strokes) == float(np.mean(expected))
    assert background_flatness(gray[:0], []) == 0.0
