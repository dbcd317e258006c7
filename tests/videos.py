"""Tiny videos written by the tests themselves (no binary fixtures in the repo)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from annotator.base import ShotInput
from pipeline.frames import TINY_SIZE, AnalysisFrames
from pipeline.scores import ScoreContext
from pipeline.scores.motion import PairMotion


def write_video(path: Path, frames: list[np.ndarray], fps: Fraction = Fraction(24000, 1001)) -> Path:
    """Encode RGB uint8 frames as H.264 (yuv420p) at a constant rate."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "12", "preset": "ultrafast"}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def shot_from_thumbs(thumb: np.ndarray) -> ShotInput:
    """An in-memory shot over (n, 72, 128, 3) RGB analysis thumbs at 24 fps (no video file involved)."""
    import cv2

    n = len(thumb)
    tiny = np.stack([cv2.resize(t, TINY_SIZE, interpolation=cv2.INTER_AREA) for t in thumb])
    frames = AnalysisFrames(
        path="memory",
        fps=Fraction(24),
        time_base=Fraction(1, 24),
        source_size=(640, 360),
        pts=np.arange(n, dtype=np.int64),
        thumb=np.ascontiguousarray(thumb),
        tiny=tiny,
    )
    return ShotInput(frames, 0, n - 1, ScoreContext())


def snow_over(base: np.ndarray, flakes: int, seed: int, frames: int = 3) -> np.ndarray:
    """(frames, h, w) float32: ``flakes`` 2 px white specks drifting over one held luma picture ``base``."""
    import cv2

    h, w = base.shape[:2]
    start = np.random.default_rng(seed).uniform([0, 0], [w - 4, h - 4], (flakes, 2))
    out = []
    for t in range(frames):
        img = base.astype(np.float32)
        for x, y in start + [1.5 * t, 2.0 * t]:
            cv2.circle(img, (int(x), int(y)), 1, 255.0, -1)
        out.append(img)
    return np.stack(out)


def moving_pairs(residual: list[float], moved: bool = True) -> PairMotion:
    """Pair motion of a shot whose consecutive pairs leave ``residual`` after motion compensation."""
    from pipeline.scores.motion import NOISE_FLOOR

    r = np.asarray(residual, np.float32)
    m = len(r)
    return PairMotion(
        raw=r * 2, residual=r, warp=np.zeros((m, 2, 3), np.float32), camera=np.full(m, 1.0 if moved else 0.0),
        moved=np.full(m, moved), changed=r >= NOISE_FLOOR, flash=np.zeros(m, bool), subject=np.zeros(m, np.float32),
        changed_area=np.zeros(m, np.float32), width=128,
    )  # fmt: skip


def ramp_frames(n: int, width: int = 64, height: int = 48) -> list[np.ndarray]:
    """Frames whose mean brightness encodes their index (10 grey levels apart)."""
    return [np.full((height, width, 3), 10 + 10 * i, dtype=np.uint8) for i in range(n)]


def write_audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), dtype=np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
