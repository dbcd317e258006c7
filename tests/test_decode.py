from fractions import Fraction

import numpy as np
import pytest

from pipeline.decode import VideoError, count_frames, decode_rgb_reference, file_sha256, iter_frames, probe
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
    assert decode_rgb_reference(ramp) == 20
    means = [float(f.image.mean()) for f in frames]
    assert np.all(np.diff(means) > 5), "frames out of presentation order"
    step = frames[1].seconds - frames[0].seconds
    assert step == Fraction(1001, 24000)
    assert all(b.seconds - a.seconds == step for a, b in zip(frames, frames[1:], strict=False))


@pytest.mark.parametrize("threads", [1, 2])
def test_iter_frames_gives_the_same_frames_on_any_decoder_thread_count(tmp_path, threads):
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(30)]  # B-frames, busy
    path = write_video(tmp_path / "noise.mp4", frames)
    auto = [(f.index, f.pts, f.image, f.digest) for f in iter_frames(path, digest=True)]
    some = [(f.index, f.pts, f.image, f.digest) for f in iter_frames(path, threads=threads, digest=True)]
    assert len(auto) == len(some) == 30
    for (i, p, a, d), (j, q, b, e) in zip(auto, some, strict=True):
        assert (i, p, d) == (j, q, e) and np.array_equal(a, b)


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


def test_picture_digest_depends_on_pixels_not_container(tmp_path):
    from pipeline.frames import decode_analysis_frames

    frames = ramp_frames(6)
    a = write_video(tmp_path / "a.mp4", frames)
    # same pixels, another container
    import av

    with av.open(str(a)) as src, av.open(str(tmp_path / "b.mkv"), "w") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    da = decode_analysis_frames(a, digests=True).digests
    db = decode_analysis_frames(tmp_path / "b.mkv", digests=True).digests
    assert da is not None and len(da) == 6
    assert list(da) == list(db)
    assert len(set(da.tolist())) == 6
    changed = frames[:3] + [frames[3] + 1] + frames[4:]
    dc = decode_analysis_frames(write_video(tmp_path / "c.mp4", changed), digests=True).digests
    assert dc[0] == da[0] and dc[3] != da[3]
    assert decode_analysis_frames(a).digests is None


def _textured_frames(n: int, width: int, height: int) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(n)]


@pytest.mark.parametrize("size,gray", [(None, False), ((40, 22), False), ((33, 17), True)])
def test_iter_frames_converts_like_a_per_frame_conversion(tmp_path, size, gray):
    """One reformatter for the whole decode gives the pixels of PyAV's own per-frame conversion."""
    import av

    path = write_video(tmp_path / "tex.mp4", _textured_frames(5, 96, 54))
    fmt = "gray" if gray else "rgb24"
    width, height = size if size else (None, None)
    with av.open(str(path)) as c:
        expected = [f.to_ndarray(format=fmt, width=width, height=height) for f in c.decode(video=0)]
    got = [f.image for f in iter_frames(path, size=size, gray=gray)]
    assert len(got) == len(expected) == 5
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))


@pytest.mark.parametrize("width,height", [(96, 54), (100, 58)])  # 100 px: padded chroma rows
def test_picture_digest_hashes_the_packed_planes(tmp_path, width, height):
    """The planar fast path hashes exactly the bytes of ``frame.to_ndarray()`` (line padding excluded)."""
    import av
    import xxhash

    from pipeline.decode import picture_digest

    path = write_video(tmp_path / "tex.mp4", _textured_frames(3, width, height))
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            reference = xxhash.xxh3_64(f"{frame.format.name}:{frame.width}x{frame.height}".encode())
            reference.update(frame.to_ndarray().tobytes())
            assert picture_digest(frame) == reference.digest()
