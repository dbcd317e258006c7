"""A verified match between two items, and the per-item dedupe decision."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

KINDS = ("exact", "near", "semantic")


@dataclass(frozen=True)
class Match:
    """Item ``a`` frames ``a_frames`` show the same content as item ``b`` frames ``b_frames`` (source-video
    frame numbers, inclusive). ``offset`` is ``b_frame - a_frame`` when the correspondence is a constant shift
    (re-encode, trim, reuse), None when the rate differs (dropped or duplicated frames, speed change): then the
    spans are the ends of the matched chain. ``view`` names the part of one item that matched the whole
    picture of the other: "full", or a centred crop such as "2.39:1" of item ``view_side`` ("a" or "b") when
    the other item is a crop of it."""

    a: str
    b: str
    kind: str
    similarity: float
    a_frames: tuple[int, int]
    b_frames: tuple[int, int]
    a_coverage: float = 1.0  # fraction of a's informative frames inside a_frames
    b_coverage: float = 1.0
    offset: int | None = None
    view: str = "full"
    view_side: str = "a"
    keyframes: int = 0  # matched keyframe pairs behind the match (evidence)

    def swapped(self) -> Match:
        return replace(
            self,
            a=self.b,
            b=self.a,
            a_frames=self.b_frames,
            b_frames=self.a_frames,
            a_coverage=self.b_coverage,
            b_coverage=self.a_coverage,
            offset=None if self.offset is None else -self.offset,
            view_side="b" if self.view_side == "a" else "a",
        )

    def oriented(self, a: str) -> Match:
        """This match with ``a`` as its first item."""
        return self if self.a == a else self.swapped()

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "kind": self.kind,
            "similarity": round(self.similarity, 4),
            "a_frames": list(self.a_frames),
            "b_frames": list(self.b_frames),
            "a_coverage": round(self.a_coverage, 4),
            "b_coverage": round(self.b_coverage, 4),
            "offset": self.offset,
            "view": self.view if self.view == "full" else f"{self.view} crop of {self.view_side}",
            "keyframes": self.keyframes,
        }


@dataclass(frozen=True)
class DedupeDecision:
    """What happens to one item: kept, or a duplicate of the kept item ``duplicate_of`` (never deleted)."""

    item_id: str
    status: str  # 'kept' | 'duplicate'
    duplicate_of: str | None = None
    kind: str | None = None  # 'exact' | 'near' | 'semantic' for duplicates
    similarity: float | None = None
    frames: tuple[int, int] | None = None  # this item's matched span (source frames)
    kept_frames: tuple[int, int] | None = None  # the kept item's matching span
    coverage: float | None = None  # fraction of this item's informative frames covered by the kept item

    @property
    def is_duplicate(self) -> bool:
        return self.status == "duplicate"

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "status": self.status,
            "duplicate_of": self.duplicate_of,
            "kind": self.kind,
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "frames": None if self.frames is None else list(self.frames),
            "kept_frames": None if self.kept_frames is None else list(self.kept_frames),
            "coverage": None if self.coverage is None else round(self.coverage, 4),
        }
