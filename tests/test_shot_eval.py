"""Shot-boundary scoring (the SCHEMA.md matching rule) and the PySceneDetect backends, on hand-built cases."""

from __future__ import annotations

import itertools
import json
import random
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from pipeline.footage_labels import FootageLabel, ShotLabel, Span, write_label
from pipeline.frames import TINY_SIZE, AnalysisFrames, decode_analysis_frames
from pipeline.shots.base import FrameSpan, ShotBoundaries
from pipeline.shots.evaluate import (
    BoundaryScore,
    EvalReport,
    evaluate_detector,
    match_boundaries,
    score_boundaries,
)
from pipeline.shots.scenedetect_backend import AdaptiveSceneDetector, ContentSceneDetector
from tests.videos import write_video

N = 200


def label(cuts=(), transitions=(), flashes=(), frames=N, clip="clip.mp4") -> FootageLabel:
    return FootageLabel(
        clip=clip,
        frames=frames,
        cuts=tuple(cuts),
        transitions=tuple(Span(*t) for t in transitions),
        flashes=tuple(Span(*f) for f in flashes),
        shots=(ShotLabel(0, frames - 1),),  # not consulted by the scorer
        layout="full",
        style="other",
    )


def det(cuts=(), transitions=(), frames=N) -> ShotBoundaries:
    return ShotBoundaries(
        frames=frames, cuts=tuple(cuts), transitions=tuple(FrameSpan(*t) for t in transitions)
    )


def score(truth: FootageLabel, detected: ShotBoundaries) -> tuple[int, int, int]:
    s = score_boundaries(detected, truth)
    return s.tp, s.fp, s.fn


# ------------------------------------------------------------------------------------------- hard cuts


def test_exact_cut_hit():
    s = score_boundaries(det([50]), label([50]))
    assert (s.tp, s.fp, s.fn) == (1, 0, 0)
    assert s.matched == ((50, 50),)
    assert (s.precision, s.recall, s.f1) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("offset", [-1, 1])
def test_cut_off_by_one_counts(offset):
    assert score(label([50]), det([50 + offset])) == (1, 0, 0)


@pytest.mark.parametrize("offset", [-2, 2])
def test_cut_off_by_two_does_not(offset):
    s = score_boundaries(det([50 + offset]), label([50]))
    assert (s.tp, s.fp, s.fn) == (0, 1, 1)
    assert s.false_positives == (50 + offset,) and s.misses == (50,)


def test_a_miss():
    s = score_boundaries(det([]), label([30, 90]))
    assert (s.tp, s.fp, s.fn) == (0, 0, 2)
    assert s.misses == (30, 90)
    assert s.precision == 1.0 and s.recall == 0.0 and s.f1 == 0.0


def test_one_detection_cannot_match_two_cuts():
    # Cuts 2 frames apart: one detection between them is within 1 of both, but counts once.
    assert score(label([10, 12]), det([11])) == (1, 0, 1)


def test_optimal_assignment_where_greedy_fails():
    # Greedy "nearest truth first" can pair 11 with 12 and strand 13 (2 away from 10): 1 TP. Optimal: 2 TP.
    s = score_boundaries(det([11, 13]), label([10, 12]))
    assert (s.tp, s.fp, s.fn) == (2, 0, 0)
    assert s.matched == ((10, 11), (12, 13))
    # the same, mirrored, and with the detections listed out of order
    assert score(label([10, 12]), det([9, 11])) == (2, 0, 0)
    assert score(label([12, 10]), det([13, 11])) == (2, 0, 0)


def test_prefers_the_closest_pairing_among_maximum_matchings():
    # 10 and 11 are both within 1 of truth 10 and 11: the exact pairs are chosen, not the crossed ones.
    s = score_boundaries(det([10, 11]), label([10, 11]))
    assert s.matched == ((10, 10), (11, 11))


# ----------------------------------------------------------------------------------------- transitions


def test_detection_inside_transition_matches():
    s = score_boundaries(det([45]), label(transitions=[(40, 50, "dissolve")]))
    assert (s.tp, s.fp, s.fn) == (1, 0, 0)
    assert s.matched == ((FrameSpan(40, 50, "dissolve"), 45),)


