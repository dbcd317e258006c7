"""The timing expert: motion.timing (ones / twos / threes / held / mixed) and motion.intensity.

Drawing changes are separated from camera moves by :mod:`pipeline.scores.motion` (every consecutive pair of
the shot's active picture is compared after compensating the global motion, so a pan over a held cel is not a
new drawing); :func:`pipeline.scores.timing.shot_cadence` turns the resulting run lengths (frames per drawing)
into a cadence, with the rules that look at the picture (slow push-ins on held drawings, drawings hidden under
a moving camera's floor, 2-5 frame shots). When the scoring stage already ran (``ShotInput.scores``), its
cadence and subject motion -- computed by the same functions -- are reused and the pair analysis is not
recomputed; otherwise the expert analyses the shot's :attr:`ShotView.pairs`.

Confidence comes from how clearly the runs support the answer: the share of the animated frames in the
dominant cadence for ones / twos / threes, the share of the shot covered by holds for ``held`` and ``mixed``;
0.5 for a 2-5 frame shot read from what changed. The expert abstains, with the reason, on: stored frame rates
far above 24 fps (telecined or 60 fps files show pulldown runs of 2 and 3 for one drawing); shots too short or
with too few changes to tell; and shots that read as ones because a full-frame layer (fire, an eruption, a
glare) changes on every frame over a mostly still camera (:func:`full_frame_layer`): effects are animated on
ones over characters on twos or threes, and the character's own drawings cannot be told apart under the layer.
The timing tag follows the label schema (the main subject's drawings, not effects or camera); the ``cadence``
score stays the picture's cadence.

motion.intensity is the mean residual (subject) optical flow of the drawing changes in picture widths per
second, over the whole shot (holds count as no motion): ``still`` when nothing was redrawn, then ``subtle``,
``moderate``, ``intense``, ``extreme`` at the ``INTENSITY_BOUNDS``. The bounds are set on the synthetic
characters' gestures and the labelled clips' notes; no label measures intensity, so it is reported with a
lower confidence.

Measured (``anicurate eval caption``, tests/corpus/test_caption_corpus.py): motion.timing 0.855 accuracy over
the answered shots of ../shared/footage at 0.945 coverage (0.808 counting abstentions as wrong); 0.95-1.0 on
synthetic footage. In a 3DCG video (the style expert's video-level medium) a shot read as ``mixed`` is tagged
``ones`` (:func:`rendered_ones`: three Sintel shots). Most misses left are what the picture's changes cannot
show: 3DCG shots read as held (a shaman talking and a tiny figure on a dune, under camera drift) and motion
graphics labelled ``ones`` where smooth keyframed motion is compensated as camera motion (read as mixed; a 2D
pan over a held cel looks the same, and no statistic tells motion graphics from cel), and effects over a
character that do not fill the frame (read as ``ones``, labelled ``mixed`` or by the character's cadence).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from annotator.base import ExpertOutput, ShotInput
from pipeline.scores.motion import MARGIN, NOISE_FLOOR, PairMotion, _block_means
from pipeline.scores.timing import MIN_FRAMES, hold_min_frames, shot_cadence

if TYPE_CHECKING:
    from annotator.source_frames import PictureRequest

#: Highest stored frame rate whose runs are read as drawings on a 24 fps base (25 fps PAL, 30 fps NTSC video).
MAX_FPS = 31.0
#: Boundaries (picture widths per second of subject motion) between subtle / moderate / intense / extreme.
INTENSITY_BOUNDS = (0.02, 0.08, 0.25, 0.6)
INTENSITY_VALUES = ("subtle", "moderate", "intense", "extreme")


#: A full-frame layer (fire, an eruption, a glare) redrawn on every frame over a mostly still camera: the
#: share of the picture's blocks that change on the median pair and on the lower-quartile pair, and the
#: largest share of camera-moving pairs (a camera move changes the whole uncompensated picture by itself).
FULL_FRAME_MEDIAN = 0.78
FULL_FRAME_LOW = 0.7
FULL_FRAME_MOVING = 0.4
#: Confidence of ``ones`` given to a shot read as ``mixed`` in a 3DCG video (:func:`rendered_ones`).
RENDERED_ONES_CONFIDENCE = 0.6


@dataclass(frozen=True)
class TimingVerdict:
    """The timing expert's reading of one shot: a cadence and intensity, or the reason it has none."""

    timing: str | None
    timing_confidence: float
    intensity: str | None
    intensity_confidence: float
    reason: str
    evidence: dict[str, float]


def intensity_class(subject_widths_per_s: float, changes: int) -> str:
    if changes == 0:
        return "still"
    for bound, value in zip(INTENSITY_BOUNDS, INTENSITY_VALUES, strict=False):
        if subject_widths_per_s < bound:
            return value
    return INTENSITY_VALUES[-1]


