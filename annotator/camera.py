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
4. an unreliable step is re-measured frame by frame: a fast move (a x1.25-per-frame pull-back, a whip) or a
   picture redrawn larger on every drawing (a drawn push-in) is tracked across one frame where the step's end
   frames have too little in common (a held frame of animation on twos or threes is a still pair without
   flow). The step counts when its reliable pairs cover at least half of it.

The shot's movement is read from its *sustained* motion: per component, the frame-weighted median rate of the
reliable steps (kept only where it agrees with the mean), over the shot. Motion confined to a few steps -- a
head turn over an animated speed-line background, a focus pull, a whip into the next shot -- is not the shot's
movement; a move that starts after a long hold or stops early is found as a *clean run* (consecutive steps whose
model explains nearly all textured points, moving one way over at least ``RUN_SHARE`` of the shot). A
translation that the scale or rotation explains (the similarity's fixed point lies inside the picture: a
push-in toward an off-centre face) belongs to the zoom, not to a pan or tilt.

The movement is the dominant component when it is large enough to be seen (``MOVE_SHIFT`` thumb px of content
displacement over the shot at ``MOVE_SPEED`` picture widths per second, or ``CERTAIN_SHIFT`` px for a slow
drift), ``static`` below that (between ``STATIC_SHIFT`` and a move at a lower confidence: a drift too small to
be seen reads as a still camera); two comparable components are ``complex``. Shake is read frame to frame (a
jitter returns within a step): the median flow of the textured points per consecutive pair gives a path whose
length is many times its net displacement, with direction reversals on most consecutive pairs (:class:`Jitter`).
Conventions follow ``footage/SCHEMA.md``: pan_left = content slides right, tilt_up = content slides down,
zoom_in = content grows.

camera.speed follows the taxonomy's thresholds: content crossing < 0.1 picture widths per second is slow, up to
0.5 medium, above fast (a zoom's speed is the content displacement at the mean point radius; a clean run's
speed is over the run).

Abstentions (with the reason): shots shorter than ``MIN_FRAMES`` frames, shots whose steps stay mostly
unreliable even frame by frame (flames or an effect filling the frame, textureless changing pictures), and slow
drifts with two comparable components.

