"""``eval dedupe``: run the dedupe stage over a footage folder and score it against its known duplicate pairs.

``pairs`` is a ``duplicates.json`` (``{"pairs": [{"a", "b", "relation", "a_frames"?, "b_frames"?}]}``, as in
the shared development footage and the synthetic generator). Every video is one item. A listed pair is
*found* when any match links the two videos (with ``a_frames`` / ``b_frames`` given, the reported spans are
compared and the error in frames is reported); a pair that is not listed but follows from listed ones (an
identical copy of a clip that has a trimmed sub-clip also contains that sub-clip) is *implied*; any other
matched pair is a *false positive*. The margin is measured without the index: the closest keyframes of any
two videos that are not duplicates, on the 128-bit distance verification uses.

With ``labels`` (a footage labels folder; default ``FOOTAGE/labels`` when present) the labelled shots of every
video are deduped as items too, as the pipeline does with clips, and the shot-level decisions are reported.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.decode import VideoError
from pipeline.dedupe.align import nearest_frames
from pipeline.dedupe.config import DedupeConfig
from pipeline.dedupe.decide import DedupeResult, find_duplicates
from pipeline.dedupe.distance import similarity
from pipeline.dedupe.fingerprint import Fingerprint, fingerprint_from_hashes, hash_video
from pipeline.dedupe.match import DedupeDecision, Match
from pipeline.dedupe.policy import KeepPolicy
from pipeline.footage import find_videos, label_path_for
from pipeline.footage_labels import load_label
from pipeline.frames import decode_analysis_frames

#: Reported spans within this many frames of the expected ones count as "at the right frames".
SPAN_TOLERANCE = 1


def _span(x: Any) -> tuple[int, int] | None:
    return None if x is None else (int(x[0]), int(x[1]))


@dataclass(frozen=True)
class PairResult:
    a: str
    b: str
    relation: str
    found: bool
    match: Match | None = None  # oriented with a first
    expected_a_frames: tuple[int, int] | None = None
    expected_b_frames: tuple[int, int] | None = None

    @property
    def span_error(self) -> int | None:
        """Largest difference in frames between reported and expected span ends (None without both)."""
        if self.match is None or self.expected_a_frames is None or self.expected_b_frames is None:
            return None
        got = (*self.match.a_frames, *self.match.b_frames)
        want = (*self.expected_a_frames, *self.expected_b_frames)
        return max(abs(g - w) for g, w in zip(got, want, strict=True))

    @property
    def ok(self) -> bool:
        err = self.span_error
        return self.found and (err is None or err <= SPAN_TOLERANCE)

    def to_json_dict(self) -> dict[str, Any]:
        m = self.match
        return {
            "a": self.a,
            "b": self.b,
            "relation": self.relation,
            "found": self.found,
            "kind": m.kind if m else None,
            "similarity": round(m.similarity, 4) if m else None,
            "a_frames": list(m.a_frames) if m else None,
            "b_frames": list(m.b_frames) if m else None,
            "offset": m.offset if m else None,
            "view": (m.view if m.view == "full" else f"{m.view} crop of {m.view_side}") if m else None,
            "a_coverage": round(m.a_coverage, 4) if m else None,
            "b_coverage": round(m.b_coverage, 4) if m else None,
            "expected_a_frames": list(self.expected_a_frames) if self.expected_a_frames else None,
            "expected_b_frames": list(self.expected_b_frames) if self.expected_b_frames else None,
            "span_error": self.span_error,
            "ok": self.ok,
        }


@dataclass
class DedupeEvalReport:
    footage: str
    pairs_file: str
    videos: list[str]
    frames: int
    pairs: list[PairResult]
    implied: list[Match]
    false_positives: list[Match]
    closest_non_duplicate: dict[str, Any] | None
    decisions: list[DedupeDecision]
    seconds: dict[str, float]
    config: DedupeConfig
    policy: KeepPolicy
    shots: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    dedupe_stats: dict[str, Any] = field(default_factory=dict)

    @property
    def found(self) -> int:
        return sum(p.found for p in self.pairs)

    @property
    def passed(self) -> bool:
        return all(p.ok for p in self.pairs) and not self.false_positives and not self.errors

    @property
    def weakest_found(self) -> PairResult | None:
        hits = [p for p in self.pairs if p.match is not None]
        return min(hits, key=lambda p: p.match.similarity) if hits else None  # type: ignore[union-attr]

    def to_json_dict(self) -> dict[str, Any]:
        weakest = self.weakest_found
        decode = self.seconds.get("decode", 0.0)
        fp = self.seconds.get("fingerprint", 0.0)
        return {
            "footage": self.footage,
            "pairs_file": self.pairs_file,
            "passed": self.passed,
            "videos": len(self.videos),
            "frames": self.frames,
            "pairs_listed": len(self.pairs),
            "pairs_found": self.found,
            "pairs": [p.to_json_dict() for p in self.pairs],
            "implied_pairs": [m.to_json_dict() for m in self.implied],
            "false_positives": [m.to_json_dict() for m in self.false_positives],
            "margin": {
                "weakest_found": None
                if weakest is None
                else {"a": weakest.a, "b": weakest.b, "similarity": round(weakest.match.similarity, 4)},  # type: ignore[union-attr]
                "closest_non_duplicate": self.closest_non_duplicate,
                "accept_frame_distance": self.config.max_frame_distance,
                "accept_frame_similarity": round(float(similarity(self.config.max_frame_distance)), 4),
            },
            "decisions": [d.to_json_dict() for d in self.decisions],
            "shots": self.shots,
            "errors": self.errors,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "frames_per_second": {
                "decode": round(self.frames / decode, 1) if decode else None,
                "fingerprint": round(self.frames / fp, 1) if fp else None,
            },
            "index": self.dedupe_stats.get("index"),
            "policy": list(self.policy.order),
            "config": self.config.to_json(),
        }

    def summary_lines(self) -> list[str]:
        """A plain-text rendering for the terminal."""
        lines = [
            f"{self.footage}: {len(self.videos)} videos, {self.frames} frames; "
            f"{self.found}/{len(self.pairs)} listed pairs found, {len(self.false_positives)} false positive pair(s)"
            f" -> {'PASS' if self.passed else 'FAIL'}"
        ]
        for p in self.pairs:
            m = p.match
            if m is None:
                lines.append(f"  MISSED {p.a} ~ {p.b}  ({p.relation})")
                continue
            err = "" if p.span_error is None else f", span error {p.span_error}"
            off = "drifting rate" if m.offset is None else f"offset {m.offset:+d}"
            lines.append(
                f"  found  {p.a} {list(m.a_frames)} ~ {p.b} {list(m.b_frames)}: {m.kind}, "
                f"similarity {m.similarity:.3f}, {off}, view {m.to_json_dict()['view']}{err}"
            )
        for m in self.implied:
            lines.append(f"  implied {m.a} ~ {m.b}: {m.kind}, similarity {m.similarity:.3f}")
        for m in self.false_positives:
            lines.append(
                f"  FALSE  {m.a} {list(m.a_frames)} ~ {m.b} {list(m.b_frames)}: {m.kind} {m.similarity:.3f}"
            )
        c = self.closest_non_duplicate
        if c:
            lines.append(
                f"  margin: closest non-duplicate keyframes {c['a']} @{c['a_frame']} ~ {c['b']} @{c['b_frame']} "
                f"distance {c['distance']}/128 (similarity {c['similarity']:.3f}); frames match at <= "
                f"{self.config.max_frame_distance}"
            )
        dups = [d for d in self.decisions if d.is_duplicate]
        for d in dups:
            lines.append(
                f"  duplicate {d.item_id} -> kept {d.duplicate_of} ({d.kind}, coverage {d.coverage:.2f})"
            )
        if self.shots:
            lines.append(
                f"  shots: {self.shots['items']} labelled shots, {self.shots['duplicates']} duplicates"
            )
        s = self.seconds
        lines.append("  seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in s.items()))
        return lines


def load_pairs(path: Path) -> list[dict[str, Any]]:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    pairs = raw["pairs"] if isinstance(raw, dict) else raw
    for p in pairs:
        if "a" not in p or "b" not in p:
            raise ValueError(f"{path}: every pair needs 'a' and 'b'")
    return pairs


def _components(names: list[str], pairs: list[dict[str, Any]]) -> dict[str, str]:
    parent = {n: n for n in names}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs:
        if p["a"] in parent and p["b"] in parent:
            parent[find(p["a"])] = find(p["b"])
    return {n: find(n) for n in names}


def _best_for_pair(result: DedupeResult, a: str, b: str, pair: dict[str, Any]) -> Match | None:
    found = result.between(a, b)
    if not found:
        return None
    ea, eb = _span(pair.get("a_frames")), _span(pair.get("b_frames"))
    if ea and eb:
        return min(
            found,
            key=lambda m: max(
                abs(x - y) for x, y in zip((*m.a_frames, *m.b_frames), (*ea, *eb), strict=True)
            ),
        )
    return found[0]


def _shot_items(
    hashed: dict[str, Any], labels_dir: Path, videos: list[Path], cfg: DedupeConfig
) -> list[Fingerprint]:
    items = []
    for v in videos:
        lp = label_path_for(v, labels_dir)
        if v.name not in hashed or not lp.exists():
            continue
        label = load_label(lp)
        h = hashed[v.name]
        for s in label.shots:
            if s.end < h.frames:
                items.append(
                    fingerprint_from_hashes(
                        h, s.start, s.end, f"{v.name}:{s.start}-{s.end}", v.name, None, cfg
                    )
                )
    return items


def run_eval_dedupe(
    footage: Path,
    pairs: Path,
    labels: Path | None = None,
    config: DedupeConfig | None = None,
    policy: KeepPolicy | None = None,
    progress: Callable[[str], None] | None = None,
    workers: int = 2,
) -> DedupeEvalReport:
    """Dedupe every video of ``footage`` and score the result against ``pairs`` (see the module doc).
    ``seconds`` reports decode and fingerprint time summed over videos (per-thread CPU-ish time, for the
    frames/s figures) and the wall time of both with ``workers`` threads."""
    cfg = config or DedupeConfig()
    policy = policy or KeepPolicy()
    say = progress or (lambda _m: None)
    footage = Path(footage)
    videos = find_videos(footage)
    listed = load_pairs(pairs)
    labels_dir = (
        labels if labels is not None else (footage / "labels" if (footage / "labels").is_dir() else None)
    )
    seconds = {"decode": 0.0, "fingerprint": 0.0}
    fps: list[Fingerprint] = []
    hashed: dict[str, Any] = {}
    errors: list[str] = []
    frames = 0

    def work(v: Path) -> tuple[Path, Any, float, float, str | None]:
        t0 = time.perf_counter()
        try:
            af = decode_analysis_frames(v, digests=True)
        except VideoError as exc:
            return v, None, 0.0, 0.0, str(exc)
        t1 = time.perf_counter()
        if len(af) == 0:
            return v, None, t1 - t0, 0.0, f"{v}: no frames"
        h = hash_video(af, cfg)
        return v, h, t1 - t0, time.perf_counter() - t1, None

    # decoding (PyAV, swscale, SHA-1 of every picture) mostly runs outside the GIL: two videos at a time
    wall = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for v, h, t_dec, t_fp, err in pool.map(work, videos):
            say(f"decoded {v.name}")
            if err is not None:
                errors.append(err)
                continue
            fps.append(fingerprint_from_hashes(h, 0, h.frames - 1, v.name, v.name, None, cfg))
            hashed[v.name] = h
            frames += h.frames
            seconds["decode"] += t_dec
            seconds["fingerprint"] += t_fp
    seconds["decode_and_fingerprint_wall"] = time.perf_counter() - wall
    say("deduplicating")
    t0 = time.perf_counter()
    result = find_duplicates(fps, policy, cfg, progress=say)
    seconds["dedupe"] = time.perf_counter() - t0

    names = [fp.item_id for fp in fps]
    comp = _components(names, listed)
    pair_results = []
    listed_keys = set()
    for p in listed:
        a, b = p["a"], p["b"]
        listed_keys.add(frozenset((a, b)))
        m = _best_for_pair(result, a, b, p) if a in comp and b in comp else None
        pair_results.append(
            PairResult(
                a,
                b,
                p.get("relation", ""),
                m is not None,
                m,
                _span(p.get("a_frames")),
                _span(p.get("b_frames")),
            )
        )
    implied, false_pos = [], []
    flagged = sorted({(m.a, m.b) if m.a <= m.b else (m.b, m.a) for m in result.matches})
    for a, b in flagged:
        if frozenset((a, b)) in listed_keys:
            continue
        best = result.between(a, b)[0]
        (implied if comp.get(a) == comp.get(b) else false_pos).append(best)

    say("margin: closest non-duplicate keyframes")
    t0 = time.perf_counter()
    closest = None
    for x, y in itertools.combinations(fps, 2):
        if comp.get(x.item_id) == comp.get(y.item_id):
            continue
        for q, t in ((x, y), (y, x)):
            d, qf, tf, view = nearest_frames(q, t)
            if closest is None or d < closest["distance"]:
                closest = {
                    "a": q.item_id, "b": t.item_id, "a_frame": qf, "b_frame": tf, "view": view,
                    "distance": d, "similarity": round(float(similarity(d)), 4),
                }  # fmt: skip
    seconds["margin"] = time.perf_counter() - t0

    shots = None
    if labels_dir is not None and labels_dir.is_dir():
        items = _shot_items(hashed, labels_dir, videos, cfg)
        if items:
            say(f"shot-level dedupe of {len(items)} labelled shots")
            t0 = time.perf_counter()
            shot_result = find_duplicates(items, policy, cfg)
            seconds["shots"] = time.perf_counter() - t0
            shots = {
                "labels": str(labels_dir),
                "items": len(items),
                "duplicates": len(shot_result.duplicates),
                "decisions": [d.to_json_dict() for d in shot_result.duplicates],
                "matches": len(shot_result.matches),
            }
    return DedupeEvalReport(
        footage=str(footage), pairs_file=str(pairs), videos=names, frames=frames, pairs=pair_results,
        implied=implied, false_positives=false_pos, closest_non_duplicate=closest,
        decisions=result.decisions, seconds=seconds, config=cfg, policy=policy, shots=shots, errors=errors,
        dedupe_stats=result.stats,
    )  # fmt: skip
