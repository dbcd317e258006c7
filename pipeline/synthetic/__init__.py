"""Synthetic cel-style anime footage with exact frame-level ground truth.

``generate_footage(out_dir, videos, seed, config=None, progress=None)`` writes, for ``synth_000`` ... :

* ``<name>.mp4``: H.264 (libx264, fixed CRF/preset, one encoder thread), yuv420p, constant frame rate
  (pts = frame index, default 24000/1001), exactly ``config.frames`` frames;
* ``labels/<name>.json``: the footage label schema (:mod:`pipeline.footage_labels`), style ``jp_cel_tv``;
* ``duplicates.json``: pairs of videos sharing the reused opening, with ``a_frames`` / ``b_frames`` spans;
* ``synth.json``: generator version, seed, config, coverage and per-shot render details (pan px/frame, zoom
  ratio/frame, drawing start frames, flash spans, subtitle text, per-shot seed).

Ground-truth conventions (what a detector or tagger can rely on):

* cuts: first frame of the new shot. Transitions span from the first frame that differs from shot A to the last
  frame before shot B is clean; the shots exclude them; shots + transitions cover every frame exactly once.
  dissolve: A and B (both still moving) cross-blend; fade_black / fade_white: A fades to the flat colour
  (its last out-frame is pure colour), 0-3 pure colour frames, B fades in; flash_cut: one frame of A at 65% white,
  1-3 pure white frames, one frame of B at 55% white.
* in-shot flashes (the same shot continues, same camera path and drawings): ``white_flash`` = picture blended
  >= 80% to white (first frame pure white), shot vfx "flash"; ``inversion`` = colour negative; ``impact_frame`` =
  two-tone black/white picture; both of the latter give shot vfx "impact_frame". Flashes and fades touch the
  picture area only: layout bars stay black, the watermark stays on top, burnt-in subtitles stay on top of flashes.
* camera: pan_left = the window moves left, content slides right (1.5-6 px/frame at 640 px wide); tilt_up =
  content slides down (1.5-4 px/frame); zoom_in = content grows about the frame centre (x1.005-1.012 per frame,
  at most x2 over a shot); shake = alternating-sign jitter of 3-8 px; static = bit-identical background.
* timing: drawing index = frame // step (1, 2, 3), "held" = one drawing, "mixed" = 2-3 segments of different
  steps. Consecutive drawings always differ (8-drawing pose cycle + mouth flap), frames within a drawing differ
  only by the camera move. Speed lines are redrawn with each drawing.
"""

from .config import GENERATOR_VERSION, ReusedSegment, SynthConfig, SynthManifest, SynthVideo, active_box
from .generate import build_label, generate_footage
from .plan import FootagePlan, ShotSpec, VideoPlan, plan_footage

__all__ = [
    "GENERATOR_VERSION",
    "FootagePlan",
    "ReusedSegment",
    "ShotSpec",
    "SynthConfig",
    "SynthManifest",
    "SynthVideo",
    "VideoPlan",
    "active_box",
    "build_label",
    "generate_footage",
    "plan_footage",
]