Measured (``anicurate eval caption``, tests/corpus/test_caption_corpus.py): 0.909 accuracy over the answered
single-movement shots of ../shared/footage at 0.965 coverage, 0.877 counting abstentions as misses; 1.0 on four
synthetic sets. Known misses: 3D shots whose textured foreground dominates the background (a face, a dragon,
parallax over rooftops), a billowing explosion cloud read as a zoom, camera shake under full-frame flames, and a
title growing too slowly to tell from a drift.
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
#: A clean run (a move starting or stopping inside the shot): steps explaining at least ``CLEAN_INLIERS`` of
#: the textured points, each moving at least ``RUN_NOISE`` px the same way, over at least ``RUN_SHARE`` of it.
CLEAN_INLIERS = 0.8
RUN_NOISE = 0.05
RUN_SHARE = 0.2
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
#: The camera path's optical flow: OpenCV's DIS MEDIUM preset with a patch stride of 4 instead of 3 and 12
#: gradient-descent iterations instead of 25. Over the labelled shots of ../shared/footage and a synthetic set:
#: camera_path -17 % thread CPU; camera.movement 0.875 -> 0.909 answered, 0.860 -> 0.877 over all 57 shots,
#: coverage 0.982 -> 0.965; four labelled synthetic sets unchanged. The FAST / ULTRAFAST presets (-61 / -68 %)
#: fell to 0.772, and dropping the variational refinement lost a correct zoom_in (docs/benchmarks.md, session 13).
FLOW_PATCH_STRIDE = 4
FLOW_DESCENT_ITERATIONS = 12


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

    def sustained(self) -> tuple[float, float, float, float]:
        """``(tx, ty, log_scale, angle)`` at the frame-weighted median rate of the reliable steps, over the shot.

        A camera move that lasts most of the shot keeps its size here; motion confined to a few steps (a head
        turn, a burst of redrawn speed lines, a whip into the next shot, a focus pull) does not, and neither
        does motion whose steps disagree in direction (the smaller of the median and the mean is kept, zero
        when their signs differ)."""
        rel = self.reliable_steps
        if not rel:
            return 0.0, 0.0, 0.0, 0.0
        lengths = np.array([s.b - s.a for s in rel], np.float64)
        rates = np.array([(s.tx, s.ty, s.log_scale, s.angle) for s in rel], np.float64) / lengths[:, None]
        net = self.net()
        out = []
        for j in range(4):
            median = _weighted_median(rates[:, j], lengths) * (self.frames - 1)
            # steps that disagree in direction have no sustained motion: the median and the mean must agree
            out.append(math.copysign(min(abs(median), abs(net[j])), median) if median * net[j] > 0 else 0.0)
        return out[0], out[1], out[2], out[3]

    def clean_run(self) -> tuple[tuple[float, float, float, float], int] | None:
        """``(motion, frames)`` of a camera move that starts or stops inside the shot, if there is one.

        A run is a stretch of consecutive reliable steps whose model explains at least ``CLEAN_INLIERS`` of the
        textured points (the whole picture moves as one: not a turning head or redrawn speed lines), all moving
        the way of the shot's dominant net component by at least ``RUN_NOISE`` px. It counts when it covers at
        least ``RUN_SHARE`` of the shot and moves the content at least ``CERTAIN_SHIFT`` px."""
        net = self.net()
        comps = self.components(net)
        name = max(comps, key=lambda k: comps[k])
        j = ("pan", "tilt", "zoom", "rotate").index(name)
        scale = 1.0 if j < 2 else self.radius
        sign = 1.0 if net[j] >= 0 else -1.0
        best: list[StepMotion] = []
        current: list[StepMotion] = []
        for st in self.steps:
            value = sign * (st.tx, st.ty, st.log_scale, st.angle)[j] * scale
            if st.reliable and st.inliers >= CLEAN_INLIERS and value >= RUN_NOISE:
                current.append(st)
                if sum(s.b - s.a for s in current) > sum(s.b - s.a for s in best):
                    best = list(current)
            else:
                current = []
        if not best:
            return None
        frames = sum(s.b - s.a for s in best)
        motion = (
            sum(s.tx for s in best),
            sum(s.ty for s in best),
            sum(s.log_scale for s in best),
            sum(s.angle for s in best),
        )
        size = abs(motion[j]) * scale
        if frames < RUN_SHARE * (self.frames - 1) or size < CERTAIN_SHIFT:
            return None
        return motion, frames

    def components(self, motion: tuple[float, float, float, float] | None = None) -> dict[str, float]:
        """Content displacement (px over the shot) of each component of ``motion`` (default :meth:`net`).

        A translation explained by the scale or rotation (the similarity's fixed point lies inside the
        picture: a push-in toward an off-centre face) is part of the zoom or rotation, not a pan or tilt."""
        tx, ty, ls, ang = self.net() if motion is None else motion
        r = self.radius
        pan, tilt = abs(tx), abs(ty)
        fixed = _fixed_point(tx, ty, ls, ang)
        if fixed is not None and abs(fixed[0]) <= self.width / 2 and abs(fixed[1]) <= self.height / 2:
            pan = tilt = 0.0
        return {
            "pan": pan,
            "tilt": tilt,
            "zoom": abs(ls) * r,
            "rotate": abs(ang) * r * ROTATION_WEIGHT,
        }


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The weighted median (the mean of the lower and upper weighted medians, so it is symmetric in sign)."""
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cum = np.cumsum(w)
    half = cum[-1] / 2.0
    lower = v[int(np.searchsorted(cum, half, side="left"))]
    upper = v[min(int(np.searchsorted(cum, half, side="right")), len(v) - 1)]
    return float((lower + upper) / 2.0)


def _fixed_point(tx: float, ty: float, log_scale: float, angle: float) -> tuple[float, float] | None:
    """The point (relative to the picture centre, px) a similarity motion leaves in place, if it has one.

    Content at ``p`` moves to ``s R p + t``; the fixed point solves ``(I - s R) p = t``."""
    s = math.exp(log_scale)
    c, n = s * math.cos(angle), s * math.sin(angle)
    a, b = 1.0 - c, n  # I - sR = [[1 - c, n], [-n, 1 - c]]
    det = a * a + b * b
    if det < 1e-12:
        return None
    return ((a * tx - b * ty) / det, (b * tx + a * ty) / det)


def _textured_points(gray: np.ndarray) -> np.ndarray:
    """(k, 2) float32 grid points (x, y) whose local gradient shows texture."""
    h, w = gray.shape
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gx /= 8.0  # not Sobel's ``scale``: that rounds differently
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    gy /= 8.0
    mag = cv2.GaussianBlur(np.hypot(gx, gy), (5, 5), 0)
    # the grid's rows and columns in row-major order, as a boolean mask over an mgrid would list them
    ys, xs = np.nonzero(mag[BORDER : h - BORDER : GRID, BORDER : w - BORDER : GRID] >= MIN_TEXTURE)
    return np.stack([BORDER + GRID * xs, BORDER + GRID * ys], axis=1).astype(np.float32)


class _ShotPoints:
    """Per-frame intermediates of a shot, each computed once: the frames' :func:`_textured_points` (the camera
    path's steps and the jitter's anchors start on the same frames), their uint8 thumbs for the optical flow,
    and whether consecutive frames are held (:func:`_subdivided` and :func:`jitter` test the same pairs)."""

    def __init__(self, gray: np.ndarray) -> None:
        self.gray = gray
        self._points: dict[int, np.ndarray] = {}
        self._held: dict[int, bool] = {}
        self._u8: np.ndarray | None = None

    def __call__(self, k: int) -> np.ndarray:
        pts = self._points.get(k)
        if pts is None:
            pts = self._points[k] = _textured_points(self.gray[k])
        return pts

    @property
    def u8(self) -> np.ndarray:
        """The shot's gray thumbs as uint8 (clipped, truncated), the optical flow's input."""
        if self._u8 is None:
            self._u8 = np.clip(self.gray, 0, 255).astype(np.uint8)
        return self._u8

    def held(self, k: int) -> bool:
        """:func:`_held` of frames ``k`` and ``k + 1``."""
        still = self._held.get(k)
        if still is None:
            still = self._held[k] = _held(self.gray[k], self.gray[k + 1])
        return still


def measure_step(
    flow_engine: cv2.DISOpticalFlow,
    a_img: np.ndarray,
    b_img: np.ndarray,
    a: int,
    b: int,
    pts: np.ndarray | None = None,
    u8: tuple[np.ndarray, np.ndarray] | None = None,
) -> StepMotion:
    """The similarity model of content motion from ``a_img`` to ``b_img`` (gray float32 of one size);
    ``pts``: ``a_img``'s :func:`_textured_points` and ``u8``: both images clipped to uint8, when already
    known."""
    h, w = a_img.shape
    if pts is None:
        pts = _textured_points(a_img)
    if len(pts) < MIN_POINTS:
        # a flat picture shows no camera motion, but one that does not change at all (black, a title on
        # black) shows that nothing moved: a reliable still step
        still = _held(a_img, b_img)
        return StepMotion(a, b, 0.0, 0.0, 0.0, 0.0, 1.0 if still else 0.0, len(pts), still)
    if u8 is None:
        u8 = np.clip(a_img, 0, 255).astype(np.uint8), np.clip(b_img, 0, 255).astype(np.uint8)
    a8, b8 = u8
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


def _held(a_img: np.ndarray, b_img: np.ndarray) -> bool:
    """Whether two gray thumbs show the same picture (no block changes beyond coding noise): a held drawing
    whose flow would be zero, so it is not computed."""
    # same values as np.abs(b_img - a_img), in one pass
    return block_change(cv2.absdiff(b_img, a_img)) < NOISE_FLOOR


def _subdivided(
    flow_engine: cv2.DISOpticalFlow, gray: np.ndarray, whole: StepMotion, points: _ShotPoints | None = None
) -> StepMotion:
    """Re-measure an unreliable step frame by frame: a fast move (a big zoom, a whip) or a picture redrawn on
    every step (a drawn push-in) is tracked across one frame where the step's end frames have too little in
    common. The step is reliable when the reliable pairs cover at least ``MIN_RELIABLE`` of it; its motion is
    theirs, extrapolated to the whole step."""
    points = points if points is not None else _ShotPoints(gray)
    n = whole.b - whole.a
    good: list[StepMotion] = []
    for k in range(whole.a, whole.b):
        if points.held(k):
            # a held frame (animation on twos / threes): nothing moved, no flow needed
            pair = StepMotion(k, k + 1, 0.0, 0.0, 0.0, 0.0, 1.0, whole.points, True)
        else:
            u8 = points.u8
            pair = measure_step(flow_engine, gray[k], gray[k + 1], k, k + 1, points(k), (u8[k], u8[k + 1]))
        if pair.reliable:
            good.append(pair)
        elif (k - whole.a + 1 - len(good)) > (1.0 - MIN_RELIABLE) * n:
            return whole  # too many pairs failed already: the step stays unreliable
    k = n / len(good)
    return StepMotion(
        whole.a,
        whole.b,
        k * sum(p.tx for p in good),
        k * sum(p.ty for p in good),
        k * sum(p.log_scale for p in good),
        k * sum(p.angle for p in good),
        float(np.mean([p.inliers for p in good])),
        whole.points,
        True,
    )


def flow_engine() -> cv2.DISOpticalFlow:
    """The DIS optical flow of the camera path (see ``FLOW_PATCH_STRIDE``)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis.setPatchStride(FLOW_PATCH_STRIDE)
    dis.setGradientDescentIterations(FLOW_DESCENT_ITERATIONS)
    return dis


