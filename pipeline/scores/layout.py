"""Letterbox / pillarbox / windowbox bars and the active picture area.

Bars are a property of the video stream, so they are found once per video from (a sample of) all its frames
and reported on every shot row: a row (column) at the top or bottom (left or right) edge is a bar when it is

* near-black in every sampled frame (its mean luma stays below ``DARK_LEVEL`` and it is near-uniform), or
* near-uniform in one colour that never changes (spatial and temporal spread below ``UNIFORM_SPREAD``), on
  *both* opposite edges in the same colour -- one-sided static uniform rows are far more often a flat sky
  than a bar, while a one-sided *black* bar is common (screen recordings, cropped encodes).

Thin edges (< ``MIN_BAR`` of the dimension) are ignored: they are encoder padding or resize blur, not a
layout. ``layout`` is ``full`` (no bars), ``letterbox`` (top and/or bottom), ``pillarbox`` (left and/or right)
or ``windowbox`` (both). A video whose sampled frames are all dark has no bars to find (``full``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pipeline.scores.registry import ShotView, register

if TYPE_CHECKING:
    from pipeline.frames import AnalysisFrames

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
DARK_LEVEL = 24.0
#: Largest spatial std of a black bar row (noise, dither) and spread of a uniform coloured bar.
DARK_SPREAD = 8.0
UNIFORM_SPREAD = 3.0
#: Smallest bar that counts, as a fraction of the height (letterbox) or width (pillarbox).
MIN_BAR = 0.025
#: Frames sampled per video.
SAMPLES = 160


@dataclass(frozen=True)
class Layout:
    """Active picture box in thumb pixels (``bottom`` / ``right`` exclusive) and in source pixels."""

    layout: str
    top: int
    bottom: int
    left: int
    right: int
    thumb_size: tuple[int, int]  # (w, h)
    source_size: tuple[int, int]  # (w, h)

    def crop(self, images: np.ndarray) -> np.ndarray:
        return images[..., self.top : self.bottom, self.left : self.right, :]

    @property
    def source_box(self) -> tuple[int, int, int, int]:
        """``(x, y, w, h)`` of the active picture in source pixels."""
        tw, th = self.thumb_size
        sw, sh = self.source_size
        x0, x1 = round(self.left * sw / tw), round(self.right * sw / tw)
        y0, y1 = round(self.top * sh / th), round(self.bottom * sh / th)
        return x0, y0, x1 - x0, y1 - y0

    @property
    def active_fraction(self) -> float:
        tw, th = self.thumb_size
        return (self.bottom - self.top) * (self.right - self.left) / max(tw * th, 1)


def _edge_run(flags: np.ndarray) -> int:
    """Length of the run of True at the start of ``flags``."""
    off = np.flatnonzero(~flags)
    return int(off[0]) if off.size else int(flags.size)


def _bars(profile_max: np.ndarray, spread: np.ndarray, colour: np.ndarray, temporal: np.ndarray, size: int):
    """(before, after) bar thickness along one axis; the profiles are per row (or column)."""
    min_bar = max(1, int(np.ceil(MIN_BAR * size)))
    dark = (profile_max < DARK_LEVEL) & (spread < DARK_SPREAD)
    uniform = (spread < UNIFORM_SPREAD) & (temporal < UNIFORM_SPREAD)
    d0, d1 = _edge_run(dark), _edge_run(dark[::-1])
    if d0 >= size or d0 + d1 >= size:  # everything dark: no layout can be told
        return 0, 0
    before = d0 if d0 >= min_bar else 0
    after = d1 if d1 >= min_bar else 0
    # coloured (non-black) uniform bars: both sides, same colour
    u0, u1 = _edge_run(uniform), _edge_run(uniform[::-1])
    if (
        before == 0
        and after == 0
        and u0 >= min_bar
        and u1 >= min_bar
        and u0 + u1 < 0.8 * size
        and np.abs(colour[:u0].mean(axis=0) - colour[size - u1 :].mean(axis=0)).max() < 8.0
    ):
        before, after = u0, u1
    # a bar edge row blended by the resize belongs to the bar
    if before and before < size and profile_max[before] < DARK_LEVEL * 2 and spread[before] < DARK_SPREAD:
        before += 1
    if (
        after
        and after < size
        and profile_max[size - 1 - after] < DARK_LEVEL * 2
        and spread[size - 1 - after] < DARK_SPREAD
    ):
        after += 1
    return before, after


def _edge_colours(rgb: np.ndarray, from_uint8: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(rgb.mean(axis=(0, 2)), rgb.mean(axis=(0, 1)))``: the mean colour of each row and of each column of
    the sampled frames ``rgb`` ((k, h, w, 3) float32, converted from uint8 when ``from_uint8``).

    Same floats, ~15x faster: numpy reduces two axes at once with a strided inner loop over the 3 channels.
    The values are whole numbers (uint8 thumbs) and every partial sum stays below 2**24, so any summation order
    gives the exact sum in float32; summing the frames first (a contiguous reduction) and then the rows or
    columns of that sum gives the same totals, divided exactly as ``ndarray.mean`` divides them."""
    k, h, w = rgb.shape[:3]
    if not from_uint8 or k * max(h, w) * 255 >= 2**24:
        return rgb.mean(axis=(0, 2)), rgb.mean(axis=(0, 1))
    frames_sum = rgb.sum(axis=0)  # (h, w, 3)
    row = frames_sum.sum(axis=1)
    col = frames_sum.sum(axis=0)
    # ndarray.mean: float32 sum / intp count, computed in float64 and cast back
    np.true_divide(row, np.intp(k * w), out=row, casting="unsafe")
    np.true_divide(col, np.intp(k * h), out=col, casting="unsafe")
    return row, col