@pytest.mark.parametrize("frame", [39, 40, 50, 51])
def test_detection_at_transition_edge_within_one_matches(frame):
    assert score(label(transitions=[(40, 50, "fade_black")]), det([frame])) == (1, 0, 0)


@pytest.mark.parametrize("frame", [38, 52])
def test_detection_two_outside_transition_does_not(frame):
    assert score(label(transitions=[(40, 50, "fade_black")]), det([frame])) == (0, 1, 1)


def test_two_detections_in_one_transition_are_one_tp_one_fp():
    s = score_boundaries(det([42, 47]), label(transitions=[(40, 50, "dissolve")]))
    assert (s.tp, s.fp, s.fn) == (1, 1, 0)
    assert s.fp_in_flash == 0


def test_detected_transition_span_overlapping_truth_transition_matches():
    truth = label(transitions=[(40, 50, "dissolve")])
    found = det(transitions=[(48, 70, "dissolve")])
    assert found.boundary_frames() == [59]  # its middle is 8 frames past the truth span ...
    s = score_boundaries(found, truth)
    assert (s.tp, s.fp, s.fn) == (1, 0, 0)  # ... but the spans overlap
    assert s.matched == ((FrameSpan(40, 50, "dissolve"), FrameSpan(48, 70, "dissolve")),)
    # touching the ±1 margin is enough; a gap of 2 is not
    assert score(truth, det(transitions=[(51, 60, "wipe")])) == (1, 0, 0)
    assert score(truth, det(transitions=[(52, 60, "wipe")])) == (0, 1, 1)


def test_detected_transition_covering_a_labelled_cut_matches_it():
    assert score(label([50]), det(transitions=[(46, 49, "other")])) == (1, 0, 0)
    assert score(label([50]), det(transitions=[(40, 48, "other")])) == (0, 1, 1)


# --------------------------------------------------------------------------------------------- flashes


def test_detection_inside_flash_is_false_positive():
    s = score_boundaries(det([80]), label([30], flashes=[(79, 81, "white_flash")]))
    assert (s.tp, s.fp, s.fn) == (0, 1, 1)
    assert s.fp_in_flash == 1
    assert s.false_positives == (80,)


def test_flash_exit_counts_as_in_flash_but_entry_minus_one_does_not():
    # A cut at d is the change between frames d-1 and d: at 82 it is the flash (79..81) ending.
    flash = [(79, 81, "impact_frame")]
    assert score_boundaries(det([79, 82]), label(flashes=flash)).fp_in_flash == 2
    assert score_boundaries(det([78, 83]), label(flashes=flash)).fp_in_flash == 0


def test_detection_in_a_flash_within_one_of_a_cut_may_match_the_cut():
    # The reading of the rule: flash detections are false positives only when they match nothing.
    s = score_boundaries(det([51]), label([50], flashes=[(51, 52, "white_flash")]))
    assert (s.tp, s.fp, s.fn, s.fp_in_flash) == (1, 0, 0, 0)


def test_detected_flashes_are_not_boundaries():
    found = ShotBoundaries(frames=N, flashes=(FrameSpan(79, 81, "white_flash"),))
    assert score(label(flashes=[(79, 81, "white_flash")]), found) == (0, 0, 0)


# ------------------------------------------------------------------------------------------ arithmetic


def test_precision_recall_f1_arithmetic():
    s = score_boundaries(det([10, 50, 100, 150]), label([10, 50, 101, 175, 190]))
    assert (s.tp, s.fp, s.fn) == (3, 1, 2)
    assert s.precision == pytest.approx(3 / 4)
    assert s.recall == pytest.approx(3 / 5)
    assert s.f1 == pytest.approx(2 * 0.75 * 0.6 / (0.75 + 0.6))


def test_zero_division_conventions():
    nothing = score_boundaries(det([]), label([]))
    assert (nothing.precision, nothing.recall, nothing.f1) == (1.0, 1.0, 1.0)
    only_fp = score_boundaries(det([5]), label([]))
    assert (only_fp.precision, only_fp.recall, only_fp.f1) == (0.0, 1.0, 0.0)