def camera_path(
    gray: np.ndarray, fps: float, step: int = STEP, points: _ShotPoints | None = None
) -> CameraPath:
    """Measure the camera path of a shot's gray thumbs ((n, h, w) float32) in steps of ``step`` frames; a step
    the similarity model cannot explain is re-measured frame by frame (:func:`_subdivided`). ``points``
    shares the frames' textured points with :func:`jitter`."""
    points = points if points is not None else _ShotPoints(gray)
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
    dis = flow_engine()
    steps = []
    u8 = points.u8
    for a, b in bounds:
        st = measure_step(dis, gray[a], gray[b], a, b, points(a), (u8[a], u8[b]))
        if not st.reliable and b - a > 1 and st.points >= MIN_POINTS:
            st = _subdivided(dis, gray, st, points)
        steps.append(st)
    return CameraPath(tuple(steps), w, h, fps, n)


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


def _column_median(f: np.ndarray) -> np.ndarray:
    """``np.median(f, axis=0)`` of a (k, 2) float32 array (k >= 1), without its per-call overhead: the same
    order statistics and the same float32 mean of the middle two."""
    k = len(f)
    half = k // 2
    part = np.partition(f, [half - 1, half, k - 1] if k % 2 == 0 else [half, k - 1], axis=0)
    if np.isnan(part[-1]).any():  # NaNs sort last; np.median returns NaN for their column
        return np.median(f, axis=0)
    return (part[half - 1] + part[half]) * np.float32(0.5) if k % 2 == 0 else part[half]


