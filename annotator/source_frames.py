"""A few larger pictures of a shot, read back from the video file for experts the thumbs cannot serve.

The shared analysis frames are 128 px thumbs: a cel fill and a rendered gradient both blur into the same few
pixels there. :func:`read_source_frames` decodes only the requested frames (found by presentation timestamp,
so it works for a whole-video decode and for a window of a long one alike), crops them to the active picture
and scales them to a fixed working width (area averaging down, bilinear up), so that measurements in pixels
mean the same for every source size. It seeks to the keyframe before each requested
frame unless that frame is a short way ahead of the decoder; files that cannot seek (or have no timestamps)
are read from the start.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import av
import cv2
import numpy as np

from pipeline.decode import VideoError, first_video_stream, open_container

#: Decode forward instead of seeking when the next requested frame is at most this many frames ahead.
FORWARD_FRAMES = 48
#: Keyframe indexes kept (one per file, see :func:`keyframe_pts`).
KEYFRAME_CACHE = 32

_keyframes: OrderedDict[tuple[str, int, int], np.ndarray | None] = OrderedDict()


@dataclass(frozen=True)
class SourceFrame:
    """One decoded picture: its presentation timestamp and (h, w, 3) uint8 RGB active-picture pixels."""

    pts: int
    image: np.ndarray


@runtime_checkable
class PictureSource(Protocol):
    """Larger pictures of the video that the caller already holds (the curate job keeps each window's clip
    frames for encoding), so an expert need not decode the file again."""

    def read(self, pts: Sequence[int], width: int) -> list[SourceFrame] | None:
        """The active-picture frames at presentation timestamps ``pts`` scaled to ``width`` px wide, or
        ``None`` when any of them is not held (the expert then reads the file)."""
        ...


@dataclass(frozen=True)
class PictureRequest:
    """Pictures an expert will read from a :class:`PictureSource` for one shot: timestamps and width."""

    width: int
    pts: tuple[int, ...]


@dataclass(frozen=True)
class PictureSnapshot:
    """Pictures taken from a :class:`PictureSource` ahead of time, keyed by ``(width, pts)``; picklable, so
    they can travel with a shot to a caption actor on another process or node."""

    pictures: dict[tuple[int, int], np.ndarray]

    @classmethod
    def take(cls, source: PictureSource, requests: Sequence[PictureRequest]) -> PictureSnapshot | None:
        """Every requested picture from ``source``, or None when it does not hold them all."""
        pictures: dict[tuple[int, int], np.ndarray] = {}
        for request in requests:
            got = source.read(list(request.pts), request.width)
            if got is None:
                return None
            pictures.update({(request.width, f.pts): f.image for f in got})
        return cls(pictures)

    def read(self, pts: Sequence[int], width: int) -> list[SourceFrame] | None:
        if any((width, int(p)) not in self.pictures for p in pts):
            return None
        return [SourceFrame(int(p), self.pictures[(width, int(p))]) for p in pts]


def fit_picture(image: np.ndarray, box: tuple[int, int, int, int] | None, width: int) -> np.ndarray:
    """``image`` cropped to ``box`` = ``(x, y, w, h)`` (None: whole) and scaled to ``width`` px wide."""
    if box is not None:
        x, y, w, h = box
        if w > 0 and h > 0:
            image = image[y : y + h, x : x + w]
    ih, iw = image.shape[:2]
    if iw != width:
        interp = cv2.INTER_AREA if iw > width else cv2.INTER_LINEAR
        image = cv2.resize(image, (width, max(2, round(width * ih / iw))), interpolation=interp)
    return np.ascontiguousarray(image)


def keyframe_pts(path: str | Path) -> np.ndarray | None:
    """Sorted presentation timestamps of the keyframes of ``path``'s first video stream, read from its
    packets (no decoding) once per file version and kept; ``None`` when the packets carry no timestamps or
    the file cannot be demuxed (callers then seek as if every frame far enough ahead needed a seek)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return None
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key in _keyframes:
        _keyframes.move_to_end(key)
        return _keyframes[key]
    keys: np.ndarray | None
    try:
        with open_container(p) as container:
            stream = first_video_stream(container, p)
            found = []
            for packet in container.demux(stream):
                if packet.is_keyframe:
                    if packet.pts is None:
                        found = None
                        break
                    found.append(int(packet.pts))
            keys = np.unique(np.asarray(found, dtype=np.int64)) if found else None
    except (av.error.FFmpegError, OSError, VideoError):
        keys = None
    _keyframes[key] = keys
    while len(_keyframes) > KEYFRAME_CACHE:
        _keyframes.popitem(last=False)
    return keys


