"""Cheap per-frame signals for shot detection, computed from the shared analysis thumbs.

Everything here is vectorised numpy/OpenCV on small images and costs a small fraction of decoding:

* the **active area** of the video (static black letterbox / pillarbox bars are cropped first: bars are
  identical in both shots of a cut, so left in they make every cut look like a partial match);
* a **static overlay mask**: pixels that never change over the video (a channel bug / watermark drawn on top
  of every frame, also on top of fades and flashes), ignored by the flatness measures;
* per frame, on a 64x36 area-averaged copy of the active area: mean luma, luma contrast (spatial std of the
  non-overlay pixels), mean RGB colour, and the fraction of near-white pixels (a washed-out flash frame
  under a player bar or a subtitle is still mostly white);
* per frame, a 12x4x4 HSV colour histogram of the active area, and between consecutive frames its distance
  (half the L1 distance, 0 = same colours, 1 = disjoint) and the mean absolute luma difference;
* on demand (only at candidate boundaries): a shift-tolerant structural similarity (best zero-mean
  normalised cross-correlation over small translations) -- high when one picture continues into the next
  (camera moves, animation), low at a cut; and the same against the colour-inverted picture, for inverted
  impact frames.

Frame ``i``'s between-frame values describe the change from ``i - 1`` to ``i`` (a cut *at* ``i``); index 0
holds 0.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import xxhash

#: Size of the small copy the scalar signals and the structure comparisons use (width, height). 64 px wide
#: keeps character-sized structure while averaging away grain, dither and compression noise.
SMALL_SIZE = (64, 36)
#: HSV histogram bins (hue, saturation, value): coarse enough that motion barely moves mass between bins.
HIST_BINS = (12, 4, 4)
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class ActiveArea:
    """The picture inside static black bars, in thumb pixels (``bottom`` / ``right`` exclusive)."""

    top: int
    bottom: int
    left: int
    right: int

    def crop(self, images: np.ndarray) -> np.ndarray:
        return images[..., self.top : self.bottom, self.left : self.right, :]


def find_active_area(
    thumb: np.ndarray, dark_level: float = 20.0, max_samples: int = 96, min_keep: float = 0.5
) -> ActiveArea:
    """Crop static black bars: leading/trailing rows and columns whose mean luma stays below ``dark_level``
    in *every* sampled frame (a bar never lights up; the maximum over frames ignores fully black frames).
    At least ``min_keep`` of each dimension is kept."""
    n, h, w = thumb.shape[:3]
    if n == 0:
        return ActiveArea(0, h, 0, w)
    idx = np.unique(np.linspace(0, n - 1, min(n, max_samples)).round().astype(int))
    gray = thumb[idx].astype(np.float32) @ _LUMA
    rows = gray.mean(axis=2).max(axis=0)
    cols = gray.mean(axis=1).max(axis=0)

    def span(profile: np.ndarray) -> tuple[int, int]:
        lit = np.flatnonzero(profile >= dark_level)
        if lit.size == 0:
            return 0, len(profile)
        lo, hi = int(lit[0]), int(lit[-1]) + 1
        if hi - lo < min_keep * len(profile):
            return 0, len(profile)
        return lo, hi

    top, bottom = span(rows)
    left, right = span(cols)
    return ActiveArea(top, bottom, left, right)


def find_static_overlay(
    small: np.ndarray, max_std: float = 3.0, max_samples: int = 64, max_fraction: float = 0.1
) -> np.ndarray:
    """(h, w) bool mask of pixels that stay the same colour in every sampled frame: an overlay drawn on
    top of the whole video. A video whose picture is largely static (one held shot) has no overlay to find:
    when more than ``max_fraction`` of the pixels are static the mask is empty."""
    n, h, w = small.shape[:3]
    if n < 8:
        return np.zeros((h, w), bool)
    idx = np.unique(np.linspace(0, n - 1, min(n, max_samples)).round().astype(int))
    mask = small[idx].std(axis=0).max(axis=-1) < max_std
    if mask.any():
        # the downscale blends the overlay's rim with the moving picture: mask a 1-pixel border too
        mask = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    if mask.mean() > max_fraction:
        return np.zeros((h, w), bool)
    return mask


def hsv_histograms(images: np.ndarray) -> np.ndarray:
    """(N, 192) float32 HSV histograms (12 hue x 4 saturation x 4 value bins), each summing to 1."""
    n = len(images)
    out = np.zeros((n, int(np.prod(HIST_BINS))), np.float32)
    if n == 0:
        return out
    h, w = images.shape[1:3]
    # one colour conversion for all frames (stacked into one tall image; the conversion is per pixel)
    hsv = cv2.cvtColor(np.ascontiguousarray(images).reshape(n * h, w, 3), cv2.COLOR_RGB2HSV).reshape(
        n, h, w, 3
    )
    for i in range(n):
        out[i] = cv2.calcHist([hsv[i]], [0, 1, 2], None, list(HIST_BINS), [0, 180, 0, 256, 0, 256]).ravel()
    # same values as dividing each frame's float32 counts by their sum: the counts are integers, so their
    # float32 sum is exact in any order
    out /= np.maximum(out.sum(axis=1), 1.0)[:, None]
    return out


def hist_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """Half the L1 distance between normalised histograms (0 = same colour distribution, 1 = disjoint)."""
    return 0.5 * np.abs(a - b).sum(axis=-1)


@dataclass
class FrameSignals:
    area: ActiveArea
    overlay: np.ndarray  # (36, 64) bool: static overlay pixels (excluded from contrast / white fraction)
    small: np.ndarray  # (N, 36, 64, 3) float32 RGB of the active area
    gray: np.ndarray  # (N, 36, 64) float32 luma of ``small``
    luma: np.ndarray  # (N,) mean luma 0..255
    contrast: np.ndarray  # (N,) spatial std of luma over the non-overlay pixels
    white: np.ndarray  # (N,) fraction of non-overlay pixels with luma >= 215 (washed-out flash frames)
    colour: np.ndarray  # (N, 3) mean RGB
    hist: np.ndarray  # (N, 192) HSV histograms
    hist_dist: np.ndarray  # (N,) histogram distance i-1 -> i
    diff: np.ndarray  # (N,) mean abs luma difference i-1 -> i

    def __len__(self) -> int:
        return int(self.luma.shape[0])

    def hist_between(self, i: int, j: int) -> float:
        return float(hist_distance(self.hist[i], self.hist[j]))

    def similarity(self, i: int, j: int, radius: int = 3) -> float:
        """Shift-tolerant structural similarity of frames ``i`` and ``j`` (see :func:`structure_similarity`)."""
        return structure_similarity(self.gray[i], self.gray[j], radius)

    def inverted_similarity(self, i: int, j: int, radius: int = 3) -> float:
        """Similarity of frame ``i`` to the colour negative of frame ``j``."""
        return structure_similarity(self.gray[i], 255.0 - self.gray[j], radius)


class _LastSignals:
    """The signals of the last thumb array :func:`compute_signals` saw: the curate job's shot detector and its
    vfx expert both read the signals of the same analysis window, so the second asks for free. A hit needs the
    very same array object (held here, so its id cannot be reused) with the same shape and the same bytes
    (an XXH3-64 hash of the pixels: ~4x cheaper than a CRC-32, ~60x cheaper than the signals), so an array
    changed in place is recomputed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entry: tuple[np.ndarray, tuple[int, ...], int, FrameSignals] | None = None

    @staticmethod
    def _checksum(thumb: np.ndarray) -> int:
        return xxhash.xxh3_64_intdigest(memoryview(thumb).cast("B"))

    def get(self, thumb: np.ndarray) -> FrameSignals | None:
        with self._lock:
            entry = self._entry
        if entry is None or entry[0] is not thumb or entry[1] != thumb.shape:
            return None
        return entry[3] if self._checksum(thumb) == entry[2] else None

    def put(self, thumb: np.ndarray, signals: FrameSignals) -> None:
        entry = (thumb, thumb.shape, self._checksum(thumb), signals)
        with self._lock:
            self._entry = entry

    def clear(self) -> None:
        with self._lock:
            self._entry = None


