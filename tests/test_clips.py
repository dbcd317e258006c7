from fractions import Fraction

import numpy as np
import pytest

from pipeline.clips import ClipEncoding, ClipSpan, extract_clips, plan_clips
from pipeline.decode import VideoError, count_frames, iter_frames, probe
from pipeline.shots.base import Shot
from tests.videos import write_video


def _numbered_frames(n: int, width: int = 96, height: int = 64) -> list[np.ndarray]:
    """Frame i shows a distinct flat grey level plus a bar at x = 4*i, so indices are recoverable."""
    frames = []
    for i in range(n):
        img = np.full((height, width, 3), 20 + 9 * i, dtype=np.uint8)
        img[:, (4 * i) % width : (4 * i) % width + 4] = 255
        frames.append(img)
    return frames


@pytest.fixture(scope="module")
def numbered(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("clips") / "numbered.mp4", _numbered_frames(24))


def _yuv_frames(path):
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray() for f in c.decode(video=0)]


def test_plan_clips_splits_long_shots_evenly_and_drops_short_ones():
    shots = [Shot(0, 9), Shot(10, 12), Shot(15, 114)]
    spans = plan_clips(shots, max_frames=40, min_frames=4)
    assert spans == [ClipSpan(0, 0, 9), ClipSpan(2, 15, 48), ClipSpan(2, 49, 81), ClipSpan(2, 82, 114)]
    assert all(s.frames <= 40 for s in spans)
    assert plan_clips([Shot(0, 9)], drop_edge_frames=2) == [ClipSpan(0, 2, 7)]
    with pytest.raises(ValueError):
        plan_clips(shots, max_frames=0)


def test_lossless_extraction_is_bit_exact_with_no_neighbour_frames(numbered, tmp_path):
    spans = [ClipSpan(0, 0, 6), ClipSpan(1, 7, 7), ClipSpan(2, 12, 23)]
    outs = extract_clips(numbered, spans, [tmp_path / f"c{k}.mp4" for k in range(3)], ClipEncoding(crf=0))
    source = _yuv_frames(numbered)
    for span, out in zip(spans, outs, strict=True):
        clip = _yuv_frames(out)
        assert len(clip) == span.frames
        for k, frame in enumerate(clip):
            assert np.array_equal(frame, source[span.start + k]), (span, k)
    assert not list(tmp_path.glob("*.part"))


def test_clip_timing_restarts_at_zero_at_the_source_rate(numbered, tmp_path):
    (out,) = extract_clips(numbered, [ClipSpan(0, 5, 14)], [tmp_path / "c.mp4"])
    info = probe(out)
    assert info.fps == Fraction(24000, 1001)
    times = [f.seconds for f in iter_frames(out)]
    assert times[0] == 0
    assert np.allclose(np.diff([float(t) for t in times]), 1001 / 24000)


def test_resize_and_fps_policy(numbered, tmp_path):
    (out,) = extract_clips(
        numbered, [ClipSpan(0, 0, 23)], [tmp_path / "c.mp4"], ClipEncoding(size=32, fps=Fraction(12))
    )
    info = probe(out)
    assert (info.width, info.height) == (48, 32)
    assert info.fps == 12
    assert count_frames(out) == 12  # 24 frames at 23.976 fps last ~1.0 s -> 12 frames at 12 fps
    # nearest-in-time resampling at half the rate takes source frames 0, 2, 4, ...
    means = [f.image.mean() for f in iter_frames(out)]
    source = [f.mean() for f in _numbered_frames(24)]
    for k in (0, 1, 5):
        assert abs(means[k] - source[2 * k]) < abs(means[k] - source[2 * k + 1]), k


def test_overlapping_spans_and_truncated_source_are_errors(numbered, tmp_path):
    with pytest.raises(ValueError, match="overlap"):
        extract_clips(
            numbered, [ClipSpan(0, 0, 5), ClipSpan(1, 5, 8)], [tmp_path / "a.mp4", tmp_path / "b.mp4"]
        )
    with pytest.raises(VideoError, match="ended before"):
        extract_clips(numbered, [ClipSpan(0, 20, 30)], [tmp_path / "late.mp4"])
    assert not (tmp_path / "late.mp4").exists()
    assert not list(tmp_path.glob("*.part"))
