"""The expert interface of AniCaption.

An *expert* looks at one shot and votes on the PKS fields it covers. Each vote carries the values it saw, a
confidence in [0, 1] and, optionally, the measurements behind it; when an expert covers a field but cannot decide
it (no weights configured, too few frames, ambiguous evidence) it *abstains* with a reason instead of guessing.
:func:`annotator.fusion.fuse` combines the votes of all experts into one :class:`ShotAnnotation`.

Experts read the shared low-resolution analysis frames through :class:`ShotInput` (no second decode); the few
that need source pixels (small text, watermarks) may open ``ShotInput.video_path`` themselves and must say so in
their docstring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from annotator.source_frames import PictureSource
    from pipeline.frames import AnalysisFrames
    from pipeline.scores.record import ShotScores
    from pipeline.scores.registry import ScoreContext, ShotView


@dataclass(frozen=True)
class FieldVote:
    """One expert's answer for one PKS field: the value(s) it saw and how sure it is."""

    field: str
    values: tuple[str, ...]
    confidence: float
    expert: str
    #: Measurements behind the vote (e.g. ``{"pan_speed": 0.12}``); kept for audits and debugging.
    evidence: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError(f"a vote on {self.field} needs at least one value (abstain instead)")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(
                f"confidence of {self.expert}'s vote on {self.field} is {self.confidence}, not in [0, 1]"
            )


@dataclass(frozen=True)
class Abstention:
    """An expert covers ``field`` but did not decide it, and says why (e.g. 'no CLIP weights configured')."""

    field: str
    expert: str
    reason: str


@dataclass
class ExpertOutput:
    votes: list[FieldVote] = field(default_factory=list)
    abstentions: list[Abstention] = field(default_factory=list)

    def vote(
        self, field_id: str, values: str | tuple[str, ...], confidence: float, expert: str, **evidence: float
    ) -> None:
        vals = (values,) if isinstance(values, str) else tuple(values)
        self.votes.append(
            FieldVote(field_id, vals, float(confidence), expert, {k: float(v) for k, v in evidence.items()})
        )

    def abstain(self, field_id: str, expert: str, reason: str) -> None:
        self.abstentions.append(Abstention(field_id, expert, reason))


@dataclass
class ShotInput:
    """One shot as the experts see it: frames ``start``..``end`` (inclusive) of the shared analysis frames."""

    frames: AnalysisFrames
    start: int
    end: int
    ctx: ScoreContext
    #: The shot's scores when the scoring stage already ran (experts reuse them instead of recomputing).
    scores: ShotScores | None = None
    #: The source file, for experts that need full-resolution pixels.
    video_path: Path | None = None
    #: Larger pictures the caller already holds; experts that need source pixels try these before the file.
    pictures: PictureSource | None = None

    @cached_property
    def view(self) -> ShotView:
        from pipeline.scores.registry import ShotView

        return ShotView(self.frames, self.start, self.end, self.ctx)


@runtime_checkable
class Expert(Protocol):
    """An AniCaption expert. ``priority`` breaks ties in fusion: a higher priority wins a field outright when its
    confidence is at least the fusion's ``override_margin`` below the best other vote."""

    name: str
    fields: tuple[str, ...]
    priority: int

    def annotate(self, shot: ShotInput) -> ExpertOutput: ...
