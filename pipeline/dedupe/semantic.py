"""Semantic near-duplicates from embeddings (e.g. CLIP image embeddings of sampled frames).

Each item brings an ``(N, D)`` float array, one row per sampled frame. Two items match when rows of one have
a row of the other at cosine >= ``semantic_threshold``; the match's coverage of an item is the fraction of its
rows that found such a partner, so "same shot from another angle / another cut of the scene" and "shares one
shot" are told apart like the perceptual path tells a copy from a shared opening.

Retrieval avoids comparing all pairs: rows are reduced to 64-bit SimHash codes (signs of projections on
random hyperplanes, seeded) and looked up in the same banded multi-probe tables as the frame hashes (the
least reliable bits are the projections closest to zero); only candidate item pairs get the exact ``Na x Nb``
cosine matrix.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from pipeline.dedupe.bits import auto_band_bits, pack_bits
from pipeline.dedupe.config import DedupeConfig
from pipeline.dedupe.index import JoinStats, Tables, banded_join
from pipeline.dedupe.match import Match

WEAK = 12


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def simhash(rows: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(codes uint64, weak bit positions (n, 12) uint8) of unit rows."""
    rng = np.random.default_rng(seed)
    planes = rng.standard_normal((rows.shape[1], 64)).astype(np.float32)
    proj = rows @ planes
    return pack_bits(proj > 0), np.argsort(np.abs(proj), axis=1)[:, :WEAK].astype(np.uint8)


def semantic_matches(
    embeddings: Mapping[str, np.ndarray],
    config: DedupeConfig | None = None,
    spans: Mapping[str, tuple[int, int]] | None = None,
    stats: JoinStats | None = None,
) -> list[Match]:
    """Matches between items whose embedding rows agree (kind "semantic"). ``spans`` gives each item's
    source frame span for the report (default: row numbers). Each unordered pair is reported once."""
    cfg = config or DedupeConfig()
    ids = [k for k, v in embeddings.items() if np.asarray(v).size]
    if len(ids) < 2:
        return []
    rows = [_normalise(embeddings[k]) for k in ids]
    dims = {r.shape[1] for r in rows}
    if len(dims) != 1:
        raise ValueError(f"embeddings have different dimensions: {sorted(dims)}")
    allrows = np.concatenate(rows)
    owner = np.repeat(np.arange(len(ids)), [len(r) for r in rows])
    codes, weak = simhash(allrows, cfg.semantic_seed)
    tables = Tables.build(codes, cfg.band_bits or auto_band_bits(len(codes)))
    thr = cfg.semantic_threshold

    def accept(q: np.ndarray, e: np.ndarray) -> np.ndarray:
        ok = owner[q] < owner[e]  # each unordered pair once
        cos = np.einsum("ij,ij->i", allrows[q], allrows[e])
        return ok & (cos >= thr)

    q, e = banded_join(tables, codes, weak, cfg.probe_bits, accept, stats)
    pairs = sorted({(int(owner[a]), int(owner[b])) for a, b in zip(q, e, strict=True)})
    out: list[Match] = []
    for i, j in pairs:
        sim = rows[i] @ rows[j].T  # (Na, Nb)
        best_a, best_b = sim.max(axis=1), sim.max(axis=0)
        hit_a, hit_b = best_a >= thr, best_b >= thr
        a_span = spans.get(ids[i]) if spans else None
        b_span = spans.get(ids[j]) if spans else None
        out.append(
            Match(
                a=ids[i], b=ids[j], kind="semantic",
                similarity=float(np.concatenate([best_a[hit_a], best_b[hit_b]]).mean()),
                a_frames=a_span or (0, len(rows[i]) - 1), b_frames=b_span or (0, len(rows[j]) - 1),
                a_coverage=float(hit_a.mean()), b_coverage=float(hit_b.mean()),
                keyframes=int(hit_a.sum()),
            )
        )  # fmt: skip
    return out