def test_totals_add_up_across_clips():
    a = score_boundaries(det([10, 60]), label([10, 100], flashes=[(59, 61, "strobe")]))
    b = score_boundaries(det([20, 40, 45]), label([20], transitions=[(38, 50, "dissolve")]))
    total = a + b
    assert (total.tp, total.fp, total.fn, total.fp_in_flash) == (3, 2, 1, 1)
    assert sum([a, b]) == total
    assert len(total.matched) == 3 and total.misses == (100,)
    assert total.precision == pytest.approx(3 / 5) and total.recall == pytest.approx(3 / 4)
    assert a + BoundaryScore() == a


def test_score_rejects_a_different_frame_count():
    with pytest.raises(ValueError, match="frames"):
        score_boundaries(det([10], frames=N + 1), label([10]))


def test_inconsistent_score_is_rejected():
    with pytest.raises(ValueError):
        BoundaryScore(tp=1)


def _brute_force_max_matching(truth: list[int], detected: list[int]) -> int:
    best = 0
    for k in range(min(len(truth), len(detected)), 0, -1):
        for ts in itertools.combinations(range(len(truth)), k):
            for ds in itertools.permutations(range(len(detected)), k):
                if all(abs(truth[t] - detected[d]) <= 1 for t, d in zip(ts, ds, strict=True)):
                    return k
    return best


def test_matching_is_maximum_on_random_dense_cases():
    rng = random.Random(7)
    for _ in range(300):
        truth = sorted(rng.sample(range(12), rng.randint(0, 5)))
        detected = sorted(rng.sample(range(12), rng.randint(0, 5)))
        pairs = match_boundaries(list(truth), list(detected))
        assert len({t for t, _ in pairs}) == len({d for _, d in pairs}) == len(pairs)
        assert all(abs(truth[t] - detected[d]) <= 1 for t, d in pairs)
        assert len(pairs) == _brute_force_max_matching(truth, detected), (truth, detected)


# ------------------------------------------------------------------------------------- PySceneDetect


