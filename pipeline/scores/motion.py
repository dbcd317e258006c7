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
   ``ECC_MIN_AREA`` of the picture, i.e. a local drawing change), and differenced with a +-0.5 px tolerance envelope (interpolation and sub-pixel
   misregistration on sharp cel outlines are not change). A pixel counts as changed only when it changed
   *both* with and without compensation, so a character cel held still over a panning background (or a static
   logo over a pan) is not a change either. Below the noise floor the pair is a hold with a moving camera.
5. otherwise it is a drawing change; the dense optical flow (OpenCV DIS) minus the global model gives the
   subject (residual) motion of that pair.

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
    return float(_block_means(diff, block).max())


def _block_means(diff: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """``block`` x ``block`` means of ``diff`` (cropped to whole blocks). Area resampling by an integer factor
    is exactly the block mean, several times faster than a numpy reshape-mean."""
    h, w = diff.shape
    hb, wb = h // block, w // block
    crop = np.ascontiguousarray(diff[: hb * block, : wb * block], dtype=np.float32)
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


def _coarse_grid(h: int, w: int) -> np.ndarray:
    """(3, k) homogeneous points of an 8 px grid over an h x w picture (cached per size)."""
    pts = _GRIDS.get((h, w))
    if pts is None:
        ys, xs = np.mgrid[0:h:8, 0:w:8]
        pts = _GRIDS[(h, w)] = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)], axis=0).astype(np.float64)
    return pts


def _mean_displacement(warp: np.ndarray, h: int, w: int) -> float:
    """Mean displacement (px) of the inverse map over a coarse grid of the picture."""
    pts = _coarse_grid(h, w)
    src = warp.astype(np.float64) @ pts
    return float(np.hypot(src[0] - pts[0], src[1] - pts[1]).mean())