def _same_gop(keys: np.ndarray | None, at: int, target: int) -> bool:
    """Whether no keyframe lies in ``(at, target]``: decoding forward from ``at`` then costs no more frames
    than a seek would (a seek lands on the last keyframe at or before ``target``)."""
    if keys is None:
        return False
    i = int(np.searchsorted(keys, target, side="right"))
    return i == 0 or int(keys[i - 1]) <= at


def _frames_from(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> Iterator:
    for index, frame in enumerate(container.decode(stream)):
        yield (frame.pts if frame.pts is not None else index), frame


def read_source_frames(
    path: str | Path,
    pts: Sequence[int],
    width: int = 480,
    box: tuple[int, int, int, int] | None = None,
    convert: Callable[[av.VideoFrame], np.ndarray] | None = None,
) -> list[SourceFrame]:
    """The frames of ``path`` whose presentation timestamps are ``pts`` (stream time base, as in
    :attr:`pipeline.frames.AnalysisFrames.pts`), cropped to ``box`` = ``(x, y, w, h)`` in source pixels and
    scaled to ``width`` px wide (aspect kept). ``convert`` replaces the RGB conversion and the crop (the
    curate job's clip-frame conversion, so a picture read back equals the held one). A timestamp with no
    frame takes the first frame after it; timestamps past the end are dropped. Raises
    :class:`pipeline.decode.VideoError` when the file cannot be opened or decoded."""
    wanted = sorted({int(p) for p in pts})
    out: list[SourceFrame] = []
    if not wanted:
        return out
    try:
        with open_container(path) as container:
            stream = first_video_stream(container, path)
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate
            tb = stream.time_base
            # timestamps per frame, to tell "a short way ahead" from "seek"
            step = float(1 / (rate * tb)) if rate and tb else 1.0
            # a far target in the GOP the decoder is already in is decoded forward: a seek would decode
            # the same frames again from that GOP's keyframe
            keys = keyframe_pts(path) if len(wanted) > 1 else None
            frames: Iterator | None = None
            at: int | None = None  # pts of the last decoded frame
            for target in wanted:
                if (
                    frames is None
                    or at is None
                    or target < at
                    or (target - at > FORWARD_FRAMES * step and not _same_gop(keys, at, target))
                ):
                    frames = _seek(container, stream, target)
                    at = None
                for p, frame in frames:
                    at = p
                    if p >= target:
                        if convert is not None:
                            picture = fit_picture(convert(frame), None, width)
                        else:
                            picture = fit_picture(frame.to_ndarray(format="rgb24"), box, width)
                        out.append(SourceFrame(int(p), picture))
                        break
                else:
                    break  # past the end of the stream
    except av.error.FFmpegError as exc:
        raise VideoError(path, "decode_error", f"reading source frames failed ({exc})") from exc
    return out


def _seek(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, target: int
) -> Iterator:
    """A frame iterator positioned at or before ``target``: after a keyframe seek, or from the start when the
    container cannot seek (image sequences, GIFs) or the seek lands after the target."""
    try:
        container.seek(target, stream=stream, backward=True, any_frame=False)
        frames = _frames_from(container, stream)
        first = next(frames, None)
        if first is not None and first[1].pts is not None and first[0] <= target:
            return _chain(first, frames)
    except (av.error.FFmpegError, OSError, ValueError):
        pass
    container.seek(0, stream=stream, backward=True, any_frame=False)
    return _frames_from(container, stream)


def _chain(first: tuple, rest: Iterator) -> Iterator:
    yield first
    yield from rest
