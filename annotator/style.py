"""The style expert: style.medium = 2d_cel from one physical property, flat colour.

Cel animation paints each region in one flat colour (plus one or two hard-edged shadow tones), so inside the
regions the luma gradient is zero up to noise; a 3D renderer shades every surface continuously and textures
it, so hardly any part of a 3DCG picture is flat. The expert measures that *flat share* twice, only on lit
pixels (``LIT_LUMA`` .. ``CLIP_LUMA``: crushed shadows and blown-out highlights are flat in any medium):

* **per shot**, on the 128 px analysis thumbs of the active picture: the share of lit pixels whose Sobel luma
  gradient is below ``FLAT_GRADIENT``, median over up to ``SAMPLES`` non-plain frames;
* **per video**, on the decode's larger luma stills (``decode_analysis_frames(stills=...)``, 512 px wide,
  spread over the video; :meth:`annotator.caption.AniCaption.annotate_video` keeps them): the share of lit
  *region interiors* (pixels away from edges, after a 3x3 median against grain) whose gradient is below
  ``STILL_FLAT_GRADIENT`` -- at 512 px the fills of detailed cel drawings are resolved, which the thumbs blur
  into their outlines.

Measured on the labelled development clips and 10 synthetic videos (see the report of issue #5 and
``tests/corpus/test_picture_experts_corpus.py``):

* per shot (thumbs): the 14 measurable 3DCG shots reach 0.33 (Sintel's foggy opening; the next 0.18), the
  flattest cel shots 0.35-0.46, but most cel shots are as low as 3DCG: the band ``[CEL_MIN, CEL_MAX]`` votes
  on about one real 2D shot in seven and no 3DCG shot;
* per video (stills): the three 3DCG clips reach 0.079 / 0.142 / 0.245, 20 of the 25 2D clips are above
  ``VIDEO_CEL_MIN`` = 0.33 (the others: Vinland 0.14, Blast Burn 0.19, both Gojo clips ~0.29-0.30,
  Pokemon's "I choose you" 0.31); the motion-graphics clip is as flat as cel (0.76) and is voted 2d_cel --
  flat vector graphics are not told apart by flatness. A video-level vote assumes one medium per video
  (a 3D insert in a cel episode gets the episode's vote), so it is the less sure one.

The expert never votes ``3dcg``: low flatness is shared by 3DCG and detailed, grainy or effects-heavy cel.
Western 2D cartoons are flat-filled too and are voted ``2d_cel`` (a tradition is beyond pixel statistics).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from annotator.base import ExpertOutput, ShotInput

if TYPE_CHECKING:
    from pipeline.frames import AnalysisFrames
    from pipeline.scores.layout import Layout

#: Gradient (luma levels per pixel, Sobel / 8) below which a thumb pixel is flat: above compression noise,
#: below the rendered shading of a lit surface at thumb scale.
FLAT_GRADIENT = 1.0
#: Per-shot flat-share band voted 2d_cel (thumbs); see the module docstring for the measured margins.
CEL_MIN = 0.35
CEL_MAX = 0.6
#: Frames sampled per shot, and the luma std below which a frame is plain (no style to measure).
SAMPLES = 8
PLAIN_STD = 8.0
#: Only lit pixels count; a picture less than ``MIN_LIT`` lit is too dark to judge.
LIT_LUMA = 40.0
CLIP_LUMA = 235.0
MIN_LIT = 0.3
#: Stills: an edge is a gradient >= STILL_EDGE (dilated 5x5, excluded); a flat interior pixel has a gradient
#: below STILL_FLAT_GRADIENT; a still needs MIN_INTERIOR of its picture inside regions, a video MIN_STILLS
#: such stills.
STILL_EDGE = 8.0
STILL_FLAT_GRADIENT = 0.5
MIN_INTERIOR = 0.05
MIN_STILLS = 4
#: Per-video (stills) flat share from which every shot of the video is voted 2d_cel, and that vote's
#: confidence (below a shot-level vote's: the video may mix media).
VIDEO_CEL_MIN = 0.33
VIDEO_CONFIDENCE = 0.6
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class StyleStats:
    """The shot's picture statistics: median flat share and how many frames it rests on."""

    flat_share: float
    frames: int