def jitter(gray: np.ndarray, anchor_every: int = STEP, points: _ShotPoints | None = None) -> Jitter:
    """Per-frame background translation of ``gray`` ((n, h, w) float32): path, net and direction reversals.

    A pair is measured when at least ``MIN_INLIERS`` of the textured points move within ``2 * RANSAC_PX`` of
    their median flow (redrawn speed lines, flashes and impact frames do not agree on one translation). The
    textured points are taken from every ``anchor_every``-th frame (texture hardly changes in between);
    ``points`` shares them with :func:`camera_path`."""
    n = int(gray.shape[0])
    if n < 3:
        return Jitter(0.0, 0.0, 0.0, 0.0, 0.0)
    points = points if points is not None else _ShotPoints(gray)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    moves = np.zeros((n - 1, 2), np.float64)
    ok = np.zeros(n - 1, bool)
    pts = np.zeros((0, 2), np.float32)
    at = np.zeros(0, int)  # the points' flat pixel indices
    width = int(gray.shape[2])
    for k in range(n - 1):
        if k % anchor_every == 0:
            pts = points(k)
            at = pts[:, 1].astype(int) * width + pts[:, 0].astype(int)
        if len(pts) < MIN_POINTS:
            continue
        if points.held(k):
            ok[k] = True  # a held drawing: the background stood still (moves[k] stays 0)
            continue
        u8 = points.u8
        f = np.take(dis.calc(u8[k], u8[k + 1], None).reshape(-1, 2), at, axis=0)
        med = _column_median(f)
        off = np.abs(f - med)
        # np.maximum of the two columns: the per-point max of np.max(axis=1), without its reduction overhead
        agree = np.count_nonzero(np.maximum(off[:, 0], off[:, 1]) <= 2 * RANSAC_PX) / len(f)
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