_LAST = _LastSignals()
#: Called by :func:`forget_signals`: memos elsewhere that hold on to signals (a detector's flash stages)
#: register their own clear here, so the caller needs not import (and load) every detector to free them.
_FORGET_HOOKS: list[Callable[[], None]] = []


def on_forget_signals(clear: Callable[[], None]) -> None:
    """Run ``clear`` whenever :func:`forget_signals` is called (once per distinct function)."""
    if clear not in _FORGET_HOOKS:
        _FORGET_HOOKS.append(clear)


def forget_signals() -> None:
    """Drop the remembered signals (and the thumb array they hold on to), and whatever other memos registered
    with :func:`on_forget_signals` keep of them, e.g. when a video is done."""
    _LAST.clear()
    for clear in _FORGET_HOOKS:
        clear()


def compute_signals(thumb: np.ndarray, area: ActiveArea | None = None) -> FrameSignals:
    """All per-frame signals of ``thumb`` ((N, h, w, 3) uint8 RGB). The signals of the last C-contiguous
    ``thumb`` seen with ``area=None`` are remembered (see :class:`_LastSignals`); treat them as read-only."""
    cacheable = area is None and thumb.dtype == np.uint8 and thumb.flags.c_contiguous
    if cacheable:
        hit = _LAST.get(thumb)
        if hit is not None:
            return hit
        _LAST.clear()  # not held while the next ones are computed
    signals = _compute_signals(thumb, area)
    if cacheable:
        _LAST.put(thumb, signals)
    return signals


