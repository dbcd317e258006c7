"""Turn shot plans into RGB frames: one painted canvas per shot, one character layer per drawing, a camera window.

The camera is a window over the shot's canvas: ``view = s * (canvas - (x0, y0))``. A pan moves the window
(pan_left: the window moves left, content slides right), a zoom scales it about the canvas centre, a shake jitters it.
The static camera crops the canvas without resampling, so frames sharing a drawing are bit-identical.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import cv2
import numpy as np

from .characters import draw_character, draw_disc_character, make_look, pose_for
from .effects import apply_flash, blend, draw_subtitle, draw_watermark, speed_lines, to_colour
from .paint import paint_background, paint_collage
from .plan import Boundary, ShotSpec, VideoPlan

#: Head height of the main character as a fraction of the view height, per shot size.
HEAD_FRACTION = {"close_up": 0.46, "medium": 0.24, "full": 0.125, "wide": 0.065}
#: The "collage" look's smallest character disc scale (a head height, as a fraction of the view height).
COLLAGE_MIN_HEAD = 0.2
BLACK = (0, 0, 0)
WHITE = (255, 255, 255)
FLASH_CUT_A = 0.65  # white amount on the last frame of shot A in a flash_cut
FLASH_CUT_B = 0.55  # white amount on the first (pre-roll) frame of shot B in a flash_cut


class ShotRenderer:
    """Frames of one shot for local times ``-pre .. length - 1 + post`` (the roll is used by transitions)."""

    def __init__(self, spec: ShotSpec, width: int, height: int, pre: int = 0, post: int = 0) -> None:
        self.spec = spec
        self.w, self.h = width, height
        self.t0, self.t1 = -pre, spec.length - 1 + post
        span = self.t1 - self.t0
        rng = np.random.default_rng(spec.seed)
        cam = spec.camera
        m = 2
        self.margin = m
        if cam in ("pan_left", "pan_right"):
            cw, ch = width + math.ceil(spec.speed * span) + 2 * m, height + 2 * m
        elif cam in ("tilt_up", "tilt_down"):
            cw, ch = width + 2 * m, height + math.ceil(spec.speed * span) + 2 * m
        elif cam == "shake":
            m = self.margin = math.ceil(spec.speed) + 2
            cw, ch = width + 2 * m, height + 2 * m
            ts = np.arange(self.t0, self.t1 + 1)
            sign = np.where(ts % 2 == 0, 1.0, -1.0)
            self.jitter_x = spec.speed * sign * rng.uniform(0.4, 1.0, len(ts))
            self.jitter_y = spec.speed * 0.6 * rng.uniform(-1.0, 1.0, len(ts))
        elif cam in ("zoom_in", "zoom_out"):
            total = spec.zoom_rate**span
            cw, ch = math.ceil(width * total) + 2 * m, math.ceil(height * total) + 2 * m
        else:
            cw, ch = width, height
        self.cw, self.ch = cw, ch
        s_mid, x0_mid, y0_mid = self.camera((spec.length - 1) // 2)
        feature = 1.0 / s_mid
        # background: horizon / floor line at a fixed place of the mid-shot view
        room = spec.scene == "room"
        hf = rng.uniform(0.66, 0.76) if room else rng.uniform(0.52, 0.68)
        horizon = y0_mid + hf * height / s_mid
        self.collage = spec.scene == "collage"
        if self.collage:
            self.background = paint_collage(rng, cw, ch, spec.palette, height / s_mid)
        else:
            self.background = paint_background(
                rng, cw, ch, spec.scene, spec.palette, horizon, feature * min(width, height) / 360
            )
        # characters, placed in the mid-shot view and mapped to canvas coordinates
        u_view = HEAD_FRACTION[spec.shot_size] * height
        if self.collage:  # a disc as small as a wide shot's head would hide its drawing changes in the noise
            u_view = max(u_view, COLLAGE_MIN_HEAD * height)
        n = len(spec.cast)
        if n == 1:
            xs = [rng.uniform(0.38, 0.62)]
        elif n == 2:
            xs = [rng.uniform(0.28, 0.4), rng.uniform(0.6, 0.72)]
        else:
            xs = sorted(rng.uniform(0.15, 0.85, n))
        self.chars = []
        for k, (seed, action, xv) in enumerate(zip(spec.cast, spec.actions, xs, strict=False)):
            if spec.shot_size == "close_up":
                neck = 0.8 * height
            elif spec.shot_size == "medium":
                neck = 0.4 * height + rng.uniform(-0.03, 0.03) * height
            elif spec.shot_size == "full":
                neck = rng.uniform(0.86, 0.92) * height - 5.42 * u_view
            else:
                neck = rng.uniform(max(hf + 0.08, 0.7), 0.9) * height - 5.42 * u_view
            if self.collage:  # a disc, centred in the picture's middle band whatever the shot size
                neck = rng.uniform(0.35, 0.65) * height
            self.chars.append(
                (
                    x0_mid + xv * width / s_mid,
                    y0_mid + neck / s_mid,
                    u_view / s_mid,
                    make_look(seed),
                    action,
                    3 * k,
                )
            )
        self.two_levels = (
            cam in ("zoom_in", "zoom_out") and min(self.camera(self.t0)[0], self.camera(self.t1)[0]) < 0.7
        )
        self._cache: tuple[int, list[np.ndarray]] | None = None

    def camera(self, t: int) -> tuple[float, float, float]:
        """``(s, x0, y0)``: view pixels per canvas pixel and the window's top-left corner on the canvas."""
        spec, m = self.spec, self.margin
        cam = spec.camera
        if cam == "pan_right":
            return 1.0, m + spec.speed * (t - self.t0), m
        if cam == "pan_left":
            return 1.0, m + spec.speed * (self.t1 - t), m
        if cam == "tilt_down":
            return 1.0, m, m + spec.speed * (t - self.t0)
        if cam == "tilt_up":
            return 1.0, m, m + spec.speed * (self.t1 - t)
        if cam == "shake":
            i = t - self.t0
            return 1.0, m + float(self.jitter_x[i]), m + float(self.jitter_y[i])
        if cam in ("zoom_in", "zoom_out"):
            s = spec.zoom_rate ** ((t - self.t1) if cam == "zoom_in" else (self.t0 - t))
            return s, self.cw / 2 - self.w / (2 * s), self.ch / 2 - self.h / (2 * s)
        return 1.0, 0.0, 0.0

    def _drawing(self, d: int) -> list[np.ndarray]:
        if self._cache is not None and self._cache[0] == d:
            return self._cache[1]
        img = self.background.copy()
        for x, y, u, look, action, offset in self.chars:
            if self.collage:
                draw_disc_character(img, x, y, u, look, d + offset)
            else:
                draw_character(img, x, y, u, look, pose_for(action, d, offset))
        levels = [img]
        if self.two_levels:
            levels.append(cv2.resize(img, (self.cw // 2, self.ch // 2), interpolation=cv2.INTER_AREA))
        self._cache = (d, levels)
        return levels

    def frame(self, t: int) -> np.ndarray:
        spec = self.spec
        d = spec.drawing_index(t)
        levels = self._drawing(d)
        if spec.camera == "static":
            view = levels[0][: self.h, : self.w].copy()
        else:
            s, x0, y0 = self.camera(t)
            src, k = levels[0], 1.0
            if self.two_levels and s < 0.7:
                src, k = levels[1], 2.0
            m = np.array([[s * k, 0.0, -s * x0], [0.0, s * k, -s * y0]], np.float64)
            view = cv2.warpAffine(
                src, m, (self.w, self.h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
        if spec.speed_lines:
            rng = np.random.default_rng([spec.seed, d + 2**20])
            speed_lines(view, rng, radial=spec.camera not in ("pan_left", "pan_right"))
        fl = spec.flash
        if fl is not None and fl.offset <= t < fl.offset + fl.length:
            view = apply_flash(view, fl.type, t - fl.offset)
        if spec.subtitle:
            draw_subtitle(view, spec.subtitle)
        return view


def transition_frames(b: Boundary, a: ShotRenderer, b_shot: ShotRenderer) -> Iterator[np.ndarray]:
    """The frames between shot A and shot B (none for a hard cut)."""
    la = a.spec.length
    if b.type == "dissolve":
        n = b.a_post
        for i in range(n):
            yield blend(a.frame(la + i), b_shot.frame(-n + i), (i + 1) / (n + 1))
        return
    if b.type in ("fade_black", "fade_white", "flash_cut"):
        colour = BLACK if b.type == "fade_black" else WHITE
        for i in range(b.a_post):
            amount = FLASH_CUT_A if b.type == "flash_cut" else (i + 1) / b.a_post
            yield to_colour(a.frame(la + i), colour, amount)
        if b.hold:
            flat = np.empty((a.h, a.w, 3), np.uint8)
            flat[:] = colour
            for _ in range(b.hold):
                yield flat.copy()
        for j in range(b.b_pre):
            amount = FLASH_CUT_B if b.type == "flash_cut" else 1.0 - (j + 1) / (b.b_pre + 1)
            yield to_colour(b_shot.frame(-b.b_pre + j), colour, amount)


def render_sequence(
    shots: Sequence[ShotSpec],
    boundaries: Sequence[Boundary],
    width: int,
    height: int,
    opening_frames: Sequence[np.ndarray] | None = None,
) -> Iterator[np.ndarray]:
    """Picture-area frames of a shot sequence. Shots flagged ``opening`` are taken from ``opening_frames``."""
    renderers: dict[int, ShotRenderer] = {}

    def get(i: int) -> ShotRenderer:
        if i not in renderers:
            pre = boundaries[i - 1].b_pre if i > 0 and boundaries[i - 1].type != "cut" else 0
            post = boundaries[i].a_post if i < len(boundaries) and boundaries[i].type != "cut" else 0
            renderers[i] = ShotRenderer(shots[i], width, height, pre, post)
        return renderers[i]

    op_cursor = 0
    for i, shot in enumerate(shots):
        if shot.opening and opening_frames is not None:
            yield from opening_frames[op_cursor : op_cursor + shot.length]
            op_cursor += shot.length
        else:
            r = get(i)
            for t in range(shot.length):
                yield r.frame(t)
        if i < len(boundaries) and boundaries[i].type != "cut":
            yield from transition_frames(boundaries[i], get(i), get(i + 1))
        renderers.pop(i, None)


def render_video(
    plan: VideoPlan,
    width: int,
    height: int,
    box: tuple[int, int, int, int],
    opening_frames: Sequence[np.ndarray] | None,
) -> Iterator[np.ndarray]:
    """Full frames of a video: picture area, black layout bars, watermark."""
    bx, by, bw, bh = box
    for view in render_sequence(plan.shots, plan.boundaries, bw, bh, opening_frames):
        if (bw, bh) == (width, height):
            frame = view if not plan.watermark else view.copy()
        else:
            frame = np.zeros((height, width, 3), np.uint8)
            frame[by : by + bh, bx : bx + bw] = view
        if plan.watermark:
            draw_watermark(frame, box)
        yield frame
