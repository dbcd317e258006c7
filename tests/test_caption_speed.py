"""Speed-only changes of AniCaption keep every output: the picture reads decode a keyframe group once, the
whole-video captioner reads the shots' pictures in one pass, the camera expert measures each frame's texture
once. Each test compares the fast path with the plain one on a video or frames the test makes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import annotator.source_frames as source_frames
from annotator.base import ShotInput
from annotator.camera import _ShotPoints, _textured_points, camera_path, jitter
from annotator.caption import AniCaption, picture_chunks
from annotator.source_frames import keyframe_pts, read_source_frames
from pipeline.frames import decode_analysis_frames
from pipeline.scores.registry import ScoreContext
from tests.test_annotator_picture import cel_frame, numbered_frame, write_gop_video


@pytest.fixture(scope="module")
def gop_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_gop_video(
        tmp_path_factory.mktemp("speed") / "numbered.mp4", [numbered_frame(i) for i in range(50)], gop=24
    )


def count_picture_reads(monkeypatch) -> list[int]:
    """Make ``read_source_frames`` record how many pictures each call reads; returns that (live) list."""
    calls: list[int] = []
    real = source_frames.read_source_frames

    def counting(path, pts, width=480, box=None):
        calls.append(len(pts))
        return real(path, pts, width, box)

    monkeypatch.setattr(source_frames, "read_source_frames", counting)
    return calls


def test_keyframe_pts_lists_the_keyframes_once_per_file(gop_video: Path, monkeypatch) -> None:
    frames = decode_analysis_frames(gop_video)
    keys = keyframe_pts(gop_video)
    assert keys is not None and int(keys[0]) == int(frames.pts[0])
    # x264 places a keyframe every 24 frames or a little earlier
    assert len(keys) == 3 and set(keys.tolist()) <= set(frames.pts.tolist())
    monkeypatch.setattr(source_frames, "open_container", None)  # a second demux would fail
    assert keyframe_pts(gop_video) is keys
    assert keyframe_pts(gop_video.parent / "missing.mp4") is None


def test_far_frames_in_one_keyframe_group_are_decoded_forward(gop_video: Path, monkeypatch) -> None:
    frames = decode_analysis_frames(gop_video)
    wanted = [int(frames.pts[i]) for i in (0, 1, 23, 25, 47, 49)]  # 22 frames apart: more than forward reach
    seeks: list[int] = []
    real_seek = source_frames._seek

    def counting(container, stream, target):
        seeks.append(target)
        return real_seek(container, stream, target)

    monkeypatch.setattr(source_frames, "FORWARD_FRAMES", 4)
    monkeypatch.setattr(source_frames, "_seek", counting)
    together = read_source_frames(gop_video, wanted, width=160)
    assert len(seeks) == 3  # one per keyframe group, not one per far frame
    one_by_one = [read_source_frames(gop_video, [p], width=160)[0] for p in wanted]
    assert [f.pts for f in together] == wanted
    for a, b in zip(together, one_by_one, strict=True):
        assert np.array_equal(a.image, b.image)


def _cel_video(tmp_path: Path) -> Path:
    import cv2

    images = [cv2.resize(cel_frame(t), (256, 144), interpolation=cv2.INTER_NEAREST) for t in range(60)]
    return write_gop_video(tmp_path / "cel.mp4", images, gop=30)


def test_annotate_video_reads_the_shots_pictures_in_one_pass_with_the_same_tags(
    tmp_path: Path, monkeypatch
) -> None:
    video = _cel_video(tmp_path)
    spans = [(0, 14), (15, 29), (30, 44), (45, 59)]
    calls = count_picture_reads(monkeypatch)
    fast = AniCaption.from_config(None).annotate_video(video, shots=spans)
    fast_calls = list(calls)
    # the shots' own pictures and the video-level ones in one read, each picture once (a shot's picture may
    # be one of the video's)
    assert len(fast_calls) == 1 and fast_calls[0] <= 3 * len(spans) + 16

    calls.clear()
    plain = AniCaption.from_config(None)
    frames = decode_analysis_frames(video, stills=16)
    ctx = ScoreContext(source_path=str(video))
    slow = [plain.annotate(ShotInput(frames, a, b, ctx, video_path=video)) for a, b in spans]
    assert len(calls) >= len(spans)  # each shot read its own pictures
    for got, want in zip(fast.shots, slow, strict=True):
        assert got.annotation.tags == want.tags
        assert got.annotation.confidences == want.confidences
        assert got.annotation.missing == want.missing


def testpicture_chunks_bound_the_pictures_held(tmp_path: Path, monkeypatch) -> None:
    import annotator.caption as caption

    video = _cel_video(tmp_path)
    frames = decode_analysis_frames(video)
    ctx = ScoreContext(source_path=str(video))
    shots = [ShotInput(frames, a, a + 9, ctx, video_path=video) for a in range(0, 60, 10)]
    monkeypatch.setattr(caption, "PICTURE_CHUNK", 7)
    chunks = picture_chunks(AniCaption.from_config(None), shots)
    assert len(chunks) > 1 and [s for c in chunks for s in c.shots] == shots  # in order, each shot once
    assert all(sum(map(len, c.own.values())) <= 7 for c in chunks)
    assert all(c.shared is chunks[0].shared for c in chunks)  # the video-level pictures are read once
    first = chunks[0]
    first.prefetch()
    own = sorted(p for _, p in first.held)
    assert own and max(own) <= int(frames.pts[first.shots[-1].end])
    # the video-level pictures are read on the first request for one of them, then kept for every chunk
    common = list(first.common[480])
    assert common and not first.shared
    got = first.read(common[:2], 480)
    assert got is not None and [f.pts for f in got] == common[:2] and len(chunks[-1].shared) == len(common)
    # a picture neither held nor video-level is left to the expert
    stranger = next(int(p) for p in frames.pts[::-1] if int(p) not in common)
    assert first.read([stranger], 480) is None


def test_shared_textured_points_leave_the_camera_readings_unchanged() -> None:
    rng = np.random.default_rng(3)
    world = rng.uniform(0, 255, (120, 400)).astype(np.float32)
    import cv2

    world = cv2.GaussianBlur(world, (0, 0), 2.0)
    gray = np.stack([world[20:92, 3 * t : 3 * t + 128] for t in range(30)]).astype(np.float32)
    points = _ShotPoints(gray)
    assert np.array_equal(points(4), _textured_points(gray[4])) and points(4) is points(4)
    assert camera_path(gray, 24.0, points=points) == camera_path(gray, 24.0)
    assert jitter(gray, points=points) == jitter(gray)
    assert abs(camera_path(gray, 24.0).net()[0]) > 40  # it measures the pan: the comparison means something


def test_eval_annotator_told_the_shots_reads_their_pictures_once(tmp_path: Path, monkeypatch) -> None:
    from annotator.evaluate import CaptionAnnotator

    video = _cel_video(tmp_path)
    frames = decode_analysis_frames(video)
    spans = [(0, 19), (20, 39), (40, 59)]
    calls = count_picture_reads(monkeypatch)
    told = CaptionAnnotator(AniCaption.from_config(None))
    told.begin_video(frames, spans)
    fast = [told(frames, a, b) for a, b in spans]
    told.end_video()
    assert len(calls) == 1
    calls.clear()
    plain = CaptionAnnotator(AniCaption.from_config(None))
    slow = [plain(frames, a, b) for a, b in spans]
    assert len(calls) >= len(spans)
    assert [(a.tags, a.confidences, a.missing) for a in fast] == [
        (a.tags, a.confidences, a.missing) for a in slow
    ]
    # a shot it was not told about is annotated as before
    assert told(frames, 5, 30).tags == plain(frames, 5, 30).tags
