"""Duration, resolution and picture quality of a shot, from its active-picture thumbs.

* ``sharpness``: variance of the 3x3 Laplacian of the gray thumb, median over up to ``SAMPLES`` non-blank
  frames. A *thumb-scale proxy*: the 128 px thumb is an area-average of the source, so this ranks visible
  detail and strong focus blur, not source-resolution softness or upscaling (those vanish in the downscale).
* ``blockiness``: ratio of the horizontal+vertical gradient energy *on* the source's 8 px coding grid to the
  energy *off* it, measured only when that grid is at least ``MIN_GRID_PX`` thumb pixels apart (sources up to
  ~256 px wide). Larger sources put several grid lines into one thumb pixel, so blocking cannot be seen in the
  shared thumbs and the column is null (logged once); measuring it would need a full-resolution sample, i.e.
  a second decode, which this stage does not do.
* ``brightness`` / ``contrast``: mean and spatial standard deviation of luma (0-255).
* ``colourfulness``: Hasler & Suesstrunk (2003) M on the RGB thumbs.
* ``black_share`` / ``blank_share``: share of frames that are black (98th percentile of luma < 32, and
  near-uniform) / near-uniform in any colour (luma std < ``BLANK_STD``).
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from pipeline.scores.registry import ShotView, register

log = logging.getLogger(__name__)

SAMPLES = 24
BLANK_STD = 6.0
BLACK_P98 = 32.0
MIN_GRID_PX = 4.0
_warned_blockiness = False


def laplacian_variance(gray: np.ndarray) -> float:
    return float(cv2.Laplacian(np.ascontiguousarray(gray, np.float32), cv2.CV_32F, ksize=1).var())


def laplacian_variances(gray: np.ndarray) -> np.ndarray:
    """:func:`laplacian_variance` of each (h, w) frame of ``gray`` (k, h, w), as (k,) float64. One ``var``
    over the stacked Laplacians instead of one per frame: each frame's (h, w) block is contiguous, so it is
    reduced as one run of h * w values, as ``var`` of the frame alone reduces it (same floats)."""
    laps = np.stack([cv2.Laplacian(np.ascontiguousarray(g, np.float32), cv2.CV_32F, ksize=1) for g in gray])
    return laps.var(axis=(1, 2)).astype(np.float64)


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler-Suesstrunk M of an (..., 3) RGB array."""
    return float(colourfulness_each(rgb.reshape(1, -1, 3))[0])


def colourfulness_each(rgb: np.ndarray) -> np.ndarray:
    """:func:`colourfulness` of each of ``k`` images ((k, ..., 3) RGB) as (k,) float32, in one pass: the
    per-image reductions run along the last axis of (k, pixels) arrays, in the same (pairwise) order as on one
    image's pixels, so the values are those of :func:`colourfulness` image by image."""
    x = rgb.reshape(rgb.shape[0], -1, 3).astype(np.float32)
    r, g = x[..., 0], x[..., 1]
    rg = r - g
    yb = 0.5 * (r + g) - x[..., 2]
    return np.hypot(rg.std(axis=1), yb.std(axis=1)) + 0.3 * np.hypot(rg.mean(axis=1), yb.mean(axis=1))


def grid_blockiness(gray: np.ndarray, period: float) -> float | None:
    """Gradient energy on a ``period``-px grid over the energy off it (1.0 = no blocking), or None when the
    picture is too small for a few grid cells."""
    h, w = gray.shape[-2:]
    if period < 2 or w < 3 * period or h < 3 * period:
        return None
    g = gray.astype(np.float32)
    gx = np.abs(np.diff(g, axis=-1)).mean(axis=tuple(range(g.ndim - 2)) + (-2,))  # (w-1,) per column boundary
    gy = np.abs(np.diff(g, axis=-2)).mean(axis=tuple(range(g.ndim - 2)) + (-1,))  # (h-1,)

    def ratio(profile: np.ndarray) -> tuple[float, float]:
        pos = np.arange(profile.size) + 1  # boundary between pixel pos-1 and pos
        on = np.abs(((pos / period) + 0.5) % 1.0 - 0.5) * period < 0.5
        return float(profile[on].mean()) if on.any() else 0.0, float(profile[~on].mean()) if (
            ~on
        ).any() else 0.0

    on_x, off_x = ratio(gx)
    on_y, off_y = ratio(gy)
    off = off_x + off_y
    return (on_x + on_y) / off if off > 1e-6 else None


@register(
    "quality",
    "frames",
    "duration_s",
    "fps",
    "width",
    "height",
    "sharpness",
    "blockiness",
    "brightness",
    "contrast",
    "colourfulness",
    "black_share",
    "blank_share",
)
def score_quality(view: ShotView) -> dict:
    """Duration, source size, sharpness / blockiness proxies, brightness, contrast, colourfulness, black/blank."""
    global _warned_blockiness
    sw, sh = view.frames.source_size
    gray = view.gray
    out: dict = {
        "frames": view.n,
        "duration_s": round(view.duration_s, 6),
        "fps": round(view.fps, 4),
        "width": int(sw),
        "height": int(sh),
    }
    if gray.size == 0:
        return out
    flat = gray.reshape(view.n, -1)
    stds = flat.std(axis=1)
    blank = stds < BLANK_STD
    black = blank.copy()
    if blank.any():
        # only a blank frame can be black: the percentile (a partition per row) of the others is not needed
        black[blank] = np.percentile(flat[blank], 98, axis=1) < BLACK_P98
    idx = view.sample(SAMPLES)
    picked = idx[~blank[idx]] if (~blank[idx]).any() else idx
    out["sharpness"] = round(float(np.median(laplacian_variances(gray[picked]))), 3)
    active_w = view.layout.source_box[2] or sw
    period = 8.0 * gray.shape[2] / max(active_w, 1)
    if period >= MIN_GRID_PX:
        b = grid_blockiness(gray[picked], period)
        out["blockiness"] = round(b, 4) if b is not None else None
    else:
        out["blockiness"] = None
        if not _warned_blockiness:
            _warned_blockiness = True
            log.info(
                "blockiness is null: the source's 8 px coding grid is %.2f thumb px apart (needs >= %.0f); it cannot be "
                "measured from the shared thumbs without a second full-resolution decode",
                period,
                MIN_GRID_PX,
            )
    out["brightness"] = round(float(flat[idx].mean()), 3)
    out["contrast"] = round(float(stds[idx].mean()), 3)
    # float64 values, as the mean of a list of Python floats
    out["colourfulness"] = round(float(colourfulness_each(view.picture[idx]).astype(np.float64).mean()), 3)
    out["black_share"] = round(float(black.mean()), 4)
    out["blank_share"] = round(float(blank.mean()), 4)
    return out
