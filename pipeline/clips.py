"""Frame-exact clip extraction: each clip holds exactly its source frames, re-encoded with PyAV.

Planning turns shots into clip spans (transition frames are already outside shots; long shots are split into
windows of at most ``max_frames``). Extraction decodes the source once, front to back, and routes every frame
by its decoded index to the clip that owns it, so no frame of a neighbouring shot can leak in and no seek
imprecision can shift a boundary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error

from pipeline.decode import VideoError, first_video_stream, open_container
from pipeline.shots.base import Shot


@dataclass(frozen=True)
class ClipSpan:
    """Source frames ``start``..``end`` (inclusive) of one shot that become one clip."""

    shot_index: int
    start: int
    end: int

    @property
    def frames(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True)
class ClipEncoding:
    """How clips are re-encoded.

    ``size``: None keeps the source size; (w, h) scales to exactly that; an int scales the short side to it
    (aspect kept, even dimensions). ``fps``: None keeps every source frame and the source rate; a rate
    resamples by nearest source frame in time (frames dropped or repeated), so motion speed is preserved.
    ``crf`` 0 with no scaling is lossless: decoded clip frames equal the source's decoded frames bit for bit.
    """

    size: tuple[int, int] | int | None = None
    fps: Fraction | None = None
    codec: str = "libx264"
    crf: int = 18
    preset: str = "veryfast"
    pix_fmt: str = "yuv420p"
    #: Active picture to keep, ``(x, y, width, height)`` in source pixels (bars cut away); None keeps the frame.
    crop: tuple[int, int, int, int] | None = None


def plan_clips(
    shots: Sequence[Shot], max_frames: int | None = None, min_frames: int = 1, drop_edge_frames: int = 0
) -> list[ClipSpan]:
    """Clip spans from shots: trim ``drop_edge_frames`` at both ends, split into windows of at most
    ``max_frames`` of near-equal length, and drop anything shorter than ``min_frames``."""
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be positive, got {max_frames}")
    spans: list[ClipSpan] = []
    for index, shot in enumerate(shots):
        start, end = shot.start + drop_edge_frames, shot.end - drop_edge_frames
        length = end - start + 1
        if length < max(min_frames, 1):
            continue
        pieces = 1 if max_frames is None else -(-length // max_frames)
        base, extra = divmod(length, pieces)
        cursor = start
        for p in range(pieces):
            size = base + (1 if p < extra else 0)
            if size >= min_frames:
                spans.append(ClipSpan(index, cursor, cursor + size - 1))
            cursor += size
    return spans


def _target_size(src_w: int, src_h: int, size: tuple[int, int] | int | None) -> tuple[int, int]:
    if size is None:
        w, h = src_w, src_h
    elif isinstance(size, int):
        scale = size / min(src_w, src_h)
        w, h = round(src_w * scale), round(src_h * scale)
    else:
        w, h = size
    return max(2, w - w % 2), max(2, h - h % 2)


class _ClipWriter:
    def __init__(self, path: Path, rate: Fraction, width: int, height: int, enc: ClipEncoding) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.tmp = path.with_name(path.name + ".part")
        self.container = av.open(str(self.tmp), "w", format="mp4")
        self.stream = self.container.add_stream(enc.codec, rate=rate)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, enc.pix_fmt
        self.stream.options = {"crf": str(enc.crf), "preset": enc.preset}
        self.stream.thread_count = 1  # deterministic bytes for identical input
        self.width, self.height, self.pix_fmt = width, height, enc.pix_fmt
        self.crop = enc.crop
        self.frame_time_base = 1 / Fraction(rate)  # output frame k has pts k: a constant-rate clip from 0
        self.count = 0

    def write(self, frame: av.VideoFrame) -> None:
        if self.crop is not None:
            x, y, w, h = self.crop
            frame = av.VideoFrame.from_ndarray(
                frame.to_ndarray(format="rgb24")[y : y + h, x : x + w].copy(), format="rgb24"
            )
        if (frame.width, frame.height, frame.format.name) != (self.width, self.height, self.pix_fmt):
            frame = frame.reformat(width=self.width, height=self.height, format=self.pix_fmt)
        frame.pts = self.count
        frame.time_base = self.frame_time_base
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.count += 1

    def close(self) -> Path:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()
        self.tmp.replace(self.path)
        return self.path

    def abort(self) -> None:
        try:
            self.container.close()
        finally:
            self.tmp.unlink(missing_ok=True)


def _resample_indices(span: ClipSpan, src_fps: Fraction, dst_fps: Fraction) -> list[int]:
    """Source frame index for each output frame, nearest in time, covering the span's duration."""
    duration = Fraction(span.frames) / src_fps
    count = max(1, round(duration * dst_fps))
    return [
        min(span.end, span.start + int(Fraction(k) / dst_fps * src_fps + Fraction(1, 2)))
        for k in range(count)
    ]


