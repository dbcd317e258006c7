from fractions import Fraction

import numpy as np
import pytest

from pipeline.decode import VideoError, count_frames, file_sha256, iter_frames, probe
from tests.videos import ramp_frames, write_audio_only, write_video


@pytest.fixture(scope="module")
def ramp(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("dec") / "ramp.mp4", ramp_frames(20))


def test_probe_reports_exact_rate_and_size(ramp):
    info = probe(ramp)
    assert (info.width, info.height) == (64, 48)
    assert info.fps == Fraction(24000, 1001)
    assert info.codec == "h264"
    assert not info.has_audio


def test_iter_frames_yields_every_frame_in_order_with_exact_times(ramp):
    frames = list(iter_frames(ramp))
    assert [f.index for f in frames] == list(range(20))
    assert count_frames(ramp) == 20
    means = [float(f.image.mean()) for f in frames]
    assert np.all(np.diff(means) > 5), "frames out of presentation order"
    step = frames[1].seconds - frames[0].seconds
    assert step == Fraction(1001, 24000)
    assert all(b.seconds - a.seconds == step for a, b in zip(frames, frames[1:], strict=False))


def test_iter_frames_rescales_and_converts_to_gray(ramp):
    first = next(iter(iter_frames(ramp, size=(32, 24), gray=True)))
    assert first.image.shape == (24, 32)
    assert first.image.dtype == np.uint8


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p, "missing"),
        (lambda p: (p.write_bytes(b""), p)[1], "empty"),
        (lambda p: (p.write_bytes(np.random.default_rng(0).bytes(4096)), p)[1], "unreadable"),
        (lambda p: write_audio_only(p.with_suffix(".wav")), "no_video_stream"),
    ],
    ids=["missing", "empty", "random-bytes", "audio-only"],
)
def test_bad_inputs_raise_video_error_with_reason(tmp_path, make, reason):
    path = make(tmp_path / "bad.mp4")
    with pytest.raises(VideoError) as info:
        probe(path)
    assert info.value.reason == reason
    assert str(path) in str(info.value)


def test_file_sha256_depends_on_bytes(tmp_path, ramp):
    other = write_video(tmp_path / "other.mp4", ramp_frames(21))
    assert file_sha256(ramp) != file_sha256(other)
    assert len(file_sha256(ramp)) == 64
