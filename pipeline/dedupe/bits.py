"""Bit operations on 64-bit hashes: popcount / Hamming distance, packing, band keys and query probes.

Everything is vectorised over numpy arrays of ``uint64``. ``np.bitwise_count`` is used when numpy has it
(numpy >= 2.0); older numpy falls back to a byte lookup table.
"""

from __future__ import annotations

import numpy as np

_HAS_BITWISE_COUNT = hasattr(np, "bitwise_count")
_POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
_ONE = np.uint64(1)


def popcount(x: np.ndarray) -> np.ndarray:
    """Number of set bits of every element of a ``uint64`` array (same shape, ``uint8``)."""
    x = np.asarray(x, dtype=np.uint64)
    if _HAS_BITWISE_COUNT:
        return np.bitwise_count(x)
    as_bytes = np.ascontiguousarray(x).view(np.uint8).reshape(*x.shape, 8)
    return _POP8[as_bytes].sum(axis=-1, dtype=np.uint8)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distance between ``uint64`` hashes (broadcasting like ``a ^ b``)."""
    return popcount(np.bitwise_xor(a, b))


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """``(..., k)`` booleans (k <= 64) to ``uint64``: element ``i`` of the last axis becomes bit ``i``."""
    bits = np.asarray(bits, dtype=bool)
    k = bits.shape[-1]
    if k > 64:
        raise ValueError(f"cannot pack {k} bits into a uint64")
    weights = _ONE << np.arange(k, dtype=np.uint64)
    return np.bitwise_or.reduce(np.where(bits, weights, np.uint64(0)), axis=-1).astype(np.uint64)


def unpack_bits(h: np.ndarray, k: int = 64) -> np.ndarray:
    """Inverse of :func:`pack_bits`: ``(..., k)`` booleans."""
    h = np.asarray(h, dtype=np.uint64)
    return ((h[..., None] >> np.arange(k, dtype=np.uint64)) & _ONE).astype(bool)


def band_layout(band_bits: int, total_bits: int = 64) -> list[tuple[int, int]]:
    """``(shift, width)`` of each band: ``round(total_bits / band_bits)`` contiguous bands of near-equal width
    (16 -> 4 x 16, 21 -> 21 + 22 + 21, 32 -> 2 x 32), every bit in exactly one band (pigeonhole: two hashes
    within ``bands - 1`` bits share at least one band exactly)."""
    if not 1 <= band_bits <= min(32, total_bits):
        raise ValueError(f"band width {band_bits} must be in 1..{min(32, total_bits)}")
    n = max(1, min(total_bits, round(total_bits / band_bits)))
    edges = [round(i * total_bits / n) for i in range(n + 1)]
    return [(edges[i], edges[i + 1] - edges[i]) for i in range(n)]


def auto_band_bits(entries: int) -> int:
    """Band width for an index of ``entries`` hashes: about log2(entries) bits (multi-index hashing, Norouzi
    et al. 2012), so that a bucket holds a few random entries: 4 x 16 bits up to 2**19 entries, 3 x 21-22
    up to 2**25, then 2 x 32. Wider bands cost recall on far pairs (fewer bits may differ per band)."""
    if entries <= 1 << 19:
        return 16
    if entries <= 1 << 25:
        return 21
    return 32


def band_key(h: np.ndarray, shift: int, width: int) -> np.ndarray:
    """The ``width`` bits of ``h`` starting at ``shift``, as ``int64`` keys."""
    mask = np.uint64((1 << width) - 1)
    return ((np.asarray(h, dtype=np.uint64) >> np.uint64(shift)) & mask).astype(np.int64)


def probe_masks(weak: np.ndarray, shift: int, width: int, probe_bits: int) -> np.ndarray:
    """XOR masks (``int64``, shape ``(n, 2**probe_bits)``) of the keys to probe in one band.

    ``weak`` is ``(n, m)`` bit positions ordered from least to most reliable (the coefficients closest to
    the hash threshold first, see :mod:`pipeline.dedupe.phash`). In each band the first ``probe_bits`` weak
    positions that fall inside the band are flipped in every combination (query-adaptive multi-probe:
    these are the bits a re-encode or a slightly different drawing most likely flips). Rows with fewer weak
    bits in the band repeat mask 0; callers drop the repeats.
    """
    weak = np.asarray(weak, dtype=np.int64)
    n = weak.shape[0]
    masks = np.zeros((n, 1 << probe_bits), dtype=np.int64)
    if probe_bits == 0 or n == 0:
        return masks
    inside = (weak >= shift) & (weak < shift + width)
    rank = np.cumsum(inside, axis=1) - 1  # position among the in-band weak bits
    chosen = np.full((n, probe_bits), -1, dtype=np.int64)
    rows, cols = np.nonzero(inside & (rank < probe_bits))
    chosen[rows, rank[rows, cols]] = weak[rows, cols] - shift
    single = np.where(chosen >= 0, np.left_shift(1, np.maximum(chosen, 0)), 0)  # (n, probe_bits)
    for subset in range(1, 1 << probe_bits):
        m = np.zeros(n, dtype=np.int64)
        for b in range(probe_bits):
            if subset >> b & 1:
                m |= single[:, b]
        masks[:, subset] = m
    return masks
