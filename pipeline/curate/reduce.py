"""The reduce phase: dedupe across every video, rebalancing weights, shards and the manifest.

It reads only the staged per-video results and is deterministic (clips in key order, tar members with fixed
metadata), so rerunning it after a crash writes byte-identical shards and tables.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.curate.config import CurateConfig
from pipeline.curate.funnel import FunnelRow, FunnelStage
from pipeline.curate.staging import final_dir
from pipeline.curate.video_task import ClipCandidate, VideoResult
from pipeline.faults import crash_point
from pipeline.paths import text_path
from pipeline.rebalance import axis_gini, rebalance_weights
from pipeline.records import (
    ClipRecord,
    RejectionRecord,
    ShotRecord,
    TagRecord,
    VideoRecord,
    write_parquet,
)
from pipeline.schema import col
from pipeline.scores.record import ShotScores
from pipeline.shards import SampleMetadata, ShardSample, ShardWriter, remove_partial_shards

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardRecord:
    shard: str = col("shard file name under shards/")
    samples: int = col("samples in the shard")
    bytes: int = col("size of the tar file")
    sha256: str = col("sha256 of the tar file")
    first_key: str = col("first sample key")
    last_key: str = col("last sample key")


@dataclass
class ReduceSummary:
    videos: int
    shots: int
    clips: int
    kept: int
    duplicates: int
    shards: list[str]
    funnel: list[FunnelRow]
    gini_before: dict[str, float]
    gini_after: dict[str, float]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def mixed_detectors(videos: Sequence[VideoRecord]) -> str | None:
    """A warning when the videos of one output were split by different shot detector arithmetic (a run
    resumed after an upgrade or on another machine, or a cluster of mixed CPUs under ``precision: auto``),
    None when they all ran the same way."""
    kinds = Counter(
        v.shot_detector or "not recorded (an AniCurate before this column)" for v in videos if v.frames > 0
    )
    if len(kinds) < 2:
        return None
    split = ", ".join(f"{kind} on {n}" for kind, n in sorted(kinds.items()))
    return (
        f"the videos of this output were split into shots by different detector arithmetic ({split}); "
        "boundaries can differ between them. Set detector.precision: fp32 for machine-independent "
        "boundaries, and --restart to redo the others"
    )


def reduce_results(
    out: Path,
    results: Sequence[VideoResult],
    cfg: CurateConfig,
    input_rejections: Sequence[RejectionRecord] = (),
    inputs_total: int = 0,
    say: Callable[[str], None] | None = None,
) -> ReduceSummary:
    from pipeline.dedupe import KeepPolicy, find_duplicates, rejection_records
    from taxonomy import load_taxonomy

    say = say or log.info
    out = Path(out)
    tax = load_taxonomy()
    vocab = tax.vocab
    results = sorted(results, key=lambda r: (r.video.video_id if r.video else "", r.input_path))
    videos: list[VideoRecord] = [r.video for r in results if r.video is not None]
    mixed = mixed_detectors(videos)
    if mixed:
        log.warning(mixed)
    shots: list[ShotRecord] = [s for r in results for s in r.shots]
    scores: list[ShotScores] = [s for r in results for s in r.scores]
    rejections: list[RejectionRecord] = list(input_rejections) + [x for r in results for x in r.rejections]
    owner: dict[str, VideoResult] = {}
    candidates: list[ClipCandidate] = []
    fingerprints = []
    for r in results:
        for c, fp in zip(r.clips, r.fingerprints, strict=True):
            owner[c.record.clip_id] = r
            candidates.append(c)
            fingerprints.append(fp)
    order = sorted(range(len(candidates)), key=lambda k: candidates[k].record.clip_id)
    candidates = [candidates[k] for k in order]
    fingerprints = [fingerprints[k] for k in order]

    # --- dedupe across all videos
    clips = [c.record for c in candidates]
    dup_rows: list[RejectionRecord] = []
    if cfg.dedupe.enabled and clips and all(fp is not None for fp in fingerprints):
        say(f"dedupe: {len(clips)} clips")
        embeddings = {
            c.record.clip_id: np.load(final_dir(out, c.record.video_id) / c.embedding)[None, :]
            for c in candidates
            if c.embedding
        }
        found = find_duplicates(
            fingerprints, KeepPolicy.parse(cfg.dedupe.policy), embeddings=embeddings or None
        )
        by_id = {d.item_id: d for d in found.decisions}
        clips = [
            dataclasses.replace(c, status="duplicate", duplicate_of=by_id[c.clip_id].duplicate_of)
            if by_id[c.clip_id].is_duplicate
            else c
            for c in clips
        ]
        paths = {c.clip_id: text_path(owner[c.clip_id].input_path) for c in clips}
        dup_rows = rejection_records(found.decisions, paths)
    rejections += dup_rows
    crash_point("reduce.dedupe_done")
    candidates, clips, failed = cut_deferred(out, cfg, candidates, clips, owner, say)
    rejections += failed

    # --- rebalancing weights over the kept clips
    kept_idx = [k for k, c in enumerate(clips) if c.status == "kept"]
    kept_tags = [candidates[k].tags for k in kept_idx]
    weights = rebalance_weights(kept_tags)
    weight_of = {clips[k].clip_id: float(w) for k, w in zip(kept_idx, weights, strict=True)}
    gini_before = axis_gini(kept_tags) if kept_tags else {}
    gini_after = axis_gini(kept_tags, weights) if kept_tags else {}

    # --- shards, in key order
    shard_dir = out / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    for p in remove_partial_shards(shard_dir):
        say(f"removed the partial shard {p.name} of an interrupted run")
    shard_of: dict[str, str] = {}
    shard_rows: list[ShardRecord] = []

    def closed(name: str, keys: list[str]) -> None:
        crash_point("reduce.shard_closed")
        path = shard_dir / name
        shard_rows.append(ShardRecord(name, len(keys), path.stat().st_size, _sha256(path), keys[0], keys[-1]))

    writer = ShardWriter(
        shard_dir, cfg.shards.prefix, int(cfg.shards.target_mb * (1 << 20)), on_shard_closed=closed
    )
    with writer:
        for k in kept_idx:
            c, rec = candidates[k], clips[k]
            r = owner[rec.clip_id]
            sdir = final_dir(out, rec.video_id)
            tags_ids = vocab.encode(c.tags) if c.tags else []
            meta = SampleMetadata(
                key=rec.clip_id,
                video_id=rec.video_id,
                source_path=r.video.path if r.video else text_path(r.input_path),
                shot_id=rec.shot_id,
                start_frame=rec.start_frame,
                end_frame=rec.end_frame,
                start_s=rec.start_s,
                end_s=rec.end_s,
                fps=rec.fps,
                width=rec.width,
                height=rec.height,
                frames=c.frames,
                taxonomy_version=rec.taxonomy_version or tax.version,
                tags=c.tags,
                confidences=c.confidences,
                sources=c.sources,
                missing=c.missing,
                directive=rec.directive,
                summary=c.summary,
                description=c.description,
                scores=c.shot_scores,
                tier=rec.tier,
                weight=round(weight_of[rec.clip_id], 6),
            )
            sample = ShardSample(
                metadata=meta,
                mp4=(sdir / c.mp4).read_bytes(),
                tag_ids=tags_ids,
                field_ids=[vocab.field_index_of(i) for i in tags_ids],
                jpg=(sdir / c.jpg).read_bytes() if c.jpg else None,
                embedding=np.load(sdir / c.embedding) if c.embedding else None,
            )
            shard_of[rec.clip_id] = writer.write(sample)
            crash_point("reduce.sample_written")
    names = {row.shard for row in shard_rows}
    for stale in sorted(shard_dir.glob(f"{cfg.shards.prefix}-*.tar")):
        if stale.name not in names:
            stale.unlink()
    clips = [dataclasses.replace(c, shard=shard_of.get(c.clip_id)) for c in clips]

    # --- tags table
    tags_rows: list[TagRecord] = []
    for c, rec in zip(candidates, clips, strict=True):
        for field_id, values in c.tags.items():
            for value in values:
                tag = f"{field_id}={value}"
                tags_rows.append(
                    TagRecord(
                        clip_id=rec.clip_id,
                        axis=tax.field(field_id).axis,
                        field=field_id,
                        value=value,
                        tag_id=vocab.id_of(field_id, value),
                        confidence=float(c.confidences.get(tag, 0.0)),
                        source=c.sources.get(tag, ""),
                        taxonomy_version=rec.taxonomy_version or tax.version,
                    )
                )

    funnel = _funnel(results, input_rejections, inputs_total, shots, scores, clips, candidates, rejections)
    manifest = out / "manifest"
    write_parquet(videos, VideoRecord, manifest / "videos.parquet")
    crash_point("reduce.manifest")
    write_parquet(shots, ShotRecord, manifest / "shots.parquet")
    write_parquet(scores, ShotScores, manifest / "scores.parquet")
    write_parquet(clips, ClipRecord, manifest / "clips.parquet")
    write_parquet(tags_rows, TagRecord, manifest / "tags.parquet")
    write_parquet(rejections, RejectionRecord, manifest / "rejections.parquet")
    write_parquet(shard_rows, ShardRecord, manifest / "shards.parquet")
    write_parquet(funnel, FunnelRow, manifest / "funnel.parquet")
    weights_doc = {
        "formula": "w = (1/(n_s*n_m*n_c*n_v))^0.7, n_a = frequency of the clip's rarest tag on axis a; mean 1 over kept clips",
        "gini_before": gini_before,
        "gini_after": gini_after,
    }
    (manifest / "rebalance.json").write_text(json.dumps(weights_doc, indent=1, sort_keys=True))
    return ReduceSummary(
        videos=len(videos),
        shots=len(shots),
        clips=len(clips),
        kept=len(kept_idx),
        duplicates=sum(c.status == "duplicate" for c in clips),
        shards=sorted(names),
        funnel=funnel,
        gini_before=gini_before,
        gini_after=gini_after,
    )


def cut_deferred(
    out: Path,
    cfg: CurateConfig,
    candidates: list[ClipCandidate],
    clips: list[ClipRecord],
    owner: dict[str, VideoResult],
    say: Callable[[str], None],
) -> tuple[list[ClipCandidate], list[ClipRecord], list[RejectionRecord]]:
    """Encode the kept clips that their tasks left unencoded for a better copy (``ClipCandidate.deferred_to``)
    the reduce did not keep after all: that copy's video or encode failed, or the reduce's dedupe found less
    than the copy registry did. One front-to-back decode per source, the same conversion and encoder settings
    as the task's, so the bytes are those the task would have written. A clip that cannot be cut now is left
    out with an ``encode_failed`` rejection, as in the task."""
    from pipeline.clips import ClipSpan, cut_clips
    from pipeline.curate.video_task import clip_encoding, thumbnail_jpeg
    from pipeline.decode import VideoError

    todo: dict[str, list[int]] = {}
    for k, rec in enumerate(clips):
        if rec.status == "kept" and not candidates[k].mp4:
            todo.setdefault(rec.video_id, []).append(k)
    if not todo:
        return candidates, clips, []
    say(f"encoding {sum(map(len, todo.values()))} kept clip(s) deferred to a copy that was not kept")
    candidates, failed_keys, rejections = list(candidates), set(), []
    for video_id, ks in sorted(todo.items()):
        source = owner[clips[ks[0]].clip_id].input_path
        names = [f"clips/{clips[k].clip_id}.mp4" for k in ks]
        sdir = final_dir(out, video_id)
        try:
            cut = cut_clips(
                source,
                [ClipSpan(0, clips[k].start_frame, clips[k].end_frame) for k in ks],
                [sdir / n for n in names],
                clip_encoding(cfg, candidates[ks[0]].crop),
            )
        except (VideoError, ValueError, OSError) as exc:
            log.warning("%s: the deferred clips could not be cut: %s", source, exc)
            for k in ks:
                failed_keys.add(clips[k].clip_id)
                rejections.append(
                    RejectionRecord(
                        "clips", "clip", clips[k].clip_id, text_path(source), "encode_failed",
                        f"clip could not be cut: {exc}",
                    )
                )  # fmt: skip
            continue
        for k, name, c in zip(ks, names, cut, strict=True):
            jpg = f"clips/{clips[k].clip_id}.jpg"
            (sdir / jpg).write_bytes(thumbnail_jpeg(c.middle, cfg.clips.thumb_short_side, clips[k].clip_id))
            candidates[k] = dataclasses.replace(candidates[k], mp4=name, jpg=jpg)
    if failed_keys:
        keep = [k for k, rec in enumerate(clips) if rec.clip_id not in failed_keys]
        candidates, clips = [candidates[k] for k in keep], [clips[k] for k in keep]
    return candidates, clips, rejections


def _funnel(
    results: Sequence[VideoResult],
    input_rejections: Sequence[RejectionRecord],
    inputs_total: int,
    shots: Sequence[ShotRecord],
    scores: Sequence[ShotScores],
    clips: Sequence[ClipRecord],
    candidates: Sequence[ClipCandidate],
    rejections: Sequence[RejectionRecord],
) -> list[FunnelRow]:
    ok_videos = [r.video for r in results if r.video is not None and r.video.status == "ok"]
    # a video rejected before decoding counts the seconds its container declares
    seconds_all = sum(
        r.video.duration_s if r.video.frames else r.video.declared_duration_s or 0.0
        for r in results
        if r.video is not None
    )
    inp = FunnelStage("input", "video", inputs_total, inputs_total - len(input_rejections))
    inp.reasons.update(x.rule for x in input_rejections)
    probe = FunnelStage(
        "probe", "video", len(results), len(ok_videos), seconds_all, sum(v.duration_s for v in ok_videos)
    )
    probe.reasons.update(x.rule for x in rejections if x.stage == "probe")
    shot_seconds = sum(s.end_s - s.start_s for s in shots)
    shot_stage = FunnelStage("shots", "shot", len(shots), len(shots), shot_seconds, shot_seconds)
    filt_rejected = {x.subject_id: x.rule for x in rejections if x.subject == "shot" and x.stage != "clips"}
    filt = FunnelStage("filter", "shot", len(scores), len(scores) - len(filt_rejected), shot_seconds)
    filt.seconds_kept = sum(s.duration_s for s in scores if s.shot_id not in filt_rejected)
    filt.reasons.update(filt_rejected.values())
    clip_short = [x for x in rejections if x.stage == "clips"]
    clip_seconds = sum(c.end_s - c.start_s for c in clips)
    clip_stage = FunnelStage(
        "clips", "clip", len(clips) + len(clip_short), len(clips), filt.seconds_kept, clip_seconds
    )
    clip_stage.reasons.update(x.rule for x in clip_short)
    kept = [c for c in clips if c.status == "kept"]
    kept_seconds = sum(c.end_s - c.start_s for c in kept)
    dedupe = FunnelStage("dedupe", "clip", len(clips), len(kept), clip_seconds, kept_seconds)
    dedupe.reasons.update(x.rule for x in rejections if x.stage == "dedupe")
    shards = FunnelStage(
        "shards", "clip", len(kept), sum(c.shard is not None for c in kept), kept_seconds, kept_seconds
    )
    return [s.row() for s in (inp, probe, shot_stage, filt, clip_stage, dedupe, shards)]