def find_layout(thumb: np.ndarray, source_size: tuple[int, int] | None = None) -> Layout:
    """The bars and active area of ``thumb`` ((N, h, w, 3) uint8), using up to ``SAMPLES`` frames."""
    n, h, w = thumb.shape[:3]
    source_size = source_size or (w, h)
    if n == 0:
        return Layout("full", 0, h, 0, w, (w, h), source_size)
    idx = np.unique(np.linspace(0, n - 1, min(n, SAMPLES)).round().astype(int))
    rgb = thumb[idx].astype(np.float32)
    gray = rgb @ _LUMA  # (k, h, w)
    row_mean = gray.mean(axis=2)  # (k, h)
    col_mean = gray.mean(axis=1)  # (k, w)
    row_spread = gray.std(axis=2).max(axis=0)
    col_spread = gray.std(axis=1).max(axis=0)
    row_colour, col_colour = _edge_colours(rgb, thumb.dtype == np.uint8)  # (h, 3), (w, 3)
    row_temporal = np.ptp(row_mean, axis=0)
    col_temporal = np.ptp(col_mean, axis=0)
    top, bottom = _bars(row_mean.max(axis=0), row_spread, row_colour, row_temporal, h)
    left, right = _bars(col_mean.max(axis=0), col_spread, col_colour, col_temporal, w)
    vertical = top > 0 or bottom > 0
    horizontal = left > 0 or right > 0
    kind = (
        "windowbox"
        if vertical and horizontal
        else "letterbox"
        if vertical
        else "pillarbox"
        if horizontal
        else "full"
    )
    return Layout(kind, top, h - bottom, left, w - right, (w, h), source_size)


def video_layout(frames: AnalysisFrames) -> Layout:
    return find_layout(frames.thumb, tuple(frames.source_size))


@register(
    "layout",
    "layout",
    "active_x",
    "active_y",
    "active_width",
    "active_height",
    "active_fraction",
    "short_side_px",
)
def score_layout(view: ShotView) -> dict:
    """Bars and the active picture (the video's layout, reported per shot)."""
    lay = view.layout
    x, y, w, h = lay.source_box
    return {
        "layout": lay.layout,
        "active_x": x,
        "active_y": y,
        "active_width": w,
        "active_height": h,
        "active_fraction": round(lay.active_fraction, 4),
        "short_side_px": min(w, h),
    }
