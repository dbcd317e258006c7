"""The map task of the curate job: one video in, its shots, scores, clips and rejections out (staged on disk).

``process_video`` is a plain function so the local runner and Ray run the same code. Models (the shot detector,
AniCaption's experts, the aesthetic head) are loaded once per worker process and reused for every video the
process handles. Nothing here raises for a bad video: every way a video can fail becomes a rejection row.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.blas_threads import one_blas_thread
from pipeline.clips import ClipCutter, ClipEncoding, ClipSpan
from pipeline.curate import staging
from pipeline.curate.caption_pool import CaptionPool
from pipeline.curate.config import CurateConfig, DetectorSection
from pipeline.decode import StreamInfo, VideoError, file_sha256, probe_with_rotation
from pipeline.faults import crash_point
from pipeline.filters import frame_size_caps, reason_no_shot_can_pass, rules_no_shot_can_pass
from pipeline.paths import text_path
from pipeline.records import ClipRecord, RejectionRecord, ShotRecord, VideoRecord
from pipeline.scores.record import ShotScores
from pipeline.shards import sample_key
from pipeline.shots.base import Shot
from pipeline.spare_cpus import SpareCpus

log = logging.getLogger(__name__)


@dataclass
class ClipCandidate:
    """A clip cut and captioned by the map task, before dedupe and sharding."""

    record: ClipRecord
    shot_scores: dict[str, Any]
    tags: dict[str, list[str]] = field(default_factory=dict)
    confidences: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    summary: str | None = None
    description: str | None = None
    #: Files in the video's staging folder (relative names); no mp4 or jpg for a clip ``deferred_to`` a copy.
    mp4: str = ""
    jpg: str | None = None
    embedding: str | None = None
    frames: int = 0
    #: The clip id of a better copy the run had already fingerprinted when this clip was planned: the clip was
    #: not encoded. The reduce's dedupe drops it; should it keep it after all, the reduce encodes it, with
    #: ``crop`` (the clips' crop in source pixels, as the task cut its others).
    deferred_to: str | None = None
    crop: tuple[int, int, int, int] | None = None


@dataclass
class VideoResult:
    """Everything the map task found for one video; ``video`` is None only when the file could not be hashed."""

    input_path: str
    video: VideoRecord | None
    shots: list[ShotRecord] = field(default_factory=list)
    scores: list[ShotScores] = field(default_factory=list)
    clips: list[ClipCandidate] = field(default_factory=list)
    rejections: list[RejectionRecord] = field(default_factory=list)
    #: Dedupe fingerprints of the clips (pipeline.dedupe.Fingerprint), same order as ``clips``.
    fingerprints: list[Any] = field(default_factory=list)
    #: Seconds spent per stage, for the benchmark's breakdown.
    timings: dict[str, float] = field(default_factory=dict)
    frames_decoded: int = 0
    seconds_decoded: float = 0.0


# --- per-process model caches ---------------------------------------------------------------------------------


@lru_cache(maxsize=2)
def _detector(section: DetectorSection) -> Any:
    from pipeline.shots.registry import get_detector

    if section.backend == "transnet":
        return get_detector(section.backend, precision=section.precision, device=section.device)
    return get_detector(section.backend)


def detector_description(detector: Any) -> str:
    """``name[:arithmetic:device]`` of a shot detector as it runs in this process: TransNet's arithmetic is
    machine-dependent under ``precision: auto`` (int8, bf16 or fp32), and boundaries can differ with it."""
    model = getattr(detector, "model", None)
    if model is None or not hasattr(model, "precision"):
        return str(detector.name)
    _ = model.runner  # built once per process: an int8 network that cannot run falls back here, not later
    return f"{detector.name}:{model.precision}:{model.device}"


@lru_cache(maxsize=2)
def _filters(path: str | None) -> Any:
    from pipeline.filters import FilterConfig

    return FilterConfig.load(path)


@lru_cache(maxsize=2)
def _aesthetic(path: str | None) -> Any:
    from pipeline.scores.aesthetic import load_aesthetic

    return load_aesthetic(_filters(path).aesthetic)


@lru_cache(maxsize=2)
def _captioner(config: str | None) -> Any:
    from annotator.caption import AniCaption

    return AniCaption.from_config(config)


# --- helpers --------------------------------------------------------------------------------------------------


def _reject(
    stage: str,
    subject: str,
    subject_id: str,
    path: str,
    rule: str,
    reason: str,
    measured: float | None = None,
    threshold: str | None = None,
) -> RejectionRecord:
    return RejectionRecord(
        stage, subject, text_path(subject_id), text_path(path), rule, reason, measured, threshold
    )


def _video_record(path: str, video_id: str, size: int) -> tuple[VideoRecord, StreamInfo]:
    info, rotation = probe_with_rotation(path)
    record = VideoRecord(
        video_id=video_id,
        path=text_path(Path(path).resolve()),
        size_bytes=size,
        container=info.container,
        codec=info.codec,
        width=info.width,
        height=info.height,
        fps=str(info.fps),
        time_base=str(info.time_base),
        frames=0,
        duration_s=0.0,
        pix_fmt=info.pix_fmt,
        has_audio=info.has_audio,
        rotation=rotation,
        declared_duration_s=info.declared_duration_s,
    )
    return record, info


def thumbnail_jpeg(image: np.ndarray, short_side: int, key: str) -> bytes:
    """JPEG of a clip's middle frame (BGR, clip size, as handed to the encoder), scaled to ``short_side``."""
    h, w = image.shape[:2]
    scale = short_side / min(h, w)
    if scale < 1:
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise RuntimeError(f"{key}: JPEG encoding of the thumbnail failed")
    return data.tobytes()