def _gradient(g: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    return np.hypot(gx, gy)


def flat_share(gray: np.ndarray) -> float | None:
    """Share of the lit pixels (``LIT_LUMA`` <= luma <= ``CLIP_LUMA``) of one (h, w) luma thumb whose Sobel
    gradient is below ``FLAT_GRADIENT``; ``None`` when less than ``MIN_LIT`` of the picture is lit."""
    g = np.ascontiguousarray(gray, np.float32)
    mag = _gradient(g)[1:-1, 1:-1]
    core = g[1:-1, 1:-1]
    lit = (core >= LIT_LUMA) & (core <= CLIP_LUMA)
    if not mag.size or float(lit.mean()) < MIN_LIT:
        return None
    return float((mag[lit] < FLAT_GRADIENT).mean())


def interior_flat_share(still: np.ndarray) -> float | None:
    """Share of the lit region-interior pixels of one (H, W) uint8 luma still that are flat (see the module
    docstring); ``None`` for a plain still or one with too little interior."""
    if float(still.std()) < PLAIN_STD:
        return None
    g = cv2.medianBlur(np.ascontiguousarray(still, np.uint8), 3).astype(np.float32)
    mag = _gradient(g)
    edge = cv2.dilate((mag >= STILL_EDGE).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    interior = ~edge & (g >= LIT_LUMA) & (g <= CLIP_LUMA)
    if float(interior.mean()) < MIN_INTERIOR:
        return None
    return float((mag[interior] < STILL_FLAT_GRADIENT).mean())


def style_stats(shot: ShotInput) -> StyleStats | None:
    """Flat share of the shot's non-plain, lit sampled thumbs; ``None`` when no sampled frame qualifies."""
    view = shot.view
    gray = view.gray
    shares = [flat_share(gray[i]) for i in view.sample(SAMPLES) if float(gray[i].std()) >= PLAIN_STD]
    shares = [s for s in shares if s is not None]
    if not shares:
        return None
    return StyleStats(float(np.median(shares)), len(shares))


def video_style_stats(frames: AnalysisFrames, layout: Layout) -> StyleStats | None:
    """Flat share of the video's stills (active picture); ``None`` without stills or with too few usable."""
    if frames.stills is None or len(frames.stills) == 0:
        return None
    from pipeline.scores.text import still_picture

    shares = [interior_flat_share(s) for s in still_picture(frames.stills, layout)]
    shares = [s for s in shares if s is not None]
    if len(shares) < MIN_STILLS:
        return None
    return StyleStats(float(np.median(shares)), len(shares))


class StyleExpert:
    """Votes style.medium = 2d_cel on flat-filled pictures; abstains where flatness cannot tell."""

    name = "style"
    fields = ("style.medium",)

    def __init__(self, priority: int = 0) -> None:
        self.priority = priority

    def annotate(self, shot: ShotInput) -> ExpertOutput:
        out = ExpertOutput()
        stats = style_stats(shot)
        video = shot.ctx.video_cached(
            shot.frames, "style.video", lambda: video_style_stats(shot.frames, shot.view.layout)
        )
        reasons: list[str] = []
        if stats is None:
            reasons.append("every sampled frame is plain or dark")
        elif stats.flat_share < CEL_MIN:
            reasons.append(
                f"flat share {stats.flat_share:.2f} < {CEL_MIN}: detailed cel and 3DCG both look like this"
            )
        elif stats.flat_share > CEL_MAX:
            reasons.append(
                f"flat share {stats.flat_share:.2f} > {CEL_MAX}: cel, motion graphics or flat design"
            )
        else:
            # surer the further inside the band (0.6 at an edge, 0.9 at the centre)
            centre, half = (CEL_MIN + CEL_MAX) / 2, (CEL_MAX - CEL_MIN) / 2
            conf = 0.9 - 0.3 * abs(stats.flat_share - centre) / half
            out.vote(
                "style.medium", "2d_cel", conf, self.name, flat_share=stats.flat_share, frames=stats.frames
            )
            return out
        if video is not None and video.flat_share >= VIDEO_CEL_MIN:
            out.vote(
                "style.medium",
                "2d_cel",
                VIDEO_CONFIDENCE,
                self.name,
                video_flat_share=video.flat_share,
                stills=video.frames,
            )
            return out
        if video is None:
            reasons.append("no stills to measure the video's fills")
        else:
            reasons.append(f"video fills flat share {video.flat_share:.2f} < {VIDEO_CEL_MIN}")
        out.abstain("style.medium", self.name, "; ".join(reasons))
        return out
