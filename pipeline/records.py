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
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

R = TypeVar("R")


def col(doc: str, arrow: pa.DataType | None = None, default: Any = dataclasses.MISSING) -> Any:
    """A documented column; ``arrow`` overrides the type inferred from the annotation."""
    meta = {"doc": doc, "arrow": arrow}
    if default is dataclasses.MISSING:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


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
    clip_id: str = col("sample key: '<video_id[:16]>_<start_frame>_<end_frame>'; stable across runs")
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
}

_SCALARS: dict[type, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
}


def _arrow_type(annotation: Any) -> tuple[pa.DataType, bool]:
    """(arrow type, nullable) for a field annotation such as ``int`` or ``str | None``."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"unsupported union {annotation}")
        return _SCALARS[inner[0]], True
    if annotation not in _SCALARS:
        raise TypeError(f"no Arrow mapping for {annotation}")
    return _SCALARS[annotation], False


def arrow_schema(record_type: type) -> pa.Schema:
    """The Arrow schema of a record dataclass, with each column's ``doc`` in the field metadata."""
    hints = typing.get_type_hints(record_type)
    fields = []
    for f in dataclasses.fields(record_type):
        inferred, nullable = _arrow_type(hints[f.name])
        arrow = f.metadata.get("arrow") or inferred
        fields.append(pa.field(f.name, arrow, nullable=nullable, metadata={"doc": f.metadata["doc"]}))
    return pa.schema(fields, metadata={"record": record_type.__name__})


def to_table(records: Iterable[Any], record_type: type) -> pa.Table:
    """Rows of ``record_type`` as a table with exactly its schema (an empty table keeps the schema)."""
    schema = arrow_schema(record_type)
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for rec in records:
        if not isinstance(rec, record_type):
            raise TypeError(f"expected {record_type.__name__}, got {type(rec).__name__}")
        for name in schema.names:
            columns[name].append(getattr(rec, name))
    return pa.Table.from_pydict(columns, schema=schema)


def from_table(table: pa.Table, record_type: type[R]) -> list[R]:
    """Rows of a table read back as ``record_type``; missing or extra columns are an error."""
    expected = arrow_schema(record_type).names
    if sorted(table.column_names) != sorted(expected):
        missing = sorted(set(expected) - set(table.column_names))
        extra = sorted(set(table.column_names) - set(expected))
        raise ValueError(
            f"table does not match {record_type.__name__}: missing {missing}, unexpected {extra}"
        )
    return [record_type(**row) for row in table.to_pylist()]


def write_parquet(records: Sequence[Any], record_type: type, path: str | Path) -> Path:
    """Write records atomically: to ``<path>.tmp`` first, renamed when complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(to_table(records, record_type), tmp)
    tmp.replace(path)
    return path


def read_parquet(path: str | Path, record_type: type[R]) -> list[R]:
    return from_table(pq.read_table(path), record_type)


def describe(record_type: type) -> str:
    """A plain-text description of a table's columns, for docs and ``--help``."""
    schema = arrow_schema(record_type)
    lines = [f"{record_type.__name__}"]
    for f in schema:
        null = " (nullable)" if f.nullable else ""
        lines.append(f"  {f.name}: {f.type}{null}  {f.metadata[b'doc'].decode()}")
    return "\n".join(lines)