def changed_picture_share(gray: np.ndarray, noise_floor: float = NOISE_FLOOR) -> tuple[float, float]:
    """``(median, lower quartile)`` over the consecutive pairs that change of the share of the picture's 4x4
    blocks that change (uncompensated block change at the noise floor); ``(0, 0)`` when nothing changes."""
    if len(gray) < 2:
        return 0.0, 0.0
    h, w = int(gray.shape[1]), int(gray.shape[2])
    inner = (slice(MARGIN, h - MARGIN), slice(MARGIN, w - MARGIN))
    shares = np.array(
        [
            float((_block_means(np.abs(gray[k + 1] - gray[k])[inner]) >= noise_floor).mean())
            for k in range(len(gray) - 1)
        ]
    )
    shares = shares[shares > 0]
    if len(shares) == 0:
        return 0.0, 0.0
    return float(np.median(shares)), float(np.quantile(shares, 0.25))


def full_frame_layer(gray: np.ndarray, moving_share: float, noise_floor: float = NOISE_FLOOR) -> str:
    """Why a shot read as ones is not tagged (or "" when it is).

    Nearly the whole picture changes on nearly every pair under a mostly still camera: a full-frame layer
    (fire, an eruption, a glare) is redrawn on every frame. Such effects are animated on ones over characters
    on twos or threes, and the character's own drawing changes are hidden under the layer's, so the
    character's cadence cannot be told."""
    if moving_share > FULL_FRAME_MOVING:
        return ""
    median, low = changed_picture_share(gray, noise_floor)
    if median >= FULL_FRAME_MEDIAN and low >= FULL_FRAME_LOW:
        return (
            f"a full-frame layer changes on every frame ({median:.2f} of the picture on the median pair): "
            "the character's own cadence is hidden under it"
        )
    return ""


def classify_timing(
    pm: PairMotion, fps: float, noise_floor: float = NOISE_FLOOR, gray: np.ndarray | None = None
) -> TimingVerdict:
    """Cadence and intensity of one shot from its pair analysis."""
    n = len(pm) + 1
    if len(pm) == 0:
        return TimingVerdict(None, 0.0, None, 0.0, "a one-frame shot has no timing", {})
    reading = shot_cadence(pm, fps, noise_floor, gray)
    changed, runs = reading.changed, reading.runs
    hold = hold_min_frames(fps)
    return timing_verdict(
        reading.cadence,
        reading.share,
        changes=int(changed.sum()),
        frames=n,
        fps=fps,
        subject=float(pm.subject.mean()) * (fps or 24.0) / max(pm.width, 1),
        hold_share=float(runs[runs >= hold].sum()) / n,
        moving_share=float(pm.moved.mean()),
        note=reading.note,
        gray=gray,
        noise_floor=noise_floor,
    )


def timing_verdict(
    cadence: str,
    share: float | None,
    changes: int,
    frames: int,
    fps: float,
    subject: float,
    hold_share: float | None,
    moving_share: float,
    note: str = "",
    gray: np.ndarray | None = None,
    noise_floor: float = NOISE_FLOOR,
) -> TimingVerdict:
    """The verdict from a cadence (:func:`pipeline.scores.timing.shot_cadence`) and its measurements:
    ``subject`` in picture widths per second, ``hold_share`` the share of the shot in holds (None: unknown);
    ``gray`` (the shot's gray frames) lets a reading of ones be checked for a full-frame effect layer."""
    evidence = {
        "frames": float(frames),
        "drawing_changes": float(changes),
        "cadence_share": float(share) if share is not None else -1.0,
        "camera_moving_share": moving_share,
        "subject_widths_per_s": subject,
    }
    if hold_share is not None:
        evidence["hold_share"] = hold_share
    intensity = intensity_class(subject, changes)
    # intensity: no label measures it; moderate confidence, lower near a class boundary
    if changes == 0:
        i_conf = 0.8
    else:
        nearest = min(abs(float(np.log(max(subject, 1e-6) / b))) for b in INTENSITY_BOUNDS)
        i_conf = 0.55 + 0.25 * min(1.0, nearest / 0.7)
    if fps and fps > MAX_FPS:
        return TimingVerdict(
            None,
            0.0,
            intensity,
            i_conf,
            f"stored at {fps:.1f} fps: pulldown repeats hide the 24 fps drawing cadence",
            evidence,
        )
    if cadence == "ones" and gray is not None:
        layer = full_frame_layer(gray, moving_share, noise_floor)
        if layer:
            return TimingVerdict(None, 0.0, intensity, i_conf, layer, evidence)
    if cadence == "unknown":
        reason = (
            f"shot of {frames} frames is shorter than {MIN_FRAMES}"
            if frames < MIN_FRAMES
            else "too few drawing changes to tell a cadence"
        )
        return TimingVerdict(None, 0.0, intensity, i_conf, reason, evidence)
    if frames < MIN_FRAMES and changes > 0:
        # a short shot read from what changed, not from counted runs (timing.short_shot_cadence)
        conf = 0.5
    elif cadence == "held":
        conf = 0.9 if changes == 0 else 0.75
    elif cadence == "mixed":
        conf = 0.6 + 0.3 * max(hold_share or 0.0, 1.0 - (share if share is not None else 0.7))
    else:
        conf = 0.55 + 0.4 * float(share or 0.0)
    return TimingVerdict(cadence, min(conf, 0.95), intensity, i_conf, note, evidence)


