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
  move), or no cadence reaches ``DOMINANT`` of the animated frames;
* otherwise the dominant cadence: the one with most frames in runs of exactly its length; its share counts
  runs of a multiple of it too (a drawing held 6 frames on threes).

``held_share`` (frames that repeat the previous drawing) is high for limited animation by design -- it is
*not* a sign of a static clip. ``still_image`` (one picture, no camera move) and ``slideshow`` (static holds
replaced by whole-picture changes) are.
"""

from __future__ import annotations

import numpy as np

from pipeline.scores.motion import NOISE_FLOOR, PairMotion
from pipeline.scores.registry import ShotView, register

#: Fewest frames for which a cadence is reported (shorter shots with changes are 'unknown').
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
#: Fewest moving pairs above the noise floor for the split to be looked for.
SPLIT_MIN_PAIRS = 6


def drawing_changes(pm: PairMotion, noise_floor: float = NOISE_FLOOR) -> np.ndarray:
    """``pm.changed`` with a floor adapted to the shot under a moving camera.

    Compensating a camera move leaves a residual on held frames (resampled texture, speed lines or a cel
    outline fixed in the view over a moving background) that can pass the fixed noise floor, while a new
    drawing under the same move leaves a much larger one. When the residuals of the moving pairs above the
    floor fall into two groups separated by a clear gap (consecutive sorted values at least ``SPLIT_RATIO``
    apart, each group at least ``SPLIT_SHARE`` of them), the floor of the moving pairs is raised into the gap
    (geometric mean of its ends). Pairs with a still camera keep the fixed floor, so small drawing changes (a
    mouth flap) are never lost to a big one elsewhere in the shot."""
    changed = pm.changed.copy()
    moving = pm.moved & ~pm.flash
    above = np.sort(pm.residual[moving & (pm.residual >= noise_floor)])
    if len(above) < SPLIT_MIN_PAIRS:
        return changed
    ratios = above[1:] / np.maximum(above[:-1], 1e-6)
    k = int(np.argmax(ratios))
    if ratios[k] < SPLIT_RATIO or min(k + 1, len(above) - k - 1) < SPLIT_SHARE * len(above):
        return changed
    floor = float(np.sqrt(above[k] * above[k + 1]))
    changed[moving & (pm.residual < floor)] = False
    return changed


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
    if hold_frames >= MIXED_HOLD * n or share < DOMINANT:
        return "mixed", share
    return best, share


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
    changed = drawing_changes(pm, view.ctx.noise_floor if view.ctx.noise_floor is not None else NOISE_FLOOR)
    runs = drawing_runs(changed)
    cadence, share = classify_cadence(runs, view.fps)
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
