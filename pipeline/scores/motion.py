"""Frame-to-frame motion of one shot: global (camera) motion, drawing changes and residual (subject) motion.

Everything runs on the shared gray analysis thumbs of the shot's active picture (bars cropped), one
consecutive pair at a time, cheapest test first:

1. photometric normalisation: when the mean brightness changes (fades, flashes), the previous frame is
   matched to the current one's mean and contrast, so a fade alone is not a drawing change;
2. ``raw``: the *block change* of the pair -- the largest 4x4-block mean of the absolute luma difference.
   Block means average away compression noise, grain and dither while a small local change (a mouth flap, a
   blink) still fills a block. Below the noise floor the pair is a hold with a still camera; stop.
3. global translation by phase correlation (whole picture, sub-pixel); when the camera did not move
   (< ``min_shift`` px) the pair is a drawing change with a still camera (the raw test decides alone, at full
   sensitivity);
4. the previous frame is warped onto the current one by that translation, refined when needed by an ECC
   affine fit (zoom, rotation; not tried when no translation was found and the change covers under
   ``ECC_MIN_AREA`` of the picture, i.e. a local drawing change), and differenced with a +-0.5 px tolerance
   envelope (interpolation and sub-pixel misregistration on sharp cel outlines are not change). A pixel
   counts as changed only when it changed *both* with and without compensation, so a character cel held still
   over a panning background (or a static logo over a pan) is not a change either. Below the noise floor the
   pair is a hold with a moving camera.
5. otherwise it is a drawing change; once in-shot flashes are set apart (:func:`_drop_flashes`), the dense
   optical flow (OpenCV DIS) minus the global model gives the subject (residual) motion of each remaining one.

Cost: the inputs are small (about 128x72), so the fixed cost of each array operation counts as much as its
arithmetic. What depends on one frame alone -- its mean, its contrast, its +-0.5 px envelope -- is computed
once per frame (:class:`_Frame`) and shared by the two pairs it belongs to and by the flash test; the
envelope of the unwarped frame is an erosion / dilation rather than four shifted copies. Every shortcut gives
the same floats as the plain computation (``bench/bench_motion.py --compare`` against a dump of the earlier
code on the synthetic and real footage; tests/test_motion_speed.py against a plain reference). Most of the
remaining time is OpenCV's: the ECC fits, the phase correlations, the five warps of each compensated
difference and the DIS flow.

Known limits (measured in tests/test_scores.py and tests/corpus/test_scores_corpus.py):

* a character cel held still *in frame* over a panning background (tracking shot) is compensated per pixel
  (min of the still and the compensated difference), but the cel's outline against the moving background
  leaves some residual, so a few holds there read as changes;
* camera moves slower than the per-frame noise floor (a very slow zoom or drift) read as a still camera;
  they are then compared unwarped, which is right for holds (nothing above the floor changed);
* telecined / high-frame-rate files (24 fps drawn, 60 fps stored) show their pulldown as extra runs; the
  cadence is reported in *stored* frames.

Units: displacements are thumb pixels per frame; :func:`shot_motion` reports them as a fraction of the picture
width per second so that the values do not depend on the thumb size or the frame rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.scores.registry import ShotView, register

#: Block size (thumb px) of the block-change measure.
BLOCK = 4
#: Noise floor of the block change (0-255 luma levels): calibrated on the real clips (see tests/corpus).
NOISE_FLOOR = 5.0
#: Under a camera move the compensated change must exceed the floor by this factor (residual of resampling
#: fine texture at a new sub-pixel phase; calibrated on the synthetic shakes / pans and the real clips).
MOVING_FLOOR_FACTOR = 1.3
#: A camera move is accepted only when compensating it leaves at most this share of the raw block change.
CAMERA_GAIN = 0.7
#: ECC refinement is tried only while the translation-compensated change is below this multiple of the floor.
ECC_MAX = 10.0
#: With a still translation, ECC is tried only when at least this share of the blocks changed: a zoom or a
#: rotation moves edges all over the picture, a new drawing changes a part of it.
ECC_MIN_AREA = 0.03
#: Smallest global displacement (thumb px, anywhere in the picture) that counts as a camera move.
MIN_SHIFT = 0.12
#: Pixels ignored at the picture border after warping.
MARGIN = 2
#: 10 ECC iterations: the same verdicts as 30 on the real and synthetic corpora, ~1.5x faster on zoom shots.
_ECC_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 10, 1e-4)
_HANNING: dict[tuple[int, int], np.ndarray] = {}
_IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32)


def _hanning(h: int, w: int) -> np.ndarray:
    win = _HANNING.get((h, w))
    if win is None:
        win = _HANNING[(h, w)] = cv2.createHanningWindow((w, h), cv2.CV_32F)
    return win


def block_change(diff: np.ndarray, block: int = BLOCK) -> float:
    """Largest ``block`` x ``block`` mean of a difference image (0 for an image smaller than a block)."""
    h, w = diff.shape
    hb, wb = h // block, w // block
    if hb == 0 or wb == 0:
        return float(diff.mean()) if diff.size else 0.0
    return float(cv2.minMaxLoc(_block_means(diff, block))[1])


def _block_means(diff: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """``block`` x ``block`` means of ``diff`` (cropped to whole blocks). Area resampling by an integer factor
    is exactly the block mean, several times faster than a numpy reshape-mean."""
    h, w = diff.shape
    hb, wb = h // block, w // block
    crop = diff[: hb * block, : wb * block]
    if crop.dtype != np.float32 or crop.strides[1] != crop.itemsize:
        crop = np.ascontiguousarray(crop, dtype=np.float32)
    return cv2.resize(crop, (wb, hb), interpolation=cv2.INTER_AREA)


@dataclass
class PairMotion:
    """Per consecutive pair (``n - 1`` entries; entry ``k`` is frame ``k`` -> ``k + 1`` of the shot)."""

    raw: np.ndarray  # block change without motion compensation (after photometric normalisation)
    residual: (
        np.ndarray
    )  # block change after compensating the global motion (== raw when the camera is still)
    warp: np.ndarray  # (n-1, 2, 3) affine map from current-frame coords to previous-frame coords
    camera: np.ndarray  # mean displacement of the global motion over the picture, thumb px
    moved: np.ndarray  # bool: the camera moved
    changed: np.ndarray  # bool: a new drawing (residual above the noise floor; in-shot flashes excluded)
    flash: np.ndarray  # bool: the pair enters, stays in or leaves an in-shot flash (not a drawing change)
    subject: np.ndarray  # mean residual optical-flow magnitude on changed pairs (0 on holds), thumb px
    changed_area: np.ndarray  # fraction of blocks above the noise floor after compensation
    width: int  # picture width in thumb px

    def __len__(self) -> int:
        return int(self.raw.shape[0])


_GRIDS: dict[tuple[int, int], np.ndarray] = {}
_PIXELS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
#: The 4-neighbourhood with and without the pixel itself: erosion / dilation with them is the min / max over
#: the one-pixel shifts of :func:`_shift_envelope`.
_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)
_NEIGHBOURS = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.uint8)


def _coarse_grid(h: int, w: int) -> np.ndarray:
    """(3, k) homogeneous points of an 8 px grid over an h x w picture (cached per size)."""
    pts = _GRIDS.get((h, w))
    if pts is None:
        ys, xs = np.mgrid[0:h:8, 0:w:8]
        pts = _GRIDS[(h, w)] = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)], axis=0).astype(np.float64)
    return pts


def _pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """``(ys, xs)``: float32 pixel coordinates of an h x w picture (cached per size)."""
    grid = _PIXELS.get((h, w))
    if grid is None:
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        grid = _PIXELS[(h, w)] = (ys, xs)
    return grid


def _mean_displacement(warp: np.ndarray, h: int, w: int) -> float:
    """Mean displacement (px) of the inverse map over a coarse grid of the picture."""
    pts = _coarse_grid(h, w)
    src = warp.astype(np.float64) @ pts
    return _mean(np.hypot(src[0] - pts[0], src[1] - pts[1]))


def _mean(a: np.ndarray) -> float:
    """``float(a.mean())`` -- the same reduction (and rounding) without ``ndarray.mean``'s call overhead."""
    return float(np.add.reduce(a, axis=None) / a.size)


