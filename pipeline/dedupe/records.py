"""Dedupe decisions written into the manifest tables: ``clips.status`` / ``clips.duplicate_of`` and one
``rejections`` row per duplicate (stage "dedupe"), so nothing disappears without a trace."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from pipeline.dedupe.config import DedupeConfig
from pipeline.dedupe.match import DedupeDecision
from pipeline.records import ClipRecord, RejectionRecord


def mark_clips(clips: Sequence[ClipRecord], decisions: Iterable[DedupeDecision]) -> list[ClipRecord]:
    """``clips`` with every duplicate (decision item id = ``clip_id``) set to status "duplicate" and
    ``duplicate_of`` the kept clip; other clips unchanged (a clip already rejected stays rejected)."""
    dup = {d.item_id: d for d in decisions if d.is_duplicate}
    out = []
    for c in clips:
        d = dup.get(c.clip_id)
        if d is None or c.status == "rejected":
            out.append(c)
        else:
            out.append(dataclasses.replace(c, status="duplicate", duplicate_of=d.duplicate_of))
    return out


def rejection_records(
    decisions: Iterable[DedupeDecision],
    source_paths: Mapping[str, str] | None = None,
    subject: str = "clip",
    config: DedupeConfig | None = None,
) -> list[RejectionRecord]:
    """One rejections row per duplicate: rule ``duplicate_<kind>``, measured = similarity."""
    cfg = config or DedupeConfig()
    paths = source_paths or {}
    rows = []
    for d in decisions:
        if not d.is_duplicate:
            continue
        spans = ""
        if d.frames is not None:
            spans = f" (frames {d.frames[0]}-{d.frames[1]}"
            if d.kept_frames is not None:
                spans += f" = {d.kept_frames[0]}-{d.kept_frames[1]} of the kept item"
            spans += ")"
        cov = "" if d.coverage is None else f", {d.coverage:.0%} of its frames covered"
        threshold = {
            "exact": "identical decoded-frame digests",
            "near": f"frame distance <= {cfg.max_frame_distance}/128, similarity >= {cfg.min_similarity}, "
            f"coverage >= {cfg.cover_fraction}",
            "semantic": f"embedding cosine >= {cfg.semantic_threshold}, coverage >= {cfg.cover_fraction}",
        }.get(d.kind or "", "")
        rows.append(
            RejectionRecord(
                stage="dedupe",
                subject=subject,
                subject_id=d.item_id,
                source_path=paths.get(d.item_id, ""),
                rule=f"duplicate_{d.kind}",
                reason=f"{d.kind} duplicate of {d.duplicate_of}{spans}{cov}",
                measured=d.similarity,
                threshold=threshold,
            )
        )
    return rows
