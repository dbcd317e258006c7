"""Windowed analysis: bounded memory, and the same shots as analysing the whole video at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.footage_labels import load_label
from pipeline.frames import decode_analysis_frames
from pipeline.shots.registry import get_detector
from pipeline.synthetic import SynthConfig, generate_footage
from pipeline.windows import iter_analysis_windows


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("win")
    generate_footage(out, videos=1, seed=11, config=SynthConfig(width=320, height=180, seconds=16.0))
    return out / "synth_000.mp4", out / "labels" / "synth_000.json"


def test_one_big_window_equals_whole_video(video: tuple[Path, Path]) -> None:
    path, _ = video
    det = get_detector("transnet")
    whole = det.detect(decode_analysis_frames(path))
    windows = list(iter_analysis_windows(path, det, window_frames=10_000))
    assert len(windows) == 1 and windows[0].last
    assert [(s.start, s.end) for s in windows[0].shots] == [(s.start, s.end) for s in whole.shots()]
    assert windows[0].shots[0].boundary_in == "start" and windows[0].shots[-1].boundary_out == "end"


@pytest.mark.parametrize("window", [96, 150])
def test_small_windows_bound_memory_and_respect_the_labels(video: tuple[Path, Path], window: int) -> None:
    path, label_path = video
    label = load_label(label_path)
    det = get_detector("transnet")
    shots, covered = [], 0
    for w in iter_analysis_windows(path, det, window_frames=window):
        assert len(w.frames) <= window  # never more than one window of frames in memory
        shots += w.shots
    assert shots[0].start == 0 and shots[-1].end == label.frames - 1
    for a, b in zip(shots, shots[1:], strict=False):
        assert b.start > a.end  # no frame in two shots
    cuts = set(label.cuts)
    for s in shots:
        covered += s.length
        # a shot never spans a labelled hard cut
        assert not any(s.start < c <= s.end for c in cuts), (s, sorted(cuts))
        assert s.boundary_in in ("start", "cut", "window", *[t.type for t in label.transitions], "flash_cut")
    transition_frames = sum(t.end - t.start + 1 for t in label.transitions)
    assert covered >= label.frames - transition_frames - 2 * len(label.transitions)


def test_on_frame_sees_every_decoded_frame_once_in_order(video: tuple[Path, Path]) -> None:
    path, label_path = video
    label = load_label(label_path)
    seen: list[tuple[int, int, int]] = []
    windows = iter_analysis_windows(
        path,
        get_detector("transnet"),
        window_frames=150,
        on_frame=lambda i, f: seen.append((i, f.width, f.height)),
    )
    shots = [s for w in windows for s in w.shots]
    assert [i for i, _, _ in seen] == list(range(label.frames))
    assert {(w, h) for _, w, h in seen} == {(320, 180)}  # the full-resolution frames, not the thumbnails
    assert shots[-1].end == label.frames - 1
