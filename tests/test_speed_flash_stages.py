"""The vfx expert reuses the shot detector's flash stages (flat runs, excursions) when the detector just ran
on the same frames: the same flashes as running the stages itself, and no reuse across other signals or
configs."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import pytest

from annotator.vfx import find_video_flashes
from pipeline.frames import TINY_SIZE, AnalysisFrames
from pipeline.shots import anime
from pipeline.shots.anime import AnimeShotDetector, forget_flash_stages
from pipeline.shots.signals import compute_signals, forget_signals
from pipeline.shots.transnet import TransNetPredictions


def _picture(t: int, seed: int, w: int = 128, h: int = 72) -> np.ndarray:
    """Flat fills with outlines and a disc moving on twos (a cel-like picture)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (120, 170, 230)
    img[h * 2 // 3 :] = (90, 140, 70)
    for _ in range(150):
        x, y = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 8))
        sw, sh = int(rng.integers(4, 16)), int(rng.integers(4, 14))
        colour = tuple(int(c) for c in rng.integers(60, 250, 3))
        cv2.rectangle(img, (x, y), (x + sw, y + sh), colour, -1)
        cv2.rectangle(img, (x, y), (x + sw, y + sh), (20, 20, 30), 1)
    cv2.circle(img, (30 + 4 * (t // 2), 40), 12, (240, 200, 170), -1)
    return img


@pytest.fixture(scope="module")
def frames() -> AnalysisFrames:
    """Shot 1 (0-59) with an inverted frame at 20, a two-frame white flash at 30-31 and a darkened frame at
    45; a cut to shot 2 at 60."""
    images = [_picture(t, 3) for t in range(60)] + [_picture(t, 11)[:, ::-1] for t in range(40)]
    images[20] = 255 - images[20]
    images[30] = np.full_like(images[30], 250)
    images[31] = np.full_like(images[31], 248)
    images[45] = (images[45] * 0.4).astype(np.uint8)
    thumb = np.ascontiguousarray(np.stack(images))
    tiny = np.stack([cv2.resize(t, TINY_SIZE, interpolation=cv2.INTER_AREA) for t in thumb])
    pts = np.arange(len(thumb), dtype=np.int64) * 1001
    return AnalysisFrames(
        "synthetic.mp4", Fraction(24000, 1001), Fraction(1, 24000), (640, 360), pts, thumb, tiny
    )


def _no_network(tiny: np.ndarray, windows: list[int] | None) -> TransNetPredictions:
    """Stands in for TransNetV2 (only the cheap stages matter here): no boundary anywhere."""
    n = len(tiny)
    return TransNetPredictions(np.zeros(n, np.float32), np.zeros(n, np.float32))


def _fresh(frames: AnalysisFrames):
    forget_flash_stages()
    forget_signals()
    return find_video_flashes(frames)


def test_vfx_after_detection_equals_its_own_run(frames: AnalysisFrames) -> None:
    expected = _fresh(frames)
    assert {e.span.start for e in expected.events} >= {20, 30}  # the test video does have flashes
    detector = AnimeShotDetector(predictor=_no_network)
    detector.detect(frames)
    remembered = anime._LAST_FLASH_STAGES[0]
    sig = compute_signals(frames.thumb)
    assert remembered.sig is sig
    # the expert's call is served from the detector's run ...
    assert AnimeShotDetector().flash_stages(sig, float(frames.fps)) is remembered
    got = find_video_flashes(frames)
    # ... and gives what the expert finds on its own
    assert got == expected
    forget_flash_stages()
    forget_signals()


def test_stages_equal_a_recomputation(frames: AnalysisFrames) -> None:
    AnimeShotDetector(predictor=_no_network).detect(frames)
    remembered = anime._LAST_FLASH_STAGES[0]
    forget_flash_stages()
    again = AnimeShotDetector().flash_stages(remembered.sig, remembered.fps)
    assert again is not remembered
    assert again.flashes == remembered.flashes and again.flat_runs == remembered.flat_runs
    assert np.array_equal(again.claimed, remembered.claimed)
    assert remembered.flat_runs >= 1 and len(remembered.flashes) > remembered.flat_runs


def test_no_reuse_for_other_config_fps_or_signals(frames: AnalysisFrames) -> None:
    AnimeShotDetector(predictor=_no_network).detect(frames)
    remembered = anime._LAST_FLASH_STAGES[0]
    sig, fps = remembered.sig, remembered.fps
    other_config = AnimeShotDetector(flash_max_frames=1).flash_stages(sig, fps)
    assert other_config is not remembered
    assert other_config.config.flash_max_frames == 1
    assert AnimeShotDetector().flash_stages(sig, fps * 2) is not remembered
    copy = compute_signals(frames.thumb.copy())  # equal pixels, another array: other signals object
    assert copy is not sig
    assert AnimeShotDetector().flash_stages(copy, fps) is not remembered
    forget_flash_stages()
    assert AnimeShotDetector().flash_stages(sig, fps) is not remembered
    forget_signals()


def test_forget_signals_also_forgets_the_flash_stages(frames: AnalysisFrames) -> None:
    """The curate job frees a finished video's memos through ``forget_signals`` alone (without importing
    the detector module): the detector's remembered stages hold the signals, so they must go too."""
    AnimeShotDetector(predictor=_no_network).detect(frames)
    assert anime._LAST_FLASH_STAGES
    forget_signals()
    assert not anime._LAST_FLASH_STAGES
