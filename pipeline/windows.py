"""Analysis in bounded memory: a video's analysis frames are decoded in windows and split into shots window by
window, so a 2-hour film never holds 2 hours of frames.

A window is analysed when it holds ``window_frames`` frames. Its shots are final except the last one, which may
continue past the window edge: its frames, with ``CONTEXT_FRAMES`` of the shot before it, are carried over as the
head of the next window, so the detector always sees a whole shot and both sides of every boundary. A shot that
would fill more than about half of a window is closed at the window edge instead (boundary type ``"window"``); shots
that long are split into clip windows anyway. A window never holds more than ``window_frames`` frames and each one moves at least a quarter window on, so
memory is bounded and the work stays linear.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from pipeline.decode import StreamInfo, VideoError, iter_frames, probe
from pipeline.frames import TINY_SIZE, AnalysisFrames, thumb_size
from pipeline.shots.base import FrameSpan, ShotBoundaries, ShotDetector

log = logging.getLogger(__name__)

#: Frames of the last emitted shot carried into the next window so the detector sees both sides of the next
#: boundary (TransNetV2 looks 25 frames either side; the flash / fade signals less).
CONTEXT_FRAMES = 48


@dataclass(frozen=True)
class WindowShot:
    """A final shot, in absolute frame indices, with how it begins and ends ('start', 'cut', 'end', 'window' or
    a transition type)."""

    start: int
    end: int
    boundary_in: str
    boundary_out: str

    @property
    def length(self) -> int:
        return self.end - self.start + 1


@dataclass
class AnalysisWindow:
    """Frames ``offset .. offset + len(frames) - 1`` of a video and the shots finalised in them."""

    frames: AnalysisFrames
    offset: int
    shots: list[WindowShot]
    transitions: list[FrameSpan] = field(default_factory=list)
    flashes: list[FrameSpan] = field(default_factory=list)
    last: bool = False
    #: Set on the last window when decoding stopped early: (rule, detail).
    stopped: tuple[str, str] | None = None


def _kinds(bounds: ShotBoundaries) -> tuple[dict[int, str], dict[int, str]]:
    """For each shot start / end frame (window-relative): the kind of boundary there."""
    starts: dict[int, str] = {c: "cut" for c in bounds.cuts}
    ends: dict[int, str] = {c - 1: "cut" for c in bounds.cuts}
    for t in bounds.transitions:
        starts[t.end + 1] = t.type
        ends[t.start - 1] = t.type
    return starts, ends


class _Buffer:
    def __init__(self) -> None:
        self.pts: list[int] = []
        self.thumbs: list[np.ndarray] = []
        self.digests: list[bytes] = []

    def __len__(self) -> int:
        return len(self.pts)

    def drop_head(self, n: int) -> None:
        del self.pts[:n], self.thumbs[:n], self.digests[:n]


def iter_analysis_windows(
    path: str | Path,
    detector: ShotDetector,
    window_frames: int = 6000,
    thumb_width: int = 128,
    digests: bool = False,
    min_shot_frames: int = 1,
    max_frames: int | None = None,
    on_frame: Callable[[int, av.VideoFrame], None] | None = None,
    decode_threads: int = 0,
    info: StreamInfo | None = None,
) -> Iterator[AnalysisWindow]:
    """Decode ``path`` once and yield its analysis windows with their final shots (see the module doc).

    A decode error or ``max_frames`` ends the video early: the frames decoded so far form the last window and
    ``stopped`` says why. Shots shorter than ``min_shot_frames`` are left out. ``on_frame(index, frame)``
    receives every decoded full-resolution frame before the window holding it is analysed (the clip cutter
    keeps what it needs from them; nothing here holds on to them). ``decode_threads``: see
    :func:`~pipeline.decode.iter_frames`; ``info``: ``path``'s :func:`~pipeline.decode.probe` when already
    known."""
    if info is None:
        info = probe(path)
    size = thumb_size(info.width, info.height, thumb_width)
    buf = _Buffer()
    offset = 0  # absolute index of buf[0]
    time_base: Fraction = info.time_base
    emitted_end = -1  # absolute index of the last frame of the last emitted shot
    forced = False  # the last window closed a long shot at its edge
    stopped: tuple[str, str] | None = None
    decoded = 0
    frames_iter = iter_frames(
        path, size=size, threads=decode_threads, digest=digests, keep_source=on_frame is not None
    )

    def window(last: bool) -> AnalysisWindow:
        nonlocal offset, emitted_end, forced
        n = len(buf)
        frames = AnalysisFrames(
            path=str(path),
            fps=info.fps,
            time_base=time_base,
            source_size=(info.width, info.height),
            pts=np.asarray(buf.pts, dtype=np.int64),
            thumb=np.stack(buf.thumbs) if n else np.zeros((0, size[1], size[0], 3), np.uint8),
            tiny=np.stack([cv2.resize(t, TINY_SIZE, interpolation=cv2.INTER_AREA) for t in buf.thumbs])
            if n
            else np.zeros((0, TINY_SIZE[1], TINY_SIZE[0], 3), np.uint8),
            digests=np.frombuffer(b"".join(buf.digests), dtype="<u8").copy() if digests else None,
        )
        bounds = detector.detect(frames) if n else ShotBoundaries(frames=0)
        starts, ends = _kinds(bounds)
        shots = bounds.shots()
        was_forced = forced
        forced = False
        prev_end = emitted_end
        if not last and shots:
            # Hold the last shot back (it may continue past the edge) only while what would be carried into
            # the next window stays small; otherwise close it at the edge, so every window makes progress and
            # memory stays bounded.
            would_end = max(prev_end, offset + shots[-2].end) if len(shots) > 1 else prev_end
            carried = offset + n - max(would_end + 1 - CONTEXT_FRAMES, offset)
            if shots[-1].start > 0 and carried <= (window_frames * 3) // 4:
                shots = shots[:-1]
            else:
                forced = True
        final: list[WindowShot] = []
        for s in shots:
            a, b = offset + s.start, offset + s.end
            if b <= prev_end:
                continue  # context carried from the previous window, already emitted
            if a <= prev_end:
                a, b_in = prev_end + 1, "window" if was_forced else "cut"
            elif a == 0:
                b_in = "start"
            else:
                b_in = starts.get(s.start, "cut")
            b_out = ("end" if last else "window") if s.end == n - 1 else ends.get(s.end, "cut")
            final.append(WindowShot(a, b, b_in, b_out))
            emitted_end = b
        transitions = [
            FrameSpan(offset + t.start, offset + t.end, t.type)
            for t in bounds.transitions
            if prev_end < offset + t.start and offset + t.end < emitted_end
        ]
        flashes = [
            FrameSpan(offset + f.start, offset + f.end, f.type)
            for f in bounds.flashes
            if prev_end < offset + f.start and offset + f.end <= emitted_end
        ]
        final = [s for s in final if s.length >= min_shot_frames]
        out = AnalysisWindow(frames, offset, final, transitions, flashes, last, stopped if last else None)
        if not last:
            # keep the frames after the last emitted shot, plus a little of it as context for the detector
            carry_from = max(emitted_end + 1 - CONTEXT_FRAMES, offset)
            buf.drop_head(carry_from - offset)
            offset = carry_from
        return out

    while True:
        try:
            frame = next(frames_iter)
        except StopIteration:
            break
        except VideoError as exc:
            stopped = (exc.reason, f"{exc.detail} after {decoded} frames")
            log.warning("%s: %s", path, stopped[1])
            break
        buf.pts.append(frame.pts)
        buf.thumbs.append(frame.image)
        if frame.digest is not None:
            buf.digests.append(frame.digest)
        if on_frame is not None and frame.source is not None:
            on_frame(frame.index, frame.source)
        time_base = frame.time_base
        decoded += 1
        if max_frames is not None and decoded >= max_frames:
            stopped = ("max_frames", f"stopped after the configured limit of {max_frames} frames")
            break
        if len(buf) >= window_frames:
            yield window(last=False)
    frames_iter.close()
    yield window(last=True)
