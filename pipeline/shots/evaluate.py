"""Score shot-boundary detections against frame labels, and time a detector over a labelled footage folder.

The matching rule is the one at the end of ``footage/SCHEMA.md``, applied one-to-one:

* a labelled hard cut at ``c`` is matched by a detection touching frames ``c-1 .. c+1``;
* a labelled transition ``s..e`` is matched by a detection touching frames ``s-1 .. e+1`` (anywhere inside);
* a detection inside a labelled *flash* span is a false positive (flashes are never boundaries) -- unless
  it also lies within the tolerance of a labelled boundary, where it may match that boundary like any other
  detection (no flash in the development labels is that close to a boundary, so the reading does not
  change their figures).

Detected items are the detector's cuts (points) and its transitions (spans: a detected transition matches
when its span overlaps the truth window, even if its middle frame -- the one
:meth:`ShotBoundaries.boundary_frames` reports -- lies outside). The same overlap rule applies between a
detected transition and a labelled cut. Every truth item is matched at most once and every detection is
used at most once; an exact assignment (Hungarian algorithm on each connected group of candidate pairs,
not a greedy pass, which can lose matches: truth 10, 12 against detections 11, 13) maximises the number of
matches, so the score never depends on the order of the lists, then prefers pairs that touch the truth span itself over the ±1 margin, then pairs
whose centres are closest. Unmatched detections are false positives; ``fp_in_flash`` counts those that
touch a labelled flash (a cut at ``d`` is the boundary between frames ``d-1`` and ``d``, so it touches a
flash ``s..e`` when ``s <= d <= e+1``) -- a diagnostic, they are false positives either way.

Zero-division conventions: precision is 1.0 when nothing was detected (no detection was wrong), recall is
1.0 when there was nothing to detect (nothing was missed), and F1 is 0.0 when precision + recall is 0.
So a clip with no boundaries and no detections scores P = R = F1 = 1.0, and "detect nothing" on a clip
that has boundaries scores P = 1.0, R = 0.0, F1 = 0.0.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.footage_labels import FootageLabel, load_label_dir
from pipeline.frames import decode_analysis_frames
from pipeline.shots.base import FrameSpan, ShotBoundaries, ShotDetector

#: A boundary as reported in scores: a hard cut's frame (first frame of the new shot) or a transition span.
Boundary = int | FrameSpan

#: Tolerance in frames around labelled cuts and transition spans.
TOLERANCE = 1


def boundary_json(item: Boundary) -> int | dict[str, Any]:
    if isinstance(item, FrameSpan):
        return {"start": item.start, "end": item.end, "type": item.type}
    return item


def _ratio(num: int, den: int, empty: float) -> float:
    return num / den if den else empty


@dataclass(frozen=True)
class BoundaryScore:
    """Matches between detected and labelled boundaries of one clip (or a total over clips).

    ``matched`` holds ``(truth, detected)`` pairs, ``false_positives`` the unmatched detections and
    ``misses`` the unmatched truth items; a cut is its frame, a transition its :class:`FrameSpan`.
    ``fp_in_flash`` counts the false positives that touch a labelled in-shot flash.
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    fp_in_flash: int = 0
    matched: tuple[tuple[Boundary, Boundary], ...] = ()
    false_positives: tuple[Boundary, ...] = ()
    misses: tuple[Boundary, ...] = ()

    def __post_init__(self) -> None:
        if (len(self.matched), len(self.false_positives), len(self.misses)) != (self.tp, self.fp, self.fn):
            raise ValueError("tp/fp/fn must equal the lengths of matched/false_positives/misses")
        if not 0 <= self.fp_in_flash <= self.fp:
            raise ValueError(f"fp_in_flash {self.fp_in_flash} outside 0..fp ({self.fp})")

    @property
    def detected(self) -> int:
        return self.tp + self.fp

    @property
    def truth(self) -> int:
        return self.tp + self.fn

    @property
    def precision(self) -> float:
        """tp / (tp + fp); 1.0 when nothing was detected."""
        return _ratio(self.tp, self.tp + self.fp, 1.0)

    @property
    def recall(self) -> float:
        """tp / (tp + fn); 1.0 when there was nothing to detect."""
        return _ratio(self.tp, self.tp + self.fn, 1.0)

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall; 0.0 when both are 0."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: BoundaryScore) -> BoundaryScore:
        """Pool two scores (micro-average). The detail tuples are concatenated, so in a total they no longer
        say which clip a frame belongs to; use the per-clip scores for that."""
        if not isinstance(other, BoundaryScore):
            return NotImplemented
        return BoundaryScore(
            tp=self.tp + other.tp,
            fp=self.fp + other.fp,
            fn=self.fn + other.fn,
            fp_in_flash=self.fp_in_flash + other.fp_in_flash,
            matched=self.matched + other.matched,
            false_positives=self.false_positives + other.false_positives,
            misses=self.misses + other.misses,
        )

    def __radd__(self, other: object) -> BoundaryScore:
        if other == 0:  # lets sum() start from its default 0
            return self
        return NotImplemented

    def counts_json(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "fp_in_flash": self.fp_in_flash,
        }

    def to_json_dict(self) -> dict[str, Any]:
        return {
            **self.counts_json(),
            "matched": [[boundary_json(t), boundary_json(d)] for t, d in self.matched],
            "false_positives": [boundary_json(b) for b in self.false_positives],
            "misses": [boundary_json(b) for b in self.misses],
        }


