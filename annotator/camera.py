"""The camera expert: camera.movement and camera.speed from global (background) motion.

The shot's gray analysis thumbs (active picture, bars cropped; :attr:`ShotView.gray`) are compared in *steps*
of ``STEP`` frames (a quarter second at 24 fps; 6 is a multiple of both twos and threes, so a camera moved on
twos or threes advances by the same amount in every step, and slow moves add up to measurable displacements).
For each step:

1. dense optical flow (OpenCV DIS) from the first frame to the last;
2. a grid of *textured* points (flat cel fills carry no motion information, their flow is interpolated);
3. a similarity model (translation, scale, rotation) fitted by RANSAC to the point correspondences. Characters
   moving in front of the background are outliers as long as the background holds most of the textured points;
   a step whose best model explains less than ``MIN_INLIERS`` of them is *unreliable* and does not vote.

The per-step models add up (translations in px, log scales, angles) to the shot's net camera path; a flat
step that does not change at all (black, a title on black) is a reliable still step. The movement is the
dominant component of that path when it is large enough to be seen (``MOVE_SHIFT`` thumb px of content
displacement over the shot at ``MOVE_SPEED`` picture widths per second, or ``CERTAIN_SHIFT`` px for a slow
drift), ``static`` when it is clearly below (``STATIC_SHIFT`` / ``STATIC_SPEED``); two comparable components
are ``complex``. Shake is read frame to frame (a jitter returns within a step): the median flow of the textured
points per consecutive pair gives a path whose length is many times its net displacement, with direction
reversals on most consecutive pairs (:class:`Jitter`). Conventions follow ``footage/SCHEMA.md``: pan_left =
content slides right, tilt_up = content slides down, zoom_in = content grows.

camera.speed follows the taxonomy's thresholds: content crossing < 0.1 picture widths per second is slow, up to
0.5 medium, above fast (a zoom's speed is the content displacement at the mean point radius).

Abstentions (with the reason): shots shorter than ``MIN_FRAMES`` frames, shots whose steps are mostly
unreliable (a character or effect filling the frame, textureless changing pictures, 3D parallax), motion in the
grey zone between still and moving, and slow drifts with two comparable components.

Measured (``anicurate eval caption``, tests/corpus/test_caption_corpus.py): 0.91 accuracy over the answered
single-movement shots of ../shared/footage at 0.75 coverage; 1.0 on the answered synthetic shots (coverage
0.96-1.0). Known misses: animated backgrounds (speed-line backdrops read as camera motion), 3D shots whose
textured foreground dominates the background.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from annotator.base import ExpertOutput, ShotInput
from pipeline.scores.motion import NOISE_FLOOR, block_change

#: Frames per step of the global motion chain (6: a whole number of twos and of threes).
STEP = 6
#: Fewest frames for a camera verdict (one pair).
MIN_FRAMES = 2
#: Grid spacing (thumb px) of the points the motion model is fitted to, and the border they keep away from.
GRID = 3
BORDER = 4
#: Smallest gradient magnitude (luma levels per px, Sobel/8) of a point that counts as textured.
MIN_TEXTURE = 4.0
#: Fewest textured points for a step to be measured at all.
MIN_POINTS = 20
#: RANSAC reprojection threshold (thumb px) and the inlier share a step needs to be reliable.
RANSAC_PX = 0.75
MIN_INLIERS = 0.45
#: Share of the steps that must be reliable for any verdict other than shake.
MIN_RELIABLE = 0.5
#: A camera move: net content displacement of at least ``MOVE_SHIFT`` thumb px over the shot at a speed of at
#: least ``MOVE_SPEED`` picture widths per second, or of at least ``CERTAIN_SHIFT`` px at any speed above
#: ``STATIC_SPEED`` (a slow drift over a long shot).
MOVE_SHIFT = 1.5
MOVE_SPEED = 0.012
CERTAIN_SHIFT = 2.5
#: Static: less than ``STATIC_SHIFT`` px over the shot, or slower than ``STATIC_SPEED``; in between: abstain.
STATIC_SHIFT = 1.0
STATIC_SPEED = 0.005
#: A component is dominant when the next one is at most this share of it; otherwise the move is complex (only
#: called for a clear move: a slow drift with two comparable components abstains).
DOMINANCE = 0.6
#: Rotation is measured on few, mostly near-central points and picks up parallax and character turns: its
#: displacement counts at this weight when the components are compared.
ROTATION_WEIGHT = 0.5
#: Shake: frame-to-frame background steps of at least ``SHAKE_STEP`` px on average whose path is at least
#: ``SHAKE_PATH`` times their net displacement, reversing direction on at least ``SHAKE_REVERSALS`` of the
#: consecutive moving pairs.
SHAKE_STEP = 0.15
SHAKE_PATH = 4.0
SHAKE_REVERSALS = 0.6
#: Speed thresholds of the taxonomy (picture widths per second).
SLOW_BELOW = 0.1
FAST_ABOVE = 0.5


@dataclass(frozen=True)
class StepMotion:
    """The similarity model of one step: content at ``p`` in frame ``a`` is at ``M p`` in frame ``b``."""

    a: int
    b: int
    tx: float  # content displacement at the picture centre, thumb px (+x = content slides right)
    ty: float  # +y = content slides down
    log_scale: float  # > 0: content grows
    angle: float  # radians, counter-clockwise in image coordinates
    inliers: float  # share of the textured points the model explains
    points: int  # textured points the model was fitted to
    reliable: bool


@dataclass(frozen=True)
class CameraPath:
    """The net camera path of one shot, from its steps."""

    steps: tuple[StepMotion, ...]
    width: int
    height: int
    fps: float
    frames: int

    @property
    def reliable_steps(self) -> list[StepMotion]:
        return [s for s in self.steps if s.reliable]

    @property
    def reliable_share(self) -> float:
        return len(self.reliable_steps) / len(self.steps) if self.steps else 0.0

    @property
    def radius(self) -> float:
        """Mean distance of the picture's points from its centre (px): converts scale and angle to px."""
        return 0.3826 * math.hypot(self.width, self.height)

    @property
    def seconds(self) -> float:
        return (self.frames - 1) / (self.fps or 24.0)

    def net(self) -> tuple[float, float, float, float]:
        """``(tx, ty, log_scale, angle)`` summed over the reliable steps, extrapolated to the whole shot."""
        rel = self.reliable_steps
        if not rel:
            return 0.0, 0.0, 0.0, 0.0
        covered = sum(s.b - s.a for s in rel)
        k = (self.frames - 1) / covered if covered else 1.0
        return (
            k * sum(s.tx for s in rel),
            k * sum(s.ty for s in rel),
            k * sum(s.log_scale for s in rel),
            k * sum(s.angle for s in rel),
        )

    def components(self) -> dict[str, float]:
        """Net content displacement (px over the shot) of each component of the camera path."""
        tx, ty, ls, ang = self.net()
        r = self.radius
        return {
            "pan": abs(tx),
            "tilt": abs(ty),
            "zoom": abs(ls) * r,
            "rotate": abs(ang) * r * ROTATION_WEIGHT,
        }


