"""Screen-space effects: speed lines, in-shot flashes, burnt-in subtitles, watermark, transition blends.

Flash conventions (the ground truth the labels describe):

* ``white_flash``: every frame of the span is the picture blended towards pure white by ``a >= 0.8``
  (the first frame is pure white); the same shot continues afterwards.
* ``inversion``: the picture's colour negative (``255 - rgb``) for every frame of the span.
* ``impact_frame``: a two-tone frame: the picture thresholded at its mean luma, dark lines/areas painted near-white
  and light areas near-black (a second frame, if any, is the non-inverted two-tone picture).
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

from .paint import AA

WHITE = np.array([255, 255, 255], np.float32)
IMPACT_LIGHT = (250, 246, 240)
IMPACT_DARK = (14, 10, 22)


def speed_lines(img: np.ndarray, rng: np.random.Generator, radial: bool) -> None:
    """Draw white speed lines in place: radial focus lines (towards the centre) or horizontal streaks."""
    h, w = img.shape[:2]
    polys = []
    if radial:
        cx, cy = w / 2 + rng.uniform(-0.05, 0.05) * w, h / 2 + rng.uniform(-0.05, 0.05) * h
        outer = math.hypot(w, h) / 2 + 8
        for _ in range(int(rng.integers(40, 64))):
            ang = rng.uniform(0, 2 * math.pi)
            half = rng.uniform(0.004, 0.012)
            inner = rng.uniform(0.38, 0.62) * min(w, h)
            pts = [
                (cx + outer * math.cos(ang - half), cy + outer * math.sin(ang - half)),
                (cx + outer * math.cos(ang + half), cy + outer * math.sin(ang + half)),
                (cx + inner * math.cos(ang), cy + inner * math.sin(ang)),
            ]
            polys.append(np.array(pts, np.int32))
    else:
        for _ in range(int(rng.integers(14, 26))):
            y = rng.uniform(0, h)
            x0 = rng.uniform(-0.2, 1.0) * w
            length = rng.uniform(0.2, 0.55) * w
            t = rng.uniform(1.0, 2.6)
            pts = [(x0, y), (x0 + length * 0.15, y - t), (x0 + length, y), (x0 + length * 0.15, y + t)]
            polys.append(np.array(pts, np.int32))
    cv2.fillPoly(img, polys, (255, 255, 255), AA)


def white_flash(img: np.ndarray, amount: float) -> np.ndarray:
    if amount >= 1.0:
        return np.full_like(img, 255)
    out = img.astype(np.float32) * (1.0 - amount) + WHITE * amount
    return out.astype(np.uint8)


def to_colour(img: np.ndarray, colour: tuple[int, int, int], amount: float) -> np.ndarray:
    """Blend towards a flat colour (fades, flash cuts); ``amount`` 1.0 gives the flat colour."""
    if amount >= 1.0:
        out = np.empty_like(img)
        out[:] = colour
        return out
    if amount <= 0.0:
        return img
    out = img.astype(np.float32) * (1.0 - amount) + np.asarray(colour, np.float32) * amount
    return out.astype(np.uint8)


def invert(img: np.ndarray) -> np.ndarray:
    return 255 - img


def impact(img: np.ndarray, negative: bool) -> np.ndarray:
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    dark = gray < float(gray.mean())
    if not negative:
        dark = ~dark
    out = np.empty_like(img)
    out[:] = IMPACT_DARK
    out[dark] = IMPACT_LIGHT
    return out


def apply_flash(img: np.ndarray, kind: str, index: int) -> np.ndarray:
    """Frame ``index`` (0-based) of an in-shot flash of ``kind``."""
    if kind == "white_flash":
        return white_flash(img, 1.0 if index == 0 else max(0.8, 0.95 - 0.07 * index))
    if kind == "inversion":
        return invert(img)
    if kind == "impact_frame":
        return impact(img, negative=index % 2 == 0)
    raise ValueError(f"unknown flash kind {kind!r}")


def subtitle_geometry(text: str, w: int, h: int) -> tuple[float, int, int, int]:
    """``(font scale, thickness, x, baseline y)`` of a centred bottom subtitle in a ``w`` x ``h`` picture."""
    font = cv2.FONT_HERSHEY_DUPLEX
    scale = 0.9 * h / 360
    thick = max(1, int(round(2.2 * scale)))
    (tw, _), base = cv2.getTextSize(text, font, scale, thick)
    if tw > 0.9 * w:
        scale *= 0.9 * w / tw
        (tw, _), base = cv2.getTextSize(text, font, scale, thick)
    return scale, thick, (w - tw) // 2, h - int(0.07 * h) - base


@lru_cache(maxsize=64)
def _outlined_text(
    text: str, w: int, h: int, font: int, scale: float, thick: int, x: int, y: int, halo: int
) -> tuple[int, int, np.ndarray, np.ndarray]:
    """``(x0, y0, text alpha, outline alpha)``: the text and its dilated outline, cropped to their bounding box.

    The outline is a dilation of the rendered glyphs (``putText`` thickness is not a reliable stroke width across
    OpenCV versions)."""
    mask = np.zeros((h, w), np.uint8)
    cv2.putText(mask, text, (x, y), font, scale, 255, thick, AA)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * halo + 1, 2 * halo + 1))
    outline = cv2.dilate(mask, kernel)
    ys, xs = np.nonzero(outline)
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    a_text = (mask[y0:y1, x0:x1].astype(np.float32) / 255)[:, :, None]
    a_out = (outline[y0:y1, x0:x1].astype(np.float32) / 255)[:, :, None]
    a_text.flags.writeable = False
    a_out.flags.writeable = False
    return x0, y0, a_text, a_out


def _subtitle_layers(text: str, w: int, h: int) -> tuple[int, int, np.ndarray, np.ndarray]:
    scale, thick, x, y = subtitle_geometry(text, w, h)
    return _outlined_text(
        text, w, h, cv2.FONT_HERSHEY_DUPLEX, scale, thick, x, y, max(2, int(round(2.6 * scale)))
    )


def subtitle_box(text: str, w: int, h: int) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` (exclusive ends) of the subtitle with its outline in a ``w`` x ``h`` picture."""
    x0, y0, a_text, _ = _subtitle_layers(text, w, h)
    return x0, y0, x0 + a_text.shape[1], y0 + a_text.shape[0]


