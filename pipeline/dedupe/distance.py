"""The distance between two frames' hashes, on a 128-bit scale (0 = identical).

* both frames colourful: luma bits + chroma bits that differ (64 + 64);
* otherwise (one or both nearly grey) twice the luma distance plus ``COLOURLESS_PENALTY`` (luma alone is
  weaker evidence, so it must agree more closely) -- or plus ``COLOUR_MISMATCH_PENALTY`` when their amounts
  of colour structure differ by a factor of about four or more (``MISMATCH_LEVELS`` chroma levels): a colour
  picture and a grey one are not the same picture, whatever their luma layout.

Either frame without luma structure (black, white, a flat fade): :data:`FAR` (never a match).
"""

from __future__ import annotations

import numpy as np

from pipeline.dedupe.bits import popcount
from pipeline.dedupe.fingerprint import CHROMA_OK, LEVEL_SHIFT, LUMA_OK

FAR = 255
COLOURLESS_PENALTY = 4
COLOUR_MISMATCH_PENALTY = 16
MISMATCH_LEVELS = 6


def frame_distance(
    luma_a: np.ndarray,
    colour_a: np.ndarray,
    info_a: np.ndarray,
    luma_b: np.ndarray,
    colour_b: np.ndarray,
    info_b: np.ndarray,
) -> np.ndarray:
    """Element-wise (broadcasting) distance between frames a and b; ``int16``."""
    dl = popcount(np.bitwise_xor(luma_a, luma_b)).astype(np.int16)
    dc = popcount(np.bitwise_xor(colour_a, colour_b)).astype(np.int16)
    ia = np.asarray(info_a, dtype=np.uint8)
    ib = np.asarray(info_b, dtype=np.uint8)
    both = ((ia & CHROMA_OK) > 0) & ((ib & CHROMA_OK) > 0)
    levels = np.abs((ia >> LEVEL_SHIFT).astype(np.int16) - (ib >> LEVEL_SHIFT).astype(np.int16))
    mismatch = levels >= MISMATCH_LEVELS
    d = np.where(
        both, dl + dc, 2 * dl + np.where(mismatch, COLOUR_MISMATCH_PENALTY, COLOURLESS_PENALTY)
    ).astype(np.int16)
    valid = ((ia & LUMA_OK) > 0) & ((ib & LUMA_OK) > 0)
    return np.where(valid, d, FAR).astype(np.int16)


def similarity(distance: np.ndarray | float) -> np.ndarray | float:
    """1 - distance / 128, clipped at 0."""
    return np.clip(1.0 - np.asarray(distance, dtype=np.float64) / 128.0, 0.0, 1.0)
