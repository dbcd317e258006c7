"""Burnt-in text: subtitles, watermarks / logo bugs, title cards and credits, with area and position.

Classical and cheap, on the shot's active-picture gray thumbs (128 px wide):

1. **Stroke map** per sampled frame: pixels on a strong local contrast edge (3x3 morphological gradient
   >= ``EDGE``). Burnt-in text is high-contrast by design (white fill, dark outline).
2. **Text lines**: the stroke map closed with a short horizontal kernel, split into connected components;
   a component is a text line when it is a wide, short box (width >= ``MIN_ASPECT`` x height, height <= 18 %
   of the picture), densely stroked, and *alternates* along its rows (a run of glyphs gives many
   edge / no-edge transitions per pixel, a contour of the drawing does not). Where a subtitle touches the
   line art of a held drawing (one component with it), :func:`band_lines` finds it as a band of densely
   alternating rows instead.
3. **Temporal persistence**: a glyph pixel must stay put (on the glyph map and unchanged) in both samples of
   >= ``MIN_STABLE_PAIRS`` of the consecutive sample pairs -- counting pairs, not samples, keeps a subtitle
   that shows for only part of the shot -- and a line must recur in the samples; scene texture that happens to
   look like a line rarely stays put while the shot moves.
4. **Static overlay** (per video, cached, shared by its shots): when the decode kept larger luma ``stills``
   (``decode_analysis_frames(stills=STILLS)``, 512 px wide, spread over the whole video; ``anicurate scores``
   asks for them), :func:`persistent_marks` finds pixels whose edges persist across the stills while the
   picture around them changes, closed into small compact boxes; a box near a corner is a watermark / logo bug
   (:func:`mark_kind`). Without stills (or for a video shorter than ``MIN_OVERLAY_SECONDS``) the thumbs are
   used: stroke pixels persisting in >= 85 % of frames sampled over the video, kept as a small box near an edge.

The kind is then a position/size rule: centred line(s) in the bottom band -> ``subtitle``; on a plain
picture (uniform away from its strokes) three or more lines, or a text block covering >= ``CREDIT_BLOCK`` of
it, -> ``credits``, fewer -> ``title_card``; other lines in the bottom or top band -> ``title_card`` (episode
titles, captions); only a static corner box -> ``watermark`` (logo bugs included: the two cannot be told
apart by position and persistence).

Limits, measured in ``tests/corpus/test_scores_corpus.py``: per-shot text smaller than ~3 thumb px is below
what 128 px thumbs resolve (only marks that stay over the whole video are looked for at still resolution);
text drawn partly over letterbox / pillarbox bars is cropped with them; a subtitle merged with the line art of
a held drawing is recovered (:func:`band_lines`) only where subtitles are set, centred and low.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from pipeline.scores.registry import ShotView, register

if TYPE_CHECKING:
    from pipeline.frames import AnalysisFrames
    from pipeline.scores.layout import Layout

SAMPLES = 12
EDGE = 70.0
PLAIN_EDGE = 40.0
#: A picture is *plain* (a title card, a credit block) when >= PLAIN_FLAT of it away from its strokes is at
#: the background level and strokes cover less than PLAIN_MAX_STROKES of it.
PLAIN_FLAT = 0.98
PLAIN_MAX_STROKES = 0.35
#: Text on a plain picture covering this much of it is a credit block, however many lines the thumbs resolve.
CREDIT_BLOCK = 0.25
BRIGHT = 150.0
HALO = 70.0
MIN_ASPECT = 2.5
MIN_DENSITY = 0.12
MIN_TRANSITIONS = 0.25  # edge/no-edge switches per pixel along the line's rows
MIN_PERSIST = 0.5
MIN_STABLE_PAIRS = 0.4
BAND_TOP = 0.6
BAND_TRANSITIONS = 0.2  # on/off switches per pixel of the picture width in a row of a text band
BAND_CENTRING = 0.06  # a band line's centre is within this of the picture's centre line (fraction of width)
BAND_LOW = 0.85  # ... and below this fraction of the height
STABLE_STD = 12.0
BOTTOM_BAND = 0.7  # text whose centre is below this fraction of the height is in the bottom band
TOP_BAND = 0.2
#: Larger luma frames per video the text scorer uses for small static marks (``decode_analysis_frames(stills=)``).
STILLS = 16
MIN_OVERLAY_SECONDS = 2.0
MARK_EDGE = 24.0
MARK_WINDOW = 31
MARK_CHANGE = 6.0
MARK_LUMA = 0.7
MARK_PERSIST = 0.8
MARK_CHANGED = 0.4
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


def background_flatness(gray: np.ndarray, strokes: list[np.ndarray]) -> float:
    """Mean over frames of the share of pixels *away from strokes* (outside the strokes dilated by 1 px) that
    sit within 12 luma levels of the frame's median: 1.0 for text or a logo on a plain card however much
    text there is (a dense credit block too), well under 1 for a drawn or shaded picture."""
    if len(strokes) == 0:
        return 0.0
    # every frame's median in one call: the same middle values of each frame, averaged as np.median does
    medians = np.median(gray.reshape(len(gray), -1), axis=1)
    shares = []
    for g, s, med in zip(gray, strokes, medians, strict=True):
        rest = g[cv2.dilate(s.astype(np.uint8), _K3) == 0]
        shares.append(float((np.abs(rest - med) < 12).mean()) if rest.size else 0.0)
    return float(np.mean(shares)) if shares else 0.0


def stable_glyphs(gray: np.ndarray, maps: list[np.ndarray]) -> np.ndarray:
    """(h, w) bool: glyph pixels that stay put -- on the glyph map and unchanged (luma within ``STABLE_STD``)
    in both samples of >= ``MIN_STABLE_PAIRS`` of the consecutive sample pairs. Counting pairs rather than
    samples keeps a subtitle that shows for only part of the shot (it appears, or the next line replaces it)."""
    if len(maps) < 2:
        return maps[0].copy() if maps else np.zeros(gray.shape[1:], bool)
    pairs = [
        a & b & (np.abs(gray[i + 1] - gray[i]) < STABLE_STD)
        for i, (a, b) in enumerate(zip(maps[:-1], maps[1:], strict=True))
    ]
    return np.mean(pairs, axis=0) >= MIN_STABLE_PAIRS


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


def band_lines(mask: np.ndarray, texture: list[np.ndarray], top: float = BAND_TOP) -> list[Box]:
    """Text lines found as *bands of rows* in the lower part of the picture (below ``top`` of the height):
    runs of >= 3 rows (1-row gaps allowed) whose persistent glyphs switch on/off >= ``BAND_TRANSITIONS`` times
    per pixel of the picture width, boxed over the longest run of columns they cover. A subtitle over a
    *held* drawing persists like the drawing and touches its line art, so it is one component with it; its
    rows still alternate far more densely than the drawing's. The box must pass the line tests of
    :func:`text_lines` (aspect, density, alternation in the per-frame ``texture`` maps) and sit where
    subtitles are set: centred within ``BAND_CENTRING`` and below ``BAND_LOW`` of the height."""
    h, w = mask.shape
    switches = np.abs(np.diff(mask.astype(np.int8), axis=1)).sum(axis=1)
    rows = np.flatnonzero(switches >= BAND_TRANSITIONS * w)
    rows = rows[rows >= int(top * h)]
    if rows.size == 0:
        return []
    out = []
    for group in np.split(rows, np.flatnonzero(np.diff(rows) > 2) + 1):
        y0, y1 = int(group[0]), int(group[-1])
        bh = y1 - y0 + 1
        if group.size < 3 or bh > max(3, 0.2 * h):
            continue
        cols = cv2.morphologyEx(
            mask[y0 : y1 + 1].any(axis=0).astype(np.uint8)[None, :],
            cv2.MORPH_CLOSE,
            np.ones((1, 7), np.uint8),
        )[0]
        runs = np.split(np.flatnonzero(cols), np.flatnonzero(np.diff(np.flatnonzero(cols)) > 1) + 1)
        run = max(runs, key=len)
        x0, bw = int(run[0]), int(run.size)
        if bw < MIN_ASPECT * bh or mask[y0 : y1 + 1, x0 : x0 + bw].mean() < MIN_DENSITY:
            continue
        alternation = np.median(
            [
                np.abs(np.diff(m[y0 : y1 + 1, x0 : x0 + bw].astype(np.int8), axis=1)).sum(axis=1).max()
                for m in texture
            ]
        )
        if alternation < MIN_TRANSITIONS * bw:
            continue
        # only a subtitle's placement: exactly centred and low (a band elsewhere is far more often scenery)
        if abs((x0 + bw / 2) / w - 0.5) > BAND_CENTRING or (y0 + bh / 2) / h < BAND_LOW:
            continue
        out.append(Box(x0, y0, bw, bh))
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
    spread = g.std(axis=0)
    if float(np.median(spread)) < 8.0:  # the picture hardly changes: nothing to tell an overlay by
        return []
    persist = np.mean([stroke_map(f, EDGE * 0.6) for f in g], axis=0) >= 0.85
    persist &= spread < 25.0
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


def persistent_marks(stills: np.ndarray, edge: float = MARK_EDGE) -> list[Box]:
    """Static overlay marks in larger luma ``stills`` (K, h, w) spread over a video: boxes of pixels whose edges
    persist across the stills while the picture around them changes.

    For every pair of consecutive stills whose neighbourhood (``MARK_WINDOW`` px box) changed by >=
    ``MARK_CHANGE`` luma levels on average, a pixel *persists* when it is on an edge in both stills and its own
    luma changed by less than ``MARK_LUMA`` of its neighbourhood's (a semi-transparent mark still changes with
    what is under it, but less). Pixels persisting in >= ``MARK_PERSIST`` of their changed pairs, with the
    surroundings changed in >= ``MARK_CHANGED`` of all pairs, are closed into boxes; a box is a mark when it is
    small, compact, densely edged and off the picture border (long straight runs are dropped first: a camera
    move along a straight edge keeps that edge in place too, but as a line, not a compact block of strokes)."""
    n, h, w = stills.shape
    if n < 4 or h < 16 or w < 16:
        return []
    g = np.ascontiguousarray(stills, np.float32)
    edges = np.stack([(cv2.dilate(f, _K3) - cv2.erode(f, _K3)) >= edge for f in g])
    diff = np.abs(np.diff(g, axis=0))
    around = np.stack([cv2.blur(d, (MARK_WINDOW, MARK_WINDOW)) for d in diff])
    changed = around >= MARK_CHANGE
    stays = edges[1:] & edges[:-1] & (diff < np.maximum(4.0, MARK_LUMA * around))
    n_changed = changed.sum(axis=0)
    persist = (stays & changed).sum(axis=0) / np.maximum(n_changed, 1)
    need = max(3.0, MARK_CHANGED * (n - 1))
    mask = (persist >= MARK_PERSIST) & (n_changed >= need)
    # a camera move along a long straight edge keeps it in place: drop long straight runs before grouping, so
    # they neither pass as marks nor glue a mark to the scenery next to it
    m8 = mask.astype(np.uint8)
    lines = np.zeros_like(m8)
    for run, across in (((max(20, round(0.08 * h)), 1), (1, 5)), ((1, max(40, round(0.15 * w))), (5, 1))):
        joined = cv2.morphologyEx(m8, cv2.MORPH_CLOSE, np.ones((5, 1) if run[0] > 1 else (1, 5), np.uint8))
        long = cv2.morphologyEx(joined, cv2.MORPH_OPEN, np.ones(run, np.uint8))  # a dashed line is a line too
        # ... but only a thin one: a line of text closed along its length is a thick band, and stays
        lines |= long & ~cv2.morphologyEx(long, cv2.MORPH_OPEN, np.ones(across, np.uint8))
    mask &= lines == 0
    closed = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 9), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    out = []
    for i in range(1, count):
        x, y, bw, bh, _ = (int(v) for v in stats[i])
        if bw < 12 or bh < 6 or bw > 25 * bh or bh > 3 * bw or bw * bh > 0.05 * w * h:
            continue
        if x <= 2 or y <= 2 or x + bw >= w - 2 or y + bh >= h - 2:
            continue
        inside = mask[y : y + bh, x : x + bw]
        if inside.mean() < 0.12 or inside.sum() < 30:
            continue
        ring = np.zeros((h, w), bool)
        ring[max(0, y - 8) : y + bh + 8, max(0, x - 8) : x + bw + 8] = True
        ring[y : y + bh, x : x + bw] = False
        if np.median(n_changed[ring]) < need:
            continue
        out.append(Box(x, y, bw, bh))
    return out


def mark_kind(box: Box, h: int, w: int) -> str:
    """``'watermark'`` for a mark near a corner (a channel bug, a logo, a watermark), ``'subtitle'`` for a wide
    line centred in the bottom band (a caption burnt in over the whole video), else ``'none'``."""
    centred = abs((box.x + box.w / 2) / w - 0.5) < 0.15 and box.w >= 0.15 * w
    if centred and (box.y + box.h / 2) / h >= BOTTOM_BAND:
        return "subtitle"
    if min(box.x, w - box.x - box.w) < 0.25 * w and min(box.y, h - box.y - box.h) < 0.25 * h:
        return "watermark"
    return "none"


def still_picture(stills: np.ndarray, layout: Layout) -> np.ndarray:
    """Stills (K, H, W) cropped to the active picture of ``layout`` (its thumb box scaled to still pixels)."""
    sh, sw = stills.shape[1:]
    tw, th = layout.thumb_size
    y0, y1 = round(layout.top * sh / th), round(layout.bottom * sh / th)
    x0, x1 = round(layout.left * sw / tw), round(layout.right * sw / tw)
    return stills[:, y0:y1, x0:x1]


@dataclass(frozen=True)
class VideoOverlay:
    """What stays drawn over a whole video, in active-picture thumb pixels: corner ``marks`` (watermarks, logo
    bugs) and bottom-centre ``captions`` (a caption line burnt in over every shot)."""

    marks: list[Box]
    captions: list[Box]


def _video_overlay(frames: AnalysisFrames, view: ShotView) -> VideoOverlay:
    """The video's static overlay: from the stills when the decode kept them (see ``STILLS``) and the video
    lasts >= ``MIN_OVERLAY_SECONDS``, else corner marks from the thumbs (which miss marks under ~3 thumb px)."""
    lay = view.layout
    # stills of a very short video are near-adjacent frames: parts of the drawing that hold look like a mark
    long_enough = len(frames) >= MIN_OVERLAY_SECONDS * float(frames.fps or 24)
    if frames.stills is not None and len(frames.stills) >= 4 and long_enough:
        stills = still_picture(frames.stills, lay)
        sh, sw = stills.shape[1:]
        fy, fx = (lay.bottom - lay.top) / max(sh, 1), (lay.right - lay.left) / max(sw, 1)
        found: dict[str, list[Box]] = {"watermark": [], "subtitle": [], "none": []}
        for b in persistent_marks(stills):
            scaled = Box(int(b.x * fx), int(b.y * fy), max(1, round(b.w * fx)), max(1, round(b.h * fy)))
            found[mark_kind(b, sh, sw)].append(scaled)
        return VideoOverlay(found["watermark"], found["subtitle"])
    sub = frames.thumb[:: max(1, len(frames) // 64)]
    gray = np.ascontiguousarray(lay.crop(sub).astype(np.float32) @ _LUMA)
    return VideoOverlay(static_overlay(gray), [])


def classify(lines: list[Box], overlay: list[Box], h: int, w: int, plain: bool) -> tuple[str, str]:
    """``(text_kind, text_position)`` from persistent lines and static overlay boxes. On a ``plain`` picture
    (mostly uniform, e.g. text on black) every line counts; on a drawn picture only lines in the bottom or top
    band do (lines in the middle of a drawing are far more often line art than text)."""
    if lines and plain:
        cy = [(b.y + b.h / 2) / h for b in lines]
        block = sum(b.area for b in lines) >= CREDIT_BLOCK * h * w  # small lines merged into one block
        kind = "credits" if len(lines) >= 3 or block else "title_card"
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
    plain = 0.002 < stroke_share < PLAIN_MAX_STROKES and background_flatness(gray[idx], strokes) >= PLAIN_FLAT
    maps = strokes if plain else [glyph_map(gray[i]) for i in idx]
    # persistent glyphs: present (within 1 px) in >= MIN_PERSIST of the samples -- burnt-in text stays put
    # while the drawing under it animates or the camera moves
    if plain:
        persist = np.mean(maps, axis=0) >= MIN_PERSIST
        persist &= gray[idx].std(axis=0) < STABLE_STD
        lines = plain_lines(persist)
    else:
        persist = stable_glyphs(gray[idx], maps)
        lines = text_lines(persist, maps)
        lines += [b for b in band_lines(persist, maps) if not any(b.iou(o) > 0.1 for o in lines)]
    per_frame = [
        [b for b in lines if m[b.y : b.y + b.h, b.x : b.x + b.w].mean() >= MIN_DENSITY * 0.5] for m in maps
    ]
    video: VideoOverlay = view.ctx.video_cached(
        view.frames, "text_overlay", lambda: _video_overlay(view.frames, view)
    )
    overlay = video.marks
    # lines inside the static overlay are the overlay, not text of the shot; a video-long caption is text
    # of every shot (in every frame), whether or not the thumbs resolve it
    lines = [b for b in lines if not any(b.iou(o) > 0.2 for o in overlay)]
    captions = [c for c in video.captions if not any(c.iou(b) > 0.2 for b in lines)]
    lines += captions
    per_frame = [fb + captions for fb in per_frame]
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
