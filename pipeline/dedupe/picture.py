"""The picture area of a video (black bars removed) and the centred crop views hashed inside it.

Bars are found once per item from the shared analysis thumbs: a row (column) at the edge is a bar when it is
black in practically every frame. Views are the whole picture area plus centred crops of standard aspect
ratios and centred zooms, so that a copy cropped to another aspect (16:9 cut to 4:3 pan-and-scan, or to 2.39
scope) or cropped on every side hashes like the matching crop of the original; and the picture mirrored. All
boxes are ``(x, y, w, h)`` in thumb pixels (floats for views).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A pixel brighter than this (max of R, G, B) is picture, not bar.
BAR_LEVEL = 28
#: A row/column is a bar when it has picture pixels in fewer than this fraction of frames.
BAR_FRAME_FRACTION = 0.02
#: Bars thinner than this fraction of the frame are ignored (noise at the edges, not a layout).
MIN_BAR_FRACTION = 0.02
#: Rows/columns of picture left out next to a bar (the thumb's downscale blends bar and picture there).
BAR_EDGE = 1
#: Views whose aspect is within this ratio of the picture's own aspect are the same view.
SAME_ASPECT = 0.06

Box = tuple[float, float, float, float]


def _edges(content: np.ndarray, size: int) -> tuple[int, int]:
    """First and past-last picture row (column). Beside a bar the first picture row of the downscaled thumb
    blends bar and picture, so it is left out: a white flash must not hash as "white with a dark edge"."""
    idx = np.flatnonzero(content)
    if idx.size == 0:
        return 0, size
    lo, hi = int(idx[0]), int(idx[-1]) + 1
    min_bar = MIN_BAR_FRACTION * size
    lo = 0 if lo < min_bar else lo + BAR_EDGE
    hi = size if size - hi < min_bar else hi - BAR_EDGE
    return lo, max(hi, lo + 1)


def picture_box(thumb: np.ndarray, max_frames: int = 120) -> tuple[int, int, int, int]:
    """``(x, y, w, h)`` of the picture inside black bars over the frames of ``thumb`` ``(N, h, w, 3)``
    (evenly subsampled to ``max_frames``). The whole frame when nothing is found or the video is dark."""
    n, h, w = thumb.shape[:3]
    if n == 0:
        return 0, 0, w, h
    if n > max_frames:
        thumb = thumb[np.linspace(0, n - 1, max_frames).round().astype(int)]
    bright = np.maximum(np.maximum(thumb[..., 0], thumb[..., 1]), thumb[..., 2]) > BAR_LEVEL  # (n, h, w)
    rows = bright.any(axis=2).mean(axis=0) >= BAR_FRAME_FRACTION
    cols = bright.any(axis=1).mean(axis=0) >= BAR_FRAME_FRACTION
    y0, y1 = _edges(rows, h)
    x0, x1 = _edges(cols, w)
    if (x1 - x0) * (y1 - y0) < 0.25 * w * h:  # implausible: a mostly dark video, not a layout
        return 0, 0, w, h
    return x0, y0, x1 - x0, y1 - y0


@dataclass(frozen=True)
class View:
    """A part of the picture that is hashed: ``box`` (None when the view does not exist for this picture),
    optionally mirrored left-right."""

    name: str
    box: Box | None
    mirror: bool = False


def view_boxes(box: tuple[int, int, int, int], crop_aspects: tuple[float, ...]) -> list[Box | None]:
    """The picture area, then for each of ``crop_aspects`` the largest centred crop of that aspect inside it,
    or None when that aspect is (within 6 %) the picture's own."""
    x, y, w, h = box
    boxes: list[Box | None] = [(float(x), float(y), float(w), float(h))]
    aspect = w / max(h, 1)
    for target in crop_aspects:
        if abs(target / aspect - 1) <= SAME_ASPECT:
            boxes.append(None)
        elif target < aspect:  # narrower: cut the sides
            cw = h * target
            boxes.append((x + (w - cw) / 2, float(y), cw, float(h)))
        else:  # wider: cut top and bottom
            ch = w / target
            boxes.append((float(x), y + (h - ch) / 2, float(w), ch))
    return boxes


def _aspect_name(a: float) -> str:
    names = {4 / 3: "4:3", 16 / 9: "16:9", 2.39: "2.39:1", 1.85: "1.85:1", 1.0: "1:1", 9 / 16: "9:16"}
    return next((v for k, v in names.items() if abs(k - a) < 1e-3), f"{a:.3g}:1")


def view_names(
    crop_aspects: tuple[float, ...], zooms: tuple[float, ...] = (), mirror: bool = False
) -> list[str]:
    return [
        "full",
        *(f"zoom {round(z * 100)}%" for z in zooms),
        *(_aspect_name(a) for a in crop_aspects),
        *(["mirror"] if mirror else []),
    ]


def picture_views(
    box: tuple[int, int, int, int],
    crop_aspects: tuple[float, ...],
    zooms: tuple[float, ...] = (),
    mirror: bool = False,
) -> list[View]:
    """Every view of a picture, in the order of :func:`view_names`: the whole picture; centred zooms (the
    middle ``z`` of each side: a copy cropped by 10-20 % on every side); centred crops of standard aspects;
    the whole picture mirrored left-right (a flipped re-upload)."""
    x, y, w, h = box
    names = view_names(crop_aspects, zooms, mirror)
    boxes: list[Box | None] = [(float(x), float(y), float(w), float(h))]
    for z in zooms:
        boxes.append((x + w * (1 - z) / 2, y + h * (1 - z) / 2, w * z, h * z))
    boxes += view_boxes(box, crop_aspects)[1:]
    views = [View(n, b) for n, b in zip(names, boxes, strict=False)]
    if mirror:
        views.append(View("mirror", boxes[0], mirror=True))
    return views


def crop_pixels(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """Integer ``(x0, y0, x1, y1)`` slice bounds of a float box, rounded to the nearest pixel, inside the frame."""
    x, y, w, h = box
    x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
    x1, y1 = min(width, int(round(x + w))), min(height, int(round(y + h)))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)
