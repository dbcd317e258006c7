from fractions import Fraction

import pytest

from pipeline.timebase import (
    FrameTime,
    frame_to_seconds,
    pts_for_frame,
    seconds_to_frame,
    snap_rate,
    to_fraction,
)


def test_snap_rate_keeps_24_and_ntsc_apart():
    assert snap_rate(24.0) == Fraction(24)
    assert snap_rate(23.976) == Fraction(24000, 1001)
    assert snap_rate(Fraction(2997, 125)) == Fraction(24000, 1001)
    assert snap_rate(29.97) == Fraction(30000, 1001)
    # an odd measured rate is left alone rather than forced onto a neighbour
    assert snap_rate(Fraction(59812, 1000)) == Fraction(59812, 1000)
    assert snap_rate(21.978) == to_fraction(21.978)


def test_frame_time_round_trip_is_exact_at_ntsc_rate():
    fps = Fraction(24000, 1001)
    tb = Fraction(1, 24000)
    for i in (0, 1, 2, 1000, 123457):
        pts = pts_for_frame(i, fps, tb)
        assert pts == i * 1001
        t = FrameTime(i, pts, tb)
        assert t.seconds == frame_to_seconds(i, fps)
        assert seconds_to_frame(t.seconds, fps) == i


def test_pts_for_frame_refuses_an_inexact_time_base():
    with pytest.raises(ValueError, match="cannot represent"):
        pts_for_frame(1, Fraction(24000, 1001), Fraction(1, 1000))


def test_to_fraction_parses_strings():
    assert to_fraction("24000/1001") == Fraction(24000, 1001)
    assert to_fraction(" 25 ") == Fraction(25)
