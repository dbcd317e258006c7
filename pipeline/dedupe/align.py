"""Verification of a candidate pair of items by temporal alignment.

Retrieval (:mod:`pipeline.dedupe.index`) only says "some keyframes look alike". Two items are reported as a
match when their look-alike frames line up in time:

1. every keyframe of the query (in one view) is compared with every keyframe of the target (whole picture);
   pairs within ``max_frame_distance`` are candidates;
2. the heaviest *monotone chain* of candidate pairs is found by dynamic programming: both items move forward
   (or hold) from one pair to the next, never more than ``max_gap_frames`` apart -- a same-series look-alike
   matches a frame here and there, a copy matches a run in order;
3. when the chain's pairs share one frame offset (re-encode, rescale, crop, trim, reused opening) the offset
   is refined on *every* frame (the offset of least distance within ±3 frames) and the span grown frame by
   frame to where the pictures stop matching, which puts span ends on the exact frame; when the offsets drift
   (frames dropped or doubled, a speed change) the span is the chain's extent;
4. the match is accepted with enough matched frames (``min_match_frames``, or every informative frame of a
   shorter item) and a mean similarity of at least ``min_similarity`` (``min_drift_similarity`` for a drifting
   offset, weaker evidence: the frames of a decimated or re-timed copy are still the same pictures).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.dedupe.config import DedupeConfig
from pipeline.dedupe.distance import FAR, frame_distance, similarity
from pipeline.dedupe.fingerprint import Fingerprint
from pipeline.dedupe.match import Match

#: Cap on candidate keyframe pairs per (query, view, target) (the closest are kept).
MAX_PAIRS = 40_000
#: Offsets tried around the chain's median offset when refining on every frame.
OFFSET_SLACK = 3
#: Consecutive non-matching informative frames tolerated inside a run (an encoder glitch, a flash).
RUN_TOLERANCE = 2
#: In a chain whose offsets drift, at least this fraction of the keyframes inside the matched span of one
#: item must be in the chain (and a quarter of the other's): sparse chains are coincidences.
CHAIN_DENSITY = 0.6


def keyframe_distances(q: Fingerprint, view: int, t: Fingerprint) -> np.ndarray:
    """(Kq, Kt) distances between the query's keyframes in ``view`` and the target's (whole picture)."""
    kq, kt = q.keyframes, t.keyframes
    return frame_distance(
        q.hashes[kq, view][:, None],
        q.colour[kq, view][:, None],
        q.info[kq, view][:, None],
        t.hashes[kt, 0][None, :],
        t.colour[kt, 0][None, :],
        t.info[kt, 0][None, :],
    )


def frame_distances(q: Fingerprint, view: int, t: Fingerprint, qf: np.ndarray, tf: np.ndarray) -> np.ndarray:
    """Distances between query frames ``qf`` (in ``view``) and target frames ``tf`` (item-relative)."""
    return frame_distance(
        q.hashes[qf, view],
        q.colour[qf, view],
        q.info[qf, view],
        t.hashes[tf, 0],
        t.colour[tf, 0],
        t.info[tf, 0],
    )


@dataclass
class _Pairs:
    i: np.ndarray  # query keyframe number
    j: np.ndarray  # target keyframe number
    qs: np.ndarray  # query segment start / end (item-relative frames)
    qe: np.ndarray
    ts: np.ndarray
    te: np.ndarray
    d: np.ndarray

    limit: int = 20

    @property
    def frames(self) -> np.ndarray:
        """Frames each pair stands for (the shorter of its two segments)."""
        return np.minimum(self.qe - self.qs + 1, self.te - self.ts + 1).astype(np.float64)

    @property
    def weight(self) -> np.ndarray:
        """Chain weight: frames, discounted up to half for pairs at the distance limit, so that among chains
        covering the same frames the closest pairs win."""
        return self.frames * (2 * self.limit + 2 - self.d) / (2 * self.limit + 2)


def _candidate_pairs(q: Fingerprint, t: Fingerprint, dist: np.ndarray, limit: int) -> _Pairs:
    ii, jj = np.nonzero(dist <= limit)
    d = dist[ii, jj]
    if len(ii) > MAX_PAIRS:
        keep = np.sort(np.argsort(d, kind="stable")[:MAX_PAIRS])
        ii, jj, d = ii[keep], jj[keep], d[keep]
    return _Pairs(
        i=ii, j=jj, qs=q.keyframes[ii].astype(np.int64), qe=q.segment_end[ii].astype(np.int64),
        ts=t.keyframes[jj].astype(np.int64), te=t.segment_end[jj].astype(np.int64), d=d.astype(np.int64),
        limit=limit,
    )  # fmt: skip


def _best_chain(p: _Pairs, alive: np.ndarray, gap: int) -> np.ndarray | None:
    """Indices (into ``p``) of the heaviest chain among the ``alive`` pairs that moves strictly forward in
    both items (each keyframe used once), with gaps of at most ``gap`` frames."""
    idx = np.flatnonzero(alive)
    if len(idx) == 0:
        return None
    i, j, qs, qe, ts, te = p.i[idx], p.j[idx], p.qs[idx], p.qe[idx], p.ts[idx], p.te[idx]
    score = p.weight[idx].copy()
    prev = np.full(len(idx), -1, dtype=np.int64)
    lo = np.searchsorted(qe, qs - gap, side="left")  # pairs sorted by i, so qe is non-decreasing
    for k in range(len(idx)):
        a = int(lo[k])
        if a >= k:
            continue
        ok = (j[a:k] < j[k]) & (i[a:k] < i[k]) & (ts[k] - te[a:k] <= gap)
        if ok.any():
            cand = np.where(ok, score[a:k], -1.0)
            b = int(cand.argmax())
            score[k] += cand[b]
            prev[k] = a + b
    k = int(score.argmax())
    chain = []
    while k >= 0:
        chain.append(k)
        k = int(prev[k])
    return idx[np.asarray(chain[::-1])]


def _grow(good: np.ndarray, bad: np.ndarray, start: int, stop: int, step: int) -> int:
    """Walk from ``start`` by ``step`` up to ``stop`` (exclusive); return the last good position reached
    before more than RUN_TOLERANCE consecutive bad frames (``start - step`` if none)."""
    last_good = start - step
    run_bad = 0
    for k in range(start, stop, step):
        if good[k]:
            last_good, run_bad = k, 0
        elif bad[k]:
            run_bad += 1
            if run_bad > RUN_TOLERANCE:
                break
    return last_good


def _dense_run(
    q: Fingerprint, view: int, t: Fingerprint, offset: int, core: tuple[int, int], cfg: DedupeConfig
) -> tuple[int, int, int, float, np.ndarray] | None:
    """Refine a constant offset on every frame and grow the run: (r0, r1, offset, similarity, distances).
    The run grows through low-information frames (black between scenes) and through at most RUN_TOLERANCE
    consecutive non-matching frames; it starts and ends on matching frames."""
    limit = cfg.max_frame_distance
    best = None
    for o in range(offset - OFFSET_SLACK, offset + OFFSET_SLACK + 1):
        f0, f1 = max(0, -o), min(q.frames - 1, t.frames - 1 - o)
        if f1 < max(f0, core[0]) or f0 > core[1]:
            continue
        f = np.arange(f0, f1 + 1)
        d = frame_distances(q, view, t, f, f + o)
        in_core = (f >= core[0]) & (f <= core[1]) & (d < FAR)
        if not in_core.any():
            continue
        good_frac = float((d[in_core] <= limit).mean())
        key = (-good_frac, float(np.minimum(d[in_core], 64).mean()), abs(o - offset))
        if best is None or key < best[0]:
            best = (key, o, f0, d)
    if best is None or -best[0][0] < 0.8:
        return None
    _, o, f0, d = best
    valid = d < FAR
    good = valid & (d <= limit)
    bad = valid & (d > limit)
    c0 = max(core[0], f0) - f0
    c1 = min(core[1], f0 + len(d) - 1) - f0
    inside = np.flatnonzero(good[c0 : c1 + 1])
    if len(inside) == 0:
        return None
    first, last = c0 + int(inside[0]), c0 + int(inside[-1])
    r0 = _grow(good, bad, first - 1, -1, -1)
    r1 = _grow(good, bad, last + 1, len(d), 1)
    run = d[r0 : r1 + 1]
    run_valid = run[run < FAR]
    sim = float(similarity(run_valid).mean()) if len(run_valid) else 0.0
    return f0 + r0, f0 + r1, o, sim, run


def _extend(
    q: Fingerprint, view: int, t: Fingerprint, a: tuple[int, int], b: tuple[int, int], cfg: DedupeConfig
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Grow the ends of a drifting-offset match frame by frame, keeping the correspondence monotone: a new
    frame of one item joins when it matches a frame of the other at or past the current end (both
    directions, both ends). Chain ends sit on keyframes; this finds the frames after the last one."""
    limit, win = cfg.max_frame_distance, cfg.max_gap_frames
    a0, a1 = a
    b0, b1 = b
    for step in (1, -1):
        for side in ("t", "q"):
            if side == "t":
                own_end, other_end = (b1, a1) if step > 0 else (b0, a0)
                own_n, other_n = t.frames, q.frames
            else:
                own_end, other_end = (a1, b1) if step > 0 else (a0, b0)
                own_n, other_n = q.frames, t.frames
            own = np.arange(own_end + step, own_end + step * (win + 1), step)
            own = own[(own >= 0) & (own < own_n)]
            other = np.arange(other_end - step * win, other_end + step * (win + 1), step)
            other = other[(other >= 0) & (other < other_n)]
            if len(own) == 0 or len(other) == 0:
                continue
            if side == "t":
                dist = frame_distances(q, view, t, other[None, :], own[:, None])
            else:
                dist = frame_distances(q, view, t, own[:, None], other[None, :])
            pos = int(np.searchsorted(other * step, other_end * step))  # first 'other' at/after the end
            misses = 0
            for r in range(len(own)):
                row = dist[r, pos:]
                if not (row < FAR).any():
                    continue  # a low-information frame: neither extends nor breaks
                hit = np.flatnonzero(row <= limit)
                if len(hit):
                    own_end = int(own[r])
                    pos += int(hit[0])
                    other_end = int(other[pos])
                    misses = 0
                else:
                    misses += 1
                    if misses > RUN_TOLERANCE:
                        break
            if side == "t":
                if step > 0:
                    b1, a1 = own_end, max(a1, other_end)
                else:
                    b0, a0 = own_end, min(a0, other_end)
            else:
                if step > 0:
                    a1, b1 = own_end, max(b1, other_end)
                else:
                    a0, b0 = own_end, min(b0, other_end)
    return (a0, a1), (b0, b1)


