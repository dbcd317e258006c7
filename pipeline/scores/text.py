"""Burnt-in text: subtitles, watermarks / logo bugs, title cards and credits, with area and position.

Classical and cheap, on the shot's active-picture gray thumbs (128 px wide):

1. **Stroke map** per sampled frame: pixels on a strong local contrast edge (3x3 morphological gradient
   >= ``EDGE``). Burnt-in text is high-contrast by design (white fill, dark outline).
2. **Text lines**: the stroke map closed with a short horizontal kernel, split into connected components;
   a component is a text line when it is a wide, short box (width >= ``MIN_ASPECT`` x height, height <= 18 %
   of the picture), densely stroked, and *alternates* along its rows (a run of glyphs gives many
   edge / no-edge transitions per pixel, a contour of the drawing does not).
3. **Temporal persistence**: a line must recur at the same place in >= ``MIN_PERSIST`` of the sampled
   frames; scene texture that happens to look like a line rarely stays put while the shot moves.
4. **Static overlay** (per video, cached): stroke pixels that persist in >= 85 % of frames sampled over the
   whole video while the picture changes (a logo bug or watermark drawn over every shot), kept when they form
   a small box near an edge.

The kind is then a position/size rule: centred line(s) in the bottom band -> ``subtitle``; several lines
over a mostly blank picture -> ``credits``, one or two -> ``title_card``; other lines in the bottom or top
band -> ``title_card`` (episode titles, captions); only a static corner box -> ``watermark`` (logo bugs
included: at thumb scale the two cannot be told apart).

Limits, measured in ``tests/corpus/test_scores_corpus.py``: text smaller than ~3 thumb px (a faint
semi-transparent bug, a small watermark in a 1080p frame) is below what 128 px thumbs resolve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from pipeline.scores.registry import ShotView, register

if TYPE_CHECKING:
    from pipeline.frames import AnalysisFrames

SAMPLES = 12
EDGE = 70.0
PLAIN_EDGE = 40.0
BRIGHT = 150.0
HALO = 70.0
MIN_ASPECT = 2.5
MIN_DENSITY = 0.15
MIN_TRANSITIONS = 0.25  # edge/no-edge switches per pixel along the line's rows
MIN_PERSIST = 0.5
STABLE_STD = 12.0
BOTTOM_BAND = 0.7  # text whose centre is below this fraction of the height is in the bottom band
TOP_BAND = 0.2
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_K3 = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return self.w * self.h

    def iou(self, other: Box) -> float:
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1, y1 = min(self.x + self.w, other.x + other.w), min(self.y + self.h, other.y + other.h)
        inter = max(0, x1 - x0) * max(0, y1 - y0)
        return inter / max(self.area + other.area - inter, 1)


def stroke_map(gray: np.ndarray, edge: float = EDGE) -> np.ndarray:
    """(h, w) bool: pixels on a strong local contrast edge."""
    g = np.ascontiguousarray(gray, np.float32)
    return (cv2.dilate(g, _K3) - cv2.erode(g, _K3)) >= edge


def glyph_map(gray: np.ndarray) -> np.ndarray:
    """(h, w) bool: *outlined glyph* pixels -- bright (luma >= ``BRIGHT``) with a much darker pixel (by
    ``HALO``) within 2 px, or dark with a much brighter one: the fill of burnt-in text drawn with an outline or
    shadow, which survives the downscale to thumbs as a bright/dark speckle."""
    g = np.ascontiguousarray(gray, np.float32)
    k5 = np.ones((5, 5), np.uint8)
    low, high = cv2.erode(g, k5), cv2.dilate(g, k5)
    return ((g >= BRIGHT) & (g - low >= HALO)) | ((g <= 255 - BRIGHT) & (high - g >= HALO))


def text_lines(mask: np.ndarray, texture: list[np.ndarray] | None = None) -> list[Box]:
    """Wide, short, dense boxes of ``mask`` whose glyphs *alternate* along the rows (a run of glyphs gives many
    on/off transitions per pixel, a contour of the drawing does not); the alternation is measured on the
    per-frame ``texture`` maps when given (a persistence map is solid), else on ``mask``."""
    h, w = mask.shape
    closed = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((1, 7), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    sources = texture if texture else [mask]
    out = []
    for i in range(1, count):
        x, y, bw, bh, _ = (int(v) for v in stats[i])
        if bh < 2 or bh > max(3, 0.2 * h) or bw < 8 or bw < MIN_ASPECT * bh or bw > 0.95 * w:
            continue
        if mask[y : y + bh, x : x + bw].mean() < MIN_DENSITY:
            continue
        alternation = np.median(
            [
                np.abs(np.diff(m[y : y + bh, x : x + bw].astype(np.int8), axis=1)).sum(axis=1).max()
                for m in sources
            ]
        )
        if alternation < MIN_TRANSITIONS * bw:
            continue
        out.append(Box(x, y, bw, bh))
    return out


def plain_lines(mask: np.ndarray) -> list[Box]:
    """Text on a plain (mostly uniform) picture: one box per group of rows holding persistent strokes (a
    title card's line, a credit block's lines); every structure on a plain picture counts."""
    h, w = mask.shape
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return []
    groups = np.split(rows, np.flatnonzero(np.diff(rows) > 2) + 1)
    out = []
    for g in groups:
        cols = np.flatnonzero(mask[g[0] : g[-1] + 1].any(axis=0))
        if mask[g[0] : g[-1] + 1].sum() < 3:
            continue
        out.append(Box(int(cols[0]), int(g[0]), int(cols[-1] - cols[0] + 1), int(g[-1] - g[0] + 1)))
    return out


def persistent_lines(per_frame: list[list[Box]], min_persist: float = MIN_PERSIST) -> list[tuple[Box, float]]:
    """Lines that recur (IoU >= 0.3) in at least ``min_persist`` of the frames, with their recurrence."""
    k = len(per_frame)
    if k == 0:
        return []
    found: list[tuple[Box, float]] = []
    for boxes in per_frame:
        for b in boxes:
            if any(b.iou(f) >= 0.3 for f, _ in found):
                continue
            hits = sum(1 for other in per_frame if any(b.iou(o) >= 0.3 for o in other))
            if hits / k >= min_persist:
                found.append((b, hits / k))
    return found


def static_overlay(gray: np.ndarray, samples: int = 64) -> list[Box]:
    """Small boxes near the picture edges whose strokes persist over the whole video while it changes."""
    n, h, w = gray.shape
    if n < 8:
        return []
    idx = np.unique(np.linspace(0, n - 1, min(n, samples)).round().astype(int))
    g = gray[idx]
    if float(np.median(g.std(axis=0))) < 8.0:  # the picture hardly changes: nothing to tell an overlay by
        return []
    persist = np.mean([stroke_map(f, EDGE * 0.6) for f in g], axis=0) >= 0.85
    persist &= g.std(axis=0) < 25.0
    if persist.mean() > 0.1:
        return []
    mask = cv2.dilate(persist.astype(np.uint8), _K3)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    out = []
    for i in range(1, count):
        x, y, bw, bh, a = (int(v) for v in stats[i])
        if a < 6 or bw * bh > 0.06 * w * h or x == 0 or y == 0 or x + bw >= w or y + bh >= h:
            continue
        if bw < 4 or bh < 3 or a < 12:
            continue
        # the picture around the box must keep changing (in most sampled steps) while the box stays
        ring = np.zeros((h, w), bool)
        ring[max(0, y - 4) : y + bh + 4, max(0, x - 4) : x + bw + 4] = True
        ring[y : y + bh, x : x + bw] = False
        ring_change = np.abs(np.diff(g[:, ring], axis=0)).mean(axis=1)
        box_change = np.abs(np.diff(g[:, y : y + bh, x : x + bw].reshape(len(g), -1), axis=0)).mean(axis=1)
        if (ring_change > 4.0).mean() < 0.4 or np.median(box_change) > 0.35 * np.median(ring_change):
            continue
        near_edge = min(x, w - x - bw) < 0.25 * w and min(y, h - y - bh) < 0.25 * h
        if near_edge:
            out.append(Box(x, y, bw, bh))
    return out


def _video_overlay(frames: AnalysisFrames, view: ShotView) -> list[Box]:
    lay = view.layout
    sub = frames.thumb[:: max(1, len(frames) // 64)]
    gray = np.ascontiguousarray(lay.crop(sub).astype(np.float32) @ _LUMA)
    return static_overlay(gray)


def classify(lines: list[Box], overlay: list[Box], h: int, w: int, plain: bool) -> tuple[str, str]:
    """``(text_kind, text_position)`` from persistent lines and static overlay boxes. On a ``plain`` picture
    (mostly uniform, e.g. text on black) every line counts; on a drawn picture only lines in the bottom or top
    band do (lines in the middle of a drawing are far more often line art than text)."""
    if lines and plain:
        cy = [(b.y + b.h / 2) / h for b in lines]
        kind = "credits" if len(lines) >= 3 else "title_card"
        return kind, "center" if all(TOP_BAND < y < BOTTOM_BAND for y in cy) else "full"
    bottom = [b for b in lines if (b.y + b.h / 2) / h >= BOTTOM_BAND]
    top = [b for b in lines if (b.y + b.h / 2) / h <= TOP_BAND]
    centred = [b for b in bottom if abs((b.x + b.w / 2) / w - 0.5) < 0.15 and b.w >= 0.15 * w]
    if centred:
        return "subtitle", "bottom"
    if bottom or top:
        wide = [b for b in bottom + top if b.w >= 0.2 * w]
        if wide:
            return "title_card", "bottom" if bottom else "top"
    if overlay:
        return "watermark", "corner"
    return "none", "none"


@register("text", "text_area", "text_share", "text_position", "text_kind", "overlay_area")
def score_text(view: ShotView) -> dict:
    """Burnt-in text lines (persistent, position-classified) and the video's static overlay."""
    gray = view.gray
    n, h, w = gray.shape if gray.ndim == 3 else (0, 0, 0)
    if n == 0 or h < 8 or w < 8:
        return {
            "text_area": None,
            "text_share": None,
            "text_position": "none",
            "text_kind": "none",
            "overlay_area": None,
        }
    idx = view.sample(SAMPLES)
    strokes = [stroke_map(gray[i], PLAIN_EDGE) for i in idx]
    stroke_share = float(np.mean([s.mean() for s in strokes]))
    flat = float(np.mean([(np.abs(gray[i] - np.median(gray[i])) < 12).mean() for i in idx]))
    plain = flat >= 0.9 and 0.002 < stroke_share < 0.06
    maps = [stroke_map(gray[i], PLAIN_EDGE) if plain else glyph_map(gray[i]) for i in idx]
    # persistent glyphs: present (within 1 px) in >= MIN_PERSIST of the samples -- burnt-in text stays put
    # while the drawing under it animates or the camera moves
    persist = np.mean(maps, axis=0) >= MIN_PERSIST
    persist &= gray[idx].std(axis=0) < STABLE_STD
    lines = plain_lines(persist) if plain else text_lines(persist, maps)
    per_frame = [
        [b for b in lines if m[b.y : b.y + b.h, b.x : b.x + b.w].mean() >= MIN_DENSITY * 0.5] for m in maps
    ]
    overlay = view.ctx.video_cached(view.frames, "text_overlay", lambda: _video_overlay(view.frames, view))
    # lines inside the static overlay are the overlay, not text of the shot
    lines = [b for b in lines if not any(b.iou(o) > 0.2 for o in overlay)]
    kind, position = classify(lines, overlay, h, w, plain)
    kept = lines if kind in ("subtitle", "title_card", "credits") else []
    if kind == "subtitle":
        kept = [b for b in lines if (b.y + b.h / 2) / h >= BOTTOM_BAND]
    mask = np.zeros((h, w), bool)
    for b in kept:
        mask[b.y : b.y + b.h, b.x : b.x + b.w] = True
    share = float(np.mean([any(b in fb for b in kept) for fb in per_frame])) if kept else 0.0
    overlay_area = sum(b.area for b in overlay) / (h * w)
    return {
        "text_area": round(float(mask.mean()), 5),
        "text_share": round(share, 4),
        "text_position": position,
        "text_kind": kind,
        "overlay_area": round(float(overlay_area), 5),
    }