def _moving(top: float, speed: float) -> bool:
    return (top >= MOVE_SHIFT and speed >= MOVE_SPEED) or top >= CERTAIN_SHIFT


def _move_verdict(
    path: CameraPath, motion: tuple[float, float, float, float], seconds: float, evidence: dict[str, float]
) -> CameraVerdict:
    """The movement (one direction or complex) of a clear camera move ``motion`` lasting ``seconds``."""
    tx, ty, ls, _ = motion
    ranked = sorted(path.components(motion).items(), key=lambda kv: kv[1], reverse=True)
    (top_name, top), (second_name, second) = ranked[0], ranked[1]
    speed = top / max(path.width, 1) / seconds
    if second > DOMINANCE * top:
        if not (top >= MOVE_SHIFT and speed >= MOVE_SPEED):
            return CameraVerdict(
                None,
                None,
                0.0,
                f"a slow mixed drift ({top_name} {top:.1f} px and {second_name} {second:.1f} px, "
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


def classify_camera(path: CameraPath, jit: Jitter) -> CameraVerdict:
    """Movement, speed and confidence of a shot from its camera path and its frame-to-frame jitter.

    The shot's movement is its sustained motion (:meth:`CameraPath.sustained`); when that is still, a clean
    run (:meth:`CameraPath.clean_run`: a camera move that starts or stops inside the shot) decides, and
    otherwise the camera is static (motion too small to be seen reads as static, at a lower confidence)."""
    motion = path.sustained()
    tx, ty, ls, ang = motion
    comps = path.components(motion)
    top = max(comps.values())
    seconds = max(path.seconds, 1.0 / (path.fps or 24.0))
    speed = top / max(path.width, 1) / seconds
    net = path.net()
    evidence = {
        "pan_px": tx,
        "tilt_px": ty,
        "zoom_px": ls * path.radius,
        "rotate_px": ang * path.radius,
        "net_pan_px": net[0],
        "net_tilt_px": net[1],
        "net_zoom_px": net[2] * path.radius,
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
    if _moving(top, speed) and speed >= STATIC_SPEED:
        return _move_verdict(path, motion, seconds, evidence)
    run = path.clean_run()
    if run is not None:
        run_motion, run_frames = run
        evidence["run_frames"] = float(run_frames)
        return _move_verdict(path, run_motion, run_frames / (path.fps or 24.0), evidence)
    if top < STATIC_SHIFT or speed < STATIC_SPEED:
        margin = max(top / STATIC_SHIFT, speed / STATIC_SPEED) if top < STATIC_SHIFT else speed / STATIC_SPEED
        conf = 0.95 - 0.3 * min(1.0, margin) + 0.1 * (path.reliable_share - 1.0)
        return CameraVerdict("static", None, max(0.55, conf), "", evidence)
    # between still and moving: a drift too small to be seen as a camera move
    return CameraVerdict("static", None, 0.5, "", evidence)


class CameraExpert:
    """camera.movement and camera.speed from the background's global motion (see the module docstring)."""

    name = "camera"
    fields = ("camera.movement", "camera.speed")
    priority = 1

    def read(self, shot: ShotInput) -> CameraVerdict:
        view = shot.view
        gray = view.gray
        points = _ShotPoints(gray)
        return classify_camera(camera_path(gray, view.fps, points=points), jitter(gray, points=points))

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