def clip_encoding(cfg: CurateConfig, crop: tuple[int, int, int, int] | None = None) -> ClipEncoding:
    """How the run encodes its clips (``crop``: in source pixels, for a cut outside the video task)."""
    return ClipEncoding(
        size=cfg.clips.short_side,
        fps=Fraction(cfg.clips.fps) if cfg.clips.fps else None,
        crf=cfg.clips.crf,
        preset=cfg.clips.preset,
        x264_params=cfg.clips.x264_params or None,
        crop=crop,
    )


def encode_threads(cfg: CurateConfig) -> int:
    """Clips encoded at once in one video task: ``clips.encode_threads``, or (0) the CPUs this process may use."""
    if cfg.clips.encode_threads > 0:
        return cfg.clips.encode_threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


#: Share of the machine's memory per CPU that ``clips.buffer_mb: null`` lets a task hold in clip frames (the
#: rest is for the models, the analysis window, Ray's object store and the other tasks' workers).
CLIP_BUFFER_SHARE = 0.4


def memory_bytes() -> int:
    """Memory this process may use: the machine's, or its cgroup's limit when lower (containers)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def clip_buffer_bytes(cfg: CurateConfig) -> int:
    """The clip cutter's budget: ``clips.buffer_mb``, or (null) :data:`CLIP_BUFFER_SHARE` of the memory per
    CPU times the CPUs this task may use (:func:`encode_threads`)."""
    if cfg.clips.buffer_mb is not None:
        return int(cfg.clips.buffer_mb * 2**20)
    per_cpu = memory_bytes() / max(1, os.cpu_count() or 1)
    return int(CLIP_BUFFER_SHARE * per_cpu * encode_threads(cfg))


# --- the task -------------------------------------------------------------------------------------------------


def process_video(
    input_path: str,
    cfg: CurateConfig,
    out: str | Path,
    video_id: str | None = None,
    caption_pool: CaptionPool | None = None,
    spare: SpareCpus | None = None,
    ask_copies: Callable[[list[Any]], Any] | None = None,
) -> VideoResult:
    """Process one video into its staging folder and return what was found (also stored as ``result.pkl``);
    shots are captioned in this process, or by ``caption_pool``'s actors when given. ``spare``: idle CPUs of
    this machine the clip encodes may borrow (the Ray runner's tasks). ``ask_copies``: the run's
    copy registry (:mod:`pipeline.curate.copies`); a clip it names a better copy of is not encoded.

    numpy's BLAS runs on one thread throughout, as in a Ray worker (:mod:`pipeline.blas_threads`): the local
    runner then computes the same floats, and its idle BLAS threads do not spin on the other cores."""
    with one_blas_thread():
        return _process_video(input_path, cfg, Path(out), video_id, caption_pool, spare, ask_copies)


def _process_video(
    input_path: str,
    cfg: CurateConfig,
    out: Path,
    video_id: str | None,
    caption_pool: CaptionPool | None,
    spare: SpareCpus | None,
    ask_copies: Callable[[list[Any]], Any] | None = None,
) -> VideoResult:
    t_start = time.perf_counter()
    timings: Counter[str] = Counter()
    try:
        size = Path(input_path).stat().st_size
        video_id = video_id or file_sha256(input_path)
    except OSError as exc:
        return VideoResult(
            input_path,
            None,
            rejections=[
                _reject("input", "video", input_path, input_path, "unreadable", exc.strerror or str(exc))
            ],
        )
    result = VideoResult(input_path, None)
    stage_dir = staging.start_partial(out, video_id)
    crash_point("map.video_start")

    def reject_video(
        rule: str, reason: str, measured: float | None = None, threshold: str | None = None
    ) -> VideoResult:
        if result.video is not None:
            result.video = dataclasses.replace(result.video, status="rejected")
        result.rejections.append(
            _reject("probe", "video", video_id, input_path, rule, reason, measured, threshold)
        )
        result.timings = dict(timings)
        staging.commit(out, video_id, result)
        return result

    if size == 0:
        return reject_video("empty_file", "the file is empty (0 bytes)")
    try:
        record, info = _video_record(input_path, video_id, size)
    except VideoError as exc:
        return reject_video(exc.reason, exc.detail)
    result.video = record
    lim = cfg.limits
    if info.width * info.height > lim.max_pixels:
        return reject_video(
            "absurd_size", f"{info.width}x{info.height} exceeds limits.max_pixels", info.width * info.height
        )
    if record.rotation:
        return reject_video(
            "rotated_display",
            f"the display matrix rotates the picture by {record.rotation} degrees; AniCurate does not apply "
            "display rotation yet, so its clips would be sideways (rotate the file first)",
            float(record.rotation),
        )
    if min(info.width, info.height) < lim.min_side:
        return reject_video(
            "too_small", f"{info.width}x{info.height} is below limits.min_side", min(info.width, info.height)
        )
    doomed = rules_no_shot_can_pass(info.width, info.height, _filters(cfg.filters), cfg.mode)
    if doomed:
        # Decoding, detecting and scoring a video none of whose shots can be kept would only fill the
        # rejections table; a 2-hour 240p upload is dropped here in milliseconds instead.
        cond = doomed[0].condition
        cap = frame_size_caps(info.width, info.height)[cond.score]
        reason = reason_no_shot_can_pass(doomed, info.width, info.height)
        return reject_video(doomed[0].name, reason, float(cap), cond.threshold)

    from pipeline.curate.analyse import analyse_video

    enc = clip_encoding(cfg)
    try:
        cutter = ClipCutter(input_path, enc, clip_buffer_bytes(cfg), encode_threads(cfg), spare)
    except VideoError as exc:
        return reject_video(exc.reason, exc.detail)
    try:
        analysis = analyse_video(
            input_path,
            video_id,
            cfg,
            timings,
            _detector,
            _filters,
            _aesthetic,
            _captioner if caption_pool is None else (lambda _config: caption_pool.client(video_id)),
            cutter=cutter,
            clips_dir=stage_dir / "clips",
            info=info,
            ask_copies=ask_copies if cfg.dedupe.enabled else None,
        )
    except BaseException:
        cutter.close()
        raise
    result.frames_decoded = analysis.frames
    result.seconds_decoded = analysis.seconds
    result.video = dataclasses.replace(
        record,
        frames=analysis.frames,
        duration_s=analysis.seconds,
        variable_frame_rate=analysis.variable_frame_rate,
        shot_detector=detector_description(_detector(cfg.detector)),
    )
    result.shots, result.scores = analysis.shots, analysis.scores
    result.rejections.extend(analysis.rejections)
    if analysis.frames == 0:
        cutter.close()
        return reject_video(
            analysis.stopped[0] if analysis.stopped else "no_frames", "no frame could be decoded"
        )
    if analysis.stopped is not None:
        rule, detail = analysis.stopped
        result.rejections.append(
            _reject(
                "decode",
                "video",
                video_id,
                input_path,
                rule,
                f"only the first part was used: {detail}",
                float(analysis.frames),
            )
        )

    # wait for the encodes; clips whose frames did not fit the budget are cut by one second decode here
    t0 = time.perf_counter()
    cuts, failed = cutter.finish()
    for c in analysis.clips:
        if c.key not in cuts and c.deferred_to is None:
            reason = (
                c.cut_error or failed.get(c.key) or "clip could not be cut: its frames were never decoded"
            )
            result.rejections.append(_reject("clips", "clip", c.key, input_path, "encode_failed", reason))
    # wall time of this thread: converting frames to clip size ran inside the analysis decode loop, and
    # "encode" is the time spent encoding or waiting for the encode threads
    timings["decode+detect"] -= cutter.timings["clip frames"]
    timings["clip frames"] += cutter.timings["clip frames"]
    timings["second decode"] += cutter.timings["second decode"]
    timings["encode"] += time.perf_counter() - t0 - cutter.timings["second decode"]
    crash_point("map.clips_cut")

    t0 = time.perf_counter()
    out_fps = Fraction(cfg.clips.fps) if cfg.clips.fps else info.fps
    for c in analysis.clips:
        cut = cuts.get(c.key)
        if cut is None and c.deferred_to is None:
            continue
        if cut is not None:
            jpg_name: str | None = f"clips/{c.key}.jpg"
            (stage_dir / jpg_name).write_bytes(thumbnail_jpeg(cut.middle, cfg.clips.thumb_short_side, c.key))
            width, height = cut.width, cut.height
        else:
            jpg_name = None
            width, height = cutter.geometry.width, cutter.geometry.height
        emb_name = None
        if c.embedding is not None:
            emb_name = f"{c.key}.emb.npy"
            np.save(stage_dir / "clips" / emb_name, c.embedding.astype(np.float32), allow_pickle=False)
        rec = ClipRecord(
            clip_id=c.key,
            shot_id=c.shot_id,
            video_id=video_id,
            start_frame=c.span.start,
            end_frame=c.span.end,
            start_s=c.start_s,
            end_s=c.end_s,
            width=width,
            height=height,
            fps=str(out_fps),
            tier=c.tier,
            taxonomy_version=c.taxonomy_version,
            directive=c.directive,
        )
        result.clips.append(
            ClipCandidate(
                record=rec,
                shot_scores=c.scores,
                tags=c.tags,
                confidences=c.confidences,
                sources=c.sources,
                missing=c.missing,
                summary=c.summary,
                description=c.description,
                mp4=f"clips/{c.key}.mp4" if cut is not None else "",
                jpg=jpg_name,
                embedding=f"clips/{emb_name}" if emb_name else None,
                frames=c.span.frames,
                deferred_to=c.deferred_to if cut is None else None,
                crop=cutter.geometry.crop if cut is None else None,
            )
        )
        result.fingerprints.append(c.fingerprint)
    timings["thumbnails"] += time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    result.timings = dict(timings)
    crash_point("map.before_commit")
    staging.commit(out, video_id, result)
    crash_point("map.after_commit")
    return result


__all__ = ["ClipCandidate", "ClipSpan", "Shot", "VideoResult", "process_video", "sample_key"]
