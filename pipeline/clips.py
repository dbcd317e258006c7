"""Frame-exact clip extraction: each clip holds exactly its source frames, re-encoded with PyAV.

Planning turns shots into clip spans (transition frames are already outside shots; long shots are split into
windows of at most ``max_frames``). Frames are always routed by their decoded index to the clip that owns them,
so no frame of a neighbouring shot can leak in and no seek imprecision can shift a boundary. Two ways to get
them, writing the same bytes: :class:`ClipCutter` takes the frames of a decode that is running anyway (the
curate job's analysis pass) and holds them, within a memory budget, until their clip is known;
:func:`extract_clips` decodes the source once, front to back, for a given list of spans.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
from av.video.reformatter import VideoReformatter

from pipeline.decode import VideoError, first_video_stream, open_container
from pipeline.shots.base import Shot
from pipeline.spare_cpus import SpareCpus
from pipeline.x264 import x264_options


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

    ``size``: None keeps the source size; (w, h) scales to exactly that; an int scales the short side down to
    it (aspect kept, even dimensions; a smaller source keeps its size). ``fps``: None keeps every source frame
    and the source rate; a rate resamples by nearest source frame in time (frames dropped or repeated), so
    motion speed is preserved.
    ``crf`` 0 with no scaling is lossless: decoded clip frames equal the source's decoded frames bit for bit.
    """

    size: tuple[int, int] | int | None = None
    fps: Fraction | None = None
    codec: str = "libx264"
    crf: int = 18
    preset: str = "veryfast"
    #: Extra x264 options over the preset ("key=value:key=value", x264's ``--x264-params`` syntax); None: none.
    x264_params: str | None = None
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
    elif isinstance(size, int):  # a cap: upscaling would add pixels to encode and store, not detail
        scale = min(1.0, size / min(src_w, src_h))
        w, h = round(src_w * scale), round(src_h * scale)
    else:
        w, h = size
    return max(2, w - w % 2), max(2, h - h % 2)


@dataclass(frozen=True)
class ClipGeometry:
    """Where clip frames come from and what they become, for one source and one :class:`ClipEncoding`."""

    src_fps: Fraction
    out_fps: Fraction
    width: int
    height: int
    crop: tuple[int, int, int, int] | None
    pix_fmt: str


def clip_geometry(
    src_w: int, src_h: int, src_fps: Fraction, enc: ClipEncoding, crop: tuple[int, int, int, int] | None
) -> ClipGeometry:
    """Output size and rate of the clips of a ``src_w`` x ``src_h`` source; ValueError for a crop outside it."""
    if crop is not None:
        x, y, w, h = crop
        if x < 0 or y < 0 or w < 2 or h < 2 or x + w > src_w or y + h > src_h:
            raise ValueError(f"crop {crop} is not inside the {src_w}x{src_h} source")
        src_w, src_h = w, h
    width, height = _target_size(src_w, src_h, enc.size)
    return ClipGeometry(src_fps, enc.fps or src_fps, width, height, crop, enc.pix_fmt)


def stream_rate(stream: av.video.stream.VideoStream) -> Fraction:
    """The source rate clips are timed and resampled by (24 when the stream declares none)."""
    rate = stream.average_rate or stream.guessed_rate
    return Fraction(rate.numerator, rate.denominator) if rate else Fraction(24)


