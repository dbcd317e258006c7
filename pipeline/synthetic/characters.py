"""Cel-style characters: flat colour + one shadow tone + dark outline, posed per *drawing*.

A pose is a pure function of the drawing index: the limbs follow an 8-drawing cycle sampled at
``2*pi*d/8`` and the mouth flaps every drawing, so two consecutive drawings always differ visibly (a "twos" shot
changes picture exactly every second frame) and one drawing index always gives the same picture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .paint import AA, OUTLINE, RGB, darker

ACTIONS = ("wave", "walk", "talk", "punch")

SKINS: tuple[RGB, ...] = ((255, 226, 204), (250, 214, 184), (236, 190, 156), (200, 150, 116))
HAIRS: tuple[RGB, ...] = (
    (60, 44, 40), (240, 204, 110), (230, 110, 60), (90, 120, 210), (200, 80, 120), (70, 160, 120),
    (236, 236, 244), (120, 70, 160), (30, 30, 44),
)  # fmt: skip
CLOTHES: tuple[RGB, ...] = (
    (230, 70, 70), (60, 110, 200), (250, 250, 246), (250, 200, 70), (90, 170, 100), (40, 44, 70),
    (240, 150, 60), (170, 90, 200), (120, 200, 220),
)  # fmt: skip
EYES: tuple[RGB, ...] = ((70, 120, 220), (150, 70, 40), (60, 170, 110), (200, 60, 90), (140, 80, 200))


@dataclass(frozen=True)
class Look:
    skin: RGB
    hair: RGB
    top: RGB
    bottom: RGB
    eyes: RGB
    shoes: RGB
    hair_style: int


def make_look(seed: int) -> Look:
    rng = np.random.default_rng(seed)

    def pick(options: tuple[RGB, ...]) -> RGB:
        return options[int(rng.integers(len(options)))]

    top = pick(CLOTHES)
    bottom = pick(tuple(c for c in CLOTHES if c != top))
    return Look(pick(SKINS), pick(HAIRS), top, bottom, pick(EYES), (70, 50, 46), int(rng.integers(3)))


@dataclass(frozen=True)
class Pose:
    arm_l: float  # shoulder angle, degrees from hanging straight down, positive = away from the body
    elbow_l: float
    arm_r: float
    elbow_r: float
    leg_l: float
    leg_r: float
    knee_l: float
    knee_r: float
    head_dx: float  # in head units
    head_tilt: float  # degrees
    bob: float  # in head units, positive = down
    mouth_open: bool
    blink: bool


def pose_for(action: str, drawing: int, offset: int = 0) -> Pose:
    """The pose of ``action`` in drawing ``drawing`` (any integer, negative ones are pre-roll drawings)."""
    d = drawing + offset
    ph = 2 * math.pi * d / 8
    s, c = math.sin(ph), math.cos(ph)
    mouth = d % 2 == 1
    blink = d % 8 == 5
    if action == "wave":
        return Pose(
            14 + 6 * s,
            12,
            140 + 28 * s,
            24 + 22 * c,
            6,
            6,
            0,
            0,
            0.05 * s,
            5 * s,
            0.03 * abs(c),
            mouth,
            blink,
        )
    if action == "walk":
        return Pose(
            12 + 22 * s, 14, 12 - 22 * s, 14, 4 + 10 * s, 4 - 10 * s, 18 * max(0, c), 18 * max(0, -c),
            0.03 * c, 3 * s, 0.06 * abs(s), mouth, blink,
        )  # fmt: skip
    if action == "punch":
        reach = 0.5 + 0.5 * s
        return Pose(
            30 + 60 * reach, 90 - 80 * reach, 30 + 60 * (1 - reach), 90 - 80 * (1 - reach), 14, 14, 10, 10,
            0.08 * s, 6 * c, 0.04 * abs(c), not mouth, blink,
        )  # fmt: skip
    # talk: gestures with one hand, head nods
    return Pose(
        16 + 4 * c, 10, 34 + 26 * s, 70 + 30 * c, 6, 6, 0, 0, 0.06 * s, 7 * c, 0.02 * abs(s), mouth, blink
    )


def _p(x: float, y: float) -> tuple[int, int]:
    return int(round(x)), int(round(y))


def _limb(img: np.ndarray, pts: list[tuple[float, float]], width: float, fill: RGB, thick: int) -> None:
    """A limb as a thick outlined polyline with a shadow stripe."""
    w = max(1, int(round(width)))
    ipts = np.array([_p(*p) for p in pts], np.int32)
    cv2.polylines(img, [ipts], False, OUTLINE, w + 2 * thick, AA)
    cv2.polylines(img, [ipts], False, darker(fill), w, AA)
    shift = max(1, int(round(width * 0.18)))
    cv2.polylines(
        img, [ipts - np.array([shift, 0], np.int32)], False, fill, max(1, int(round(width * 0.6))), AA
    )


def _joint(origin: tuple[float, float], length: float, angle: float, side: int) -> tuple[float, float]:
    a = math.radians(angle)
    return origin[0] + side * length * math.sin(a), origin[1] + length * math.cos(a)


def _poly(img: np.ndarray, pts: list[tuple[float, float]], fill: RGB, thick: int) -> None:
    arr = np.array([_p(*p) for p in pts], np.int32)
    cv2.fillPoly(img, [arr], fill, AA)
    cv2.polylines(img, [arr], True, OUTLINE, thick, AA)


def _rotated(cx: float, cy: float, pts: list[tuple[float, float]], deg: float) -> list[tuple[float, float]]:
    a = math.radians(deg)
    ca, sa = math.cos(a), math.sin(a)
    return [(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in pts]


def draw_character(img: np.ndarray, x: float, y: float, u: float, look: Look, pose: Pose) -> None:
    """Draw a front-facing character whose neck base is at ``(x, y)``; ``u`` is the head height in pixels.

    Full figure: head top at ``y - 1.1u``, feet at ``y + 5.3u``.
    """
    thick = max(1, int(round(u * 0.045)))
    y = y + pose.bob * u
    # legs
    hip_y = y + 2.3 * u
    for side, ang, knee in ((-1, pose.leg_l, pose.knee_l), (1, pose.leg_r, pose.knee_r)):
        hip = (x + side * 0.24 * u, hip_y)
        k = _joint(hip, 1.45 * u, ang, side)
        foot = _joint(k, 1.45 * u * math.cos(math.radians(knee)), ang * 0.3, side)
        _limb(img, [hip, k, foot], 0.36 * u, look.bottom, thick)
        cv2.ellipse(
            img, _p(foot[0] + side * 0.08 * u, foot[1]), _p(0.22 * u, 0.12 * u), 0, 0, 360, look.shoes, -1, AA
        )
        cv2.ellipse(
            img, _p(foot[0] + side * 0.08 * u, foot[1]), _p(0.22 * u, 0.12 * u), 0, 0, 360, OUTLINE, thick, AA
        )
    # torso: trapezoid with a shadow panel on the right side
    torso = [
        (x - 0.56 * u, y + 0.1 * u),
        (x + 0.56 * u, y + 0.1 * u),
        (x + 0.46 * u, hip_y + 0.1 * u),
        (x - 0.46 * u, hip_y + 0.1 * u),
    ]
    _poly(img, torso, look.top, thick)
    shadow = [
        (x + 0.22 * u, y + 0.1 * u + thick),
        (x + 0.56 * u - thick, y + 0.1 * u + thick),
        (x + 0.46 * u - thick, hip_y + 0.1 * u - thick),
        (x + 0.16 * u, hip_y + 0.1 * u - thick),
    ]
    cv2.fillPoly(img, [np.array([_p(*p) for p in shadow], np.int32)], darker(look.top), AA)
    cv2.line(img, _p(x - 0.46 * u, hip_y - 0.2 * u), _p(x + 0.46 * u, hip_y - 0.2 * u), OUTLINE, thick, AA)
    # arms
    for side, ang, elbow in ((-1, pose.arm_l, pose.elbow_l), (1, pose.arm_r, pose.elbow_r)):
        sh = (x + side * 0.5 * u, y + 0.3 * u)
        e = _joint(sh, 1.05 * u, ang, side)
        hand = _joint(e, 0.95 * u, ang + elbow, side)
        _limb(img, [sh, e, hand], 0.28 * u, look.top, thick)
        cv2.circle(img, _p(*hand), max(1, int(0.17 * u)), look.skin, -1, AA)
        cv2.circle(img, _p(*hand), max(1, int(0.17 * u)), OUTLINE, thick, AA)
    # neck
    cv2.rectangle(img, _p(x - 0.12 * u, y - 0.2 * u), _p(x + 0.12 * u, y + 0.12 * u), darker(look.skin), -1)
    # head
    hx, hy = x + pose.head_dx * u, y - 0.55 * u
    tilt = pose.head_tilt
    hair_d = darker(look.hair)
    if look.hair_style == 2:  # long hair behind the head
        back = _rotated(
            hx,
            hy,
            [
                (a * u, b * u)
                for a, b in (
                    (-0.5, -0.2),
                    (0.5, -0.2),
                    (0.56, 0.7),
                    (0.36, 0.86),
                    (-0.36, 0.86),
                    (-0.56, 0.7),
                )
            ],
            tilt,
        )
        _poly(img, back, hair_d, thick)
    cv2.ellipse(img, _p(hx, hy), _p(0.42 * u, 0.5 * u), tilt, 0, 360, darker(look.skin, 0.85), -1, AA)
    cv2.ellipse(
        img, _p(hx - 0.04 * u, hy - 0.02 * u), _p(0.38 * u, 0.47 * u), tilt, 0, 360, look.skin, -1, AA
    )
    cv2.ellipse(img, _p(hx, hy), _p(0.42 * u, 0.5 * u), tilt, 0, 360, OUTLINE, thick, AA)
    # hair cap and bangs
    if look.hair_style == 0:  # spiky
        cap = [(-0.5, 0.05), (-0.62, -0.3), (-0.4, -0.42), (-0.45, -0.72), (-0.15, -0.58), (0.0, -0.82), (0.15, -0.58),
               (0.45, -0.72), (0.4, -0.42), (0.62, -0.3), (0.5, 0.05), (0.35, -0.2), (0.2, -0.05), (0.05, -0.22),
               (-0.1, -0.05), (-0.25, -0.22), (-0.38, -0.05)]  # fmt: skip
    elif look.hair_style == 1:  # bob
        cap = [(-0.5, 0.25), (-0.52, -0.2), (-0.3, -0.52), (0.0, -0.6), (0.3, -0.52), (0.52, -0.2), (0.5, 0.25),
               (0.38, 0.25), (0.36, -0.12), (0.2, -0.02), (0.08, -0.16), (-0.06, -0.02), (-0.2, -0.16), (-0.36, -0.1),
               (-0.38, 0.25)]  # fmt: skip
    else:  # long, with a centre parting
        cap = [(-0.5, 0.2), (-0.5, -0.25), (-0.28, -0.55), (0.0, -0.6), (0.28, -0.55), (0.5, -0.25), (0.5, 0.2),
               (0.4, 0.2), (0.3, -0.1), (0.02, -0.3), (-0.02, -0.3), (-0.3, -0.1), (-0.4, 0.2)]  # fmt: skip
    _poly(img, _rotated(hx, hy, [(a * u, b * u) for a, b in cap], tilt), look.hair, thick)
    shine = _rotated(hx, hy, [(-0.28 * u, -0.42 * u), (-0.1 * u, -0.48 * u), (-0.16 * u, -0.38 * u)], tilt)
    cv2.fillPoly(img, [np.array([_p(*p) for p in shine], np.int32)], (255, 255, 255), AA)
    # face
    if u >= 10:
        for side in (-1, 1):
            ex, ey = _rotated(hx, hy, [(side * 0.19 * u, 0.1 * u)], tilt)[0]
            if pose.blink:
                cv2.ellipse(img, _p(ex, ey), _p(0.11 * u, 0.05 * u), tilt, 0, 180, OUTLINE, max(1, thick), AA)
                continue
            cv2.ellipse(img, _p(ex, ey), _p(0.11 * u, 0.14 * u), tilt, 0, 360, (255, 255, 255), -1, AA)
            cv2.ellipse(img, _p(ex, ey + 0.02 * u), _p(0.08 * u, 0.11 * u), tilt, 0, 360, look.eyes, -1, AA)
            cv2.ellipse(
                img, _p(ex, ey + 0.02 * u), _p(0.04 * u, 0.07 * u), tilt, 0, 360, (20, 16, 30), -1, AA
            )
            cv2.circle(img, _p(ex - 0.03 * u, ey - 0.03 * u), max(1, int(0.03 * u)), (255, 255, 255), -1, AA)
            cv2.ellipse(
                img, _p(ex, ey), _p(0.12 * u, 0.15 * u), tilt, 190, 350, OUTLINE, max(1, int(thick * 1.6)), AA
            )
        mx, my = _rotated(hx, hy, [(0.0, 0.33 * u)], tilt)[0]
        if pose.mouth_open:
            cv2.ellipse(img, _p(mx, my), _p(0.07 * u, 0.06 * u), tilt, 0, 360, (170, 50, 60), -1, AA)
            cv2.ellipse(img, _p(mx, my), _p(0.07 * u, 0.06 * u), tilt, 0, 360, OUTLINE, thick, AA)
        else:
            cv2.ellipse(img, _p(mx, my - 0.02 * u), _p(0.06 * u, 0.02 * u), tilt, 0, 180, OUTLINE, thick, AA)
        for side in (-1, 1):  # blush
            bx, by = _rotated(hx, hy, [(side * 0.26 * u, 0.27 * u)], tilt)[0]
            cv2.ellipse(img, _p(bx, by), _p(0.06 * u, 0.025 * u), tilt, 0, 360, (250, 170, 170), -1, AA)


def draw_disc_character(img: np.ndarray, x: float, y: float, u: float, look: Look, drawing: int) -> None:
    """The "collage" look's stand-in for a character: a flat outlined disc of radius ``0.6 u`` (``u``: the head
    height) centred at the neck base ``(x, y)`` with a smaller "face" disc that jumps a quarter turn round its
    centre on every drawing (a change of shape, not a small shift, so a shot's drawing cadence shows as a
    character's would)."""
    r = 0.6 * u
    ph = math.pi / 2 * drawing
    thick = max(1, int(round(u * 0.08)))
    for cx, cy, radius, colour in (
        (x, y, r, look.top),
        (x + 0.5 * r * math.cos(ph), y + 0.5 * r * math.sin(ph), 0.4 * r, look.hair),
    ):
        centre = (int(round(cx * 16)), int(round(cy * 16)))
        cv2.circle(img, centre, max(1, int(round(radius * 16))), colour, -1, AA, shift=4)
        cv2.circle(img, centre, max(1, int(round(radius * 16))), OUTLINE, thick, AA, shift=4)
