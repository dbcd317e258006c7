"""Animation timing: held frames, the dominant cadence (ones / twos / threes), still images and slideshows.

Anime is mostly *limited* animation: a drawing is held for 2 or 3 frames (twos, threes), often for whole
seconds, while the camera may still pan or zoom over it. A held frame is therefore judged *after* the camera
move is compensated (:mod:`pipeline.scores.motion`): frame ``i`` is a new drawing when its motion-compensated
block change against frame ``i - 1`` is above the noise floor -- under a moving camera, above a floor adapted
to the shot when its residuals split into held frames and new drawings (:func:`drawing_changes`).

From the drawing starts the shot splits into *runs* (how long each drawing stays on screen):

* runs of 1, 2 or 3 frames are animation on ones / twos / threes; runs of ``hold_min`` frames or more (a
  quarter second) are holds (0.3 s, at least 6 frames); 4-6 frame runs are animation of no cadence;
* ``held``: no new drawing at all, or fewer than ``MIN_ANIMATED_RUNS`` animated runs between two changes
  (isolated changes in a long hold: a single pose change, a blink);
* ``mixed``: holds cover >= ``MIXED_HOLD`` of the shot beside real animation (a long still that starts to
  move), or no cadence covers more than ``DOMINANT`` of the animated frames;
* otherwise the dominant cadence: the one with most frames in runs of exactly its length; its share counts
  runs of a multiple of it too (a drawing held 6 frames on threes).

What the run lengths alone miss, :func:`shot_cadence` adds when it is given the shot's gray frames:

* a slow push-in or drift on a held drawing moves its outlines a fraction of a pixel per frame and reads as
  small changes on every frame: such pairs are refitted with an affine camera move
  (:func:`slow_camera_holds`);
* a small character redrawn under a moving camera can stay under the raised floor; a shot that reads as held
  under a moving camera is searched for residuals that stand out on a regular period of 2 or 3 pairs
  (:func:`periodic_changes`);
* a shot of 2 to 5 frames has no runs to count: it is held when only specks change (snow, sparkles), on
  ones when a large region is redrawn on every frame, else unknown (:func:`short_shot_cadence`).

``held_share`` (frames that repeat the previous drawing) is high for limited animation by design -- it is
*not* a sign of a static clip. ``still_image`` (one picture, no camera move) and ``slideshow`` (static holds
replaced by whole-picture changes) are.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.scores.motion import (
    _ECC_CRITERIA,
    _IDENTITY,
    ECC_MAX,
    ECC_MIN_AREA,
    MARGIN,
    MIN_SHIFT,
    MOVING_FLOOR_FACTOR,
    NOISE_FLOOR,
    PairMotion,
    _block_means,
    _mean_displacement,
    _normalise,
    _tolerant_diff,
    block_change,
    compare_frames,
)
from pipeline.scores.registry import ShotView, register

#: Fewest frames for which a cadence is counted from runs (shorter shots: :func:`short_shot_cadence`).
MIN_FRAMES = 6
#: Fewest animated runs between two drawing changes for the shot not to count as held (one isolated change,
#: or one blink, is not animation).
MIN_ANIMATED_RUNS = 2
#: Share of the shot covered by holds that makes animated shots 'mixed'.
MIXED_HOLD = 0.5
#: Share of the animated frames the dominant cadence needs.
DOMINANT = 0.7
#: Slideshow: every change repaints at least this share of the picture, holds last >= SLIDE_HOLD_S.
SLIDE_AREA = 0.5
SLIDE_HOLD_S = 0.75


#: Residual split under a moving camera: the largest ratio between consecutive sorted residuals that counts as a
#: gap between held frames and new drawings, and the smallest share of the moving pairs on each side of it.
SPLIT_RATIO = 1.8
SPLIT_SHARE = 0.2
#: The two-group split of noisier residuals: smallest ratio of the groups' geometric means, and of the values
#: on either side of the split.
SPLIT_MEANS = 3.0
SPLIT_GAP = 1.3
#: Fewest moving pairs above the noise floor for the split to be looked for.
SPLIT_MIN_PAIRS = 6


def drawing_changes(pm: PairMotion, noise_floor: float = NOISE_FLOOR) -> np.ndarray:
    """``pm.changed`` with a floor adapted to the shot under a moving camera.

    Compensating a camera move leaves a residual on held frames (resampled texture, speed lines or a cel
    outline fixed in the view over a moving background) that can pass the fixed noise floor, while a new
    drawing under the same move leaves a much larger one. When the residuals of the moving pairs above the
    floor fall into two clearly separated groups (:func:`residual_split`), the floor of the moving pairs is
    raised between them. Pairs with a still camera keep the fixed floor, so small drawing changes (a
    mouth flap) are never lost to a big one elsewhere in the shot."""
    changed = pm.changed.copy()
    moving = pm.moved & ~pm.flash
    above = np.sort(pm.residual[moving & (pm.residual >= noise_floor)])
    if len(above) < SPLIT_MIN_PAIRS:
        return changed
    floor = residual_split(above)
    if floor is not None:
        changed[moving & (pm.residual < floor)] = False
    return changed


def slow_camera_holds(
    pm: PairMotion, gray: np.ndarray, changed: np.ndarray, noise_floor: float = NOISE_FLOOR
) -> np.ndarray:
    """``changed`` without the pairs whose change a slow camera move explains (a copy).

    The pair analysis looks for a zoom or rotation only when a translation was found or the change covers a
    good part of the picture (:func:`pipeline.scores.motion.compare_frames`), so a slow push-in on a held
    drawing (edges moving a fraction of a pixel per frame, centred so that no translation shows) reads as
    small drawing changes on every frame. Each pair it skipped -- a still camera, a change under ``ECC_MAX``
    times the floor covering under ``ECC_MIN_AREA`` of the picture -- is fitted here with an affine map;
    when the map moves the picture by at least ``MIN_SHIFT`` px (what the pair analysis counts as a camera
    move) and compensating it leaves less than the raised floor of a moving camera, the pair is a hold under
    a camera move. Pairs that a +-0.5 px tolerance alone does not bring under that floor are drawing changes
    and are not fitted."""
    out = changed.copy()
    h, w = int(gray.shape[1]), int(gray.shape[2])
    inner = (slice(MARGIN, h - MARGIN), slice(MARGIN, w - MARGIN))
    skipped = ~pm.moved & ~pm.flash & (pm.residual < ECC_MAX * noise_floor) & (pm.changed_area < ECC_MIN_AREA)
    for k in np.flatnonzero(changed & skipped):
        cur = gray[k + 1]
        prev = _normalise(gray[k], cur)
        # a slow move shifts edges by under a pixel: when +-0.5 px of tolerance alone leaves a change, it is a
        # drawing change (the costly fit is skipped)
        still = np.minimum(np.abs(cur - prev), _tolerant_diff(cur, prev, _IDENTITY))
        if block_change(still[inner]) / MOVING_FLOOR_FACTOR >= noise_floor:
            continue
        # the fit runs at half size (a global move needs no detail; 4x fewer pixels), the check at full size
        half = (w // 2, h // 2)
        try:
            _, warp = cv2.findTransformECC(
                cv2.resize(cur, half, interpolation=cv2.INTER_AREA),
                cv2.resize(prev, half, interpolation=cv2.INTER_AREA),
                _IDENTITY.copy(),
                cv2.MOTION_AFFINE,
                _ECC_CRITERIA,
                None,
                1,
            )
        except cv2.error:
            continue
        warp[:, 2] *= 2.0
        if not MIN_SHIFT <= _mean_displacement(warp, h, w) < 0.25 * w:
            continue
        comp = np.minimum(np.abs(cur - prev), _tolerant_diff(cur, prev, warp))
        if block_change(comp[inner]) / MOVING_FLOOR_FACTOR < noise_floor:
            out[k] = False
    return out


def residual_split(values: np.ndarray) -> float | None:
    """A floor between two clearly separated groups of sorted residuals, or None.

    Either a single gap of at least ``SPLIT_RATIO`` between consecutive values, or -- for noisier residuals
    (a shake resamples every frame differently) -- the best two-group split of the log residuals (Otsu) when
    the groups' geometric means are at least ``SPLIT_MEANS`` apart and the values at the split at least
    ``SPLIT_GAP``. Each group holds at least ``SPLIT_SHARE`` of the values. A continuous spread of residuals
    (ones with small and large changes) has neither."""
    n = len(values)
    least = max(1, int(np.ceil(SPLIT_SHARE * n)))
    ratios = values[1:] / np.maximum(values[:-1], 1e-6)
    k = int(np.argmax(ratios))
    if ratios[k] >= SPLIT_RATIO and min(k + 1, n - k - 1) >= SPLIT_SHARE * n:
        return float(np.sqrt(values[k] * values[k + 1]))
    logs = np.log(np.maximum(values, 1e-6))
    best, best_k = -1.0, -1
    for k in range(least - 1, n - least):
        lo, hi = logs[: k + 1], logs[k + 1 :]
        between = len(lo) * len(hi) * (hi.mean() - lo.mean()) ** 2
        if between > best:
            best, best_k = between, k
    if best_k < 0:
        return None
    lo, hi = logs[: best_k + 1], logs[best_k + 1 :]
    if np.exp(hi.mean() - lo.mean()) < SPLIT_MEANS or ratios[best_k] < SPLIT_GAP:
        return None
    return float(np.sqrt(values[best_k] * values[best_k + 1]))


def hold_min_frames(fps: float) -> int:
    return max(6, round(0.3 * (fps or 24.0)))


def drawing_runs(changed: np.ndarray) -> np.ndarray:
    """Run lengths (frames per drawing) of a shot whose pair ``k`` (frame ``k`` -> ``k + 1``) changed."""
    n = len(changed) + 1
    starts = np.concatenate([[0], np.flatnonzero(changed) + 1, [n]])
    return np.diff(starts)


def consistent_frames(animated: np.ndarray, step: int) -> int:
    """Frames of the animated runs that are consistent with a cadence of ``step`` frames per drawing.

    A drawing held for a multiple of the cadence (or a missed change) is consistent with it: 4 and 6 on twos,
    6 on threes; on ones only single frames count. A change detected one frame early or late (a drawing that
    differs only slightly from the previous one, or encoder noise) splits two drawings unevenly -- 2 + 4 or
    4 + 2 on threes --, so two adjacent runs of at least 2 frames whose sum is a multiple of the cadence are
    consistent too (a single frame is a drawing on ones, not a misplaced change)."""
    if step == 1:
        return int(animated[animated == 1].sum())
    if step == 2:
        # one misplaced change on twos gives 1 + 3 (a single frame: not merged); 3 + 3 is threes, not twos
        return int(animated[animated % 2 == 0].sum())
    total, k, n = 0, 0, len(animated)
    while k < n:
        run = int(animated[k])
        if run % step == 0:
            total += run
            k += 1
        elif k + 1 < n and min(run, int(animated[k + 1])) >= 2 and (run + int(animated[k + 1])) % step == 0:
            total += run + int(animated[k + 1])
            k += 2
        else:
            k += 1
    return total


def classify_cadence(runs: np.ndarray, fps: float) -> tuple[str, float | None]:
    """``(cadence, share of the animated frames in the dominant cadence)`` from drawing run lengths.

    The first and last runs are cut by the shot boundaries, so only the runs between two drawing changes
    (*interior* runs) count as evidence of a cadence; all runs count towards the hold share."""
    n = int(runs.sum())
    if len(runs) <= 1:
        return ("held", None) if n >= 2 else ("unknown", None)
    if n < MIN_FRAMES:
        return "unknown", None
    hold = hold_min_frames(fps)
    interior = runs[1:-1]
    animated = interior[interior < hold]
    if len(animated) < MIN_ANIMATED_RUNS:
        return "held", None
    hold_frames = int(runs[runs >= hold].sum())
    anim_frames = int(animated.sum())
    exact = {c: int(animated[animated == k].sum()) for k, c in ((1, "ones"), (2, "twos"), (3, "threes"))}
    best = max(exact, key=lambda c: exact[c])
    step = {"ones": 1, "twos": 2, "threes": 3}[best]
    share = round(consistent_frames(animated, step) / anim_frames, 4)
    if hold_frames >= MIXED_HOLD * n or share <= DOMINANT:
        return "mixed", share
    return best, share


#: Short shots (fewer than ``MIN_FRAMES``): the largest connected region of changed blocks, as a share of the
#: picture, below which a change is specks (particles, grain, texture resampled under a move, an overlay
#: flicker) rather than a redrawn character; the larger one allowed when the changes are scattered (the
#: largest region holds under ``SHORT_SCATTERED`` of the changed blocks: a snowfall); and the region a shot
#: changing on every pair needs to read as ones.
SHORT_SPECKS = 0.02
SHORT_SCATTERED_SPECKS = 0.06
SHORT_SCATTERED = 0.5
SHORT_REDRAWN = 0.1
#: Fewest pairs (frames - 1) for a short shot changing on every pair to read as ones.
SHORT_ONES_PAIRS = 3


#: Drawing changes hidden under the raised floor of a moving camera (a small character redrawn on twos in a
#: wide shaking shot): fewest pairs and smallest share of moving pairs for the search, the separation (in
#: pooled standard deviations of the log residuals) between the pairs at one phase of a period of 2 or 3 and
#: the others, and the smallest median residual (share of the noise floor) and ratio of medians of the former.
PERIOD_MIN_PAIRS = 12
PERIOD_MOVING = 0.8
PERIOD_SEPARATION = 2.0
PERIOD_MIN_RESIDUAL = 0.5
PERIOD_RATIO = 1.5


@dataclass(frozen=True)
class CadenceReading:
    """The cadence of one shot and how it was read: the drawing changes, their runs, the share of the animated
    frames in the dominant cadence, and a note when a rule beyond the run lengths decided it."""

    cadence: str
    share: float | None
    changed: np.ndarray
    runs: np.ndarray
    note: str = ""


def changed_regions(
    prev: np.ndarray, cur: np.ndarray, noise_floor: float = NOISE_FLOOR
) -> tuple[float, float]:
    """``(largest, total)``: shares of the picture covered by the largest 8-connected region of changed blocks
    and by all changed blocks between two gray frames, after compensating the camera move
    (:func:`pipeline.scores.motion.compare_frames`)."""
    _, _, _, comp = compare_frames(prev, cur, noise_floor)
    if comp is None:
        return 0.0, 0.0
    blocks = (_block_means(comp) >= noise_floor).astype(np.uint8)
    if blocks.size == 0:
        return 0.0, 0.0
    count, _, stats, _ = cv2.connectedComponentsWithStats(blocks, connectivity=8)
    if count <= 1:
        return 0.0, 0.0
    return float(stats[1:, cv2.CC_STAT_AREA].max()) / blocks.size, float(blocks.mean())


def short_shot_cadence(
    changed: np.ndarray, gray: np.ndarray, noise_floor: float = NOISE_FLOOR
) -> tuple[str, str]:
    """``(cadence, note)`` of a shot too short for run lengths (2 to ``MIN_FRAMES - 1`` frames) with changes.

    No cadence can be counted, but whether anything was redrawn can be seen: when every change is specks --
    no changed region reaches ``SHORT_SPECKS`` of the picture (sparkles, a crowd texture under a tilt), or
    the changes are scattered over many small regions none of which reaches ``SHORT_SCATTERED_SPECKS`` (a
    snowfall) -- the drawing is held; when every pair changes and a redrawn region reaches ``SHORT_REDRAWN``
    (a new pose each frame) it is on ones; otherwise (a small element redrawn) 'unknown'."""
    regions = [changed_regions(gray[k], gray[k + 1], noise_floor) for k in np.flatnonzero(changed)]
    largest = max(r[0] for r in regions)
    specks = all(
        big < SHORT_SPECKS or (big < SHORT_SCATTERED_SPECKS and big < SHORT_SCATTERED * total)
        for big, total in regions
    )
    if specks:
        return "held", f"short shot: only specks change (largest changed region {largest:.3f} of the picture)"
    if len(changed) >= SHORT_ONES_PAIRS and bool(changed.all()) and largest >= SHORT_REDRAWN:
        return "ones", f"short shot: a new drawing on every frame (largest changed region {largest:.3f})"
    return "unknown", ""


def periodic_changes(pm: PairMotion, noise_floor: float = NOISE_FLOOR) -> np.ndarray | None:
    """The pairs of a held-looking shot under a moving camera that start new drawings on a regular period, or
    None.

    Resampling a moving picture leaves a residual on every pair, so the floor is raised under a camera move
    and a small redrawn character can stay under it. Its drawings still show as a *period*: on twos every
    second pair (on threes every third) leaves a larger residual than the others. The period and phase whose
    pairs stand out most from the rest (log residuals, ``PERIOD_SEPARATION`` pooled standard deviations, a
    median at least ``PERIOD_RATIO`` times theirs and ``PERIOD_MIN_RESIDUAL`` of the floor) are the drawing
    changes. A held picture under a pan or shake has no such period (its residual follows the sub-pixel
    phase of the move, measured separations under 0.5 on the synthetic and real held shots)."""
    m = len(pm)
    if m < PERIOD_MIN_PAIRS or float(pm.moved.mean()) < PERIOD_MOVING:
        return None
    logs = np.log(np.maximum(pm.residual.astype(np.float64), 0.1))
    index = np.arange(m)
    best, best_mask = PERIOD_SEPARATION, None
    for period in (2, 3):
        for phase in range(period):
            mask = index % period == phase
            hi, lo = logs[mask], logs[~mask]
            spread = float(np.sqrt((hi.var() + lo.var()) / 2.0)) + 1e-6
            separation = (float(hi.mean()) - float(lo.mean())) / spread
            if separation < best:
                continue
            med_hi, med_lo = float(np.median(pm.residual[mask])), float(np.median(pm.residual[~mask]))
            if med_hi >= PERIOD_MIN_RESIDUAL * noise_floor and med_hi >= PERIOD_RATIO * max(med_lo, 1e-6):
                best, best_mask = separation, mask & ~pm.flash
    return best_mask


def shot_cadence(
    pm: PairMotion, fps: float, noise_floor: float = NOISE_FLOOR, gray: np.ndarray | None = None
) -> CadenceReading:
    """The cadence of a shot from its pair analysis (:func:`drawing_changes`, :func:`classify_cadence`).

    ``gray`` (the shot's gray frames, as analysed) lets the rules that look at the picture run: slow camera
    moves on held drawings (:func:`slow_camera_holds`) and 2-5 frame shots (:func:`short_shot_cadence`). A
    shot that reads as held under a moving camera is searched for periodic drawing changes
    (:func:`periodic_changes`); only a clean twos or threes found that way replaces 'held'."""
    changed = drawing_changes(pm, noise_floor)
    if gray is not None:
        changed = slow_camera_holds(pm, gray, changed, noise_floor)
    runs = drawing_runs(changed)
    cadence, share = classify_cadence(runs, fps)
    note = ""
    if cadence == "unknown" and gray is not None and len(changed) >= 1 and changed.any():
        cadence, note = short_shot_cadence(changed, gray, noise_floor)
    elif cadence == "held":
        periodic = periodic_changes(pm, noise_floor)
        if periodic is not None:
            found_runs = drawing_runs(periodic)
            found, found_share = classify_cadence(found_runs, fps)
            if found in ("twos", "threes"):
                changed, runs, cadence, share = periodic, found_runs, found, found_share
                note = "drawing changes under the moving camera's floor, found by their period"
    return CadenceReading(cadence, share, changed, runs, note)


@register(
    "timing",
    "held_share",
    "still_share",
    "drawing_changes",
    "drawing_rate",
    "cadence",
    "cadence_share",
    "still_image",
    "slideshow",
)
def score_timing(view: ShotView) -> dict:
    """Held frames, cadence, still image and slideshow from the motion-compensated drawing changes."""
    pm = view.pairs
    if len(pm) == 0:
        return {"cadence": "unknown", "still_image": False, "slideshow": False}
    floor = view.ctx.noise_floor if view.ctx.noise_floor is not None else NOISE_FLOOR
    reading = shot_cadence(pm, view.fps, floor, view.gray)
    changed, runs, cadence, share = reading.changed, reading.runs, reading.cadence, reading.share
    still = ~changed & ~pm.moved
    n_changes = int(changed.sum())
    still_image = n_changes == 0 and not bool(pm.moved.any())
    # slideshow: static holds (no camera move) replaced by whole-picture changes
    slideshow = False
    if n_changes >= 1 and not pm.moved[~changed].any():
        hold = max(2, round(SLIDE_HOLD_S * (view.fps or 24.0)))
        if runs.min() >= hold and bool((pm.changed_area[changed] >= SLIDE_AREA).all()):
            slideshow = True
    return {
        "held_share": round(float((~changed).mean()), 4),
        "still_share": round(float(still.mean()), 4),
        "drawing_changes": n_changes,
        "drawing_rate": round(n_changes / view.duration_s, 4) if view.duration_s > 0 else None,
        "cadence": cadence,
        "cadence_share": share,
        "still_image": still_image,
        "slideshow": slideshow,
    }