def textured_segments(colours, length=20, width=160, height=96, seed=0) -> list[np.ndarray]:
    """Segments of identical frames: a coarse random texture (8 px blocks) tinted with each colour."""
    rng = np.random.default_rng(seed)
    frames = []
    for colour in colours:
        blocks = rng.integers(0, 2, size=(height // 8, width // 8, 1))
        texture = np.kron(blocks, np.ones((8, 8, 1)))
        image = np.clip(np.array(colour) * (0.55 + 0.45 * texture), 0, 255).astype(np.uint8)
        frames += [image] * length
    return frames


def analysis_frames_from(images: list[np.ndarray], fps=Fraction(24)) -> AnalysisFrames:
    thumb = np.stack(images)
    return AnalysisFrames(
        path="<memory>",
        fps=fps,
        time_base=1 / fps,
        source_size=(thumb.shape[2], thumb.shape[1]),
        pts=np.arange(len(images), dtype=np.int64),
        thumb=thumb,
        tiny=np.zeros((len(images), TINY_SIZE[1], TINY_SIZE[0], 3), np.uint8),
    )


COLOURS = [(230, 40, 40), (40, 200, 60), (50, 60, 230)]


@pytest.fixture(scope="module")
def three_shot_video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("shots") / "three.mp4", textured_segments(COLOURS))


@pytest.mark.parametrize("backend", [AdaptiveSceneDetector, ContentSceneDetector])
def test_scenedetect_finds_both_cuts_in_a_decoded_video(three_shot_video, backend):
    frames = decode_analysis_frames(three_shot_video)
    assert len(frames) == 60 and frames.thumb.shape[2] == 128
    found = backend().detect(frames)
    assert found.cuts == (20, 40)
    assert found.transitions == ()
    assert found.frames == 60 and found.detector == backend.name
    assert found.shots() == found.shots(min_length=20)  # three shots of 20 frames


def test_scenedetect_backend_on_in_memory_frames_is_deterministic():
    frames = analysis_frames_from(textured_segments(COLOURS, length=18))
    detector = AdaptiveSceneDetector()
    assert detector.detect(frames).cuts == (18, 36)
    assert detector.detect(frames).cuts == (18, 36)  # a fresh PySceneDetect detector per clip


def test_scenedetect_parameters_are_passed_through():
    frames = analysis_frames_from(textured_segments(COLOURS))
    # min_scene_len counts frames from the first frame: the cut at 20 comes too early, the one at 40 not
    assert AdaptiveSceneDetector(min_scene_len=25).detect(frames).cuts == (40,)
    assert ContentSceneDetector(threshold=255.0).detect(frames).cuts == ()
    assert AdaptiveSceneDetector(min_scene_len=25).detect(frames).extra["params"] == {"min_scene_len": 25}
    with pytest.raises(TypeError):
        AdaptiveSceneDetector(no_such_parameter=1)


def test_scenedetect_backend_hands_over_bgr():
    # PySceneDetect's hue difference is not circular: red-with-a-little-blue (hue 177 of 180) to
    # red-with-a-little-green (hue 3) scores 58 when the frames arrive as BGR, but only 2 if the RGB analysis
    # frames were passed unconverted (they would read as blues of hue 123 and 117).
    a = np.full((72, 128, 3), (255, 0, 24), np.uint8)
    b = np.full((72, 128, 3), (255, 24, 0), np.uint8)
    frames = analysis_frames_from([a] * 20 + [b] * 20)
    assert ContentSceneDetector().detect(frames).cuts == (20,)


def test_scenedetect_backend_with_no_frames():
    frames = analysis_frames_from([np.zeros((72, 128, 3), np.uint8)])
    empty = AnalysisFrames(**{**frames.__dict__, "pts": frames.pts[:0], "thumb": frames.thumb[:0]})
    assert AdaptiveSceneDetector().detect(empty) == ShotBoundaries(
        frames=0, detector="pyscenedetect-adaptive"
    )


# ------------------------------------------------------------------------------------------ evaluation


class FixedDetector:
    name = "fixed"

    def __init__(self, cuts):
        self.cuts = tuple(cuts)

    def detect(self, frames: AnalysisFrames) -> ShotBoundaries:
        return ShotBoundaries(frames=len(frames), cuts=self.cuts, detector=self.name)


def test_evaluate_detector_over_a_folder(tmp_path, three_shot_video):
    (tmp_path / "labels").mkdir()
    video = tmp_path / "three.mp4"
    video.write_bytes(three_shot_video.read_bytes())
    shots = (ShotLabel(0, 19), ShotLabel(20, 39), ShotLabel(40, 59))
    truth = FootageLabel("three.mp4", 60, (20, 40), (), (Span(5, 5, "white_flash"),), shots, "full", "other")
    write_label(truth, tmp_path / "labels" / "three.json")
    seen = []
    report = evaluate_detector(FixedDetector([5, 21]), tmp_path, tmp_path / "labels", progress=seen.append)
    assert seen == ["three.mp4"]
    assert isinstance(report, EvalReport) and report.detector == "fixed"
    assert (report.total.tp, report.total.fp, report.total.fn, report.total.fp_in_flash) == (1, 1, 1, 1)
    assert report.frames == 60 and report.detect_seconds > 0 and report.decode_seconds > 0
    assert report.frames_per_second > 0 and report.decode_frames_per_second > 0
    data = json.loads(json.dumps(report.to_json_dict()))
    assert set(data) >= {"detector", "clips", "total", "frames_per_second", "decode_frames_per_second"}
    (clip,) = data["clips"]
    assert {k: clip[k] for k in ("clip", "frames", "tp", "fp", "fn", "false_positives", "misses")} == {
        "clip": "three.mp4",
        "frames": 60,
        "tp": 1,
        "fp": 1,
        "fn": 1,
        "false_positives": [5],
        "misses": [40],
    }
    assert clip["precision"] == 0.5 and clip["recall"] == 0.5 and clip["f1"] == 0.5
    assert data["total"]["tp"] == 1 and data["total"]["frames"] == 60
    # the real backend on the same folder finds both cuts
    assert evaluate_detector(AdaptiveSceneDetector(), tmp_path).total.f1 == 1.0


def test_evaluate_detector_rejects_a_label_with_the_wrong_frame_count(tmp_path, three_shot_video):
    (tmp_path / "labels").mkdir()
    (tmp_path / "three.mp4").write_bytes(three_shot_video.read_bytes())
    write_label(label([20], frames=61, clip="three.mp4"), tmp_path / "labels" / "three.json")
    with pytest.raises(ValueError, match="61"):
        evaluate_detector(FixedDetector([]), tmp_path)