def _shift_envelope(img: np.ndarray, half: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_envelope` of the identity warp without resampling: a +-``half`` px shift with linear
    interpolation and replicated borders blends each pixel with its neighbour,
    ``(1 - half) * img + half * neighbour``.

    The blend is monotonic in the neighbour, so the min (max) over the four shifts is the blend with the
    smallest (largest) of the four neighbours: one erosion (dilation) instead of four shifted copies, with
    bit-identical results. At ``half`` = 0.5 the blend of a pixel with itself is exactly the pixel, so the
    erosion may include the pixel and the blend needs no further min with it."""
    if half == 0.5:
        lo = cv2.addWeighted(img, 0.5, cv2.erode(img, _CROSS, borderType=cv2.BORDER_REPLICATE), 0.5, 0.0)
        hi = cv2.addWeighted(img, 0.5, cv2.dilate(img, _CROSS, borderType=cv2.BORDER_REPLICATE), 0.5, 0.0)
        return img, lo, hi
    own = (1.0 - half) * img
    low = cv2.erode(img, _NEIGHBOURS, borderType=cv2.BORDER_REPLICATE)
    high = cv2.dilate(img, _NEIGHBOURS, borderType=cv2.BORDER_REPLICATE)
    lo = np.minimum(img, own + half * low, out=low)
    hi = np.maximum(img, own + half * high, out=high)
    return img, lo, hi


def _envelope(img: np.ndarray, warp: np.ndarray, half: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``img`` warped by ``warp`` (inverse map), and the min / max over extra +-``half`` px shifts."""
    if warp is _IDENTITY:
        return _shift_envelope(img, half)
    h, w = img.shape
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    offsets = np.zeros((5, 2, 3), warp.dtype)
    offsets[1:3, 0, 2] = half, -half
    offsets[3:5, 1, 2] = half, -half
    base = lo = hi = None
    for m in warp + offsets:
        warped = cv2.warpAffine(img, m, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
        if base is None:
            base = warped
        elif lo is None:
            lo, hi = np.minimum(base, warped), np.maximum(base, warped)
        else:
            np.minimum(lo, warped, out=lo)
            np.maximum(hi, warped, out=hi)
    return base, lo, hi


class _Frame:
    """One gray frame with what the pair analysis derives from it alone, computed once: every frame of a
    shot is the current frame of one pair and the previous frame of the next."""

    __slots__ = ("img", "_mean", "_std", "_envelope", "_uint8")

    def __init__(self, img: np.ndarray) -> None:
        self.img = img
        self._mean: float | None = None
        self._std: float | None = None
        self._envelope: tuple[np.ndarray, np.ndarray] | None = None
        self._uint8: np.ndarray | None = None

    def uint8(self) -> np.ndarray:
        """The frame clipped to 0-255 and truncated to uint8 (the optical flow's input)."""
        if self._uint8 is None:
            self._uint8 = _to_uint8(self.img)
        return self._uint8

    @property
    def mean(self) -> float:
        if self._mean is None:
            self._mean = _mean(self.img)
        return self._mean

    @property
    def std(self) -> float:
        if self._std is None:
            self._std = float(self.img.std())
        return self._std

    def envelope(self) -> tuple[np.ndarray, np.ndarray]:
        """``(lo, hi)`` of :func:`_shift_envelope` at +-0.5 px."""
        if self._envelope is None:
            self._envelope = _shift_envelope(self.img, 0.5)[1:]
        return self._envelope


def _compensated(raw_diff: np.ndarray, cur: _Frame, prev: np.ndarray, warp: np.ndarray) -> np.ndarray:
    """``np.minimum(raw_diff, _tolerant_diff(cur.img, prev, warp))``, with ``cur``'s envelope from its cache.

    Computed as ``max(0, min(raw_diff, forward, backward))`` with unclamped ``forward`` / ``backward``: the
    same values (``raw_diff`` >= 0 and max(0, .) distributes over min) in fewer passes."""
    prev_w, lo_p, hi_p = _envelope(prev, warp, 0.5)
    lo_c, hi_c = cur.envelope()
    c = cur.img
    forward = np.subtract(c, hi_p, out=hi_p)
    np.maximum(forward, np.subtract(lo_p, c, out=lo_p), out=forward)
    backward = np.subtract(prev_w, hi_c, out=lo_p)
    np.maximum(backward, np.subtract(lo_c, prev_w), out=backward)
    out = np.minimum(raw_diff, np.minimum(forward, backward, out=forward))
    return np.maximum(0.0, out, out=out)


def _tolerant_diff(cur: np.ndarray, prev: np.ndarray, warp: np.ndarray, half: float = 0.5) -> np.ndarray:
    """Difference of ``cur`` and ``prev`` warped onto it that no sub-pixel shift explains.

    Symmetric: the change counts only where ``cur`` leaves the envelope of the shifted warped ``prev`` *and*
    the warped ``prev`` leaves the envelope of the shifted ``cur``. One direction alone flags thin lines whose
    thumb-scale amplitude depends on their sub-pixel phase (a 1 px line is sharp in one frame and smeared
    over two pixels in the next); a real change of more than a pixel leaves both envelopes."""
    prev_w, lo_p, hi_p = _envelope(prev, warp, half)
    _, lo_c, hi_c = _envelope(cur, _IDENTITY, half)
    forward = np.maximum(0.0, np.maximum(cur - hi_p, lo_p - cur))
    backward = np.maximum(0.0, np.maximum(prev_w - hi_c, lo_c - prev_w))
    return np.minimum(forward, backward)


def _normalised(prev: _Frame, cur: _Frame) -> np.ndarray:
    """:func:`_normalise` with the frames' cached statistics."""
    mp, mc = prev.mean, cur.mean
    if abs(mp - mc) < 1.5:
        return prev.img
    sp, sc = prev.std, cur.std
    gain = sc / sp if sp > 1.0 and sc > 1.0 else 1.0
    return (prev.img - mp) * gain + mc


def _normalise(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """``prev`` matched to ``cur``'s mean and contrast when the brightness changed (fades, flashes)."""
    return _normalised(_Frame(prev), _Frame(cur))


def _blocks(diff: np.ndarray) -> np.ndarray:
    return _block_means(diff, BLOCK)


def _changed_share(diff: np.ndarray, noise_floor: float) -> float:
    """Share of the blocks of ``diff`` whose mean reaches ``noise_floor``."""
    blocks = _blocks(diff)
    return np.count_nonzero(blocks >= noise_floor) / blocks.size


def compare_frames(
    prev: np.ndarray, cur: np.ndarray, noise_floor: float = NOISE_FLOOR, min_shift: float = MIN_SHIFT
) -> tuple[float, float, np.ndarray, np.ndarray | None]:
    """``(raw block change, compensated block change, warp, compensated diff or None)`` of two gray frames.

    ``warp`` maps ``cur`` coordinates to ``prev`` coordinates (identity when the camera did not move); the
    diff is None when the raw change is already below the noise floor (nothing else was computed)."""
    return _compare(_Frame(prev), _Frame(cur), noise_floor, min_shift)[:4]


def _compare(
    prev_f: _Frame, cur_f: _Frame, noise_floor: float, min_shift: float
) -> tuple[float, float, np.ndarray, np.ndarray | None, float]:
    """:func:`compare_frames` plus the mean displacement of the returned warp."""
    cur = cur_f.img
    h, w = cur.shape
    inner = (slice(MARGIN, h - MARGIN), slice(MARGIN, w - MARGIN))
    prev = _normalised(prev_f, cur_f)
    raw_diff = cv2.absdiff(cur, prev)
    raw = block_change(raw_diff[inner])
    if raw < noise_floor:
        return raw, raw, _IDENTITY.copy(), None, 0.0
    # copies: cv2.phaseCorrelate (OpenCV 5.0) writes into its inputs
    (dx, dy), _ = cv2.phaseCorrelate(prev.copy(), cur.copy(), _hanning(h, w))
    warp = np.array([[1.0, 0.0, -dx], [0.0, 1.0, -dy]], np.float32)
    comp, residual = raw_diff, raw
    if abs(dx) >= min_shift or abs(dy) >= min_shift:
        comp = _compensated(raw_diff, cur_f, prev, warp)
        residual = block_change(comp[inner])
    disp: float | None = None
    if noise_floor <= residual < ECC_MAX * noise_floor and (
        comp is not raw_diff or _changed_share(raw_diff[inner], noise_floor) >= ECC_MIN_AREA
    ):
        # translation does not explain the pair, but nearly: refine with an affine ECC fit (zoom, rotation).
        # Far above the floor a new drawing is certain and the costly fit would not change the verdict.
        try:
            _, refined = cv2.findTransformECC(
                cur, prev, warp.copy(), cv2.MOTION_AFFINE, _ECC_CRITERIA, None, 1
            )
        except cv2.error:
            refined = None
        if refined is not None:
            disp_r = _mean_displacement(refined, h, w)
            if min_shift <= disp_r < 0.25 * w:
                comp_r = _compensated(raw_diff, cur_f, prev, refined)
                residual_r = block_change(comp_r[inner])
                if residual_r < residual:
                    comp, warp, residual, disp = comp_r, refined, residual_r, disp_r
    if disp is None:
        disp = _mean_displacement(warp, h, w)
    if disp < min_shift or residual > CAMERA_GAIN * raw:
        # no camera move, or one that explains little of the change (a character moving across a still
        # background pulls the phase correlation): the camera is still
        return raw, raw, _IDENTITY.copy(), raw_diff[inner], 0.0
    # resampling a moved picture leaves some residual on fine texture: the floor is raised under a camera move
    return raw, residual / MOVING_FLOOR_FACTOR, warp, comp[inner] / MOVING_FLOOR_FACTOR, disp


def analyse_pairs(
    gray: np.ndarray, noise_floor: float = NOISE_FLOOR, min_shift: float = MIN_SHIFT, flow: bool = True
) -> PairMotion:
    """Analyse every consecutive pair of ``gray`` ((n, h, w) float32 luma of the active picture)."""
    n = int(gray.shape[0])
    h, w = (int(gray.shape[1]), int(gray.shape[2])) if gray.ndim == 3 else (0, 0)
    m = n - 1 if n > 1 else 0
    raw = np.zeros(m, np.float32)
    residual = np.zeros(m, np.float32)
    warps = np.repeat(_IDENTITY[None], m, axis=0)
    camera = np.zeros(m, np.float32)
    changed = np.zeros(m, bool)
    flash = np.zeros(m, bool)
    subject = np.zeros(m, np.float32)
    area = np.zeros(m, np.float32)
    if m == 0 or h < 4 * MARGIN + BLOCK or w < 4 * MARGIN + BLOCK:
        return PairMotion(raw, residual, warps, camera, camera > 0, changed, flash, subject, area, w)
    gray = np.ascontiguousarray(gray, dtype=np.float32)
    frames = [_Frame(g) for g in gray]
    for k in range(m):
        raw[k], residual[k], warp, comp, camera[k] = _compare(
            frames[k], frames[k + 1], noise_floor, min_shift
        )
        if comp is None:
            continue
        warps[k] = warp
        changed[k] = residual[k] >= noise_floor
        if changed[k]:
            area[k] = _changed_share(comp, noise_floor)
    _drop_flashes(frames, changed, flash, area, noise_floor, min_shift)
    if flow:
        # only the drawing changes that remain after the flashes are dropped carry subject motion
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        for k in np.flatnonzero(changed):
            subject[k] = _subject_motion(dis, frames[k], frames[k + 1], warps[k])
    return PairMotion(raw, residual, warps, camera, camera >= min_shift, changed, flash, subject, area, w)


def _subject_motion(dis: cv2.DISOpticalFlow, prev: _Frame, cur: _Frame, warp: np.ndarray) -> float:
    """Mean magnitude (thumb px) of the dense optical flow of the pair minus the global motion ``warp``."""
    h, w = cur.img.shape
    inner = (slice(MARGIN, h - MARGIN), slice(MARGIN, w - MARGIN))
    prev_n = _normalised(prev, cur)
    a8 = prev.uint8() if prev_n is prev.img else _to_uint8(prev_n)
    b8 = cur.uint8()
    fl = dis.calc(a8, b8, None)
    fx, fy = fl[..., 0], fl[..., 1]
    # global model: content at prev coords W(x) moves to x, i.e. displacement x - W(x); it is exactly 0 for
    # the identity and, for a translation, x - (x + t) evaluated per column (row) gives the same floats
    if (warp[:, :2] == _IDENTITY[:, :2]).all():
        if warp[0, 2] != 0.0 or warp[1, 2] != 0.0:
            ys, xs = _pixel_grid(h, w)
            fx = fx - (xs[0] - (xs[0] + warp[0, 2]))
            fy = fy - (ys[:, :1] - (ys[:, :1] + warp[1, 2]))
    else:
        ys, xs = _pixel_grid(h, w)
        fx = fx - (xs - (warp[0, 0] * xs + warp[0, 1] * ys + warp[0, 2]))
        fy = fy - (ys - (warp[1, 0] * xs + warp[1, 1] * ys + warp[1, 2]))
    # the magnitudes go into the inner view of a full-size buffer: numpy's summation order (and so the
    # rounding of the mean) depends on the memory layout, and this is the layout the mean always had
    return _mean(_hypot(fx[inner], fy[inner], np.empty((h, w), np.float32)[inner]))


def _to_uint8(img: np.ndarray) -> np.ndarray:
    """``np.clip(img, 0, 255).astype(np.uint8)`` (truncating) without ``np.clip``'s call overhead."""
    out = np.maximum(img, 0.0)
    return np.minimum(out, 255.0, out=out).astype(np.uint8)


def _hypot(x: np.ndarray, y: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``np.hypot`` of float32 ``x``, ``y`` into ``out``, 3x faster. glibc's float32 hypot is the double
    ``sqrt(x * x + y * y)`` rounded to float; both squares are exact in double, so OpenCV's double magnitude
    (FMA or not) gives the same double and the same float."""
    out[...] = cv2.magnitude(x.astype(np.float64), y.astype(np.float64))
    return out


#: Longest in-shot flash (frames) that :func:`_drop_flashes` recognises, and the smallest changed area.
FLASH_MAX = 3
FLASH_AREA = 0.5


def _drop_flashes(
    frames: list[_Frame],
    changed: np.ndarray,
    flash: np.ndarray,
    area: np.ndarray,
    noise_floor: float,
    min_shift: float,
) -> None:
    """Un-mark in-shot flashes: 1-``FLASH_MAX`` frames that repaint most of the picture and after which the
    picture returns to the one before them (a white flash, an inversion, an impact frame). Marks them in
    ``flash`` (in place)."""
    m = len(changed)
    k = 0
    while k < m:
        if not changed[k] or area[k] < FLASH_AREA:
            k += 1
            continue
        # the excursion starts at frame k + 1; look for its end e (frame e + 1 back to frame k)
        for length in range(1, FLASH_MAX + 1):
            back = k + length  # pair index of frame k + length -> k + length + 1
            if back >= m:
                break
            if not changed[back]:
                continue
            res = _compare(frames[k], frames[k + length + 1], noise_floor, min_shift)[1]
            if res < noise_floor:
                changed[k : back + 1] = False
                flash[k : back + 1] = True
                k = back
                break
        k += 1


@register("motion", "camera_motion", "subject_motion", "camera_moving_share")
def score_motion(view: ShotView) -> dict:
    """Camera (global) and subject (residual optical flow) motion, picture widths per second."""
    pm = view.pairs
    if len(pm) == 0 or pm.width == 0:
        return {"camera_motion": None, "subject_motion": None, "camera_moving_share": None}
    per_s = (view.fps or 24.0) / pm.width
    return {
        # median: a character sweeping across a still background can pull single pairs' global estimate
        "camera_motion": round(float(np.median(pm.camera)) * per_s, 5),
        "subject_motion": round(float(pm.subject.mean()) * per_s, 5),
        "camera_moving_share": round(float(pm.moved.mean()), 4),
    }
