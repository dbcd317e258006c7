"""Low-resolution analysis frames, decoded once and shared by every analysis that needs them.

One decode produces two sizes: ``thumb`` (default 128 px wide, aspect kept, even height) for the cheap signals,
scores and annotators, and ``tiny`` (48x27, TransNetV2's input) resized from ``thumb``. Both are RGB uint8.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from pipeline.decode import iter_frames, probe

TINY_SIZE = (48, 27)  # (width, height) TransNetV2 was trained on


@dataclass
class AnalysisFrames:
    path: str
    fps: Fraction
    time_base: Fraction
    source_size: tuple[int, int]  # (width, height) of the decoded video
    pts: np.ndarray  # (N,) int64 presentation timestamps in time_base units
    thumb: np.ndarray  # (N, h, w, 3) uint8 RGB
    tiny: np.ndarray  # (N, 27, 48, 3) uint8 RGB
    digests: np.ndarray | None = None  # (N,) uint64 content hash of each full-resolution decoded frame

    def __len__(self) -> int:
        return int(self.pts.shape[0])

    def seconds(self, index: int) -> Fraction:
        return int(self.pts[index]) * self.time_base

    def end_seconds(self, index: int) -> Fraction:
        """Time just after frame ``index`` (the next frame's pts, or pts + one nominal frame at the end)."""
        if index + 1 < len(self):
            return self.seconds(index + 1)
        step = Fraction(1) / self.fps if self.fps else Fraction(0)
        return self.seconds(index) + step

    @property
    def gray(self) -> np.ndarray:
        """(N, h, w) float32 luma of ``thumb`` (computed on demand, not cached)."""
        return (self.thumb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(
            np.float32
        )


def thumb_size(width: int, height: int, thumb_width: int = 128) -> tuple[int, int]:
    h = max(2, round(thumb_width * height / max(width, 1) / 2) * 2)
    return thumb_width, h


def decode_analysis_frames(path: str | Path, thumb_width: int = 128, digests: bool = False) -> AnalysisFrames:
    """Decode every frame of ``path`` once into the shared low-resolution arrays; ``digests`` adds a content
    hash of every full-resolution frame (for exact dedupe; about 5 ms per 1080p frame)."""
    info = probe(path)
    size = thumb_size(info.width, info.height, thumb_width)
    pts: list[int] = []
    thumbs: list[np.ndarray] = []
    hashes: list[bytes] = []
    time_base = info.time_base
    for frame in iter_frames(path, size=size, digest=digests):
        pts.append(frame.pts)
        thumbs.append(frame.image)
        if frame.digest is not None:
            hashes.append(frame.digest)
        time_base = frame.time_base
    if not thumbs:
        thumb = np.zeros((0, size[1], size[0], 3), np.uint8)
        tiny = np.zeros((0, TINY_SIZE[1], TINY_SIZE[0], 3), np.uint8)
    else:
        thumb = np.stack(thumbs)
        tiny = np.stack([cv2.resize(t, TINY_SIZE, interpolation=cv2.INTER_AREA) for t in thumbs])
    return AnalysisFrames(
        path=str(path),
        fps=info.fps,
        time_base=time_base,
        source_size=(info.width, info.height),
        pts=np.asarray(pts, dtype=np.int64),
        thumb=thumb,
        tiny=tiny,
        digests=np.frombuffer(b"".join(hashes), dtype="<u8").copy() if digests else None,
    )
