"""Painted cel-style backgrounds: gradient sky, clouds, hills, buildings, trees, rooms, all with dark outlines.

Images are RGB ``uint8``. Every background carries texture (windows, grass strokes, wallpaper, a low-frequency
paint wash) so that a camera move is measurable in every part of the frame.
"""

from __future__ import annotations

import cv2
import numpy as np

RGB = tuple[int, int, int]

OUTLINE: RGB = (38, 30, 46)
AA = cv2.LINE_AA

PALETTES: dict[str, dict[str, object]] = {
    "day": {
        "sky_top": (84, 150, 230),
        "sky_bottom": (196, 228, 250),
        "cloud": (255, 255, 255),
        "cloud_shadow": (200, 214, 238),
        "far": (128, 160, 205),
        "hill": (104, 178, 92),
        "hill_shadow": (78, 146, 78),
        "ground": (150, 204, 110),
        "ground_dark": (108, 164, 84),
        "road": (168, 164, 160),
        "buildings": [(238, 226, 204), (212, 188, 168), (186, 200, 218), (242, 208, 186), (200, 214, 180)],
        "roofs": [(176, 72, 62), (70, 92, 146), (92, 112, 92), (120, 80, 60)],
        "window": (116, 168, 222),
        "window_lit": (255, 232, 140),
        "lit_rate": 0.05,
        "wall": (240, 226, 200),
        "floor": (192, 140, 96),
        "sun": (255, 250, 225),
    },
    "sunset": {
        "sky_top": (72, 60, 140),
        "sky_bottom": (252, 164, 96),
        "cloud": (255, 206, 176),
        "cloud_shadow": (206, 124, 136),
        "far": (128, 92, 140),
        "hill": (120, 104, 96),
        "hill_shadow": (88, 72, 84),
        "ground": (176, 132, 100),
        "ground_dark": (136, 96, 84),
        "road": (140, 116, 120),
        "buildings": [(226, 170, 140), (196, 140, 130), (170, 130, 150), (236, 186, 150)],
        "roofs": [(120, 56, 60), (70, 60, 100), (96, 70, 70)],
        "window": (250, 196, 120),
        "window_lit": (255, 236, 150),
        "lit_rate": 0.3,
        "wall": (236, 190, 150),
        "floor": (160, 104, 80),
        "sun": (255, 236, 170),
    },
    "night": {
        "sky_top": (12, 18, 52),
        "sky_bottom": (54, 66, 120),
        "cloud": (78, 88, 130),
        "cloud_shadow": (52, 58, 96),
        "far": (40, 48, 86),
        "hill": (34, 62, 70),
        "hill_shadow": (24, 44, 56),
        "ground": (44, 70, 76),
        "ground_dark": (30, 50, 60),
        "road": (62, 64, 82),
        "buildings": [(70, 76, 110), (84, 80, 116), (60, 70, 96), (96, 92, 126)],
        "roofs": [(44, 40, 70), (36, 50, 80)],
        "window": (40, 50, 80),
        "window_lit": (255, 220, 120),
        "lit_rate": 0.55,
        "wall": (80, 86, 130),
        "floor": (70, 56, 70),
        "sun": (246, 244, 214),
    },
    "overcast": {
        "sky_top": (148, 158, 172),
        "sky_bottom": (206, 210, 216),
        "cloud": (230, 232, 236),
        "cloud_shadow": (176, 180, 192),
        "far": (150, 158, 170),
        "hill": (120, 150, 120),
        "hill_shadow": (96, 124, 100),
        "ground": (140, 160, 124),
        "ground_dark": (110, 130, 100),
        "road": (130, 132, 136),
        "buildings": [(200, 200, 196), (176, 170, 164), (160, 170, 180), (214, 204, 190)],
        "roofs": [(100, 70, 70), (70, 80, 100)],
        "window": (120, 140, 160),
        "window_lit": (240, 226, 170),
        "lit_rate": 0.1,
        "wall": (204, 198, 186),
        "floor": (150, 120, 100),
        "sun": (226, 228, 230),
    },
}

