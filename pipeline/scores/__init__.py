"""Per-shot scores computed from the shared low-resolution analysis frames (no second decode).

One module per concern, each registering small scorer functions by name (:mod:`.registry`):

* :mod:`.layout` -- letterbox / pillarbox / windowbox bars and the active picture;
* :mod:`.quality` -- duration, resolution, sharpness and blockiness proxies, brightness, contrast,
  colourfulness, black / blank frames;
* :mod:`.motion` -- camera (global) and subject (residual optical flow) motion, and the frame-pair analysis
  (motion-compensated drawing changes) that :mod:`.timing` builds on;
* :mod:`.timing` -- held frames, dominant cadence (ones / twos / threes / held / mixed), still image, slideshow;
* :mod:`.text` -- burnt-in text (subtitle, watermark, title card, credits) with area and position;
* :mod:`.aesthetic` -- CLIP embedding + MLP head score when weights are configured (else null).

``score_shot(frames, start, end, ctx)`` returns one :class:`ShotScores` row of the ``scores`` table;
:mod:`pipeline.filters` turns rows into kept / rejected shots and tiers.
"""

from pipeline.scores.record import ID_COLUMNS, ShotScores
from pipeline.scores.registry import (
    SCORERS,
    ScoreContext,
    Scorer,
    ShotView,
    load_builtin_scorers,
    register,
    score_shot,
    score_shots,
    scorer_names,
    shot_id,
)

__all__ = [
    "ID_COLUMNS",
    "SCORERS",
    "ScoreContext",
    "Scorer",
    "ShotScores",
    "ShotView",
    "load_builtin_scorers",
    "register",
    "score_shot",
    "score_shots",
    "scorer_names",
    "shot_id",
]