def rendered_ones(verdict: TimingVerdict, video_medium: str | None) -> TimingVerdict:
    """``verdict`` with the 3DCG prior applied: in a video whose medium is 3DCG (the style expert's
    video-level rule, :func:`annotator.style.video_medium`) a shot read as ``mixed`` is ``ones``. A renderer
    draws a new picture on every frame while anything moves (``held`` stays held: nothing moved); the runs of
    holds inside its motion are changes too small for the 128 px thumbs (a slow drift, a face barely moving),
    not held drawings, which 3DCG does not have. Other readings are kept: a 3DCG shot on twos is stylised
    deliberately (and every picture shown twice is read as twos), and ``ones`` is already ones. A cel shot
    inside a 3DCG-like video would get the prior too; the video rule needs no cel picture among its 16, so
    such a video is all but free of them."""
    if verdict.timing != "mixed" or video_medium != "3dcg":
        return verdict
    return replace(
        verdict,
        timing="ones",
        timing_confidence=RENDERED_ONES_CONFIDENCE,
        reason="read as mixed in a 3DCG video: rendered motion is on ones, its holds are too small to see",
        evidence={**verdict.evidence, "video_3dcg": 1.0},
    )


class TimingExpert:
    """motion.timing and motion.intensity from the motion-compensated drawing changes (module docstring)."""

    name = "timing"
    fields = ("motion.timing", "motion.intensity")
    priority = 1

    def read(self, shot: ShotInput) -> TimingVerdict:
        """The shot's verdict (:meth:`read_shot`) with the 3DCG prior of its video (:func:`rendered_ones`)."""
        verdict = self.read_shot(shot)
        if verdict.timing != "mixed":
            return verdict
        from annotator.style import video_medium

        video = video_medium(shot)
        return rendered_ones(verdict, video.medium if video is not None else None)

    def pictures_wanted(self, shot: ShotInput) -> list[PictureRequest]:
        """The source pictures the 3DCG prior may read (the style expert's video-level pictures): none when
        the scoring stage already read the shot as something other than mixed."""
        sc = shot.scores
        if sc is not None and sc.cadence is not None and sc.cadence != "mixed":
            return []
        from annotator.source_frames import PictureRequest
        from annotator.style import SOURCE_WIDTH, video_pts

        return [PictureRequest(SOURCE_WIDTH, tuple(video_pts(shot.frames)))]

    def read_shot(self, shot: ShotInput) -> TimingVerdict:
        """The verdict from the shot's own frames (or its scores), without the video's medium."""
        sc = shot.scores
        if sc is not None and sc.cadence is not None and sc.drawing_changes is not None:
            # the scoring stage ran the same pair analysis and cadence rules: reuse them
            fps = float(shot.frames.fps) if shot.frames.fps else 0.0
            return timing_verdict(
                sc.cadence,
                sc.cadence_share,
                changes=int(sc.drawing_changes),
                frames=shot.end - shot.start + 1,
                fps=fps,
                subject=float(sc.subject_motion or 0.0),
                hold_share=None,
                moving_share=float(sc.camera_moving_share or 0.0),
                gray=shot.view.gray if sc.cadence == "ones" else None,
                noise_floor=shot.ctx.noise_floor if shot.ctx.noise_floor is not None else NOISE_FLOOR,
            )
        view = shot.view
        floor = shot.ctx.noise_floor if shot.ctx.noise_floor is not None else NOISE_FLOOR
        return classify_timing(view.pairs, view.fps, floor, view.gray)

    def annotate(self, shot: ShotInput) -> ExpertOutput:
        out = ExpertOutput()
        v = self.read(shot)
        ev = {k: round(x, 4) for k, x in v.evidence.items()}
        if v.timing is None:
            out.abstain("motion.timing", self.name, v.reason)
        else:
            out.vote("motion.timing", v.timing, round(v.timing_confidence, 4), self.name, **ev)
        if v.intensity is None:
            out.abstain("motion.intensity", self.name, v.reason)
        else:
            out.vote("motion.intensity", v.intensity, round(v.intensity_confidence, 4), self.name, **ev)
        return out
