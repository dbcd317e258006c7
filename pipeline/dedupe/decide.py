"""``find_duplicates``: exact, near and semantic matches over a set of items, then one decision per item.

An item is a *duplicate* when at least ``cover_fraction`` of its informative frames are matched in one other
item that is kept (or is itself a duplicate of a kept item); it is then marked with the id of the kept item,
never dropped silently. Items are decided best-first by the :class:`~pipeline.dedupe.policy.KeepPolicy`, so
in a group of copies the best copy is kept and every other one points to it. Coverage is what makes the
decision safe across episodes: two episodes that share a 90-second opening both stay (their match is
reported, with frame spans), while the opening as its own shot item is deduped.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.dedupe.config import DedupeConfig
from pipeline.dedupe.exact import exact_matches
from pipeline.dedupe.fingerprint import Fingerprint
from pipeline.dedupe.index import DedupeIndex, JoinStats
from pipeline.dedupe.match import DedupeDecision, Match
from pipeline.dedupe.policy import KeepPolicy
from pipeline.dedupe.semantic import semantic_matches

KIND_RANK = {"exact": 0, "near": 1, "semantic": 2}


@dataclass
class DedupeResult:
    decisions: list[DedupeDecision]
    matches: list[Match]
    stats: dict[str, Any] = field(default_factory=dict)

    def decision(self, item_id: str) -> DedupeDecision:
        for d in self.decisions:
            if d.item_id == item_id:
                return d
        raise KeyError(item_id)

    @property
    def duplicates(self) -> list[DedupeDecision]:
        return [d for d in self.decisions if d.is_duplicate]

    def between(self, a: str, b: str) -> list[Match]:
        """Matches between two items, oriented with ``a`` first, best first (exact, then near, then
        semantic; larger coverage; the whole picture before a crop view; higher similarity)."""
        found = [m.oriented(a) for m in self.matches if {m.a, m.b} == {a, b} and a != b]
        return sorted(
            found,
            key=lambda m: (KIND_RANK[m.kind], -round(m.a_coverage + m.b_coverage, 2), *_preference(m)[1:]),
        )

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "decisions": [d.to_json_dict() for d in self.decisions],
            "matches": [m.to_json_dict() for m in self.matches],
            "stats": self.stats,
        }


def _preference(m: Match) -> tuple:
    """Among matches of the same spans: exact first, then the more similar (to 0.01), then the whole
    picture over a crop view."""
    return (KIND_RANK[m.kind], -round(m.similarity, 2), m.view != "full", -m.similarity)


def _unique(matches: list[Match]) -> list[Match]:
    """One match per unordered pair and region: the same spans found from both sides, or as near and
    exact, are kept once (the exact one, else the most similar)."""
    best: dict[tuple, Match] = {}
    for m in matches:
        o = m if m.a <= m.b else m.swapped()
        key = (o.a, o.b, o.a_frames, o.b_frames) if o.kind != "semantic" else (o.a, o.b, "semantic")
        cur = best.get(key)
        if cur is None or _preference(o) < _preference(cur):
            best[key] = o
    # a near match whose spans lie inside an exact match of the same pair adds nothing
    exact = [m for m in best.values() if m.kind == "exact"]
    out = []
    for m in best.values():
        if m.kind == "near" and any(
            e.a == m.a and e.b == m.b and e.a_frames[0] <= m.a_frames[0] and m.a_frames[1] <= e.a_frames[1]
            and e.b_frames[0] <= m.b_frames[0] and m.b_frames[1] <= e.b_frames[1]
            for e in exact
        ):  # fmt: skip
            continue
        out.append(m)
    return sorted(out, key=lambda m: (m.a, m.b, KIND_RANK[m.kind], m.a_frames))


def coverage_table(
    fps: Sequence[Fingerprint], matches: list[Match]
) -> dict[str, dict[str, tuple[float, Match]]]:
    """``table[a][b] = (fraction of a's informative frames matched in b, a's best match with b)``; spans of
    several matches between the same pair are united."""
    by_id = {fp.item_id: fp for fp in fps}
    spans: dict[tuple[str, str], list[Match]] = defaultdict(list)
    for m in matches:
        spans[(m.a, m.b)].append(m)
        spans[(m.b, m.a)].append(m.swapped())
    table: dict[str, dict[str, tuple[float, Match]]] = defaultdict(dict)
    for (a, b), ms in spans.items():
        fp = by_id.get(a)
        if fp is None:
            continue
        informative = fp.informative(0)
        covered = np.zeros(fp.frames, dtype=bool)
        sem = 0.0
        for m in ms:
            if m.kind == "semantic":
                sem = max(sem, m.a_coverage)
                continue
            covered[max(0, m.a_frames[0] - fp.start_frame) : m.a_frames[1] - fp.start_frame + 1] = True
        total = int(informative.sum())
        cov = float((covered & informative).sum() / total) if total else float(covered.mean())
        best = min(ms, key=lambda m: (KIND_RANK[m.kind], -m.a_coverage, -m.similarity))
        table[a][b] = (max(cov, sem), best)
    return table


def decide(
    fps: Sequence[Fingerprint], matches: list[Match], policy: KeepPolicy, config: DedupeConfig
) -> list[DedupeDecision]:
    """One decision per item (input order); see the module doc."""
    table = coverage_table(fps, matches)
    order = policy.rank(list(fps))
    rank = {fps[k].item_id: r for r, k in enumerate(order)}
    status: dict[str, str] = {}
    root: dict[str, str] = {}
    decided: dict[str, DedupeDecision] = {}
    for k in order:
        a = fps[k].item_id
        choice = None
        for b, (cov, m) in table.get(a, {}).items():
            if cov < config.cover_fraction or b not in status:
                continue
            r = b if status[b] == "kept" else root[b]
            key = (status[b] != "kept", KIND_RANK[m.kind], rank[r], -cov)
            if choice is None or key < choice[0]:
                choice = (key, r, cov, m)
        if choice is None:
            status[a] = "kept"
            decided[a] = DedupeDecision(a, "kept")
            continue
        _, r, cov, m = choice
        status[a], root[a] = "duplicate", r
        decided[a] = DedupeDecision(
            a, "duplicate", duplicate_of=r, kind=m.kind, similarity=m.similarity,
            frames=m.a_frames, kept_frames=m.b_frames if m.b == r else None, coverage=cov,
        )  # fmt: skip
    return [decided[fp.item_id] for fp in fps]


def find_duplicates(
    fingerprints: Sequence[Fingerprint],
    policy: KeepPolicy | None = None,
    config: DedupeConfig | None = None,
    embeddings: Mapping[str, np.ndarray] | None = None,
    progress: Callable[[str], None] | None = None,
) -> DedupeResult:
    """Exact, near (perceptual) and, when ``embeddings`` (item id -> (N, D) array) are given, semantic
    duplicates among ``fingerprints``; one :class:`DedupeDecision` per item, in input order."""
    cfg = config or DedupeConfig()
    policy = policy or KeepPolicy()
    say = progress or (lambda _m: None)
    fps = list(fingerprints)
    ids = [fp.item_id for fp in fps]
    if len(set(ids)) != len(ids):
        raise ValueError("item ids must be unique")
    t0 = time.perf_counter()
    say(f"exact: digests of {len(fps)} items")
    exact = exact_matches(fps)
    t1 = time.perf_counter()
    identical = {frozenset((m.a, m.b)) for m in exact if m.a_coverage == 1.0 and m.b_coverage == 1.0}
    index = DedupeIndex(cfg)
    index.extend(fps)
    index.build()
    say(f"near: index of {index.stats.entries} keyframes, self-join")
    triples = [t for t in index.candidates() if frozenset((ids[t[0]], ids[t[2]])) not in identical]
    say(f"near: verifying {len(triples)} candidate pairs")
    near = index.verify(triples)
    t2 = time.perf_counter()
    semantic: list[Match] = []
    sem_stats = JoinStats()
    if embeddings:
        known = set(ids)
        emb = {k: v for k, v in embeddings.items() if k in known}
        spans = {fp.item_id: (fp.start_frame, fp.end_frame) for fp in fps}
        say(f"semantic: {len(emb)} items with embeddings")
        semantic = semantic_matches(emb, cfg, spans, sem_stats)
    t3 = time.perf_counter()
    matches = _unique(exact + near + semantic)
    decisions = decide(fps, matches, policy, cfg)
    t4 = time.perf_counter()
    stats = {
        "items": len(fps),
        "duplicates": sum(d.is_duplicate for d in decisions),
        "matches": {k: sum(m.kind == k for m in matches) for k in KIND_RANK},
        "index": index.stats.to_json_dict(),
        "semantic_join": vars(sem_stats),
        "seconds": {
            "exact": t1 - t0,
            "near": t2 - t1,
            "semantic": t3 - t2,
            "decide": t4 - t3,
            "total": t4 - t0,
        },
        "policy": list(policy.order),
        "config": cfg.to_json(),
    }
    return DedupeResult(decisions, matches, stats)
