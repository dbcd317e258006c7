"""Random fingerprints with planted near-copies, for index tests and benchmarks (no video involved).

Hashes are uniform random 64-bit luma / chroma codes (the worst case for bucket balance is *non*-uniform real
hashes; uniform codes measure the index machinery itself). A planted copy repeats its source's keyframes with
``flip_bits`` luma and chroma bits flipped, chosen among the copy's weak bits like real re-encoding noise; a
*hard* copy has ``hard_bits`` luma and chroma bits flipped anywhere (a redrawn cel, a different grade: still
within the verification distance when ``2 * hard_bits <= max_frame_distance``, but hard to retrieve).
"""

from __future__ import annotations

import numpy as np

from pipeline.dedupe.fingerprint import CHROMA_OK, LUMA_OK, Fingerprint
from pipeline.dedupe.phash import WEAK_BITS


def _u64(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    hi = rng.integers(0, 1 << 32, shape, dtype=np.uint64)
    lo = rng.integers(0, 1 << 32, shape, dtype=np.uint64)
    return (hi << np.uint64(32)) | lo


def random_fingerprints(
    n: int,
    keyframes: int = 4,
    planted: int = 0,
    flip_bits: int = 3,
    seed: int = 0,
    hard: int = 0,
    hard_bits: int = 10,
) -> tuple[list[Fingerprint], list[tuple[int, int]]]:
    """``n`` items (the last ``planted + hard`` are near-copies of earlier items, the hard ones last), one
    frame per keyframe, whole picture only. Returns the fingerprints and the (source, copy) item numbers."""
    rng = np.random.default_rng(seed)
    k = keyframes
    luma = _u64(rng, (n * k, 1))
    colour = _u64(rng, (n * k, 1))
    weak = np.argsort(rng.random((n * k, 64)), axis=1)[:, :WEAK_BITS].astype(np.uint8)[:, None, :]
    pairs: list[tuple[int, int]] = []
    base = n - planted - hard
    total = planted + hard
    sources = rng.choice(base, size=total, replace=False) if total else np.zeros(0, int)
    one = np.uint64(1)
    for c, s in enumerate(sources):
        copy = base + c
        pairs.append((int(s), copy))
        src, dst = slice(s * k, (s + 1) * k), slice(copy * k, (copy + 1) * k)
        if c < planted:
            flips = weak[dst, 0, :flip_bits].astype(np.uint64)  # (k, flip_bits)
        else:
            flips = np.argsort(rng.random((k, 64)), axis=1)[:, :hard_bits].astype(np.uint64)
        luma_mask = np.bitwise_or.reduce(one << flips, axis=1)
        colour_mask = np.bitwise_or.reduce(one << (flips + np.uint64(7)) % np.uint64(64), axis=1)
        luma[dst, 0] = luma[src, 0] ^ luma_mask
        colour[dst, 0] = colour[src, 0] ^ colour_mask
    info = np.full((n * k, 1), LUMA_OK | CHROMA_OK | (10 << 4), np.uint8)
    keys = np.arange(k, dtype=np.int32)
    fps = [
        Fingerprint(
            item_id=f"r{i:07d}",
            video_id=f"v{i:07d}",
            start_frame=0,
            frames=k,
            resolution=(1280, 720),
            hashes=luma[i * k : (i + 1) * k],
            colour=colour[i * k : (i + 1) * k],
            info=info[i * k : (i + 1) * k],
            keyframes=keys,
            weak=weak[i * k : (i + 1) * k],
            views=(True,),
        )  # fmt: skip
        for i in range(n)
    ]
    return fps, pairs
