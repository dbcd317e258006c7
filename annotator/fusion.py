"""Fusion: the votes of every expert on one shot become one validated annotation.

Per field, the votes are grouped by value. Votes that agree combine like independent evidence
(``1 - prod(1 - c)``); the value with the highest combined confidence wins a single-valued field, except that a
vote from a strictly higher-priority expert keeps the field unless another value beats it by more than
``override_margin``. Multi-valued fields keep every value whose combined confidence reaches ``min_confidence``.
Values below ``min_confidence`` are not emitted; the field is then recorded as missing with the reason, as are
fields no expert decided (with the abstentions' reasons). Every emitted tag is validated against the taxonomy.

A vote decided from the whole video rather than the shot (evidence :data:`VIDEO_LEVEL` set, e.g. the style
expert's video-level medium) is recorded with the source ``expert(video)``, so an audit can tell a shot's own
evidence from its video's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from annotator.base import Abstention, FieldVote
from taxonomy import Taxonomy, load_taxonomy

#: Evidence key of a vote decided from the whole video, not the shot (any non-zero value).
VIDEO_LEVEL = "video_level"


def vote_source(vote: FieldVote) -> str:
    """The source name a vote is recorded under: its expert, ``expert(video)`` for a video-level vote."""
    return f"{vote.expert}(video)" if vote.evidence.get(VIDEO_LEVEL) else vote.expert


@dataclass(frozen=True)
class TagDecision:
    """One emitted tag with the confidence it was decided with and the expert(s) that decided it."""

    field: str
    value: str
    confidence: float
    source: str

    @property
    def tag(self) -> str:
        return f"{self.field}={self.value}"


@dataclass(frozen=True)
class Directive:
    """The paper's three-part directive: the tag list, a one-line summary and an ordered description."""

    tags: tuple[str, ...]
    summary: str
    description: str

    def text(self) -> str:
        return (
            f"<tag>{', '.join(self.tags)}</tag>\n<summary>{self.summary}</summary>\n"
            f"<description>{self.description}</description>"
        )


@dataclass
class ShotAnnotation:
    """AniCaption's answer for one shot."""

    decisions: list[TagDecision]
    #: ``{field: reason}`` for every taxonomy field that carries no tag.
    missing: dict[str, str]
    taxonomy_version: str
    directive: Directive | None = None
    #: All votes, for audits ("which expert said what").
    votes: list[FieldVote] = field(default_factory=list)

    @property
    def tags(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        for d in self.decisions:
            out.setdefault(d.field, []).append(d.value)
        return {k: tuple(v) for k, v in out.items()}

    @property
    def confidences(self) -> dict[str, float]:
        """``{"field=value": confidence}``."""
        return {d.tag: d.confidence for d in self.decisions}

    @property
    def sources(self) -> dict[str, str]:
        """``{"field=value": expert}``."""
        return {d.tag: d.source for d in self.decisions}

    def tag_strings(self) -> list[str]:
        return [d.tag for d in self.decisions]


@dataclass(frozen=True)
class FusionConfig:
    min_confidence: float = 0.5
    override_margin: float = 0.25


def _combine(confidences: Iterable[float]) -> float:
    miss = 1.0
    for c in confidences:
        miss *= 1.0 - c
    return 1.0 - miss


def fuse(
    votes: Iterable[FieldVote],
    abstentions: Iterable[Abstention] = (),
    priorities: Mapping[str, int] | None = None,
    taxonomy: Taxonomy | None = None,
    config: FusionConfig | None = None,
) -> ShotAnnotation:
    """Fuse expert votes (``priorities``: expert name -> priority, default 0) into a :class:`ShotAnnotation`."""
    tax = taxonomy or load_taxonomy()
    cfg = config or FusionConfig()
    prio = dict(priorities or {})
    votes = list(votes)
    by_field: dict[str, list[FieldVote]] = {}
    for v in votes:
        tax.field(v.field)  # unknown field: the taxonomy's precise error
        for value in v.values:
            tax.value(v.field, value)
        by_field.setdefault(v.field, []).append(v)
    why_missing: dict[str, list[str]] = {}
    for a in abstentions:
        why_missing.setdefault(a.field, []).append(f"{a.expert}: {a.reason}")

    decisions: list[TagDecision] = []
    missing: dict[str, str] = {}
    for fld in tax.fields:
        field_votes = by_field.get(fld.id, [])
        if not field_votes:
            reasons = why_missing.get(fld.id)
            missing[fld.id] = "; ".join(reasons) if reasons else "no expert covers this field"
            continue
        per_value: dict[str, list[FieldVote]] = {}
        for v in field_votes:
            for value in v.values:
                per_value.setdefault(value, []).append(v)
        scored = {
            value: (
                _combine(v.confidence for v in vs),
                max(prio.get(v.expert, 0) for v in vs),
                "+".join(sorted({vote_source(v) for v in vs})),
            )
            for value, vs in per_value.items()
        }
        if fld.multi:
            kept = [(value, s) for value, s in scored.items() if s[0] >= cfg.min_confidence]
        else:
            best = max(scored.items(), key=lambda kv: (kv[1][0], kv[1][1]))
            top_prio = max(s[1] for s in scored.values())
            if best[1][1] < top_prio:
                challenger = max(
                    ((value, s) for value, s in scored.items() if s[1] == top_prio), key=lambda kv: kv[1][0]
                )
                if best[1][0] - challenger[1][0] <= cfg.override_margin:
                    best = challenger
            kept = [best] if best[1][0] >= cfg.min_confidence else []
        if not kept:
            top = max(scored.items(), key=lambda kv: kv[1][0])
            missing[fld.id] = f"low confidence: best {top[0]} at {top[1][0]:.2f} < {cfg.min_confidence:.2f}"
            continue
        validated = tax.validate({fld.id: [value for value, _ in kept]})
        order = {value: i for i, value in enumerate(validated.get(fld.id, ()))}
        for value, (conf, _, source) in sorted(kept, key=lambda kv: order[kv[0]]):
            decisions.append(TagDecision(fld.id, value, round(conf, 4), source))
    return ShotAnnotation(decisions=decisions, missing=missing, taxonomy_version=tax.version, votes=votes)