def _shift_envelope(img: np.ndarray, half: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_envelope` of the identity warp without resampling: a +-``half`` px shift with linear
    interpolation and replicated borders blends each pixel with its neighbour."""
    neighbours = (
        np.concatenate([img[:, :1], img[:, :-1]], axis=1),
        np.concatenate([img[:, 1:], img[:, -1:]], axis=1),
        np.concatenate([img[:1], img[:-1]], axis=0),
        np.concatenate([img[1:], img[-1:]], axis=0),
    )
    lo = hi = img
    for nb in neighbours:
        shifted = (1.0 - half) * img + half * nb
        lo, hi = np.minimum(lo, shifted), np.maximum(hi, shifted)
    return img, lo, hi


def _envelope(img: np.ndarray, warp: np.ndarray, half: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``img`` warped by ``warp`` (inverse map), and the min / max over extra +-``half`` px shifts."""
    if warp is _IDENTITY:
        return _shift_envelope(img, half)
    h, w = img.shape
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    base = lo = hi = None
    for ox, oy in ((0.0, 0.0), (half, 0.0), (-half, 0.0), (0.0, half), (0.0, -half)):
        m = warp.copy()
        m[0, 2] += ox
        m[1, 2] += oy
        warped = cv2.warpAffine(img, m, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
        if base is None:
            base = lo = hi = warped
        else:
            lo, hi = np.minimum(lo, warped), np.maximum(hi, warped)
    return base, lo, hi


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


def _normalise(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """``prev`` matched to ``cur``'s mean and contrast when the brightness changed (fades, flashes)."""
    mp, mc = float(prev.mean()), float(cur.mean())
    if abs(mp - mc) < 1.5:
        return prev
    sp, sc = float(prev.std()), float(cur.std())
    gain = sc / sp if sp > 1.0 and sc > 1.0 else 1.0
    return (prev - mp) * gain + mc


def _blocks(diff: np.ndarray) -> np.ndarray:
    return _block_means(diff, BLOCK)


def compare_frames(
    prev: np.ndarray, cur: np.ndarray, noise_floor: float = NOISE_FLOOR, min_shift: float = MIN_SHIFT
) -> tuple[float, float, np.ndarray, np.ndarray | None]:
    """``(raw block change, compensated block change, warp, compensated diff or None)`` of two gray frames.

    ``warp`` maps ``cur`` coordinates to ``prev`` coordinates (identity when the camera did not move); the diff
    is None when the raw change is already below the noise floor (nothing else was computed)."""
    h, w = cur.shape
    inner = (slice(MARGIN, h - MARGIN), slice(MARGIN, w - MARGIN))
    prev = _normalise(prev, cur)
    raw_diff = np.abs(cur - prev)
    raw = block_change(raw_diff[inner])
    if raw < noise_floor:
        return raw, raw, _IDENTITY.copy(), None
    # copies: cv2.phaseCorrelate (OpenCV 5.0) writes into its inputs
    (dx, dy), _ = cv2.phaseCorrelate(prev.copy(), cur.copy(), _hanning(h, w))
    warp = np.array([[1.0, 0.0, -dx], [0.0, 1.0, -dy]], np.float32)
    comp = raw_diff
    if abs(dx) >= min_shift or abs(dy) >= min_shift:
        comp = np.minimum(raw_diff, _tolerant_diff(cur, prev, warp))
    residual = block_change(comp[inner])
    if noise_floor <= residual < ECC_MAX * noise_floor and (
        comp is not raw_diff or float((_block_means(raw_diff[inner]) >= noise_floor).mean()) >= ECC_MIN_AREA
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
            disp = _mean_displacement(refined, h, w)
            if min_shift <= disp < 0.25 * w:
                comp_r = np.minimum(raw_diff, _tolerant_diff(cur, prev, refined))
                residual_r = block_change(comp_r[inner])
                if residual_r < residual:
                    comp, warp, residual = comp_r, refined, residual_r
    if _mean_displacement(warp, h, w) < min_shift or residual > CAMERA_GAIN * raw:
        # no camera move, or one that explains little of the change (a character moving across a still
        # background pulls the phase correlation): the camera is still
        return raw, raw, _IDENTITY.copy(), raw_diff[inner]
    # resampling a moved picture leaves some residual on fine texture: the floor is raised under a camera move
    return raw, residual / MOVING_FLOOR_FACTOR, warp, comp[inner] / MOVING_FLOOR_FACTOR


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
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST) if flow else None
    inner = (slice(MARGIN, h - MARGIN), slice(MARGIN, w - MARGIN))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    for k in range(m):
        prev, cur = gray[k], gray[k + 1]
        raw[k], residual[k], warp, comp = compare_frames(prev, cur, noise_floor, min_shift)
        if comp is None:
            continue
        warps[k] = warp
        camera[k] = _mean_displacement(warp, h, w)
        changed[k] = residual[k] >= noise_floor
        if changed[k]:
            area[k] = float((_blocks(comp) >= noise_floor).mean())
            if dis is not None:
                a8 = np.clip(_normalise(prev, cur), 0, 255).astype(np.uint8)
                b8 = np.clip(cur, 0, 255).astype(np.uint8)
                fl = dis.calc(a8, b8, None)
                # global model: content at prev coords W(x) moves to x, i.e. displacement x - W(x)
                gx = xs - (warp[0, 0] * xs + warp[0, 1] * ys + warp[0, 2])
                gy = ys - (warp[1, 0] * xs + warp[1, 1] * ys + warp[1, 2])
                subject[k] = float(np.hypot(fl[..., 0] - gx, fl[..., 1] - gy)[inner].mean())
    _drop_flashes(gray, changed, flash, area, noise_floor, min_shift)
    subject[flash] = 0.0
    return PairMotion(raw, residual, warps, camera, camera >= min_shift, changed, flash, subject, area, w)


#: Longest in-shot flash (frames) that :func:`_drop_flashes` recognises, and the smallest changed area.
FLASH_MAX = 3
FLASH_AREA = 0.5


def _drop_flashes(
    gray: np.ndarray,
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
            _, res, _, _ = compare_frames(gray[k], gray[k + length + 1], noise_floor, min_shift)
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
