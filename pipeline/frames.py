"""Low-resolution analysis frames, decoded once and shared by every analysis that needs them.

One decode produces two sizes: ``thumb`` (default 128 px wide, aspect kept, even height) for the cheap signals,
scores and annotators, and ``tiny`` (48x27, TransNetV2's input) resized from ``thumb``. Both are RGB uint8.
On request the same decode also keeps a few evenly spaced larger luma frames (``stills``, default 512 px wide)
for details the thumbs cannot resolve (a small watermark or channel bug); their number is bounded whatever the
video length.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from pipeline.decode import DecodedFrame, iter_frames, probe

TINY_SIZE = (48, 27)  # (width, height) TransNetV2 was trained on
#: Most stills a decode may keep (memory cap: 64 x 512x288 luma is 9 MB; twice that is held while decoding).
MAX_STILLS = 64


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
    stills: np.ndarray | None = None  # (K, H, W) uint8 luma of K evenly spaced frames, larger than the thumbs
    still_index: np.ndarray | None = None  # (K,) int64 frame index of each still

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


class _StillKeeper:
    """Keeps about ``count`` evenly spaced frames in bounded memory. With the container's frame count
    (``expected``) it converts exactly the ``count`` frames at evenly spaced indices; without it (or past it),
    frames whose index is a multiple of ``stride`` are converted and held, and when more than ``2 * count`` are
    held every other one is dropped and the stride doubles (conversions ~ ``count * log2(N / count)``)."""

    def __init__(self, count: int, size: tuple[int, int], expected: int | None = None):
        self.count = count
        self.size = size
        self.stride = max(1, (expected - 1) // max(count - 1, 1)) if expected else 1
        self.targets = (
            set(np.linspace(0, expected - 1, min(count, expected)).round().astype(int).tolist())
            if expected
            else None
        )
        self.last_target = max(self.targets) if self.targets else -1
        self.index: list[int] = []
        self.images: list[np.ndarray] = []

    def offer(self, index: int, frame: DecodedFrame) -> None:
        if frame.source is None:
            return
        if self.targets is not None and index <= self.last_target:
            if index not in self.targets:
                return
        elif index % self.stride:
            return
        self.index.append(index)
        self.images.append(self._luma(frame.source))
        if len(self.images) > 2 * self.count:
            self.index, self.images = self.index[::2], self.images[::2]
            self.stride *= 2

    def _luma(self, source: av.VideoFrame) -> np.ndarray:
        """Luma at ``size``: the decoder's Y plane resized bilinearly (limited-range Y stretched to 0-255) when
        the frame is planar YUV -- several times cheaper than a libswscale gray rescale, and bilinear keeps thin
        strokes sharper than area averaging -- else a libswscale gray conversion."""
        w, h = self.size
        name = source.format.name
        if name.startswith(("yuv", "nv12")) and not name.startswith("yuva"):
            plane = source.planes[0]
            y = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
            out = cv2.resize(y, (w, h), interpolation=cv2.INTER_LINEAR)
            if not name.startswith("yuvj") and source.color_range != 2:  # 2 = AVCOL_RANGE_JPEG (full range)
                out = cv2.convertScaleAbs(cv2.subtract(out, 16), alpha=255 / 219)  # saturating both ends
            return out
        return source.to_ndarray(format="gray", width=w, height=h)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        w, h = self.size
        if not self.images:
            return np.zeros((0, h, w), np.uint8), np.zeros(0, np.int64)
        pick = np.unique(np.linspace(0, len(self.images) - 1, min(self.count, len(self.images))).round())
        pick = pick.astype(int)
        return np.stack([self.images[i] for i in pick]), np.asarray([self.index[i] for i in pick], np.int64)


def decode_analysis_frames(
    path: str | Path,
    thumb_width: int = 128,
    digests: bool = False,
    stills: int = 0,
    still_width: int = 512,
) -> AnalysisFrames:
    """Decode every frame of ``path`` once into the shared low-resolution arrays; ``digests`` adds a content
    hash of every full-resolution frame (for exact dedupe; about 5 ms per 1080p frame); ``stills`` > 0 also
    keeps that many (at most ``MAX_STILLS``) evenly spaced luma frames ``still_width`` px wide (never wider than
    the source) from the same decode."""
    if not 0 <= stills <= MAX_STILLS:
        raise ValueError(f"stills={stills}: choose between 0 and {MAX_STILLS}")
    info = probe(path)
    size = thumb_size(info.width, info.height, thumb_width)
    keeper = (
        _StillKeeper(
            stills,
            thumb_size(info.width, info.height, min(still_width, info.width)),
            info.declared_frames,
        )
        if stills
        else None
    )
    pts: list[int] = []
    thumbs: list[np.ndarray] = []
    hashes: list[bytes] = []
    time_base = info.time_base
    for index, frame in enumerate(
        iter_frames(path, size=size, digest=digests, keep_source=keeper is not None)
    ):
        pts.append(frame.pts)
        thumbs.append(frame.image)
        if frame.digest is not None:
            hashes.append(frame.digest)
        if keeper is not None:
            keeper.offer(index, frame)
        time_base = frame.time_base
    still_images, still_index = keeper.result() if keeper is not None else (None, None)
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
        stills=still_images,
        still_index=still_index,
    )
