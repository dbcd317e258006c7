"""Which item of a duplicate group is kept: a configurable order of criteria, best first."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.dedupe.fingerprint import Fingerprint

#: Criterion name -> value (higher is better). Aliases as the issue words them.
CRITERIA = {
    "resolution": lambda fp: float(fp.pixels),
    "frames": lambda fp: float(fp.frames),
    "score": lambda fp: float("-inf") if fp.score is None else float(fp.score),
}
ALIASES = {"highest_resolution": "resolution", "longest": "frames", "length": "frames", "best_score": "score"}


@dataclass(frozen=True)
class KeepPolicy:
    """Rank items by ``order`` (each criterion: higher wins; ties go to the next criterion, and finally to
    the smaller item id, so the result never depends on input order).

    * ``resolution``: pixels of the picture area (bars excluded) in the source;
    * ``frames``: length of the item;
    * ``score``: ``Fingerprint.score`` (e.g. an aesthetic or quality score; missing = worst).
    """

    order: tuple[str, ...] = ("resolution", "frames", "score")

    def __post_init__(self) -> None:
        names = tuple(ALIASES.get(c, c) for c in self.order)
        unknown = [c for c in names if c not in CRITERIA]
        if unknown:
            raise ValueError(f"unknown keep criteria {unknown}; choose from {sorted(CRITERIA)}")
        object.__setattr__(self, "order", names)

    @classmethod
    def parse(cls, text: str) -> KeepPolicy:
        """From ``"resolution,frames,score"``."""
        return cls(tuple(p.strip() for p in text.split(",") if p.strip()))

    def sort_key(self, fp: Fingerprint) -> tuple:
        return (*(-CRITERIA[c](fp) for c in self.order), fp.item_id)

    def rank(self, fps: list[Fingerprint]) -> list[int]:
        """Indices of ``fps``, best first."""
        return sorted(range(len(fps)), key=lambda k: self.sort_key(fps[k]))