def _paint_text(
    img: np.ndarray, x0: int, y0: int, a_text: np.ndarray, a_out: np.ndarray, opacity: float
) -> None:
    hh, ww = a_text.shape[:2]
    region = img[y0 : y0 + hh, x0 : x0 + ww].astype(np.float32)
    out = region * (1 - a_out) + np.float32(12) * (a_out - a_text) + np.float32(255) * a_text
    if opacity < 1.0:
        out = opacity * out + (1 - opacity) * region
    img[y0 : y0 + hh, x0 : x0 + ww] = np.clip(out, 0, 255).astype(np.uint8)


def draw_subtitle(img: np.ndarray, text: str) -> None:
    """White text with a black outline, centred near the bottom of ``img`` (in place)."""
    h, w = img.shape[:2]
    _paint_text(img, *_subtitle_layers(text, w, h), 1.0)


WATERMARK_TEXT = "SYNTH TV"


def draw_watermark(frame: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """A 60%-opaque channel bug (white text, dark rim) in the top-right corner of the picture area ``box``."""
    bx, by, bw, bh = box
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = 0.6 * bh / 360 + 0.15
    thick = max(1, int(round(1.6 * scale)))
    (tw, th), _ = cv2.getTextSize(WATERMARK_TEXT, font, scale, thick)
    x = bw - tw - int(0.03 * bw)
    y = int(0.05 * bh) + th
    x0, y0, a_text, a_out = _outlined_text(WATERMARK_TEXT, bw, bh, font, scale, thick, x, y, 1)
    _paint_text(frame, bx + x0, by + y0, a_text, a_out, 0.6)


def blend(a: np.ndarray, b: np.ndarray, weight_b: float) -> np.ndarray:
    return cv2.addWeighted(a, 1.0 - weight_b, b, weight_b, 0.0)
