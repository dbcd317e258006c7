"""The framing expert: camera.layout from the video's bars; camera.shot_size only with a subject detector.

camera.layout is the layout score (:mod:`pipeline.scores.layout`): bars found once per video from all its
frames (black, or uniform and identical on both opposite edges), reported for every shot. It is reliable by
construction -- bars are static over the whole video -- so it votes with a high confidence, lowered when the
active picture is barely smaller than the frame (a thin bar is as likely encoder padding as a layout).

camera.shot_size needs to know how large the main subject is, i.e. a character / face detector. None that runs
here is available: the OpenCV wheel in use ships no cascade files (``cv2.data.haarcascades`` is empty, and its
real-face cascades would not fire on anime faces anyway), the ``animeface`` wheel (nvxs, model compiled in)
returns no face even on a clean frontal anime close-up, and ``anime-face-detector`` downloads its weights
from a model hub at run time. So the expert abstains on camera.shot_size with that reason rather than
guessing; a detector can be passed in (:class:`SubjectDetector`) and is then used as described there.

Classical estimates were measured and do not clear the bar (issue #5; 69 labelled shots of known size on the
development clips, three source pictures per shot at 480 px): hard-edge density, edge density at a quarter
of that scale, skin-tone share, the height and the area of the largest skin-tone blob, the area of the three
largest flat regions and the area-weighted mean flat-region size correlate with the ordinal shot size by
Spearman |rho| <= 0.33 (skin-blob height -0.33; every other feature <= 0.19 -- a close-up's big face and a
wide shot's big sky are both large flat regions). A 5-nearest-neighbour vote on them, leave-one-clip-out, is
right on 0.28 of the shots with all seven features (0.35 for the best of the 63 subsets of one to three
features, chosen on the test folds themselves), against 0.26 for always answering the majority class (18 of
69 'medium', as many 'close_up'). Reading the largest skin-tone blob as the face (its height through
:data:`FACE_SHOT_SIZES`) is right on 4 of the 20 shots where that blob covers at least 2 % of the picture
(bodies, sand and skies are skin-toned too; Pokemon faces are not). Neither is clearly better, so nothing is
shipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from annotator.base import ExpertOutput, ShotInput

#: Confidence of a layout vote, and the smallest bar (share of the frame dimension) that keeps it.
LAYOUT_CONFIDENCE = 0.9
THIN_BAR = 0.05
THIN_BAR_CONFIDENCE = 0.6
#: Frames a detector looks at per shot, and the share of them that must show a subject for a vote.
SUBJECT_SAMPLES = 5
MIN_SUBJECT_FRAMES = 0.6
#: Main subject's box height / picture height -> shot size (the face box for face detectors).
FACE_SHOT_SIZES: tuple[tuple[float, str], ...] = (
    (0.75, "extreme_close_up"),
    (0.4, "close_up"),
    (0.2, "medium"),
    (0.1, "full"),
    (0.0, "wide"),
)
NO_DETECTOR = (
    "no character / face detector is available (OpenCV ships no cascades here, the animeface wheel finds no "
    "faces, other anime detectors download weights at run time); pass a SubjectDetector to decide shot size"
)


@runtime_checkable
class SubjectDetector(Protocol):
    """Finds the main subject's face in one RGB picture: ``(x, y, w, h, score)`` boxes in its pixels."""

    name: str

    def detect(self, image: np.ndarray) -> Sequence[tuple[int, int, int, int, float]]: ...


def shot_size_from_face(height_share: float) -> str:
    """Shot size from the largest face's height as a share of the picture height."""
    for lower, size in FACE_SHOT_SIZES:
        if height_share >= lower:
            return size
    return "wide"


class FramingExpert:
    """camera.layout from the layout score; camera.shot_size from a subject detector when one is given."""

    name = "framing"
    fields = ("camera.layout", "camera.shot_size")

    def __init__(self, priority: int = 1, detector: SubjectDetector | None = None) -> None:
        self.priority = priority
        self.detector = detector

    def annotate(self, shot: ShotInput) -> ExpertOutput:
        out = ExpertOutput()
        self._layout(shot, out)
        self._shot_size(shot, out)
        return out

    def _layout(self, shot: ShotInput, out: ExpertOutput) -> None:
        lay = shot.view.layout
        tw, th = lay.thumb_size
        if tw == 0 or th == 0:
            out.abstain("camera.layout", self.name, "no frames to find bars in")
            return
        bars_v = (th - (lay.bottom - lay.top)) / th
        bars_h = (tw - (lay.right - lay.left)) / tw
        conf = LAYOUT_CONFIDENCE
        if lay.layout != "full" and max(bars_v, bars_h) < THIN_BAR:
            conf = THIN_BAR_CONFIDENCE
        out.vote(
            "camera.layout",
            lay.layout,
            conf,
            self.name,
            active_fraction=lay.active_fraction,
            bar_rows=bars_v,
            bar_cols=bars_h,
        )

    def _shot_size(self, shot: ShotInput, out: ExpertOutput) -> None:
        if self.detector is None:
            out.abstain("camera.shot_size", self.name, NO_DETECTOR)
            return
        view = shot.view
        pictures = view.picture
        shares: list[float] = []
        idx = view.sample(SUBJECT_SAMPLES)
        for i in idx:
            image = pictures[i]
            boxes = [b for b in self.detector.detect(image) if b[3] > 0]
            if boxes:
                shares.append(max(b[3] for b in boxes) / image.shape[0])
        if len(shares) < MIN_SUBJECT_FRAMES * len(idx):
            out.abstain(
                "camera.shot_size",
                self.name,
                f"{self.detector.name} found a face in {len(shares)} of {len(idx)} sampled frames",
            )
            return
        share = float(np.median(shares))
        sizes = {shot_size_from_face(s) for s in shares}
        conf = 0.75 if len(sizes) == 1 else 0.55
        out.vote("camera.shot_size", shot_size_from_face(share), conf, self.name, face_height=share)