def _textured_points(gray: np.ndarray) -> np.ndarray:
    """(k, 2) float32 grid points (x, y) whose local gradient shows texture."""
    h, w = gray.shape
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    mag = cv2.GaussianBlur(np.hypot(gx, gy), (5, 5), 0)
    ys, xs = np.mgrid[BORDER : h - BORDER : GRID, BORDER : w - BORDER : GRID]
    keep = mag[ys, xs] >= MIN_TEXTURE
    return np.stack([xs[keep], ys[keep]], axis=1).astype(np.float32)


def measure_step(
    flow_engine: cv2.DISOpticalFlow, a_img: np.ndarray, b_img: np.ndarray, a: int, b: int
) -> StepMotion:
    """The similarity model of content motion from ``a_img`` to ``b_img`` (gray float32 of one size)."""
    h, w = a_img.shape
    pts = _textured_points(a_img)
    if len(pts) < MIN_POINTS:
        # a flat picture shows no camera motion, but one that does not change at all (black, a title on
        # black) shows that nothing moved: a reliable still step
        still = block_change(np.abs(b_img - a_img)) < NOISE_FLOOR
        return StepMotion(a, b, 0.0, 0.0, 0.0, 0.0, 1.0 if still else 0.0, len(pts), still)
    a8 = np.clip(a_img, 0, 255).astype(np.uint8)
    b8 = np.clip(b_img, 0, 255).astype(np.uint8)
    # match b's brightness to a's (fades, flashes) so the flow sees structure, not exposure
    if abs(float(a8.mean()) - float(b8.mean())) > 1.5:
        b8 = np.clip(b_img - float(b_img.mean()) + float(a_img.mean()), 0, 255).astype(np.uint8)
    flow = flow_engine.calc(a8, b8, None)
    xi, yi = pts[:, 0].astype(int), pts[:, 1].astype(int)
    dst = pts + flow[yi, xi]
    model, inl = cv2.estimateAffinePartial2D(
        pts, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX, maxIters=500, confidence=0.99
    )
    if model is None:
        return StepMotion(a, b, 0.0, 0.0, 0.0, 0.0, 0.0, len(pts), False)
    share = float(inl.mean()) if inl is not None else 0.0
    sa, sb = float(model[0, 0]), float(model[1, 0])  # s cos, s sin
    scale = math.hypot(sa, sb)
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    tx = float(model[0, 0] * cx + model[0, 1] * cy + model[0, 2] - cx)
    ty = float(model[1, 0] * cx + model[1, 1] * cy + model[1, 2] - cy)
    return StepMotion(
        a,
        b,
        tx,
        ty,
        math.log(max(scale, 1e-6)),
        math.atan2(sb, sa),
        share,
        len(pts),
        share >= MIN_INLIERS,
    )


