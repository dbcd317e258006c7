"""H.264 / MP4 writing with PyAV: yuv420p, constant frame rate (pts = frame index), fixed x264 settings."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from pipeline.x264 import x264_options


def to_yuv_frame(rgb: np.ndarray) -> av.VideoFrame:
    """An RGB ``uint8`` array as a yuv420p frame (swscale, BT.601 limited range: what the encoder expects)."""
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")


def write_h264(
    path: Path,
    frames: Iterable[np.ndarray | av.VideoFrame],
    width: int,
    height: int,
    fps: Fraction,
    crf: int = 18,
    preset: str = "superfast",
    threads: int = 1,
) -> int:
    """Encode RGB ``uint8`` arrays (or ready yuv420p frames) to ``path``; returns the number of frames written.

    The encoder settings are fixed (CRF, preset, pinned thread count, no muxer timestamps), so the same frames
    give the same bytes on any machine with the same FFmpeg/x264 build.
    """
    time_base = 1 / Fraction(fps)
    count = 0
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = time_base
        stream.codec_context.thread_count = threads
        stream.options = x264_options({"crf": str(crf), "preset": preset, "threads": str(threads)})
        for item in frames:
            frame = item if isinstance(item, av.VideoFrame) else to_yuv_frame(item)
            frame.pts = count
            frame.time_base = time_base
            container.mux(stream.encode(frame))
            count += 1
        container.mux(stream.encode(None))
    return count