def _informative_in(fp: Fingerprint, a: int, b: int) -> int:
    return int(fp.informative(0)[a : b + 1].sum())


def align(q: Fingerprint, view: int, t: Fingerprint, config: DedupeConfig | None = None) -> list[Match]:
    """Verified matches between ``q`` (seen through ``view``) and ``t`` (whole picture), best first."""
    cfg = config or DedupeConfig()
    if len(q.keyframes) == 0 or len(t.keyframes) == 0 or not q.views[view]:
        return []
    dist = keyframe_distances(q, view, t)
    p = _candidate_pairs(q, t, dist, cfg.max_frame_distance)
    alive = np.ones(len(p.i), dtype=bool)
    q_total, t_total = q.informative_count(), t.informative_count()
    need_q = min(cfg.min_match_frames, q_total)
    need_t = min(cfg.min_match_frames, t_total)
    matches: list[Match] = []
    for _attempt in range(4 * cfg.max_matches_per_pair):
        if len(matches) >= cfg.max_matches_per_pair or not alive.any():
            break
        chain = _best_chain(p, alive, cfg.max_gap_frames)
        if chain is None:
            break
        first, last = chain[0], chain[-1]
        alive &= ~(((p.i >= p.i[first]) & (p.i <= p.i[last])) | ((p.j >= p.j[first]) & (p.j <= p.j[last])))
        m = _verify(q, view, t, p, chain, cfg)
        if m is None:
            continue
        qn = _informative_in(q, m.a_frames[0] - q.start_frame, m.a_frames[1] - q.start_frame)
        tn = _informative_in(t, m.b_frames[0] - t.start_frame, m.b_frames[1] - t.start_frame)
        floor = cfg.min_similarity if m.offset is not None else cfg.min_drift_similarity
        if qn < need_q or tn < need_t or m.similarity < floor:
            continue
        matches.append(m)
        a0, a1 = m.a_frames[0] - q.start_frame, m.a_frames[1] - q.start_frame
        b0, b1 = m.b_frames[0] - t.start_frame, m.b_frames[1] - t.start_frame
        alive &= ~(((p.qs >= a0) & (p.qs <= a1)) | ((p.ts >= b0) & (p.ts <= b1)))
    return sorted(matches, key=lambda m: -m.similarity)


