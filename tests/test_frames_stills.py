"""Larger luma stills kept by the analysis decode (``decode_analysis_frames(stills=K)``)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.frames import MAX_STILLS, _StillKeeper, decode_analysis_frames
from tests.videos import ramp_frames, write_video


@pytest.fixture(scope="module")
def ramp(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("stills") / "ramp.mp4", ramp_frames(24, 640, 360))


def test_stills_are_off_unless_asked(ramp):
    frames = decode_analysis_frames(ramp)
    assert frames.stills is None and frames.still_index is None


def test_stills_are_evenly_spaced_luma_at_the_asked_width(ramp):
    frames = decode_analysis_frames(ramp, stills=5, still_width=320)
    assert frames.stills.shape == (5, 180, 320) and frames.stills.dtype == np.uint8
    idx = frames.still_index
    assert idx[0] == 0 and np.all(np.diff(idx) > 0) and idx[-1] >= 16
    assert max(np.diff(idx)) <= 2 * min(np.diff(idx))  # evenly spaced up to the stride grid
    # each still is the frame it says it is: the ramp encodes the index in the brightness
    expected = 10 + 10 * idx
    assert np.all(np.abs(frames.stills.reshape(5, -1).mean(axis=1) - expected) < 3)
    # the thumbs of the same decode are unchanged by asking for stills
    assert np.array_equal(frames.thumb, decode_analysis_frames(ramp).thumb)


def test_stills_never_upscale_and_are_bounded(ramp, tmp_path):
    frames = decode_analysis_frames(ramp, stills=MAX_STILLS, still_width=4096)
    assert frames.stills.shape == (24, 360, 640)  # fewer frames than asked: every frame, at source width
    with pytest.raises(ValueError, match="stills"):
        decode_analysis_frames(ramp, stills=MAX_STILLS + 1)


class _FakeSource:
    format = type("Format", (), {"name": "rgb24"})()

    def __init__(self, value: int):
        self.value = value

    def to_ndarray(self, format: str, width: int, height: int) -> np.ndarray:
        return np.full((height, width), self.value, np.uint8)


class _FakeFrame:
    def __init__(self, value: int):
        self.source = _FakeSource(value)


@pytest.mark.parametrize("expected", [None, 1000, 600])
def test_still_keeper_spreads_over_streams_of_unknown_or_misdeclared_length(expected):
    """Without a frame count (or with a wrong one) the keeper still ends with ~count stills spread over the
    whole stream, holding at most twice that many at any time."""
    keeper = _StillKeeper(8, (4, 2), expected)
    for i in range(1000):
        keeper.offer(i, _FakeFrame(i % 256))
        assert len(keeper.images) <= 16
    images, index = keeper.result()
    assert images.shape == (8, 2, 4) and index[0] == 0 and index[-1] >= 800
    assert np.all(np.diff(index) >= 60)
