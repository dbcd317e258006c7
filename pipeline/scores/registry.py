"""The scorer registry and the per-shot view every scorer reads.

A *scorer* is a small function ``f(view: ShotView) -> dict[column, value]`` registered under a name with the
:class:`~pipeline.scores.record.ShotScores` columns it fills. :func:`score_shot` runs the selected scorers
(all by default) on one shot and assembles one ``ShotScores`` row; columns of scorers that were not run keep
their defaults (null for the optional scores).

Scorers never decode: they read the shared :class:`~pipeline.frames.AnalysisFrames` through a
:class:`ShotView`, which computes the intermediate results several scorers share (the active picture inside
the bars, its gray thumbs, the frame-pair motion analysis) once and on demand.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pipeline.frames import AnalysisFrames
    from pipeline.scores.aesthetic import AestheticModel
    from pipeline.scores.layout import Layout
    from pipeline.scores.motion import PairMotion
    from pipeline.scores.record import ShotScores

log = logging.getLogger(__name__)

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
#: Modules whose import registers the built-in scorers, in run order.
BUILTIN_MODULES = (
    "pipeline.scores.layout",
    "pipeline.scores.quality",
    "pipeline.scores.motion",
    "pipeline.scores.timing",
    "pipeline.scores.text",
    "pipeline.scores.aesthetic",
)


@dataclass(frozen=True)
class Scorer:
    name: str
    func: Callable[[ShotView], dict[str, Any]]
    columns: tuple[str, ...]
    doc: str = ""


SCORERS: dict[str, Scorer] = {}


def register(name: str, *columns: str) -> Callable[[Callable[[ShotView], dict[str, Any]]], Callable]:
    """Register ``func`` as scorer ``name`` filling ``columns`` (checked against ``ShotScores`` on use)."""

    def deco(func: Callable[[ShotView], dict[str, Any]]) -> Callable[[ShotView], dict[str, Any]]:
        if name in SCORERS and SCORERS[name].func is not func:
            raise ValueError(f"scorer {name!r} is already registered")
        SCORERS[name] = Scorer(name, func, tuple(columns), (func.__doc__ or "").strip().split("\n")[0])
        return func

    return deco


def load_builtin_scorers() -> dict[str, Scorer]:
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    return SCORERS


#: Run order of the built-in scorers (custom scorers run after them, in registration order).
BUILTIN_ORDER = ("layout", "quality", "motion", "timing", "text", "aesthetic")


def ordered_scorers() -> list[Scorer]:
    registry = load_builtin_scorers()
    builtin = [registry[n] for n in BUILTIN_ORDER if n in registry]
    return builtin + [s for n, s in registry.items() if n not in BUILTIN_ORDER]


def scorer_names() -> list[str]:
    return [s.name for s in ordered_scorers()]


@dataclass
class ScoreContext:
    """What the scorers of one run share: ids of the video, which scorers run, the loaded models and
    per-video caches (the video's layout is computed once from all its frames)."""

    video_id: str = ""
    source_path: str = ""
    #: Scorer names to run, in registry order; None runs all of them.
    scorers: Sequence[str] | None = None
    #: Learned aesthetic model (:mod:`pipeline.scores.aesthetic`); None leaves the column null.
    aesthetic: AestheticModel | None = None
    #: Noise floor of the drawing-change test (luma levels of the 4x4 block change); see motion.NOISE_FLOOR.
    noise_floor: float | None = None
    _video_cache: dict[tuple[int, str], Any] = field(default_factory=dict, repr=False)

    def video_cached(self, frames: AnalysisFrames, key: str, compute: Callable[[], Any]) -> Any:
        """A per-video value, computed once per ``frames`` object (the cache holds one video at a time)."""
        entry = self._video_cache.get((id(frames), key))
        if entry is not None and entry[0] is frames:
            return entry[1]
        if any(v[0] is not frames for v in self._video_cache.values()):
            self._video_cache = {}
        value = compute()
        self._video_cache[(id(frames), key)] = (frames, value)
        return value


class ShotView:
    """One shot of an :class:`AnalysisFrames`, with lazily computed shared intermediates."""

    def __init__(self, frames: AnalysisFrames, start: int, end: int, ctx: ScoreContext):
        if not 0 <= start <= end < len(frames):
            raise ValueError(f"shot {start}..{end} is not inside the {len(frames)} frames of {frames.path}")
        self.frames = frames
        self.start = start
        self.end = end
        self.ctx = ctx

    @property
    def n(self) -> int:
        return self.end - self.start + 1

    @property
    def fps(self) -> float:
        return float(self.frames.fps) if self.frames.fps else 0.0

    @cached_property
    def duration_s(self) -> float:
        return float(self.frames.end_seconds(self.end) - self.frames.seconds(self.start))

    @cached_property
    def rgb(self) -> np.ndarray:
        """(n, h, w, 3) uint8 thumbs of the shot (a view, not a copy)."""
        return self.frames.thumb[self.start : self.end + 1]

    @cached_property
    def layout(self) -> Layout:
        from pipeline.scores.layout import video_layout

        return self.ctx.video_cached(self.frames, "layout", lambda: video_layout(self.frames))

    @cached_property
    def picture(self) -> np.ndarray:
        """(n, ph, pw, 3) uint8 thumbs cropped to the active picture (bars removed)."""
        return self.layout.crop(self.rgb)

    @cached_property
    def gray(self) -> np.ndarray:
        """(n, ph, pw) float32 luma of :attr:`picture`."""
        return np.ascontiguousarray(self.picture.astype(np.float32) @ _LUMA)

    @cached_property
    def pairs(self) -> PairMotion:
        from pipeline.scores.motion import NOISE_FLOOR, analyse_pairs

        floor = self.ctx.noise_floor if self.ctx.noise_floor is not None else NOISE_FLOOR
        return analyse_pairs(self.gray, noise_floor=floor)

    def sample(self, count: int) -> np.ndarray:
        """Up to ``count`` evenly spaced indices into the shot (0-based, shot-local)."""
        return np.unique(np.linspace(0, self.n - 1, min(self.n, count)).round().astype(int))


def shot_id(video_id: str, start: int, end: int) -> str:
    """The shot key of the ``shots`` table: ``'<video_id[:16]>:<start_frame>-<end_frame>'``."""
    return f"{video_id[:16]}:{start}-{end}"


def _selected(ctx: ScoreContext) -> list[Scorer]:
    ordered = ordered_scorers()
    if ctx.scorers is None:
        return ordered
    names = [s.name for s in ordered]
    unknown = [s for s in ctx.scorers if s not in names]
    if unknown:
        raise ValueError(f"unknown scorer(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    return [s for s in ordered if s.name in set(ctx.scorers)]


def score_shot(frames: AnalysisFrames, start: int, end: int, ctx: ScoreContext | None = None) -> ShotScores:
    """Score frames ``start``..``end`` (inclusive) of ``frames`` with the context's scorers."""
    from pipeline.scores.record import ShotScores

    ctx = ctx if ctx is not None else ScoreContext()
    view = ShotView(frames, start, end, ctx)
    values: dict[str, Any] = {
        "shot_id": shot_id(ctx.video_id, start, end),
        "video_id": ctx.video_id,
        "source_path": ctx.source_path or frames.path,
        "start_frame": start,
        "end_frame": end,
        "start_s": float(frames.seconds(start)),
        "end_s": float(frames.end_seconds(end)),
    }
    names = {f.name for f in fields(ShotScores)}
    for scorer in _selected(ctx):
        out = scorer.func(view)
        extra = set(out) - set(scorer.columns)
        if extra or not set(out) <= names:
            raise ValueError(
                f"scorer {scorer.name!r} returned undeclared columns {sorted(extra or set(out) - names)}"
            )
        values.update(out)
    return ShotScores(**values)


def score_shots(
    frames: AnalysisFrames, spans: Iterable[tuple[int, int]] | Iterable[Any], ctx: ScoreContext | None = None
) -> list[ShotScores]:
    """Score several shots of one video (``(start, end)`` pairs or objects with ``start`` / ``end``)."""
    ctx = ctx if ctx is not None else ScoreContext()
    out = []
    for span in spans:
        start, end = (span.start, span.end) if hasattr(span, "start") else span
        out.append(score_shot(frames, int(start), int(end), ctx))
    return out