def camera_path(gray: np.ndarray, fps: float, step: int = STEP) -> CameraPath:
    """Measure the camera path of a shot's gray thumbs ((n, h, w) float32) in steps of ``step`` frames."""
    n = int(gray.shape[0])
    h, w = int(gray.shape[1]), int(gray.shape[2])
    if n < 2:
        return CameraPath((), w, h, fps, n)
    step = max(1, min(step, n - 1))
    marks = list(range(0, n - 1, step))
    bounds = [(a, min(a + step, n - 1)) for a in marks]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < step // 2:
        # a short tail step carries little signal: merge it into the previous step
        bounds[-2] = (bounds[-2][0], bounds[-1][1])
        bounds.pop()
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    steps = tuple(measure_step(dis, gray[a], gray[b], a, b) for a, b in bounds)
    return CameraPath(steps, w, h, fps, n)


@dataclass(frozen=True)
class Jitter:
    """Frame-to-frame translation of the background (median flow of textured points): the shake measure."""

    path: float  # sum of the per-frame displacement lengths over the measured pairs, px
    net: float  # length of their sum, px
    mean_step: float  # mean per-frame displacement of the measured pairs, px
    reversals: float  # share of consecutive moving pairs whose directions are opposite
    measured: float  # share of the pairs whose points agree on one translation

    @property
    def is_shake(self) -> bool:
        return (
            self.measured >= MIN_RELIABLE
            and self.mean_step >= SHAKE_STEP
            and self.path >= SHAKE_PATH * max(self.net, 1e-6)
            and self.reversals >= SHAKE_REVERSALS
        )


def jitter(gray: np.ndarray, anchor_every: int = STEP) -> Jitter:
    """Per-frame background translation of ``gray`` ((n, h, w) float32): path, net and direction reversals.

    A pair is measured when at least ``MIN_INLIERS`` of the textured points move within ``2 * RANSAC_PX`` of
    their median flow (redrawn speed lines, flashes and impact frames do not agree on one translation). The
    textured points are taken from every ``anchor_every``-th frame (texture hardly changes in between)."""
    n = int(gray.shape[0])
    if n < 3:
        return Jitter(0.0, 0.0, 0.0, 0.0, 0.0)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    u8 = np.clip(gray, 0, 255).astype(np.uint8)
    moves = np.zeros((n - 1, 2), np.float64)
    ok = np.zeros(n - 1, bool)
    pts = np.zeros((0, 2), np.float32)
    for k in range(n - 1):
        if k % anchor_every == 0:
            pts = _textured_points(gray[k])
        if len(pts) < MIN_POINTS:
            continue
        flow = dis.calc(u8[k], u8[k + 1], None)
        f = flow[pts[:, 1].astype(int), pts[:, 0].astype(int)]
        med = np.median(f, axis=0)
        agree = float((np.abs(f - med).max(axis=1) <= 2 * RANSAC_PX).mean())
        if agree >= MIN_INLIERS:
            moves[k], ok[k] = med, True
    if not ok.any():
        return Jitter(0.0, 0.0, 0.0, 0.0, 0.0)
    steps = np.hypot(moves[:, 0], moves[:, 1])
    dots = (moves[1:] * moves[:-1]).sum(axis=1)
    both = ok[1:] & ok[:-1] & (steps[1:] > 0.1) & (steps[:-1] > 0.1)
    rev = float((dots[both] < 0).mean()) if both.any() else 0.0
    net = float(np.hypot(*moves[ok].sum(axis=0)))
    return Jitter(float(steps[ok].sum()), net, float(steps[ok].mean()), rev, float(ok.mean()))


@dataclass(frozen=True)
class CameraVerdict:
    """The camera expert's reading of one shot: a movement and speed, or the reason it has none."""

    movement: str | None
    speed: str | None
    confidence: float
    reason: str
    evidence: dict[str, float]


def speed_class(widths_per_s: float) -> str:
    """camera.speed from the content displacement in picture widths per second (taxonomy thresholds)."""
    if widths_per_s < SLOW_BELOW:
        return "slow"
    return "medium" if widths_per_s <= FAST_ABOVE else "fast"