def _mean_colours(small_f: np.ndarray, from_uint8: bool) -> np.ndarray:
    """``small_f.reshape(n, -1, 3).mean(axis=1)``: the mean RGB of each of the (n, h, w, 3) float32 pictures
    (converted from uint8 when ``from_uint8``), as (n, 3).

    Same floats, ~20x faster: numpy reduces the pixel axis with a strided inner loop over the 3 channels, one
    matmul with a vector of ones does not. Every partial sum is a whole number below 2**24 (h * w * 255 with
    the 64x36 small size), so any summation order gives the exact sum in float32; it is divided as
    ``ndarray.mean`` divides it."""
    n = len(small_f)
    pixels = small_f.reshape(n, -1, 3)
    if not from_uint8 or pixels.shape[1] * 255 >= 2**24:
        return pixels.mean(axis=1)
    sums = np.ones(pixels.shape[1], np.float32) @ pixels  # (n, 3)
    # ndarray.mean: float32 sum / intp count, computed in float64 and cast back
    np.true_divide(sums, np.intp(pixels.shape[1]), out=sums, casting="unsafe")
    return sums


def _compute_signals(thumb: np.ndarray, area: ActiveArea | None) -> FrameSignals:
    area = area if area is not None else find_active_area(thumb)
    crop = area.crop(thumb)
    n = len(crop)
    ch, cw = crop.shape[1:3]
    if n and ch % SMALL_SIZE[1] == 0 and cw % SMALL_SIZE[0] == 0:
        # same values as one cv2.resize per frame: with whole-pixel cells the frames stacked into one tall
        # image are resized cell by cell, and no cell straddles two frames
        tall = np.ascontiguousarray(crop).reshape(n * ch, cw, 3)
        small = cv2.resize(tall, (SMALL_SIZE[0], n * SMALL_SIZE[1]), interpolation=cv2.INTER_AREA)
        small = small.reshape(n, SMALL_SIZE[1], SMALL_SIZE[0], 3)
    elif n:
        small = np.stack([cv2.resize(f, SMALL_SIZE, interpolation=cv2.INTER_AREA) for f in crop])
    else:
        small = np.zeros((0, SMALL_SIZE[1], SMALL_SIZE[0], 3), np.uint8)
    small_f = small.astype(np.float32)
    gray = small_f @ _LUMA
    flat_gray = gray.reshape(n, -1)
    luma = flat_gray.mean(axis=1)
    overlay = find_static_overlay(small_f)
    picture = flat_gray[:, ~overlay.ravel()]
    contrast = picture.std(axis=1) if picture.shape[1] else np.zeros(n, np.float32)
    white = (picture >= 215.0).mean(axis=1) if picture.shape[1] else np.zeros(n, np.float32)
    colour = _mean_colours(small_f, small.dtype == np.uint8)
    hist = hsv_histograms(crop)
    hist_dist = np.zeros(n, np.float32)
    diff = np.zeros(n, np.float32)
    if n > 1:
        hist_dist[1:] = hist_distance(hist[1:], hist[:-1])
        diff[1:] = np.abs(flat_gray[1:] - flat_gray[:-1]).mean(axis=1)
    return FrameSignals(
        area=area,
        overlay=overlay,
        small=small_f,
        gray=gray,
        luma=luma.astype(np.float32),
        contrast=contrast.astype(np.float32),
        white=white.astype(np.float32),
        colour=colour.astype(np.float32),
        hist=hist,
        hist_dist=hist_dist,
        diff=diff,
    )


def structure_similarity(a: np.ndarray, b: np.ndarray, radius: int = 3) -> float:
    """Best zero-mean normalised cross-correlation of two small grey images over translations of up to
    ``radius`` pixels (1 = the same picture, possibly moved; ~0 = unrelated pictures).

    Flat (one-colour) images have no structure to correlate: two flat images of similar brightness count
    as the same picture (1.0), a flat and a structured one as unrelated (0.0).
    """
    h, w = a.shape
    sa, sb = float(a.std()), float(b.std())
    if sa < 1.0 or sb < 1.0:
        return 1.0 if (sa < 1.0 and sb < 1.0 and abs(float(a.mean()) - float(b.mean())) < 16.0) else 0.0
    r = max(0, min(radius, h // 4, w // 4))
    core = a[r : h - r, r : w - r]
    core = core - core.mean()
    core_norm = float(np.sqrt((core * core).sum())) + 1e-6
    # All shifted windows of b at once: (2r+1, 2r+1, h-2r, w-2r).
    windows = np.lib.stride_tricks.sliding_window_view(b, core.shape)
    windows = windows - windows.mean(axis=(2, 3), keepdims=True)
    num = (windows * core).sum(axis=(2, 3))
    den = np.sqrt((windows * windows).sum(axis=(2, 3))) * core_norm + 1e-6
    return float((num / den).max())