def _verify(
    q: Fingerprint, view: int, t: Fingerprint, p: _Pairs, chain: np.ndarray, cfg: DedupeConfig
) -> Match | None:
    first, last = chain[0], chain[-1]
    core_q = (int(p.qs[first]), int(p.qe[last]))
    core_t = (int(p.ts[first]), int(p.te[last]))
    offsets = p.ts[chain] - p.qs[chain]
    med = int(np.median(offsets))
    dense = None
    if np.mean(np.abs(offsets - med) <= OFFSET_SLACK) >= 0.7:
        dense = _dense_run(q, view, t, med, core_q, cfg)
    view_name = q.view_names[view]
    if dense is not None:
        r0, r1, o, sim, _ = dense
        a0, a1, b0, b1 = r0, r1, r0 + o, r1 + o
        offset: int | None = t.start_frame + o - q.start_frame
    else:
        # drifting offsets: the chain must be dense in keyframes on at least one side
        ki = np.unique(p.i[chain])
        kj = np.unique(p.j[chain])
        q_keys = int(((q.keyframes >= core_q[0]) & (q.keyframes <= core_q[1])).sum())
        t_keys = int(((t.keyframes >= core_t[0]) & (t.keyframes <= core_t[1])).sum())
        dens = sorted([len(ki) / max(q_keys, 1), len(kj) / max(t_keys, 1)])
        if dens[1] < CHAIN_DENSITY or dens[0] < CHAIN_DENSITY / 2.4:
            return None
        w = p.frames[chain]
        sim = float((similarity(p.d[chain]) * w).sum() / w.sum())
        (a0, a1), (b0, b1) = _extend(q, view, t, core_q, core_t, cfg)
        offset = None
    q_total, t_total = max(q.informative_count(), 1), max(t.informative_count(), 1)
    kind = "near"
    same_digests = (
        offset is not None
        and q.digests is not None
        and t.digests is not None
        and np.array_equal(q.digests[a0 : a1 + 1], t.digests[b0 : b1 + 1])
    )
    if same_digests:
        kind, sim = "exact", 1.0
    return Match(
        a=q.item_id,
        b=t.item_id,
        kind=kind,
        similarity=sim,
        a_frames=(q.start_frame + a0, q.start_frame + a1),
        b_frames=(t.start_frame + b0, t.start_frame + b1),
        a_coverage=_informative_in(q, a0, a1) / q_total,
        b_coverage=_informative_in(t, b0, b1) / t_total,
        offset=offset,
        view=view_name,
        keyframes=len(chain),
    )


def nearest_frames(q: Fingerprint, t: Fingerprint) -> tuple[int, int, int, str]:
    """The closest keyframe pair of two items over every view of ``q``: (distance, q frame, t frame, view),
    source frame numbers. Diagnostic for margins (how close two distinct items come)."""
    best = (FAR, -1, -1, "full")
    if len(q.keyframes) == 0 or len(t.keyframes) == 0:
        return best
    for v, ok in enumerate(q.views):
        if not ok:
            continue
        dist = keyframe_distances(q, v, t)
        k = np.unravel_index(int(dist.argmin()), dist.shape)
        if int(dist[k]) < best[0]:
            best = (
                int(dist[k]),
                q.start_frame + int(q.keyframes[k[0]]),
                t.start_frame + int(t.keyframes[k[1]]),
                q.view_names[v],
            )
    return best
