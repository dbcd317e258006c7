"""Video probing and streaming decode with PyAV.

Frames are yielded one at a time with their exact pts, so memory stays bounded whatever the file length.
Every failure to open or read a file becomes a :class:`VideoError` whose message names the file and the cause.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import xxhash
from av.video.reformatter import VideoReformatter

from pipeline.timebase import snap_rate


class VideoError(RuntimeError):
    """A video that cannot be opened or decoded; ``reason`` is a short machine-readable rule name."""

    def __init__(self, path: str | Path, reason: str, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.path = str(path)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class StreamInfo:
    path: str
    container: str
    codec: str
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    declared_frames: int | None
    declared_duration_s: float | None
    pix_fmt: str
    has_audio: bool


@dataclass(frozen=True)
class DecodedFrame:
    index: int
    pts: int
    time_base: Fraction
    image: np.ndarray  # HxWx3 uint8 RGB, or HxW uint8 when decoded as gray
    digest: bytes | None = None  # 8-byte content hash of the full-resolution decoded picture, when asked for
    #: The decoded PyAV frame itself (only with ``iter_frames(keep_source=True)``), for a second conversion of
    #: chosen frames (e.g. a larger luma copy) without a second decode; each one holds a full-resolution picture.
    source: av.VideoFrame | None = field(default=None, repr=False, compare=False)

    @property
    def seconds(self) -> Fraction:
        return self.pts * self.time_base


def open_container(path: str | Path) -> av.container.InputContainer:
    path = Path(path)
    try:
        path.resolve(strict=True)
    except RuntimeError as exc:  # Python < 3.13 reports a symlink loop this way
        raise VideoError(path, "symlink_loop", "the path is a symlink loop") from exc
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            raise VideoError(path, "symlink_loop", "the path is a symlink loop") from exc
        what = "a broken symlink" if path.is_symlink() else "file does not exist"
        raise VideoError(path, "missing", what) from exc
    if path.is_dir():
        raise VideoError(path, "not_a_file", "is a directory, not a video file")
    if path.stat().st_size == 0:
        raise VideoError(path, "empty", "file is empty (0 bytes)")
    try:
        return av.open(str(path))
    except PermissionError as exc:
        raise VideoError(path, "unreadable", f"permission denied ({exc.strerror})") from exc
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise VideoError(path, "unreadable", f"not a readable video container ({exc})") from exc


def first_video_stream(
    container: av.container.InputContainer, path: str | Path
) -> av.video.stream.VideoStream:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        raise VideoError(path, "no_video_stream", f"no video stream (streams: {', '.join(kinds)})")
    return container.streams.video[0]


def _stream_fps(stream: av.video.stream.VideoStream) -> Fraction:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate:
        return Fraction(0)
    return snap_rate(Fraction(rate.numerator, rate.denominator))


def probe(path: str | Path) -> StreamInfo:
    """Container-level facts about the first video stream, without decoding frames."""
    with open_container(path) as container:
        return stream_info(container, path)


def probe_with_rotation(path: str | Path) -> tuple[StreamInfo, int]:
    """:func:`probe` and the rotation (degrees, 0-359) the first frame's display matrix asks for, through one
    open of the file; the rotation is 0 when the first frame cannot be decoded (decoding reports that later)."""
    with open_container(path) as container:
        info = stream_info(container, path)
        stream = first_video_stream(container, path)
        stream.thread_count = 1  # one frame: a decoder thread pool would cost more than the frame
        try:
            for frame in container.decode(stream):
                return info, int(round(frame.rotation or 0)) % 360
        except (av.error.FFmpegError, ValueError, AttributeError):
            pass
        return info, 0


def stream_info(container: av.container.InputContainer, path: str | Path) -> StreamInfo:
    """:func:`probe` of an open container."""
    stream = first_video_stream(container, path)
    ctx = stream.codec_context
    duration = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
    if duration is None and container.duration:
        duration = container.duration / av.time_base
    return StreamInfo(
        path=str(path),
        container=container.format.name,
        codec=ctx.name,
        width=ctx.width,
        height=ctx.height,
        fps=_stream_fps(stream),
        time_base=Fraction(stream.time_base.numerator, stream.time_base.denominator)
        if stream.time_base
        else Fraction(1, 1),
        declared_frames=stream.frames or None,
        declared_duration_s=duration,
        pix_fmt=ctx.pix_fmt or "unknown",
        has_audio=bool(container.streams.audio),
    )


#: 8-bit planar 4:2:0 formats whose ``to_ndarray()`` is the three planes' packed rows one after the other.
_PLANAR_420 = ("yuv420p", "yuvj420p")

#: The hash behind :func:`picture_digest`. Digests of different functions never match, so this name is part of
#: the curate job's run fingerprint: a resumed run never mixes staged digests of an older function with new
#: ones.
PICTURE_DIGEST = "xxh3_64"


def picture_digest(frame: av.VideoFrame) -> bytes:
    """An 8-byte content hash of the decoded picture itself (not the file bytes): equal for identical decoded
    frames whatever the container, and independent of line padding in the frame buffers.

    XXH3-64 (non-cryptographic, ~6x cheaper than SHA-1 here: ~0.4 ms per 1080p frame) over the format name,
    the size and the packed pixel bytes. Digests are only compared with each other (exact duplicates), never
    trusted against an adversary."""
    digest = xxhash.xxh3_64(f"{frame.format.name}:{frame.width}x{frame.height}".encode())
    if frame.format.name in _PLANAR_420 and frame.width % 2 == 0 and frame.height % 2 == 0:
        # the bytes of ``frame.to_ndarray()`` (Y rows, then U, then V, packed), hashed from the planes
        # without building that array first (a 1080p frame is 3 MB); a plane without line padding is hashed
        # in place (``ascontiguousarray`` copies only padded planes)
        for plane in frame.planes:
            rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[: plane.height, : plane.width]
            digest.update(memoryview(np.ascontiguousarray(rows)).cast("B"))
        return digest.digest()
    try:
        data = frame.to_ndarray()  # native pixel format, packed rows
    except (ValueError, NotImplementedError, TypeError, AssertionError):
        # PyAV refuses some layouts natively (e.g. odd widths in 4:2:0); hash the RGB conversion instead
        data = frame.to_ndarray(format="rgb24")
    digest.update(memoryview(np.ascontiguousarray(data)).cast("B"))
    return digest.digest()


def iter_frames(
    path: str | Path,
    size: tuple[int, int] | None = None,
    gray: bool = False,
    threads: int = 0,
    digest: bool = False,
    keep_source: bool = False,
) -> Iterator[DecodedFrame]:
    """Decode frames in presentation order; ``size`` = (width, height) rescales inside libswscale;
    ``threads``: decoder threads (0: FFmpeg's automatic choice, frame and slice threads over every core; 1: one
    thread, which spends ~20 % less CPU per frame than frame threading, for a task given one CPU); ``digest``
    adds :func:`picture_digest` of each full-resolution frame; ``keep_source`` attaches the decoded PyAV frame
    (``DecodedFrame.source``)."""
    with open_container(path) as container:
        stream = first_video_stream(container, path)
        if threads == 1:
            stream.thread_count = 1
        else:
            stream.thread_type = "AUTO"
            stream.thread_count = max(0, threads)
        tb = (
            Fraction(stream.time_base.numerator, stream.time_base.denominator)
            if stream.time_base
            else Fraction(1)
        )
        fmt = "gray" if gray else "rgb24"
        width, height = size if size else (None, None)
        # One reformatter for the whole decode: ``frame.to_ndarray(format=..., width=...)`` makes a new one per
        # frame, i.e. a new libswscale context (and its slice threads) per frame, which cost more than the
        # conversion itself. Same conversion, same pixels.
        reformatter = VideoReformatter()
        try:
            for index, frame in enumerate(container.decode(stream)):
                pts = frame.pts if frame.pts is not None else index
                image = reformatter.reformat(frame, width=width, height=height, format=fmt).to_ndarray()
                yield DecodedFrame(
                    index,
                    pts,
                    tb,
                    image,
                    picture_digest(frame) if digest else None,
                    frame if keep_source else None,
                )
        except av.error.FFmpegError as exc:
            raise VideoError(path, "decode_error", f"decoding failed ({exc})") from exc


def decode_rgb_reference(path: str | Path, threads: int = 0) -> int:
    """Decode every frame to a full-size RGB array (one reformatter) and return the frame count: the
    plain-decode reference the benchmarks compare their jobs with. ``threads``: decoder threads, 0 for the
    decoder's automatic choice (the reference), 1 for a single-threaded decode (as fair a wall-clock match as
    there is for single-threaded work)."""
    n = 0
    with open_container(path) as container:
        stream = first_video_stream(container, path)
        if threads == 1:
            stream.thread_count = 1
        else:
            stream.thread_type = "AUTO"
            stream.thread_count = threads
        reformatter = VideoReformatter()
        for frame in container.decode(stream):
            reformatter.reformat(frame, format="rgb24").to_ndarray()
            n += 1
    return n


def count_frames(path: str | Path) -> int:
    """Number of decoded frames (decodes every frame; no pixel conversion)."""
    with open_container(path) as container:
        stream = first_video_stream(container, path)
        stream.thread_type = "AUTO"
        try:
            return sum(1 for _ in container.decode(stream))
        except av.error.FFmpegError as exc:
            raise VideoError(path, "decode_error", f"decoding failed ({exc})") from exc


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
