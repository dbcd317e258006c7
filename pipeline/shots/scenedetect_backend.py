"""Shot detectors backed by PySceneDetect 0.7 (``scenedetect``), fed the shared analysis frames.

PySceneDetect never decodes here: each detector instance is created afresh per clip and driven through
its own ``SceneDetector.process_frame(FrameTimecode, bgr_image)`` / ``post_process(FrameTimecode)`` API,
with ``FrameTimecode(i, fps)`` for the 0-based decoded index ``i`` -- so its cut frames are exactly the
label's frame indices (``SceneManager`` with a video backend derives positions from timestamps instead).
A cut it reports is the first frame of the new scene. ``min_scene_len`` given as an ``int`` is in frames
(15 by default); a ``float`` is in seconds and uses the clip's frame rate.

Resolution: ``SceneManager`` decodes at full size and, for a W-wide video, ``cv2.resize``s by W/256
(INTER_LINEAR) to 256 px wide; here the detectors see ``AnalysisFrames.thumb`` (128 px wide, scaled by
libswscale during YUV->RGB). With the default weights both detectors score mean absolute HSV differences
only (the edge component has weight 0 and is not computed), so size barely matters, but borderline frames
can flip. Measured on the 28 labelled clips (5,868 frames, 46 boundaries), AdaptiveDetector() with its own
decode and with the thumbs agree on every cut frame (no offset) except five, in three clips: on thumbs it
gains Sintel's cuts into and out of near-black frames (libswscale tints them slightly, which lifts the
saturation difference over ``min_content_val``) and fires on another frame of one fade, loses one false
positive and gains another -- P/R 0.714/0.543 on thumbs against 0.697/0.500 (exactly the README reference)
with its own decode. 256 px thumbs give 0.706/0.522, flipping other borderline frames. Feeding it INTER_AREA
128 px downscales of the full-size frames reproduces its own result on two of the three clips (the third
sits at an adaptive ratio of 2.9-3.3 against a threshold of 3.0 whatever the scaling), so the pixel
pipeline matters more than the size. Details in
``tests/corpus/test_scenedetect_baseline.py``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, ClassVar

import numpy as np
from scenedetect import FrameTimecode
from scenedetect.detector import SceneDetector
from scenedetect.detectors import AdaptiveDetector, ContentDetector

from pipeline.frames import AnalysisFrames
from pipeline.shots.base import ShotBoundaries

#: Frame rate assumed when a clip reports none (only matters for a ``min_scene_len`` given in seconds).
FALLBACK_FPS = Fraction(24)


class _SceneDetectBackend:
    name: ClassVar[str]
    _detector_class: ClassVar[type[SceneDetector]]

    def __init__(self, **params: Any) -> None:
        self.params = dict(params)
        self._make()  # fail now, not on the first clip, when a parameter is wrong

    def _make(self) -> SceneDetector:
        return self._detector_class(**self.params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    def detect(self, frames: AnalysisFrames) -> ShotBoundaries:
        n = len(frames)
        extra: dict[str, object] = {"params": dict(self.params), "size": tuple(frames.thumb.shape[2:0:-1])}
        if n == 0:
            return ShotBoundaries(frames=0, detector=self.name, extra=extra)
        fps = Fraction(frames.fps) if frames.fps and frames.fps > 0 else FALLBACK_FPS
        detector = self._make()  # detectors keep state between frames: a fresh one per clip
        bgr = np.ascontiguousarray(
            frames.thumb[..., ::-1]
        )  # analysis frames are RGB, PySceneDetect wants BGR
        found: list[FrameTimecode] = []
        for i in range(n):
            found += detector.process_frame(FrameTimecode(i, fps=fps), bgr[i])
        found += detector.post_process(FrameTimecode(n - 1, fps=fps))
        cuts = sorted({int(tc.frame_num) for tc in found} & set(range(1, n)))
        return ShotBoundaries(frames=n, cuts=tuple(cuts), detector=self.name, extra=extra)


class AdaptiveSceneDetector(_SceneDetectBackend):
    """``scenedetect.detectors.AdaptiveDetector`` (rolling-average content threshold); keyword arguments
    override its defaults (adaptive_threshold=3.0, min_scene_len=15, window_width=2, min_content_val=15.0)."""

    name: ClassVar[str] = "pyscenedetect-adaptive"
    _detector_class = AdaptiveDetector


class ContentSceneDetector(_SceneDetectBackend):
    """``scenedetect.detectors.ContentDetector`` (fixed HSV-difference threshold); keyword arguments override
    its defaults (threshold=27.0, min_scene_len=15, flash-filter mode MERGE)."""

    name: ClassVar[str] = "pyscenedetect-content"
    _detector_class = ContentDetector
