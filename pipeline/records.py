"""Typed records of the tables the pipeline writes, and their Arrow schemas.

One dataclass per table row is the single source of truth: the Arrow schema is derived from it (types from
the annotations, documentation from ``doc``), so the two cannot drift. Every table is written as Parquet
under ``<out>/manifest/<table>.parquet`` and queried with DuckDB.

Tables
- ``videos``: one row per input file, probed once; ``video_id`` is the sha256 of the file bytes.
- ``shots``: one row per detected shot, frame-exact (``end_frame`` inclusive) with exact pts.
- ``clips``: one row per training clip cut from a shot (long shots give several windows); carries the
  dedupe verdict, the tier and the shard it landed in.
- ``tags``: one row per (clip, PKS tag) with the expert that decided it and its confidence.
- ``rejections``: one row per dropped video / shot / clip: the stage, the rule and the measured value.
- ``scores``: one row per shot: duration, resolution, layout, quality, motion, timing, text, aesthetic
  (defined in :mod:`pipeline.scores.record`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from pipeline.schema import (  # noqa: F401  (re-exported: the records' public API)
    arrow_schema,
    col,
    describe,
    from_table,
    read_parquet,
    to_table,
    write_parquet,
)
from pipeline.scores.record import ShotScores


@dataclass(frozen=True)
class VideoRecord:
    video_id: str = col("sha256 of the file bytes; stable key of the source")
    path: str = col("path of the input as given (resolved to absolute)")
    size_bytes: int = col("file size in bytes")
    container: str = col("container format name reported by the demuxer")
    codec: str = col("video codec name")
    width: int = col("coded width in pixels", pa.int32())
    height: int = col("coded height in pixels", pa.int32())
    fps: str = col("average frame rate as an exact fraction string, e.g. '24000/1001'")
    time_base: str = col("stream time base as a fraction string")
    frames: int = col("number of decoded frames")
    duration_s: float = col("duration in seconds (last pts + frame duration - first pts)")
    pix_fmt: str = col("pixel format of the decoded stream")
    rotation: int = col("display rotation in degrees from the display matrix", pa.int16(), default=0)
    has_audio: bool = col("whether the container holds an audio stream", default=False)
    variable_frame_rate: bool = col("true when frame durations are not constant", default=False)
    status: str = col("'ok' or 'rejected' (see the rejections table)", default="ok")
    declared_duration_s: float | None = col(
        "duration the container or stream declares, known before decoding (null when it declares none)",
        default=None,
    )
    shot_detector: str | None = col(
        "the shot detector as it ran on this video, with TransNet's arithmetic and device, e.g. "
        "'transnet:int8:cpu' (null when the video was rejected before detection)",
        default=None,
    )


@dataclass(frozen=True)
class ShotRecord:
    shot_id: str = col("'<video_id[:16]>:<start_frame>-<end_frame>'")
    video_id: str = col("source video")
    index: int = col("0-based position of the shot in its video", pa.int32())
    start_frame: int = col("first frame of the shot (0-based decoded index)")
    end_frame: int = col("last frame of the shot, inclusive")
    start_pts: int = col("pts of the first frame in the stream time base")
    end_pts: int = col("pts of the last frame in the stream time base")
    time_base: str = col("stream time base as a fraction string")
    start_s: float = col("presentation time of the first frame, seconds")
    end_s: float = col("presentation time just after the last frame, seconds")
    detector: str = col("shot detector backend that produced the boundaries")
    boundary_in: str = col("how the shot begins: 'start', 'cut', or a transition type", default="cut")
    boundary_out: str = col("how the shot ends: 'end', 'cut', or a transition type", default="cut")


@dataclass(frozen=True)
class ClipRecord:
    clip_id: str = col(
        "sample key: '<video_id[:16]>_<start:07d>_<end:07d>' (pipeline.shards.sample_key); stable across runs"
    )
    shot_id: str = col("shot the clip was cut from")
    video_id: str = col("source video")
    start_frame: int = col("first source frame in the clip")
    end_frame: int = col("last source frame in the clip, inclusive")
    start_s: float = col("source time of the first frame, seconds")
    end_s: float = col("source time just after the last frame, seconds")
    width: int = col("clip width after re-encoding", pa.int32())
    height: int = col("clip height after re-encoding", pa.int32())
    fps: str = col("clip frame rate as a fraction string")
    status: str = col("'kept', 'rejected' or 'duplicate'", default="kept")
    duplicate_of: str | None = col("clip_id of the kept clip when this one is a duplicate", default=None)
    tier: str | None = col("quality tier assigned by the filter config (e.g. B / A / S)", default=None)
    shard: str | None = col("WebDataset shard file name holding the sample", default=None)
    taxonomy_version: str | None = col("PKS version the tags were validated against", default=None)
    directive: str | None = col("AniCaption directive text", default=None)


@dataclass(frozen=True)
class TagRecord:
    clip_id: str = col("clip the tag describes")
    axis: str = col("PKS axis: style, motion, camera or vfx")
    field: str = col("PKS field id, e.g. 'camera.movement'")
    value: str = col("PKS value id, e.g. 'pan_left'")
    tag_id: int = col("tag vocabulary id of (field, value)", pa.int32())
    confidence: float = col("confidence of the deciding expert in [0, 1]", pa.float32())
    source: str = col("expert that decided the tag")
    taxonomy_version: str = col("PKS version the tag was validated against")


@dataclass(frozen=True)
class RejectionRecord:
    stage: str = col("pipeline stage that dropped the item, e.g. 'probe', 'filter', 'dedupe'")
    subject: str = col("'video', 'shot' or 'clip'")
    subject_id: str = col("video_id, shot_id or clip_id of the dropped item")
    source_path: str = col("input file the item came from")
    rule: str = col("rule that fired, e.g. 'min_duration_s' or 'unreadable'")
    reason: str = col("one-line human-readable explanation")
    measured: float | None = col("measured value the rule compared, when numeric", default=None)
    threshold: str | None = col("the rule's threshold as written in the config", default=None)


TABLES: dict[str, type] = {
    "videos": VideoRecord,
    "shots": ShotRecord,
    "clips": ClipRecord,
    "tags": TagRecord,
    "rejections": RejectionRecord,
    "scores": ShotScores,
}