SCENES = ("town", "country", "room")


def darker(colour: RGB, f: float = 0.72) -> RGB:
    """The shadow tone of a cel colour: darker and slightly cooler."""
    r, g, b = colour
    return (int(r * f), int(g * f), int(min(255, b * f + 18)))


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x)), int(round(y))


def outlined_poly(img: np.ndarray, pts: np.ndarray, fill: RGB, thick: int, closed: bool = True) -> None:
    pts = np.asarray(pts, dtype=np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(img, [pts], fill, AA)
    cv2.polylines(img, [pts], closed, OUTLINE, thick, AA)


def outlined_rect(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, fill: RGB, thick: int) -> None:
    cv2.rectangle(img, _pt(x0, y0), _pt(x1, y1), fill, -1)
    cv2.rectangle(img, _pt(x0, y0), _pt(x1, y1), OUTLINE, thick, AA)


def blob(
    img: np.ndarray,
    rng: np.random.Generator,
    cx: float,
    cy: float,
    r: float,
    fill: RGB,
    shade: RGB,
    thick: int,
    flat_bottom: bool = True,
    spread: float = 1.2,
) -> None:
    """A cloud / tree-canopy shape: union of ellipses, shadow rim at the bottom, one dark outline."""
    r = max(r, 3.0)
    pad = int(r * (spread + 1.2)) + thick + 2
    size = 2 * pad
    mask = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(3, 7))):
        x = pad + rng.uniform(-spread, spread) * r
        y = pad + rng.uniform(-0.35, 0.3) * r
        a, b = r * rng.uniform(0.5, 0.9), r * rng.uniform(0.45, 0.75)
        cv2.ellipse(mask, _pt(x, y), _pt(a, b), 0, 0, 360, 255, -1)
    if flat_bottom:
        mask[pad + int(0.35 * r) :] = 0
    shift = max(2, int(0.22 * r))
    lit = mask.copy()
    lit[:-shift] &= mask[shift:]
    lit[-shift:] = 0
    offset = (int(cx) - pad, int(cy) - pad)
    outer, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    inner, _ = cv2.findContours(lit, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(img, outer, -1, shade, -1, AA, offset=offset)
    cv2.drawContours(img, inner, -1, fill, -1, AA, offset=offset)
    cv2.drawContours(img, outer, -1, OUTLINE, thick, AA, offset=offset)


def _gradient(img: np.ndarray, y0: int, y1: int, top: RGB, bottom: RGB) -> None:
    y0, y1 = max(0, y0), min(img.shape[0], y1)
    if y1 <= y0:
        return
    t = np.linspace(0.0, 1.0, y1 - y0, dtype=np.float32)[:, None]
    rows = (1 - t) * np.asarray(top, np.float32) + t * np.asarray(bottom, np.float32)
    img[y0:y1] = rows[:, None, :].astype(np.uint8)


def _wash(img: np.ndarray, rng: np.random.Generator, cell: float, amount: float) -> np.ndarray:
    """Low-frequency paint wash: smooth +-amount brightness variation with a ``cell``-pixel grain."""
    h, w = img.shape[:2]
    cell = max(cell, 4.0)
    small = rng.standard_normal((int(h / cell) + 3, int(w / cell) + 3)).astype(np.float32)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    out = img.astype(np.float32) + big[:, :, None] * amount
    return np.clip(out, 0, 255).astype(np.uint8)


def _sky(
    img: np.ndarray, rng: np.random.Generator, pal: dict, horizon: int, scale: float, thick: int
) -> None:
    h, w = img.shape[:2]
    _gradient(img, 0, horizon + 2, pal["sky_top"], pal["sky_bottom"])
    if pal is PALETTES["night"]:
        n = int(w * max(horizon, 1) / (900 * scale * scale)) + 5
        xs, ys = rng.uniform(0, w, n), rng.uniform(0, max(horizon - 10 * scale, 1), n)
        for x, y, s in zip(xs, ys, rng.uniform(0.6, 1.8, n), strict=True):
            cv2.circle(img, _pt(x, y), max(1, int(s * scale)), (255, 252, 220), -1, AA)
    sx, sy = rng.uniform(0.15, 0.85) * w, horizon * rng.uniform(0.15, 0.45)
    cv2.circle(img, _pt(sx, sy), int(26 * scale), pal["sun"], -1, AA)
    cv2.circle(img, _pt(sx, sy), int(26 * scale), OUTLINE, max(1, thick - 1), AA)
    n_clouds = int(w * max(horizon, 1) / (26000 * scale * scale)) + 2
    for _ in range(n_clouds):
        cx, cy = rng.uniform(-20, w + 20), rng.uniform(0.05, 0.92) * horizon
        r = rng.uniform(14, 40) * scale
        blob(img, rng, cx, cy, r, pal["cloud"], pal["cloud_shadow"], thick)


def _hills(img: np.ndarray, rng: np.random.Generator, base: int, amp: float, fill: RGB, thick: int) -> None:
    h, w = img.shape[:2]
    xs = np.arange(-8, w + 16, 8, dtype=np.float32)
    ys = np.full_like(xs, float(base))
    for _ in range(3):
        freq, phase = rng.uniform(0.002, 0.012), rng.uniform(0, 2 * np.pi)
        ys -= amp * rng.uniform(0.3, 1.0) * (0.5 + 0.5 * np.sin(freq * xs + phase))
    pts = np.concatenate([np.stack([xs, ys], 1), [[w + 16, h + 8], [-8, h + 8]]]).astype(np.int32)
    cv2.fillPoly(img, [pts], fill, AA)
    cv2.polylines(img, [pts[:-2]], False, OUTLINE, thick, AA)


def _buildings(img, rng, pal, base: int, scale: float, thick: int) -> None:
    h, w = img.shape[:2]
    x = -rng.uniform(0, 60) * scale
    while x < w:
        bw = rng.uniform(50, 130) * scale
        bh = rng.uniform(70, 210) * scale
        top = base - bh
        colour = pal["buildings"][int(rng.integers(len(pal["buildings"])))]
        outlined_rect(img, x, top, x + bw, base + 4 * scale, colour, thick)
        cv2.rectangle(
            img, _pt(x + bw * 0.8, top + thick), _pt(x + bw - thick, base), darker(colour, 0.82), -1
        )
        roof = pal["roofs"][int(rng.integers(len(pal["roofs"])))]
        if rng.random() < 0.5:
            outlined_poly(
                img,
                [[x - 4 * scale, top], [x + bw / 2, top - bw * 0.35], [x + bw + 4 * scale, top]],
                roof,
                thick,
            )
        else:
            outlined_rect(img, x - 3 * scale, top - 8 * scale, x + bw + 3 * scale, top, roof, thick)
        wx, wy = 12 * scale, 16 * scale
        cols = max(1, int((bw - 10 * scale) // (wx * 1.7)))
        rows = max(1, int((bh - 20 * scale) // (wy * 1.6)))
        for i in range(cols):
            for j in range(rows):
                px = x + 8 * scale + i * wx * 1.7
                py = top + 12 * scale + j * wy * 1.6
                lit = rng.random() < pal["lit_rate"]
                outlined_rect(
                    img,
                    px,
                    py,
                    px + wx,
                    py + wy,
                    pal["window_lit"] if lit else pal["window"],
                    max(1, thick - 1),
                )
        x += bw + rng.uniform(-6, 18) * scale


def _trees(img, rng, pal, base: int, scale: float, thick: int, count: int) -> None:
    h, w = img.shape[:2]
    for _ in range(count):
        x = rng.uniform(-20, w + 20)
        y = base + rng.uniform(-4, 30) * scale
        tw, th = rng.uniform(8, 14) * scale, rng.uniform(30, 60) * scale
        outlined_rect(img, x - tw / 2, y - th, x + tw / 2, y, (120, 82, 58), thick)
        blob(
            img,
            rng,
            x,
            y - th,
            rng.uniform(22, 38) * scale,
            pal["hill"],
            pal["hill_shadow"],
            thick,
            False,
            0.7,
        )


def _ground(img, rng, pal, horizon: int, scale: float, thick: int, scene: str) -> None:
    h, w = img.shape[:2]
    _gradient(img, horizon, h, pal["ground"], darker(pal["ground"], 0.86))
    if scene == "town":
        road_top = horizon + 14 * scale
        cv2.rectangle(img, _pt(-1, road_top), _pt(w, h), pal["road"], -1)
        cv2.line(img, _pt(0, road_top), _pt(w, road_top), OUTLINE, thick, AA)
        lane_y = road_top + (h - road_top) * 0.45
        for x in np.arange(rng.uniform(0, 40) * scale, w, 70 * scale):
            outlined_rect(
                img, x, lane_y, x + 36 * scale, lane_y + 5 * scale, (236, 232, 220), max(1, thick - 1)
            )
        n = int(w * (h - road_top) / (700 * scale * scale)) + 4
        for _ in range(n):
            x, y = rng.uniform(0, w), rng.uniform(road_top + 4 * scale, h)
            length = rng.uniform(6, 18) * scale
            cv2.line(
                img,
                _pt(x, y),
                _pt(x + length, y + rng.uniform(-3, 3) * scale),
                darker(pal["road"], 0.8),
                1,
                AA,
            )
    else:
        n = int(w * (h - horizon) / (320 * scale * scale)) + 8
        dark = pal["ground_dark"]
        for _ in range(n):
            x, y = rng.uniform(0, w), rng.uniform(horizon + 3 * scale, h)
            s = rng.uniform(3, 7) * scale * (0.5 + (y - horizon) / max(h - horizon, 1))
            cv2.line(img, _pt(x - s * 0.6, y - s), _pt(x, y), dark, max(1, thick - 1), AA)
            cv2.line(img, _pt(x + s * 0.6, y - s), _pt(x, y), dark, max(1, thick - 1), AA)
        for _ in range(n // 10):
            x, y = rng.uniform(0, w), rng.uniform(horizon + 3 * scale, h)
            colour = [(250, 250, 240), (250, 210, 90), (240, 130, 150)][int(rng.integers(3))]
            cv2.circle(img, _pt(x, y), max(1, int(2.2 * scale)), colour, -1, AA)


def _room(img, rng, pal, floor_y: int, scale: float, thick: int) -> None:
    h, w = img.shape[:2]
    wall = pal["wall"]
    img[:floor_y] = wall
    stripe = darker(wall, 0.93)
    step = 28 * scale
    for x in np.arange(rng.uniform(0, step), w, step):
        cv2.rectangle(img, _pt(x, 0), _pt(x + step * 0.35, floor_y), stripe, -1)
        for y in np.arange(step * 0.5, floor_y, step * 1.4):
            cv2.circle(img, _pt(x + step * 0.67, y), max(1, int(2 * scale)), darker(wall, 0.85), -1, AA)
    # window(s) showing the sky
    x = rng.uniform(0.02, 0.2) * w
    while x < w:
        ww, wh = rng.uniform(110, 170) * scale, rng.uniform(90, 140) * scale
        top = floor_y - rng.uniform(150, 210) * scale
        sub = img[max(0, int(top)) : max(0, int(top + wh)), max(0, int(x)) : max(0, int(x + ww))]
        if sub.size:
            _sky(sub, rng, pal, sub.shape[0], scale * 0.7, max(1, thick - 1))
        cv2.rectangle(img, _pt(x, top), _pt(x + ww, top + wh), (236, 232, 226), max(2, int(6 * scale)))
        cv2.rectangle(img, _pt(x, top), _pt(x + ww, top + wh), OUTLINE, thick, AA)
        cv2.line(
            img, _pt(x + ww / 2, top), _pt(x + ww / 2, top + wh), (236, 232, 226), max(2, int(4 * scale))
        )
        cv2.line(
            img, _pt(x, top + wh / 2), _pt(x + ww, top + wh / 2), (236, 232, 226), max(2, int(4 * scale))
        )
        curtain = [(200, 90, 90), (90, 130, 190), (120, 170, 120)][int(rng.integers(3))]
        for side in (x - 18 * scale, x + ww - 6 * scale):
            outlined_poly(
                img,
                [
                    [side, top - 6 * scale],
                    [side + 24 * scale, top - 6 * scale],
                    [side + 20 * scale, top + wh + 12 * scale],
                    [side - 2 * scale, top + wh + 12 * scale],
                ],
                curtain,
                thick,
            )
        # a shelf with books next to the window
        sx = x + ww + rng.uniform(40, 90) * scale
        sy = floor_y - rng.uniform(90, 130) * scale
        sw = rng.uniform(90, 140) * scale
        outlined_rect(img, sx, sy, sx + sw, sy + 8 * scale, (150, 100, 70), thick)
        bx = sx + 4 * scale
        while bx < sx + sw - 12 * scale:
            bw_, bh_ = rng.uniform(7, 13) * scale, rng.uniform(24, 40) * scale
            colour = tuple(int(c) for c in rng.integers(60, 230, 3))
            outlined_rect(img, bx, sy - bh_, bx + bw_, sy, colour, max(1, thick - 1))
            bx += bw_ + 1
        # a picture frame
        px, py = sx + rng.uniform(0, 40) * scale, sy - rng.uniform(120, 160) * scale
        outlined_rect(img, px, py, px + 60 * scale, py + 44 * scale, (180, 140, 90), thick)
        inner = img[
            max(0, int(py + 6 * scale)) : max(0, int(py + 38 * scale)),
            max(0, int(px + 6 * scale)) : max(0, int(px + 54 * scale)),
        ]
        if inner.size:
            _hills(inner, rng, inner.shape[0] - 2, inner.shape[0] * 0.6, pal["hill"], 1)
        x = sx + sw + rng.uniform(60, 160) * scale
    # floor boards and skirting
    cv2.rectangle(img, _pt(-1, floor_y), _pt(w, h), pal["floor"], -1)
    board = 22 * scale
    for j, y in enumerate(np.arange(floor_y, h, board)):
        cv2.line(img, _pt(0, y), _pt(w, y), darker(pal["floor"], 0.75), max(1, thick - 1), AA)
        off = rng.uniform(0, 120) * scale if j % 2 else 0
        for x in np.arange(off, w, 120 * scale):
            cv2.line(img, _pt(x, y), _pt(x, y + board), darker(pal["floor"], 0.75), 1, AA)
    outlined_rect(img, -thick, floor_y - 10 * scale, w + thick, floor_y, (236, 230, 220), thick)
    rug_x = rng.uniform(0.2, 0.8) * w
    cv2.ellipse(
        img,
        _pt(rug_x, floor_y + (h - floor_y) * 0.55),
        _pt(150 * scale, 26 * scale),
        0,
        0,
        360,
        (170, 70, 80),
        -1,
        AA,
    )
    cv2.ellipse(
        img,
        _pt(rug_x, floor_y + (h - floor_y) * 0.55),
        _pt(150 * scale, 26 * scale),
        0,
        0,
        360,
        OUTLINE,
        thick,
        AA,
    )


def paint_background(
    rng: np.random.Generator, width: int, height: int, scene: str, palette: str, horizon: float, scale: float
) -> np.ndarray:
    """A background canvas of ``width`` x ``height``; ``horizon`` is the ground/floor line, ``scale`` the size of
    features in canvas pixels per view pixel (2.0 on a canvas that a zoom will show at half size)."""
    pal = PALETTES[palette]
    img = np.zeros((height, width, 3), np.uint8)
    horizon_i = int(round(horizon))
    thick = max(1, int(round(2 * scale)))
    if scene == "room":
        _room(img, rng, pal, horizon_i, scale, thick)
    else:
        _sky(img, rng, pal, horizon_i, scale, thick)
        _hills(img, rng, horizon_i + 2, 90 * scale, pal["far"], thick)
        if scene == "country":
            _hills(img, rng, horizon_i + 4, 45 * scale, pal["hill"], thick)
            _ground(img, rng, pal, horizon_i + 4, scale, thick, scene)
            _trees(img, rng, pal, horizon_i + 6, scale, thick, int(width / (110 * scale)) + 2)
        else:
            _ground(img, rng, pal, horizon_i, scale, thick, scene)
            _buildings(img, rng, pal, horizon_i + int(12 * scale), scale, thick)
    return _wash(img, rng, 30 * scale, 5.0)


#: Least luma difference (levels) between a collage shape's fill and the ground.
COLLAGE_CONTRAST = 48.0


def luma(colour: RGB) -> float:
    """BT.601 luma of an RGB colour."""
    r, g, b = colour
    return 0.299 * r + 0.587 * g + 0.114 * b


def contrasting(colour: RGB, ground: RGB, min_luma_gap: float) -> RGB:
    """``colour``, blended toward white or black just enough to differ from ``ground`` by ``min_luma_gap``
    luma levels: toward white when it is lighter than the ground (or the ground is too dark to go below),
    else toward black. Colours already that far from the ground are returned as they are."""
    c, g = luma(colour), luma(ground)
    if abs(c - g) >= min_luma_gap:
        return tuple(int(v) for v in colour)  # type: ignore[return-value]
    lighten = (c >= g and g + min_luma_gap <= 250) or g - min_luma_gap < 5
    if lighten:
        a = (g + min_luma_gap - c) / max(1e-6, 255.0 - c)
        out = [v + (255 - v) * a for v in colour]
    else:
        a = 1.0 - (g - min_luma_gap) / max(1e-6, c)
        out = [v * (1.0 - a) for v in colour]
    return tuple(int(round(min(255.0, max(0.0, v)))) for v in out)  # type: ignore[return-value]


def paint_collage(
    rng: np.random.Generator, width: int, height: int, palette: str, view_height: float
) -> np.ndarray:
    """The "collage" look's background: flat-colour rectangles and discs with dark outlines on a flat ground,
    no gradients or texture wash (a picture a small video model learns in a few CPU minutes). Shapes are
    0.15-0.6 of ``view_height`` (the height the camera shows, in canvas pixels), about 5 per view: at the
    trainer's 32 px a shape is 5-20 px, not a speck. Every shape's fill differs from the ground by at least
    ``COLLAGE_CONTRAST`` luma levels and its outline is ~1/80 of the view: a shape the palette paints close
    to the ground's tone carries little of a denoiser's loss, so a small model drew backgrounds as flat
    ground, and a camera move over flat ground cannot be read back."""
    pal = PALETTES[palette]
    img = np.empty((height, width, 3), np.uint8)
    img[:] = pal["ground"]
    thick = max(1, int(round(view_height / 180)))
    colours = [
        pal["sky_top"],
        pal["hill"],
        pal["far"],
        pal["road"],
        pal["sun"],
        *pal["buildings"],
        *pal["roofs"],
    ]
    count = max(3, int(round(5 * width * height / (view_height * view_height * 16 / 9))))
    for k in range(count):
        colour = contrasting(colours[int(rng.integers(len(colours)))], pal["ground"], COLLAGE_CONTRAST)
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        if k % 3 == 2:
            r = rng.uniform(0.08, 0.3) * view_height
            cv2.circle(img, _pt(cx, cy), max(1, int(round(r))), colour, -1, AA)
            cv2.circle(img, _pt(cx, cy), max(1, int(round(r))), OUTLINE, thick, AA)
        else:
            w, h = rng.uniform(0.15, 0.6, 2) * view_height
            outlined_rect(img, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, colour, thick)
    return img