def extract_clips(
    source: str | Path,
    spans: Sequence[ClipSpan],
    out_paths: Sequence[str | Path],
    encoding: ClipEncoding | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """Write one file per span, in one front-to-back decode of ``source``. Files are written under a
    ``.part`` name and renamed when complete, so a crash never leaves a truncated clip under its final name."""
    enc = encoding or ClipEncoding()
    if len(spans) != len(out_paths):
        raise ValueError("one output path per span is required")
    if not spans:
        return []
    order = sorted(range(len(spans)), key=lambda k: spans[k].start)
    for a, b in zip(order, order[1:], strict=False):
        if spans[a].end >= spans[b].start:
            raise ValueError(f"clip spans overlap: {spans[a]} and {spans[b]}")
    with open_container(source) as container:
        stream = first_video_stream(container, source)
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        src_fps = Fraction(rate.numerator, rate.denominator) if rate else Fraction(24)
        out_fps = enc.fps or src_fps
        src_w, src_h = stream.codec_context.width, stream.codec_context.height
        if enc.crop is not None:
            x, y, w, h = enc.crop
            if x < 0 or y < 0 or w < 2 or h < 2 or x + w > src_w or y + h > src_h:
                raise ValueError(f"crop {enc.crop} is not inside the {src_w}x{src_h} source")
            src_w, src_h = w, h
        width, height = _target_size(src_w, src_h, enc.size)
        # For each span: which source frames to emit, in order (repeats allowed when upsampling).
        repeats: dict[int, Counter[int]] = {
            k: Counter(
                range(span.start, span.end + 1)
                if enc.fps is None
                else _resample_indices(span, src_fps, out_fps)
            )
            for k, span in enumerate(spans)
        }
        results: dict[int, Path] = {}
        active: tuple[int, _ClipWriter] | None = None
        cursor = 0  # position in ``order`` of the next span to open
        last_needed = spans[order[-1]].end
        try:
            for index, frame in enumerate(container.decode(stream)):
                if active is None and cursor < len(order) and index == spans[order[cursor]].start:
                    k = order[cursor]
                    active = (k, _ClipWriter(Path(out_paths[k]), out_fps, width, height, enc))
                    cursor += 1
                if active is not None:
                    k, writer = active
                    for _ in range(repeats[k][index]):
                        writer.write(frame)
                    if index == spans[k].end:
                        results[k] = writer.close()
                        active = None
                if progress:
                    progress(index)
                if index >= last_needed:
                    break
        except av.error.FFmpegError as exc:
            if active is not None:
                active[1].abort()
            raise VideoError(source, "decode_error", f"decoding failed while cutting clips ({exc})") from exc
        if active is not None:
            active[1].abort()
            raise VideoError(source, "truncated", f"video ended before frame {spans[active[0]].end}")
    missing = [spans[k] for k in range(len(spans)) if k not in results]
    if missing:
        raise VideoError(source, "truncated", f"video ended before clip spans {missing}")
    return [results[k] for k in range(len(spans))]
