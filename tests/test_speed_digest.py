"""Frame digests (``pipeline.decode.picture_digest``, XXH3-64): equal for equal pictures whatever the line
padding, different for different pictures, and part of the curate run fingerprint so a resume never mixes
digest functions."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from pipeline.curate import CurateConfig
from pipeline.curate.job import RUN_FILE, CurateResumeError, check_run_file, run_fingerprint
from pipeline.decode import PICTURE_DIGEST, picture_digest


def _frame(width: int, height: int, seed: int = 0) -> av.VideoFrame:
    rng = np.random.default_rng(seed)
    packed = rng.integers(0, 256, (height * 3 // 2, width), dtype=np.uint8)
    return av.VideoFrame.from_ndarray(packed, format="yuv420p")


def _scribble_padding(frame: av.VideoFrame, value: int) -> None:
    """Overwrite every plane's line padding (bytes past the visible width) with ``value``."""
    for plane in frame.planes:
        rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
        rows[:, plane.width :] = value


@pytest.mark.parametrize("width,height", [(100, 58), (96, 54), (1920, 1080)])
def test_digest_ignores_line_padding(width: int, height: int) -> None:
    a, b = _frame(width, height), _frame(width, height)
    _scribble_padding(a, 0)
    _scribble_padding(b, 255)
    assert picture_digest(a) == picture_digest(b)
    assert len(picture_digest(a)) == 8


def test_padded_planes_really_have_padding() -> None:
    """The 100 px case above exercises the copy of padded rows (otherwise the test would prove nothing)."""
    f = _frame(100, 58)
    assert any(p.line_size > p.width for p in f.planes)


@pytest.mark.parametrize("plane,row,col", [(0, 0, 0), (0, 57, 99), (1, 10, 3), (2, 28, 49)])
def test_one_changed_pixel_changes_the_digest(plane: int, row: int, col: int) -> None:
    a, b = _frame(100, 58), _frame(100, 58)
    assert picture_digest(a) == picture_digest(b)
    p = b.planes[plane]
    rows = np.frombuffer(p, np.uint8).reshape(-1, p.line_size)
    rows[row, col] ^= 1
    assert picture_digest(a) != picture_digest(b)


def test_same_bytes_other_shape_or_format_differ() -> None:
    """The format and size are hashed too: the same packed bytes as another picture shape differ."""
    rng = np.random.default_rng(3)
    packed = rng.integers(0, 256, (96 * 3 // 2, 64), dtype=np.uint8)
    tall = av.VideoFrame.from_ndarray(packed, format="yuv420p")  # 64 x 96
    wide = av.VideoFrame.from_ndarray(packed.reshape(96 * 3 // 4, 128), format="yuv420p")  # 128 x 48
    assert tall.to_ndarray().tobytes() == wide.to_ndarray().tobytes()
    assert picture_digest(tall) != picture_digest(wide)
    jpeg_range = av.VideoFrame.from_ndarray(packed, format="yuvj420p")
    assert picture_digest(jpeg_range) != picture_digest(tall)


def test_distinct_random_pictures_have_distinct_digests() -> None:
    digests = {picture_digest(_frame(64, 36, seed)) for seed in range(200)}
    assert len(digests) == 200


def test_non_planar_formats_still_hash() -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (30, 41, 3), dtype=np.uint8)
    a = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    b = av.VideoFrame.from_ndarray(rgb.copy(), format="rgb24")
    rgb[5, 7, 1] ^= 1
    c = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    assert picture_digest(a) == picture_digest(b) != picture_digest(c)


def test_run_fingerprint_names_the_digest_function(tmp_path) -> None:
    cfg = CurateConfig()
    assert run_fingerprint(cfg)["frame_digest"] == PICTURE_DIGEST


def test_run_made_with_another_digest_function_is_refused(tmp_path) -> None:
    """A folder staged before the digest function was recorded (SHA-1 digests) cannot be resumed: its staged
    fingerprints would never match new digests, so exact duplicates across the two would be missed."""
    cfg = CurateConfig()
    check_run_file(tmp_path, cfg)  # a new folder: writes the run file
    check_run_file(tmp_path, cfg)  # the same run: accepted
    path = tmp_path / "work" / RUN_FILE
    old = json.loads(path.read_text())
    del old["frame_digest"]
    path.write_text(json.dumps(old))
    with pytest.raises(CurateResumeError, match="frame_digest"):
        check_run_file(tmp_path, cfg)