def _direction(component: str, tx: float, ty: float, log_scale: float) -> str:
    if component == "pan":
        return "pan_left" if tx > 0 else "pan_right"  # pan_left: the content slides right
    if component == "tilt":
        return "tilt_up" if ty > 0 else "tilt_down"  # tilt_up: the content slides down
    if component == "zoom":
        return "zoom_in" if log_scale > 0 else "zoom_out"
    return "rotate"


def classify_camera(path: CameraPath, jit: Jitter) -> CameraVerdict:
    """Movement, speed and confidence of a shot from its camera path and its frame-to-frame jitter."""
    tx, ty, ls, ang = path.net()
    comps = path.components()
    ranked = sorted(comps.items(), key=lambda kv: kv[1], reverse=True)
    (top_name, top), (_, second) = ranked[0], ranked[1]
    seconds = max(path.seconds, 1.0 / (path.fps or 24.0))
    speed = top / max(path.width, 1) / seconds
    evidence = {
        "pan_px": tx,
        "tilt_px": ty,
        "zoom_px": ls * path.radius,
        "rotate_px": ang * path.radius,
        "widths_per_s": speed,
        "reliable_share": path.reliable_share,
        "jitter_step_px": jit.mean_step,
        "jitter_path_ratio": jit.path / max(jit.net, 1e-6),
        "jitter_reversals": jit.reversals,
    }
    if path.frames < MIN_FRAMES:
        return CameraVerdict(None, None, 0.0, f"shot of {path.frames} frame(s) is too short", evidence)
    if jit.is_shake:
        conf = min(0.95, 0.6 + 0.3 * min(1.0, jit.mean_step / (4 * SHAKE_STEP)) + 0.1 * jit.reversals)
        return CameraVerdict("shake", None, conf, "", evidence)
    if path.reliable_share < MIN_RELIABLE:
        return CameraVerdict(
            None,
            None,
            0.0,
            f"background motion unreliable in {1 - path.reliable_share:.0%} of the steps (too little texture,"
            " or the foreground moves on most of the picture)",
            evidence,
        )
    if top < STATIC_SHIFT or speed < STATIC_SPEED:
        margin = max(top / STATIC_SHIFT, speed / STATIC_SPEED) if top < STATIC_SHIFT else speed / STATIC_SPEED
        conf = 0.95 - 0.3 * min(1.0, margin) + 0.1 * (path.reliable_share - 1.0)
        return CameraVerdict("static", None, max(0.55, conf), "", evidence)
    moving = (top >= MOVE_SHIFT and speed >= MOVE_SPEED) or top >= CERTAIN_SHIFT
    if not moving:
        return CameraVerdict(
            None,
            None,
            0.0,
            f"camera motion {top:.1f} px ({speed:.3f} widths/s) is between still and moving",
            evidence,
        )
    if second > DOMINANCE * top:
        if not (top >= MOVE_SHIFT and speed >= MOVE_SPEED):
            return CameraVerdict(
                None,
                None,
                0.0,
                f"a slow mixed drift ({top_name} {top:.1f} px and {ranked[1][0]} {second:.1f} px, "
                f"{speed:.3f} widths/s) is neither one movement nor clearly complex",
                evidence,
            )
        movement = "complex"
        conf = 0.6 + 0.2 * min(1.0, second / top)
    else:
        movement = _direction(top_name, tx, ty, ls)
        conf = 0.65 + 0.3 * (1.0 - second / (DOMINANCE * top)) * min(1.0, top / (2 * CERTAIN_SHIFT))
    conf *= 0.8 + 0.2 * path.reliable_share
    return CameraVerdict(movement, speed_class(speed), min(conf, 0.97), "", evidence)


class CameraExpert:
    """camera.movement and camera.speed from the background's global motion (see the module docstring)."""

    name = "camera"
    fields = ("camera.movement", "camera.speed")
    priority = 1

    def read(self, shot: ShotInput) -> CameraVerdict:
        view = shot.view
        gray = view.gray
        return classify_camera(camera_path(gray, view.fps), jitter(gray))

    def annotate(self, shot: ShotInput) -> ExpertOutput:
        out = ExpertOutput()
        verdict = self.read(shot)
        ev = {k: round(v, 4) for k, v in verdict.evidence.items()}
        if verdict.movement is None:
            out.abstain("camera.movement", self.name, verdict.reason)
            out.abstain("camera.speed", self.name, verdict.reason)
            return out
        out.vote("camera.movement", verdict.movement, round(verdict.confidence, 4), self.name, **ev)
        if verdict.speed is None:
            why = "a static camera has no speed" if verdict.movement == "static" else "a shake has no travel"
            out.abstain("camera.speed", self.name, why)
        else:
            out.vote("camera.speed", verdict.speed, round(min(verdict.confidence, 0.9), 4), self.name, **ev)
        return out
