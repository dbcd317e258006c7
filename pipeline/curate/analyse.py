"""The analysis half of the map task: windows of analysis frames -> shots -> scores -> filters -> clip plan ->
captions, dedupe fingerprints and the encoded clips, all from the one decode (the clip cutter takes the
full-resolution frames of the same pass; see :class:`pipeline.clips.ClipCutter`)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.clips import ClipCutter, ClipSpan, plan_clips
from pipeline.curate.config import CurateConfig, DetectorSection
from pipeline.decode import StreamInfo
from pipeline.faults import fault_point
from pipeline.paths import text_path
from pipeline.records import RejectionRecord, ShotRecord
from pipeline.scores.record import ShotScores
from pipeline.scores.registry import ScoreContext, score_shot, shot_id
from pipeline.shards import sample_key
from pipeline.shots.base import Shot
from pipeline.shots.signals import forget_signals
from pipeline.windows import iter_analysis_windows

if TYPE_CHECKING:
    from annotator.source_frames import SourceFrame
    from pipeline.curate.copies import CopyAnswer
    from pipeline.frames import AnalysisFrames

log = logging.getLogger(__name__)


@dataclass
class PlannedClip:
    key: str
    shot_id: str
    span: ClipSpan  # absolute source frames
    start_s: float
    end_s: float
    tier: str | None
    scores: dict[str, Any]
    fingerprint: Any
    taxonomy_version: str | None = None
    tags: dict[str, list[str]] = field(default_factory=dict)
    confidences: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    directive: str | None = None
    summary: str | None = None
    description: str | None = None
    embedding: np.ndarray | None = None
    #: Why the clip could not be handed to the cutter (None: it was).
    cut_error: str | None = None
    #: The clip id of a better copy the run had already fingerprinted: this clip was not encoded (the reduce's
    #: dedupe drops it, or encodes it should that copy be lost).
    deferred_to: str | None = None


@dataclass
class Analysis:
    frames: int = 0
    seconds: float = 0.0
    variable_frame_rate: bool = False
    shots: list[ShotRecord] = field(default_factory=list)
    scores: list[ShotScores] = field(default_factory=list)
    rejections: list[RejectionRecord] = field(default_factory=list)
    clips: list[PlannedClip] = field(default_factory=list)
    stopped: tuple[str, str] | None = None


#: JSON-friendly score columns copied into each sample's metadata.
def _score_dict(row: ShotScores) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(ShotScores):
        v = getattr(row, f.name)
        if f.name in ("shot_id", "video_id", "source_path"):
            continue
        if isinstance(v, float) and not np.isfinite(v):
            v = None
        out[f.name] = v
    return out


def clip_crop(scores: list[ShotScores], width: int, height: int) -> tuple[int, int, int, int] | None:
    """The active picture of the video (from the first shot's layout score, which is the first analysis
    window's layout), even-aligned; None when there are no bars."""
    if not scores:
        return None
    s = scores[0]
    return crop_of_layout(s.layout, (s.active_x, s.active_y, s.active_width, s.active_height), width, height)


def crop_of_layout(
    layout: str, box: tuple[int, int, int, int], width: int, height: int
) -> tuple[int, int, int, int] | None:
    """The even-aligned clip crop of a layout (``box``: its active picture in source pixels); None for no bars."""
    if layout == "full":
        return None
    x, y = box[0] + box[0] % 2, box[1] + box[1] % 2
    w = min(box[2], width - x)
    h = min(box[3], height - y)
    w, h = w - w % 2, h - h % 2
    if w < 16 or h < 16 or (w, h) == (width, height):
        return None
    return x, y, w, h


def _guess_crop(cutter: ClipCutter, thumb_size: tuple[int, int]) -> None:
    """Set ``cutter``'s provisional crop from the layout of the frames it holds (as the analysis sees them)."""
    from pipeline.scores.layout import SAMPLES, find_layout

    thumbs = cutter.source_thumbs(*thumb_size, samples=SAMPLES)
    if not len(thumbs):
        return
    layout = find_layout(thumbs, (cutter.src_w, cutter.src_h))
    crop = crop_of_layout(layout.layout, layout.source_box, cutter.src_w, cutter.src_h)
    with contextlib.suppress(ValueError):  # not a usable crop: frames stay at source size until the final one
        cutter.set_crop(crop, provisional=True)


def _caption_missing_reason(exc: Exception) -> str:
    return f"AniCaption failed on this clip: {type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class HeldPictures:
    """The clip frames the cutter holds for the current window, served to AniCaption's experts that need
    larger pictures (:class:`annotator.source_frames.PictureSource`), so they do not decode the file again.
    Frames the cutter no longer holds (its memory budget) are read back from the file and converted the same
    way, so the pictures, and the captions, never depend on the budget."""

    cutter: ClipCutter
    frames: AnalysisFrames
    offset: int

    def read(self, pts: Sequence[int], width: int) -> list[SourceFrame] | None:
        from annotator.source_frames import SourceFrame, fit_picture, read_source_frames

        if not self.cutter.crop_final:
            return None
        out: dict[int, SourceFrame] = {}
        missing: list[int] = []
        for p in pts:
            local = int(np.searchsorted(self.frames.pts, p))
            if local >= len(self.frames) or int(self.frames.pts[local]) != int(p):
                return None
            rgb = self.cutter.held_rgb(self.offset + local)
            if rgb is None:
                missing.append(int(p))
            else:
                out[int(p)] = SourceFrame(int(p), fit_picture(rgb, None, width))
        if missing:
            read = read_source_frames(self.frames.path, missing, width, convert=self.cutter.clip_rgb)
            out.update((f.pts, f) for f in read if f.pts in missing)
            if any(p not in out for p in missing):
                return None
        return [out[int(p)] for p in pts]


def analyse_video(
    path: str,
    video_id: str,
    cfg: CurateConfig,
    timings: Counter[str],
    detector_for: Callable[[DetectorSection], Any],
    filters_for: Callable[[str | None], Any],
    aesthetic_for: Callable[[str | None], Any],
    captioner_for: Callable[[str | None], Any],
    cutter: ClipCutter | None = None,
    clips_dir: Path | None = None,
    info: StreamInfo | None = None,
    ask_copies: Callable[[list[Any]], CopyAnswer] | None = None,
) -> Analysis:
    """Run every analysis stage of one video window by window (see :mod:`pipeline.windows`); ``info``: the
    file's :func:`~pipeline.decode.probe`, when already known.

    With a ``cutter``, each kept clip is handed to it as soon as its window is final: encoded to
    ``clips_dir/<key>.mp4`` from the frames of this decode, or left for ``cutter.finish()`` (a second decode)
    when its frames did not fit the cutter's budget. ``ask_copies`` (the run's copy registry, see
    :mod:`pipeline.curate.copies`) is asked first, with the fingerprints of a window's clips: a clip it names a
    better copy of is not encoded (:attr:`PlannedClip.deferred_to`), provided the answer is in by the time the
    clip is cut."""
    from annotator.base import ShotInput
    from pipeline.dedupe import DedupeConfig
    from pipeline.dedupe.fingerprint import fingerprint_from_hashes, hash_video
    from pipeline.filters import apply_filters
    from pipeline.frames import thumb_size
    from taxonomy import load_taxonomy

    out = Analysis()
    detector = detector_for(cfg.detector)
    filters = filters_for(cfg.filters)
    ctx_aesthetic = aesthetic_for(cfg.filters)
    captioner = captioner_for(cfg.caption.config) if cfg.caption.enabled else None
    tax_version = load_taxonomy().version
    dedupe_cfg = DedupeConfig()
    intervals: set[int] = set()
    first_pts: int | None = None
    last_seconds = 0.0
    shot_index = 0

    if cutter is not None:
        # once frames at source size would overflow the budget, hold them at clip size under a guessed crop
        source_thumb = thumb_size(cutter.src_w, cutter.src_h, cfg.analysis.thumb_width)
        cutter.on_pressure = functools.partial(_guess_crop, cutter, source_thumb)
    windows = iter_analysis_windows(
        path,
        detector,
        window_frames=cfg.analysis.window_frames,
        thumb_width=cfg.analysis.thumb_width,
        digests=cfg.analysis.digests,
        min_shot_frames=cfg.detector.min_shot_frames,
        max_frames=cfg.limits.max_frames,
        on_frame=cutter.add_frame if cutter is not None else None,
        decode_threads=cfg.analysis.decode_threads,
        info=info,
    )
    crop_error: str | None = None
    t0 = time.perf_counter()
    for window in windows:
        timings["decode+detect"] += time.perf_counter() - t0
        frames, off = window.frames, window.offset
        n = len(frames)
        if n:
            d = np.diff(frames.pts)
            intervals.update(int(x) for x in np.unique(d)[:8])
            if first_pts is None:
                first_pts = int(frames.pts[0])
            out.frames = max(out.frames, off + n)
            last_seconds = float(frames.end_seconds(n - 1))
        if window.stopped is not None:
            out.stopped = window.stopped

        # scores + filters, per shot (indices absolute in the records)
        t = time.perf_counter()
        ctx = ScoreContext(video_id=video_id, source_path=text_path(path), aesthetic=ctx_aesthetic)
        rows: list[ShotScores] = []
        for s in window.shots:
            row = score_shot(frames, s.start - off, s.end - off, ctx)
            rows.append(
                dataclasses.replace(
                    row, shot_id=shot_id(video_id, s.start, s.end), start_frame=s.start, end_frame=s.end
                )
            )
            out.shots.append(
                ShotRecord(
                    shot_id=shot_id(video_id, s.start, s.end),
                    video_id=video_id,
                    index=shot_index,
                    start_frame=s.start,
                    end_frame=s.end,
                    start_pts=int(frames.pts[s.start - off]),
                    end_pts=int(frames.pts[s.end - off]),
                    time_base=str(frames.time_base),
                    start_s=float(frames.seconds(s.start - off)),
                    end_s=float(frames.end_seconds(s.end - off)),
                    detector=getattr(detector, "name", cfg.detector.backend),
                    boundary_in=s.boundary_in,
                    boundary_out=s.boundary_out,
                )
            )
            shot_index += 1
        verdict = apply_filters(rows, filters, cfg.mode)
        out.scores.extend(rows)
        out.rejections.extend(verdict.rejections)
        timings["score+filter"] += time.perf_counter() - t
        if cutter is not None and out.scores and not cutter.crop_final and crop_error is None:
            try:
                cutter.set_crop(clip_crop(out.scores, *frames.source_size))
            except ValueError as exc:
                crop_error = f"clip could not be cut: {exc}"

        # clip plan of the kept shots
        kept = {r.shot_id: r for r in verdict.kept}
        fps = float(frames.fps) if frames.fps else 24.0
        max_frames = max(1, int(cfg.clips.max_seconds * fps))
        hashed = None
        planned: list[tuple[PlannedClip, ShotScores, int, int]] = []
        for s, row in zip(window.shots, rows, strict=True):
            if row.shot_id not in kept:
                continue
            spans = plan_clips([Shot(s.start, s.end)], max_frames=max_frames, min_frames=cfg.clips.min_frames)
            if not spans:
                out.rejections.append(
                    RejectionRecord(
                        "clips",
                        "shot",
                        row.shot_id,
                        text_path(path),
                        "min_clip_frames",
                        f"{s.length} frames is shorter than clips.min_frames",
                        float(s.length),
                        f">= {cfg.clips.min_frames}",
                    )
                )
                continue
            for span in spans:
                key = sample_key(video_id, span.start, span.end)
                a, b = span.start - off, span.end - off
                t = time.perf_counter()
                if cfg.dedupe.enabled:
                    if hashed is None:
                        hashed = hash_video(frames, dedupe_cfg)
                    fp = fingerprint_from_hashes(
                        hashed, a, b, key, video_id, row.aesthetic, dedupe_cfg, offset=off
                    )
                else:
                    fp = None
                timings["fingerprint"] += time.perf_counter() - t
                clip = PlannedClip(
                    key=key,
                    shot_id=row.shot_id,
                    span=ClipSpan(shot_index, span.start, span.end),
                    start_s=float(frames.seconds(a)),
                    end_s=float(frames.end_seconds(b)),
                    tier=verdict.tiers.get(row.shot_id),
                    scores=_score_dict(row),
                    fingerprint=fp,
                    taxonomy_version=tax_version,
                )
                planned.append((clip, row, a, b))
        answer, asked_keys = None, []
        if cutter is not None and clips_dir is not None and crop_error is None and ask_copies is not None:
            asked = [clip for clip, *_ in planned if clip.fingerprint is not None]
            if asked:
                t = time.perf_counter()
                answer, asked_keys = ask_copies([c.fingerprint for c in asked]), [c.key for c in asked]
                timings["copy lookup"] += time.perf_counter() - t
        cuts = None
        if cutter is not None and clips_dir is not None:
            cuts = _CutQueue(planned, answer, asked_keys, cutter, clips_dir, crop_error, timings)
        for i, (clip, row, a, b) in enumerate(planned):
            if cuts is not None:
                cuts.advance(i)  # the clips before this one, or all of them once the copies are known
            t = time.perf_counter()
            if captioner is not None:
                pictures = HeldPictures(cutter, frames, off) if cutter is not None else None
                _caption(clip, captioner, ShotInput(frames, a, b, ctx, row, Path(path), pictures))
            else:
                clip.missing = {"*": "captioning disabled (caption.enabled: false)"}
            timings["caption"] += time.perf_counter() - t
            if cuts is not None:
                cuts.advance(i + 1)
            out.clips.append(clip)
        if cutter is not None and window.shots:
            t = time.perf_counter()
            cutter.release_through(max(s.end for s in window.shots))  # waits for this window's encodes
            timings["encode"] += time.perf_counter() - t
        fault_point("map.window_done")
        t0 = time.perf_counter()
    forget_signals()  # the last window's shot signals (and the detector's flash stages) are not needed past this video
    out.seconds = max(
        0.0, last_seconds - (float(first_pts * frames.time_base) if first_pts is not None else 0.0)
    )
    out.variable_frame_rate = len(intervals) > 1 and (max(intervals) - min(intervals)) > 1
    return out


class _CutQueue:
    """Hands a window's planned clips to the cutter in order, each once. Until the copy registry's answer is
    in, a clip goes when the caller reaches it (it is encoded, never waited for); once the answer is in (or
    there is none to wait for) every clip left goes at once, so the encodes a spare CPU can take run beside
    the captions still to come."""

    def __init__(
        self,
        planned: list[tuple[PlannedClip, ShotScores, int, int]],
        answer: CopyAnswer | None,
        asked_keys: list[str],
        cutter: ClipCutter,
        clips_dir: Path,
        crop_error: str | None,
        timings: Counter[str],
    ) -> None:
        self.clips = [clip for clip, *_ in planned]
        self.answer, self.asked_keys = answer, asked_keys
        self.cutter, self.clips_dir, self.crop_error, self.timings = cutter, clips_dir, crop_error, timings
        self.named: dict[str, str | None] | None = None
        self.handed = 0

    def advance(self, upto: int) -> None:
        """Hand the clips before index ``upto`` (all of them once the copies are known)."""
        t = time.perf_counter()
        if self.named is None and self.answer is not None:
            got = self.answer.poll()
            if got is not None:
                self.named = dict(zip(self.asked_keys, got, strict=True))
        self.timings["copy lookup"] += time.perf_counter() - t
        if self.named is not None or self.answer is None:  # (no answer is asked for after a crop error)
            upto = len(self.clips)
        for clip in self.clips[self.handed : upto]:
            self._hand(clip)
        self.handed = max(self.handed, upto)

    def _hand(self, clip: PlannedClip) -> None:
        if self.crop_error is not None:
            clip.cut_error = self.crop_error
            return
        clip.deferred_to = self.named.get(clip.key) if self.named else None
        if clip.deferred_to is None:
            t = time.perf_counter()
            self.cutter.cut(clip.key, clip.span, self.clips_dir / f"{clip.key}.mp4")
            self.timings["encode"] += time.perf_counter() - t


def _caption(clip: PlannedClip, captioner: Any, shot: Any) -> None:
    """Annotate one clip with ``captioner`` (an AniCaption or a caption-pool client; both offer
    ``annotate_with_embedding``)."""
    try:
        ann, embedding = captioner.annotate_with_embedding(shot)
    except Exception as exc:  # one clip's failure must not lose the video; the reason is kept
        log.warning("%s: %s", clip.key, _caption_missing_reason(exc))
        clip.missing = {"*": _caption_missing_reason(exc)}
        return
    clip.tags = {k: list(v) for k, v in ann.tags.items()}
    clip.confidences = dict(ann.confidences)
    clip.sources = dict(ann.sources)
    clip.missing = dict(ann.missing)
    clip.taxonomy_version = ann.taxonomy_version
    if ann.directive is not None:
        clip.directive = ann.directive.text()
        clip.summary = ann.directive.summary
        clip.description = ann.directive.description
    clip.embedding = embedding