def _crop_yuv420p(frame: av.VideoFrame, x: int, y: int, w: int, h: int) -> av.VideoFrame:
    """The ``w`` x ``h`` window at even ``(x, y)`` of a 4:2:0 frame, copied plane by plane straight into a new
    frame's planes (no colour conversion, so the kept pixels are the decoded ones)."""
    out = av.VideoFrame(w, h, "yuv420p")
    for k, (src, dst) in enumerate(zip(frame.planes, out.planes, strict=True)):
        sub = 1 if k == 0 else 2
        rows = np.frombuffer(src, np.uint8).reshape(-1, src.line_size)
        window = np.frombuffer(dst, np.uint8).reshape(-1, dst.line_size)[: h // sub, : w // sub]
        window[...] = rows[y // sub : (y + h) // sub, x // sub : (x + w) // sub]
    return out


def to_clip_frame(
    frame: av.VideoFrame, geo: ClipGeometry, reformatter: VideoReformatter | None = None
) -> av.VideoFrame:
    """A decoded source frame cropped, scaled and converted to the clip's pixel format (the one conversion
    every clip frame goes through, whether it is cut in the analysis pass or by a second decode).

    Pass one ``reformatter`` for all the frames of a video: a new one (what ``frame.reformat`` makes) sets
    up a libswscale context and its threads for every frame. The pixels are the same either way."""
    r = reformatter if reformatter is not None else VideoReformatter()
    if geo.crop is not None:
        x, y, w, h = geo.crop
        if frame.format.name == "yuv420p" and not (x % 2 or y % 2 or w % 2 or h % 2):
            frame = _crop_yuv420p(frame, x, y, w, h)
        else:
            rgb = r.reformat(frame, format="rgb24").to_ndarray()
            frame = av.VideoFrame.from_ndarray(rgb[y : y + h, x : x + w].copy(), format="rgb24")
    if (frame.width, frame.height, frame.format.name) != (geo.width, geo.height, geo.pix_fmt):
        frame = r.reformat(frame, width=geo.width, height=geo.height, format=geo.pix_fmt)
    return frame


def output_indices(span: ClipSpan, geo: ClipGeometry, resample: bool) -> list[int]:
    """Source frame index of every output frame of ``span``, in order (repeats when upsampling)."""
    if not resample:
        return list(range(span.start, span.end + 1))
    return _resample_indices(span, geo.src_fps, geo.out_fps)


@dataclass
class CutClip:
    """A written clip: its file, output size and frame count, and its middle output frame (BGR, clip size)
    for the thumbnail, so nothing has to reopen the mp4."""

    path: Path
    width: int
    height: int
    frames: int
    middle: np.ndarray


class _ClipWriter:
    def __init__(self, path: Path, geo: ClipGeometry, enc: ClipEncoding, total: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.tmp = path.with_name(path.name + ".part")
        self.container = av.open(str(self.tmp), "w", format="mp4")
        self.stream = self.container.add_stream(enc.codec, rate=geo.out_fps)
        self.stream.width, self.stream.height, self.stream.pix_fmt = geo.width, geo.height, enc.pix_fmt
        options = {"crf": str(enc.crf), "preset": enc.preset}
        if enc.codec == "libx264":
            options = x264_options(options, enc.x264_params)
        elif enc.x264_params:
            options["x264-params"] = enc.x264_params
        self.stream.options = options
        self.stream.thread_count = 1  # deterministic bytes for identical input
        self.geo = geo
        self.frame_time_base = 1 / Fraction(
            geo.out_fps
        )  # output frame k has pts k: a constant-rate clip from 0
        self.count = 0
        self.middle_at = total // 2
        self.middle: np.ndarray | None = None

    def write(self, frame: av.VideoFrame) -> None:
        """Encode one clip frame (already converted by :func:`to_clip_frame`)."""
        if self.count == self.middle_at:
            self.middle = frame.to_ndarray(format="bgr24")
        frame.pts = self.count
        frame.time_base = self.frame_time_base
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.count += 1

    def close(self) -> CutClip:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()
        self.tmp.replace(self.path)
        if self.middle is None:
            raise RuntimeError(f"{self.path}: the clip has no frames")
        return CutClip(self.path, self.geo.width, self.geo.height, self.count, self.middle)

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


def _check_spans(spans: Sequence[ClipSpan]) -> list[int]:
    order = sorted(range(len(spans)), key=lambda k: spans[k].start)
    for a, b in zip(order, order[1:], strict=False):
        if spans[a].end >= spans[b].start:
            raise ValueError(f"clip spans overlap: {spans[a]} and {spans[b]}")
    return order


def extract_clips(
    source: str | Path,
    spans: Sequence[ClipSpan],
    out_paths: Sequence[str | Path],
    encoding: ClipEncoding | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """Write one file per span, in one front-to-back decode of ``source``. Files are written under a
    ``.part`` name and renamed when complete, so a crash never leaves a truncated clip under its final name."""
    return [c.path for c in cut_clips(source, spans, out_paths, encoding, progress)]


def cut_clips(
    source: str | Path,
    spans: Sequence[ClipSpan],
    out_paths: Sequence[str | Path],
    encoding: ClipEncoding | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[CutClip]:
    """:func:`extract_clips` returning each clip's size, frame count and middle frame too."""
    enc = encoding or ClipEncoding()
    if len(spans) != len(out_paths):
        raise ValueError("one output path per span is required")
    if not spans:
        return []
    order = _check_spans(spans)
    with open_container(source) as container:
        stream = first_video_stream(container, source)
        stream.thread_type = "AUTO"
        geo = clip_geometry(
            stream.codec_context.width, stream.codec_context.height, stream_rate(stream), enc, enc.crop
        )
        # For each span: which source frames to emit, in order (repeats allowed when upsampling).
        repeats: dict[int, Counter[int]] = {
            k: Counter(output_indices(span, geo, enc.fps is not None)) for k, span in enumerate(spans)
        }
        results: dict[int, CutClip] = {}
        reformatter = VideoReformatter()
        active: tuple[int, _ClipWriter] | None = None
        cursor = 0  # position in ``order`` of the next span to open
        last_needed = spans[order[-1]].end
        try:
            for index, frame in enumerate(container.decode(stream)):
                if active is None and cursor < len(order) and index == spans[order[cursor]].start:
                    k = order[cursor]
                    total = sum(repeats[k].values())
                    active = (k, _ClipWriter(Path(out_paths[k]), geo, enc, total))
                    cursor += 1
                if active is not None:
                    k, writer = active
                    times = repeats[k][index]
                    if times:
                        clip_frame = to_clip_frame(frame, geo, reformatter)
                        for _ in range(times):
                            writer.write(clip_frame)
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


#: Frames held at source size (before the crop is known) past which :attr:`ClipCutter.on_pressure` is asked for
#: a crop guess even when the budget would allow more: ~330 1080p frames, ~3,000 at 360p (a whole short video).
SOURCE_HOLD_BYTES = 1 << 30

#: Clip encodes queued on one borrowed CPU behind the one it is running. The thread that cuts clips is the
#: task's serial path (analysis and captioning run on it), so at the tail of a job it hands every encode to the
#: idle CPU it borrowed instead of encoding each other clip itself while that CPU is busy. Bounded so that a
#: task starting on that CPU meanwhile shares it for at most this many more encodes.
LANE_DEPTH = 2


@dataclass
class _Lane:
    """One borrowed CPU: a single encode thread and the spare-CPU token it holds while it has queued work."""

    pool: ThreadPoolExecutor
    token: int | None = None
    queued: int = 0


class ClipCutter:
    """Cuts clips from the frames of the analysis decode, so the source is decoded once.

    The analysis pass hands every decoded source frame to :meth:`add_frame`; once the crop is known
    (:meth:`set_crop`, from the first window's layout score) frames are held already converted to clip size.
    The crop is only final after the first analysis window, which can hold minutes of frames: when frames held
    at source size would overflow the budget (or :data:`SOURCE_HOLD_BYTES`) before that, :attr:`on_pressure`
    (if set) may set a *provisional* crop guessed from them, so frames are held at clip size from then on. If
    the final crop differs, the frames converted with the guess are dropped (their clips are cut by the second
    decode): the guess decides speed, never bytes.
    :meth:`cut` encodes a clip as soon as its span is final when all its frames are held (on up to ``threads``
    clips at a time, plus one per idle CPU ``spare`` lends: each clip is one single-threaded x264 stream, so its
    bytes do not depend on the thread count), and :meth:`release_through` drops frames no later clip can use. Held
    frames never exceed ``budget_bytes``: the oldest are evicted, and a clip missing an evicted frame is cut by
    :meth:`finish` in one second front-to-back decode with the same frame conversion, so its bytes are the same
    either way. Memory is thus bounded by the budget whatever the length of the video or of the analysis window.
    """

    def __init__(
        self,
        source: str | Path,
        encoding: ClipEncoding,
        budget_bytes: int,
        threads: int = 1,
        spare: SpareCpus | None = None,
    ) -> None:
        self.source = source
        self.enc = encoding
        self.budget = budget_bytes
        with open_container(source) as container:
            stream = first_video_stream(container, source)
            self.src_w, self.src_h = stream.codec_context.width, stream.codec_context.height
            self.src_fps = stream_rate(stream)
        self.geo: ClipGeometry | None = None
        #: Called once, when frames at source size would outgrow the budget or SOURCE_HOLD_BYTES (class doc).
        self.on_pressure: Callable[[], None] | None = None
        self._provisional = False
        #: Whether a provisional crop turned out wrong (its converted frames were dropped).
        self.guess_missed = False
        self.frames: dict[int, tuple[av.VideoFrame, int]] = {}  # index -> (frame, bytes), oldest first
        self.held = 0
        self.peak = 0
        self.evicted = 0
        self.pending: list[tuple[str, ClipSpan, Path]] = []  # clips left for the second decode
        self.done: dict[str, CutClip] = {}
        self.failed: dict[str, str] = {}
        self.timings: Counter[str] = Counter()
        self._reformatter = VideoReformatter()  # for the conversions on the caller's thread
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="clip-encode") if threads > 1 else None
        self.threads = threads
        #: Idle CPUs of the machine this cutter may borrow for extra encodes (see :mod:`pipeline.spare_cpus`).
        self.spare = spare
        self._lanes: list[_Lane] = []
        #: Clips encoded on a borrowed CPU.
        self.borrowed = 0
        self._running: list[tuple[str, Future[CutClip]]] = []
        #: The encodes of ``_running`` on the cutter's own threads (the rest are on borrowed CPUs).
        self._own_running: list[Future[CutClip]] = []
        self._lock = threading.Lock()

    @staticmethod
    def _size(frame: av.VideoFrame) -> int:
        return sum(p.buffer_size for p in frame.planes)

    @property
    def crop_final(self) -> bool:
        """Whether the clips' crop is fixed (a provisional crop is not)."""
        return self.geo is not None and not self._provisional

    def set_crop(self, crop: tuple[int, int, int, int] | None, provisional: bool = False) -> None:
        """Fix the clips' crop (the first final call wins) and convert the frames held so far.

        ``provisional``: a guess that lets frames be held at clip size before the crop is known; the next
        final call confirms it or, when it differs, drops the frames converted with it."""
        if self.crop_final or (provisional and self.geo is not None):
            return
        geo = clip_geometry(self.src_w, self.src_h, self.src_fps, self.enc, crop)
        if self.geo is not None:  # the final crop after a guess
            self._provisional = False
            if geo != self.geo:
                self.guess_missed = True
                self.evicted += len(self.frames)
                self.frames.clear()
                self.held = 0
                self.geo = geo
            return
        self.geo, self._provisional = geo, provisional
        t = time.perf_counter()
        held, self.frames, self.held = self.frames, {}, 0
        for index, (frame, _) in held.items():
            self._hold(index, to_clip_frame(frame, self.geo, self._reformatter))
        self.timings["clip frames"] += time.perf_counter() - t

    def source_thumbs(self, width: int, height: int, samples: int | None = None) -> np.ndarray:
        """(N, height, width, 3) RGB of the held frames (``samples``: at most that many, evenly spread),
        converted as the analysis thumbnails are; empty once frames are held at clip size."""
        if self.geo is not None or not self.frames:
            return np.zeros((0, height, width, 3), np.uint8)
        held = [frame for frame, _ in self.frames.values()]
        if samples is not None and len(held) > samples:
            held = [held[int(i)] for i in np.unique(np.linspace(0, len(held) - 1, samples).round())]
        reformatter = VideoReformatter()
        return np.stack(
            [reformatter.reformat(f, width=width, height=height, format="rgb24").to_ndarray() for f in held]
        )

    def add_frame(self, index: int, frame: av.VideoFrame) -> None:
        """Hold decoded source frame ``index`` (converted once the crop is known)."""
        if self.budget <= 0:
            return
        if (
            self.geo is None
            and self.on_pressure is not None
            and self.held + self._size(frame) > min(self.budget, SOURCE_HOLD_BYTES)
        ):
            guess, self.on_pressure = self.on_pressure, None
            guess()
        if self.geo is not None:
            t = time.perf_counter()
            frame = to_clip_frame(frame, self.geo, self._reformatter)
            self.timings["clip frames"] += time.perf_counter() - t
        self._hold(index, frame)

    def _hold(self, index: int, frame: av.VideoFrame) -> None:
        size = self._size(frame)
        self.frames[index] = (frame, size)
        self.held += size
        while self.held > self.budget and self.frames:
            first = next(iter(self.frames))
            self.held -= self.frames.pop(first)[1]
            self.evicted += 1
        self.peak = max(self.peak, self.held)

    def held_rgb(self, index: int) -> np.ndarray | None:
        """(h, w, 3) RGB of held frame ``index`` as the clip shows it (cropped and scaled), or None when it is
        not held or the crop is not final yet."""
        held = self.frames.get(index)
        if held is None or not self.crop_final:
            return None
        return self._reformatter.reformat(held[0], format="rgb24").to_ndarray()

    def clip_rgb(self, frame: av.VideoFrame) -> np.ndarray:
        """(h, w, 3) RGB of a decoded source frame as the clip shows it: what :meth:`held_rgb` gives for the
        same frame held (thread-safe: its own reformatter)."""
        reformatter = VideoReformatter()
        return reformatter.reformat(
            to_clip_frame(frame, self.geometry, reformatter), format="rgb24"
        ).to_ndarray()

    def release_through(self, index: int) -> None:
        """Drop held frames up to ``index``: no clip cut later starts at or before it."""
        self._wait()
        while self.frames:
            first = next(iter(self.frames))
            if first > index:
                break
            self.held -= self.frames.pop(first)[1]

    @property
    def geometry(self) -> ClipGeometry:
        if self.geo is None or not self.crop_final:  # (the first test is for the type checker)
            raise RuntimeError("ClipCutter.set_crop must be called (not provisionally) before clips are cut")
        return self.geo

    def cut(self, key: str, span: ClipSpan, path: Path) -> None:
        """Encode ``span`` to ``path`` from held frames, or leave it for :meth:`finish` when some are gone."""
        geo = self.geometry
        if any(i not in self.frames for i in range(span.start, span.end + 1)):
            self.pending.append((key, span, path))
            return
        frames = [self.frames[i][0] for i in output_indices(span, geo, self.enc.fps is not None)]
        lane = self._lane()
        if lane is not None:
            self.borrowed += 1
            self._running.append((key, lane.pool.submit(self._encode_borrowed, lane, path, frames)))
        elif self._pool is None:
            self._record(key, lambda: self._encode(path, frames))
        else:
            future = self._pool.submit(self._encode, path, frames)
            self._own_running.append(future)
            self._running.append((key, future))

    def _lane(self) -> _Lane | None:
        """A borrowed CPU to queue the next encode on (its count already taken), when the cutter's own
        encoders are all busy: a newly borrowed idle CPU no task holds, else the least busy CPU borrowed
        earlier that still has room in its queue (:data:`LANE_DEPTH`)."""
        if self.spare is None:
            return None
        if self._pool is not None and sum(not f.done() for f in self._own_running) < self.threads:
            return None
        with self._lock:
            idle = next((lane for lane in self._lanes if lane.token is None), None)
            token = self.spare.try_borrow(self.threads)
            if token is not None:
                if idle is None:
                    idle = _Lane(ThreadPoolExecutor(1, thread_name_prefix="clip-encode-borrowed"))
                    self._lanes.append(idle)
                idle.token, idle.queued = token, 1
                return idle
            busy = [lane for lane in self._lanes if lane.token is not None and lane.queued <= LANE_DEPTH]
            if not busy:
                return None
            lane = min(busy, key=lambda lane: lane.queued)
            lane.queued += 1
            return lane

    def _encode_borrowed(self, lane: _Lane, path: Path, frames: list[av.VideoFrame]) -> CutClip:
        try:
            return self._encode(path, frames)
        finally:
            with self._lock:
                lane.queued -= 1
                if lane.queued == 0 and lane.token is not None:
                    SpareCpus.give_back(lane.token)
                    lane.token = None

    def _encode(self, path: Path, frames: list[av.VideoFrame]) -> CutClip:
        t = time.perf_counter()
        writer = _ClipWriter(path, self.geometry, self.enc, len(frames))
        try:
            for frame in frames:
                writer.write(frame)
            clip = writer.close()
        except BaseException:
            writer.abort()
            raise
        with self._lock:
            self.timings["encode"] += time.perf_counter() - t
        return clip

    def _record(self, key: str, get: Callable[[], CutClip]) -> None:
        try:
            self.done[key] = get()
        except (ValueError, av.error.FFmpegError) as exc:
            self.failed[key] = f"clip could not be cut: {exc}"

    def _wait(self) -> None:
        running, self._running, self._own_running = self._running, [], []
        for key, future in running:
            self._record(key, future.result)

    def finish(self) -> tuple[dict[str, CutClip], dict[str, str]]:
        """Wait for the encodes, cut the clips whose frames were evicted in one second decode, and return
        (clips by key, failure reason by key)."""
        try:
            self._wait()
        finally:
            self.close()
        if self.pending:
            t = time.perf_counter()
            keys, spans, paths = zip(*self.pending, strict=True)
            try:
                enc = dataclasses.replace(self.enc, crop=self.geometry.crop)
                clips = cut_clips(self.source, list(spans), list(paths), enc)
                self.done.update(zip(keys, clips, strict=True))
            except (VideoError, ValueError, av.error.FFmpegError) as exc:
                self.failed.update({k: f"clip could not be cut: {exc}" for k in keys})
            self.timings["second decode"] += time.perf_counter() - t
        return self.done, self.failed

    def close(self) -> None:
        """Drop the held frames and stop the encode threads (after an error; :meth:`finish` calls it)."""
        self.frames.clear()
        self.held = 0
        for pool in [self._pool, *(lane.pool for lane in self._lanes)]:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        for lane in self._lanes:  # a cancelled encode never gave its lane's CPU back
            if lane.token is not None:
                SpareCpus.give_back(lane.token)
                lane.token, lane.queued = None, 0
