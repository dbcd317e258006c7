"""Shot detection results and the detector interface shared by every backend.

A detector never decodes: it receives :class:`~pipeline.frames.AnalysisFrames` (low-resolution frames decoded
once and shared by every analysis) and returns :class:`ShotBoundaries`. Frame indices are 0-based decoded
indices; every ``end`` is inclusive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    from pipeline.frames import AnalysisFrames

#: Gradual transition types, as in the footage label schema.
TRANSITION_TYPES = ("dissolve", "fade_black", "fade_white", "wipe", "flash_cut", "other")
#: In-shot flash types, as in the footage label schema.
FLASH_TYPES = ("white_flash", "colour_flash", "impact_frame", "inversion", "strobe")


@dataclass(frozen=True)
class FrameSpan:
    """An inclusive span of frames with a type (a transition or an in-shot flash)."""

    start: int
    end: int
    type: str

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"span end {self.end} is before start {self.start}")


@dataclass(frozen=True)
class Shot:
    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True)
class ShotBoundaries:
    """Where shots change in one video: hard cuts, gradual transitions, and flashes that are *not* cuts."""

    frames: int
    cuts: tuple[int, ...] = ()  # first frame of the new shot after a hard cut
    transitions: tuple[FrameSpan, ...] = ()  # frames belonging to neither neighbouring shot
    flashes: tuple[FrameSpan, ...] = ()  # in-shot flashes / impact frames (for the annotator; not boundaries)
    detector: str = ""
    extra: dict[str, object] = field(default_factory=dict, compare=False)

    def boundary_frames(self) -> list[int]:
        """One frame per shot change, for evaluation: each cut, and the middle of each transition."""
        mids = [(t.start + t.end) // 2 for t in self.transitions]
        return sorted([*self.cuts, *mids])

    def shots(self, min_length: int = 1) -> list[Shot]:
        """Shots covering every frame outside transitions, split at cuts, in order."""
        breaks: list[tuple[int, int]] = [(c, c - 1) for c in self.cuts]  # (next start, previous end)
        breaks += [(t.end + 1, t.start - 1) for t in self.transitions]
        breaks.sort()
        shots: list[Shot] = []
        start = 0
        for next_start, prev_end in breaks:
            if prev_end >= start:
                shots.append(Shot(start, prev_end))
            start = max(start, next_start)
        if start <= self.frames - 1:
            shots.append(Shot(start, self.frames - 1))
        return [s for s in shots if s.length >= min_length]


class ShotDetector(Protocol):
    """A shot-boundary backend. ``name`` is its registry key; ``detect`` must be deterministic."""

    name: ClassVar[str]

    def detect(self, frames: AnalysisFrames) -> ShotBoundaries: ...
