"""Animation timing: held frames, the dominant cadence (ones / twos / threes), still images and slideshows.

Anime is mostly *limited* animation: a drawing is held for 2 or 3 frames (twos, threes), often for whole
seconds, while the camera may still pan or zoom over it. A held frame is therefore judged *after* the camera
move is compensated (:mod:`pipeline.scores.motion`): frame ``i`` is a new drawing when its motion-compensated
block change against frame ``i - 1`` is above the noise floor.

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


def hold_min_frames(fps: float) -> int:
    return max(6, round(0.3 * (fps or 24.0)))


def drawing_runs(changed: np.ndarray) -> np.ndarray:
    """Run lengths (frames per drawing) of a shot whose pair ``k`` (frame ``k`` -> ``k + 1``) changed."""
    n = len(changed) + 1
    starts = np.concatenate([[0], np.flatnonzero(changed) + 1, [n]])
    return np.diff(starts)


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
    # a drawing held for twice the cadence (or a missed change) is consistent with it: 4 and 6 on twos, 6 on
    # threes; on ones only single frames count
    step = {"ones": 1, "twos": 2, "threes": 3}[best]
    consistent = animated == step if step == 1 else animated % step == 0
    share = round(int(animated[consistent].sum()) / anim_frames, 4)
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
    changed = pm.changed
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