# ----------------------------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class _Item:
    lo: int  # first frame of the item (a cut: its frame)
    hi: int  # last frame of the item (a cut: its frame)
    value: Boundary


def _item(value: Boundary) -> _Item:
    if isinstance(value, FrameSpan):
        return _Item(value.start, value.end, value)
    return _Item(value, value, value)


def _gap(a: _Item, b: _Item) -> int:
    """Frames between two items' spans; 0 when they overlap."""
    return max(0, a.lo - b.hi, b.lo - a.hi)


def _touches_flash(d: _Item, flash: FrameSpan) -> bool:
    # A detected item covering frames lo..hi changes shot somewhere between frames lo-1 and hi.
    return d.lo - 1 <= flash.end and d.hi >= flash.start


def _min_cost_assignment(cost: list[list[int]]) -> list[int]:
    """Exact rectangular assignment (Hungarian algorithm with potentials, O(n^2 m), n <= m): for each row,
    the column that minimises the total cost. Integer costs keep it exact."""
    n, m = len(cost), len(cost[0])
    assert n <= m
    inf = float("inf")
    u = [0] * (n + 1)
    v = [0] * (m + 1)
    p = [0] * (m + 1)  # p[j]: row (1-based) assigned to column j, 0 = free
    way = [0] * (m + 1)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = [inf] * (m + 1)
        used = [False] * (m + 1)
        while True:
            used[j0] = True
            i0, delta, j1 = p[j0], inf, 0
            row = cost[i0 - 1]
            for j in range(1, m + 1):
                if not used[j]:
                    cur = row[j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j], way[j] = cur, j0
                    if minv[j] < delta:
                        delta, j1 = minv[j], j
            for j in range(m + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    assign = [-1] * n
    for j in range(1, m + 1):
        if p[j]:
            assign[p[j] - 1] = j - 1
    return assign


def _match_component(n_truth: int, n_det: int, edges: dict[tuple[int, int], int]) -> list[tuple[int, int]]:
    """Maximum-cardinality, then minimum-cost matching of one connected component. ``edges`` maps
    (truth index, detection index) to its cost; pairs without an edge cannot match."""
    forbidden = min(n_truth, n_det) * max(edges.values()) + 1  # costs more than any k allowed pairs together
    transpose = n_truth > n_det  # the assignment wants no more rows than columns
    rows, cols = (n_det, n_truth) if transpose else (n_truth, n_det)
    cost = [[edges.get((c, r) if transpose else (r, c), forbidden) for c in range(cols)] for r in range(rows)]
    pairs = []
    for r, c in enumerate(_min_cost_assignment(cost)):
        pair = (c, r) if transpose else (r, c)
        if pair in edges:
            pairs.append(pair)
    return pairs


def match_boundaries(
    truth: list[Boundary], detected: list[Boundary], tolerance: int = TOLERANCE
) -> list[tuple[int, int]]:
    """Optimal one-to-one matching of ``detected`` to ``truth`` items: (truth index, detection index) pairs.

    A pair may match when the detection's span overlaps the truth span widened by ``tolerance`` on each side.
    Among the matchings with the most pairs it takes one with the fewest pairs that only touch the margin,
    then the smallest total distance between centres.
    """
    t_items = [_item(t) for t in truth]
    d_items = [_item(d) for d in detected]
    allowed: dict[tuple[int, int], tuple[int, int]] = {}
    for ti, t in enumerate(t_items):
        for di, d in enumerate(d_items):
            gap = _gap(t, d)
            if gap <= tolerance:
                allowed[ti, di] = (gap, abs((t.lo + t.hi) - (d.lo + d.hi)))  # centre distance, doubled
    if not allowed:
        return []
    # Lexicographic (gap, centre distance) as one integer: any gap outweighs every centre distance a
    # matching can sum to.
    max_centre = max(c for _, c in allowed.values())
    weight = min(len(t_items), len(d_items)) * max_centre + 1
    costs = {pair: gap * weight + centre for pair, (gap, centre) in allowed.items()}
    # Connected components of the allowed-pair graph are independent problems (and small ones).
    parent = list(range(len(t_items) + len(d_items)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for ti, di in costs:
        parent[find(ti)] = find(len(t_items) + di)
    groups: dict[int, list[tuple[int, int]]] = {}
    for pair in costs:
        groups.setdefault(find(pair[0]), []).append(pair)
    pairs: list[tuple[int, int]] = []
    for group in groups.values():
        ts = sorted({ti for ti, _ in group})
        ds = sorted({di for _, di in group})
        t_pos = {t: i for i, t in enumerate(ts)}
        d_pos = {d: i for i, d in enumerate(ds)}
        local = {(t_pos[ti], d_pos[di]): costs[ti, di] for ti, di in group}
        pairs += [(ts[a], ds[b]) for a, b in _match_component(len(ts), len(ds), local)]
    return sorted(pairs)


def truth_boundaries(label: FootageLabel) -> list[Boundary]:
    """The labelled shot changes: hard cuts, and transitions as :class:`FrameSpan`, in frame order."""
    items: list[Boundary] = [*label.cuts, *(FrameSpan(t.start, t.end, t.type) for t in label.transitions)]
    return sorted(items, key=lambda b: (_item(b).lo, _item(b).hi))


def detected_boundaries(detected: ShotBoundaries) -> list[Boundary]:
    """The detected shot changes: cuts, and transitions as spans (in-shot flashes are not boundaries)."""
    items: list[Boundary] = [*detected.cuts, *detected.transitions]
    return sorted(items, key=lambda b: (_item(b).lo, _item(b).hi))


def score_boundaries(detected: ShotBoundaries, truth: FootageLabel) -> BoundaryScore:
    """Score one clip's detections against its label with the SCHEMA.md rule (see the module docstring)."""
    if detected.frames != truth.frames:
        raise ValueError(
            f"{truth.clip}: detections cover {detected.frames} frames but the label has {truth.frames}"
            " (a different decode would shift every frame index)"
        )
    t_list = truth_boundaries(truth)
    d_list = detected_boundaries(detected)
    pairs = match_boundaries(t_list, d_list)
    matched_t = {ti for ti, _ in pairs}
    matched_d = {di for _, di in pairs}
    false_positives = tuple(d for i, d in enumerate(d_list) if i not in matched_d)
    flashes = [FrameSpan(f.start, f.end, f.type) for f in truth.flashes]
    in_flash = sum(1 for d in false_positives if any(_touches_flash(_item(d), f) for f in flashes))
    return BoundaryScore(
        tp=len(pairs),
        fp=len(false_positives),
        fn=len(t_list) - len(pairs),
        fp_in_flash=in_flash,
        matched=tuple((t_list[ti], d_list[di]) for ti, di in pairs),
        false_positives=false_positives,
        misses=tuple(t for i, t in enumerate(t_list) if i not in matched_t),
    )


# --------------------------------------------------------------------------------------------- evaluation


def _per_second(frames: int, seconds: float) -> float:
    return frames / seconds if seconds > 0 else 0.0


@dataclass(frozen=True)
class ClipEval:
    clip: str
    frames: int
    score: BoundaryScore
    detected: ShotBoundaries
    detect_seconds: float  # detector.detect() only
    decode_seconds: float  # decode_analysis_frames() only

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "clip": self.clip,
            "frames": self.frames,
            **self.score.counts_json(),
            "false_positives": [boundary_json(b) for b in self.score.false_positives],
            "misses": [boundary_json(b) for b in self.score.misses],
            "detected": [boundary_json(b) for b in detected_boundaries(self.detected)],
            "detect_seconds": self.detect_seconds,
            "decode_seconds": self.decode_seconds,
        }


@dataclass(frozen=True)
class EvalReport:
    """One detector over a labelled folder: per-clip scores, the pooled total and the timings."""

    detector: str
    clips: tuple[ClipEval, ...]

    @property
    def total(self) -> BoundaryScore:
        return sum((c.score for c in self.clips), BoundaryScore())

    @property
    def frames(self) -> int:
        return sum(c.frames for c in self.clips)

    @property
    def detect_seconds(self) -> float:
        return sum(c.detect_seconds for c in self.clips)

    @property
    def decode_seconds(self) -> float:
        return sum(c.decode_seconds for c in self.clips)

    @property
    def frames_per_second(self) -> float:
        """Detector throughput on already-decoded analysis frames (0.0 when nothing was timed)."""
        return _per_second(self.frames, self.detect_seconds)

    @property
    def decode_frames_per_second(self) -> float:
        """Throughput of decoding the analysis frames, for comparison with the detector's."""
        return _per_second(self.frames, self.decode_seconds)

    def clip(self, name: str) -> ClipEval:
        for c in self.clips:
            if c.clip == name:
                return c
        raise KeyError(name)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "clips": [c.to_json_dict() for c in self.clips],
            "total": {
                "clips": len(self.clips),
                "frames": self.frames,
                **self.total.counts_json(),
                "detect_seconds": self.detect_seconds,
                "decode_seconds": self.decode_seconds,
            },
            "frames_per_second": self.frames_per_second,
            "decode_frames_per_second": self.decode_frames_per_second,
        }


def evaluate_detector(
    detector: ShotDetector,
    footage_dir: str | Path,
    labels_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    clips: list[str] | None = None,
    thumb_width: int = 128,
) -> EvalReport:
    """Run ``detector`` on every labelled clip of ``footage_dir`` (or only ``clips``, by file name) and score it.

    ``labels_dir`` defaults to ``footage_dir/labels``. Each clip is decoded once with
    :func:`decode_analysis_frames`; the decode and ``detector.detect`` are timed separately with
    :func:`time.perf_counter`. A labelled clip that is missing, or whose decoded frame count differs from its
    label, raises (its frame indices could not be trusted).
    """
    return evaluate_detectors([detector], footage_dir, labels_dir, progress, clips, thumb_width)[0]


def evaluate_detectors(
    detectors: list[ShotDetector],
    footage_dir: str | Path,
    labels_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    clips: list[str] | None = None,
    thumb_width: int = 128,
) -> list[EvalReport]:
    """:func:`evaluate_detector` for several detectors sharing one decode per clip (one report each, in order;
    every report carries the same decode timings)."""
    footage_dir = Path(footage_dir)
    labels = load_label_dir(labels_dir if labels_dir is not None else footage_dir / "labels")
    if clips is not None:
        unknown = sorted(set(clips) - set(labels))
        if unknown:
            raise KeyError(f"no label for {', '.join(unknown)}")
        labels = {k: v for k, v in labels.items() if k in set(clips)}
    results: list[list[ClipEval]] = [[] for _ in detectors]
    for name in sorted(labels):
        label = labels[name]
        path = footage_dir / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: labelled clip is missing")
        if progress:
            progress(name)
        t0 = time.perf_counter()
        frames = decode_analysis_frames(path, thumb_width=thumb_width)
        decode_seconds = time.perf_counter() - t0
        if len(frames) != label.frames:
            raise ValueError(f"{path}: decoded {len(frames)} frames but the label says {label.frames}")
        for detector, out in zip(detectors, results, strict=True):
            t1 = time.perf_counter()
            boundaries = detector.detect(frames)
            detect_seconds = time.perf_counter() - t1
            out.append(
                ClipEval(
                    clip=name,
                    frames=len(frames),
                    score=score_boundaries(boundaries, label),
                    detected=boundaries,
                    detect_seconds=detect_seconds,
                    decode_seconds=decode_seconds,
                )
            )
    return [EvalReport(detector=d.name, clips=tuple(r)) for d, r in zip(detectors, results, strict=True)]
