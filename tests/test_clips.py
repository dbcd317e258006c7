import dataclasses
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
    # the short side is a cap: a source smaller than it is not upscaled
    (small,) = extract_clips(numbered, [ClipSpan(0, 0, 3)], [tmp_path / "s.mp4"], ClipEncoding(size=360))
    assert (probe(small).width, probe(small).height) == (probe(numbered).width, probe(numbered).height)


def test_overlapping_spans_and_truncated_source_are_errors(numbered, tmp_path):
    with pytest.raises(ValueError, match="overlap"):
        extract_clips(
            numbered, [ClipSpan(0, 0, 5), ClipSpan(1, 5, 8)], [tmp_path / "a.mp4", tmp_path / "b.mp4"]
        )
    with pytest.raises(VideoError, match="ended before"):
        extract_clips(numbered, [ClipSpan(0, 20, 30)], [tmp_path / "late.mp4"])
    assert not (tmp_path / "late.mp4").exists()
    assert not list(tmp_path.glob("*.part"))


def _decode_into(cutter, path) -> None:
    import av

    with av.open(str(path)) as c:
        for index, frame in enumerate(c.decode(video=0)):
            cutter.add_frame(index, frame)


@pytest.mark.parametrize(
    "budget_frames,threads,spare",
    [(1000, 1, 0), (1000, 2, 0), (3, 2, 0), (0, 1, 0), (1000, 1, 2), (1000, 2, 3)],
)
def test_cutter_clips_equal_second_decode_clips_byte_for_byte(
    numbered, tmp_path, budget_frames, threads, spare
):
    """Clips cut from the analysis pass's frames are the files a second decode writes, whatever the memory
    budget (frames evicted -> second decode), the number of encode threads or the idle CPUs borrowed for
    extra encodes, and hold exactly their frames."""
    from pipeline.clips import ClipCutter, cut_clips
    from pipeline.spare_cpus import SpareCpus

    enc = ClipEncoding(crf=0)
    spans = [ClipSpan(0, 0, 6), ClipSpan(1, 7, 7), ClipSpan(2, 12, 23)]
    frame_bytes = 96 * 64 * 3 // 2
    cpus = None
    if spare:
        cpus = SpareCpus(tmp_path / "cpus", spare)
        assert cpus.claim(threads) == threads
    cutter = ClipCutter(numbered, enc, budget_frames * frame_bytes, threads=threads, spare=cpus)
    _decode_into(cutter, numbered)
    cutter.set_crop(None)
    for k, span in enumerate(spans):
        cutter.cut(f"c{k}", span, tmp_path / f"fast{k}.mp4")
    assert cutter.peak <= budget_frames * frame_bytes
    done, failed = cutter.finish()
    assert failed == {} and sorted(done) == ["c0", "c1", "c2"]
    if not spare:
        assert cutter.borrowed == 0
    elif threads == 1:
        assert (
            cutter.borrowed >= 1
        )  # the free CPU took the first clip (later ones too, once it was free again)
    else:
        assert cutter.borrowed <= 1  # only a clip finding both own encoders busy borrows
    if budget_frames == 1000:
        assert cutter.pending == [] and cutter.evicted == 0
    else:
        assert cutter.pending  # some clips had to wait for the second decode
    slow = cut_clips(numbered, spans, [tmp_path / f"slow{k}.mp4" for k in range(3)], enc)
    source = _yuv_frames(numbered)
    for k, (span, ref) in enumerate(zip(spans, slow, strict=True)):
        clip = done[f"c{k}"]
        assert clip.path.read_bytes() == ref.path.read_bytes()
        assert np.array_equal(clip.middle, ref.middle)
        frames = _yuv_frames(clip.path)
        assert len(frames) == span.frames == clip.frames
        assert all(np.array_equal(f, source[span.start + i]) for i, f in enumerate(frames))
    assert not list(tmp_path.glob("*.part"))


def _gated_cutter(numbered, tmp_path, gate):
    """A one-thread cutter beside one idle CPU, whose encodes wait for ``gate`` and note their thread."""
    import threading

    from pipeline.clips import ClipCutter
    from pipeline.spare_cpus import SpareCpus

    cpus = SpareCpus(tmp_path / "cpus", 2)
    assert cpus.claim(1) == 1
    cutter = ClipCutter(numbered, ClipEncoding(crf=0), 1 << 30, threads=1, spare=cpus)
    _decode_into(cutter, numbered)
    cutter.set_crop(None)
    threads: dict[str, str] = {}
    encode = cutter._encode

    def gated(path, frames):
        threads[path.stem] = threading.current_thread().name
        if threading.current_thread() is not threading.main_thread():  # the cutting thread must not block
            gate.wait(timeout=30)
        return encode(path, frames)

    cutter._encode = gated
    return cutter, cpus, threads


def test_a_borrowed_cpu_takes_the_queued_encodes_off_the_cutting_thread(numbered, tmp_path):
    """At the tail of a job the thread that cuts clips is the task's serial path: once it has borrowed an
    idle CPU, the next clips queue there (up to LANE_DEPTH behind the running one) instead of being encoded
    on the cutting thread, and the CPU is given back once its queue is empty."""
    import threading

    from pipeline.clips import LANE_DEPTH
    from pipeline.spare_cpus import SpareCpus

    gate = threading.Event()
    cutter, cpus, threads = _gated_cutter(numbered, tmp_path, gate)
    spans = [ClipSpan(k, 3 * k, 3 * k + 2) for k in range(LANE_DEPTH + 2)]
    for k, span in enumerate(spans[:-1]):
        cutter.cut(f"c{k}", span, tmp_path / f"c{k}.mp4")
    assert cutter.borrowed == LANE_DEPTH + 1  # none encoded here: the cutting thread would have blocked
    assert SpareCpus(tmp_path / "cpus", 2).claim(2) == 0  # the borrowed CPU is held while work is queued
    gate.set()
    last = len(spans) - 1
    cutter.cut(f"c{last}", spans[last], tmp_path / f"c{last}.mp4")  # the queue is full or done: either way
    done, failed = cutter.finish()
    assert failed == {} and sorted(done) == [f"c{k}" for k in range(len(spans))]
    assert all(threads[f"c{k}"].startswith("clip-encode-borrowed") for k in range(LANE_DEPTH + 1))
    cpus.release()
    assert SpareCpus(tmp_path / "cpus", 2).claim(2) == 2  # nothing left held


def test_an_idle_own_encoder_is_used_before_a_borrowed_cpu(numbered, tmp_path):
    """Encodes queued on a borrowed CPU do not count as the cutter's own encoders being busy: once its own
    threads are free, the next clip goes to them, not behind the borrowed CPU's queue."""
    import threading

    from pipeline.clips import ClipCutter
    from pipeline.spare_cpus import SpareCpus

    cpus = SpareCpus(tmp_path / "cpus", 3)
    assert cpus.claim(2) == 2
    cutter = ClipCutter(numbered, ClipEncoding(crf=0), 1 << 30, threads=2, spare=cpus)
    _decode_into(cutter, numbered)
    cutter.set_crop(None)
    gates = {f"c{k}": threading.Event() for k in range(5)}
    threads: dict[str, str] = {}
    encode = cutter._encode

    def gated(path, frames):
        threads[path.stem] = threading.current_thread().name
        gates[path.stem].wait(timeout=30)
        return encode(path, frames)

    cutter._encode = gated
    futures = []
    for k in range(4):  # c0, c1 on the own threads; c2, c3 on the borrowed CPU
        cutter.cut(f"c{k}", ClipSpan(k, 3 * k, 3 * k + 2), tmp_path / f"c{k}.mp4")
        futures.append(cutter._running[-1][1])
    gates["c0"].set()
    gates["c1"].set()
    futures[0].result(timeout=30)
    futures[1].result(timeout=30)
    cutter.cut("c4", ClipSpan(4, 12, 14), tmp_path / "c4.mp4")
    for gate in gates.values():
        gate.set()
    done, failed = cutter.finish()
    assert failed == {} and len(done) == 5
    assert all(threads[f"c{k}"].startswith("clip-encode-borrowed") for k in (2, 3))
    assert not threads["c4"].startswith("clip-encode-borrowed")
    cpus.release()


def test_closing_a_cutter_gives_back_the_cpu_its_cancelled_encodes_held(numbered, tmp_path):
    import threading

    from pipeline.spare_cpus import SpareCpus

    gate = threading.Event()
    cutter, cpus, _ = _gated_cutter(numbered, tmp_path, gate)
    for k in range(3):
        cutter.cut(f"c{k}", ClipSpan(k, 3 * k, 3 * k + 2), tmp_path / f"c{k}.mp4")
    threading.Timer(0.05, gate.set).start()  # the running encode ends; the queued ones may be cancelled
    cutter.close()
    cpus.release()
    assert SpareCpus(tmp_path / "cpus", 2).claim(2) == 2


def test_cutter_crop_keeps_the_decoded_pixels_and_the_thumbnail_is_the_middle_frame(numbered, tmp_path):
    import av

    from pipeline.clips import ClipCutter

    crop = (8, 4, 48, 40)
    cutter = ClipCutter(numbered, ClipEncoding(crf=0), 1 << 24)
    _decode_into(cutter, numbered)  # frames arrive before the crop is known (as in the analysis pass)
    cutter.set_crop(crop)
    cutter.cut("c", ClipSpan(0, 3, 11), tmp_path / "c.mp4")
    done, _ = cutter.finish()
    clip = done["c"]
    assert (clip.width, clip.height, clip.frames) == (48, 40, 9)
    with av.open(str(numbered)) as c:
        source = [f for k, f in enumerate(c.decode(video=0)) if 3 <= k <= 11]
    x, y, w, h = crop
    with av.open(str(clip.path)) as c:
        got = list(c.decode(video=0))
    for src, out in zip(source, got, strict=True):
        for p, sub in ((0, 1), (1, 2), (2, 2)):
            a = np.frombuffer(src.planes[p], np.uint8).reshape(-1, src.planes[p].line_size)
            b = np.frombuffer(out.planes[p], np.uint8).reshape(-1, out.planes[p].line_size)
            want = a[y // sub : (y + h) // sub, x // sub : (x + w) // sub]
            assert np.array_equal(b[: h // sub, : w // sub], want)
    assert np.array_equal(clip.middle, got[len(got) // 2].to_ndarray(format="bgr24"))


@pytest.mark.parametrize("guess", [(8, 4, 48, 40), None, (0, 0, 48, 64)])
def test_a_provisional_crop_decides_speed_never_bytes(numbered, tmp_path, guess):
    """Frames held at clip size under a guessed crop give the second decode's bytes when the final crop is the
    guess; a wrong guess drops them (the clips are cut by the second decode) and still gives those bytes."""
    import av

    from pipeline.clips import ClipCutter, cut_clips

    final = (8, 4, 48, 40)
    enc = ClipEncoding(crf=0)
    spans = [ClipSpan(0, 0, 6), ClipSpan(1, 12, 23)]
    cutter = ClipCutter(numbered, enc, 1 << 24)
    with av.open(str(numbered)) as c:
        for index, frame in enumerate(c.decode(video=0)):
            cutter.add_frame(index, frame)
            if index == 4:
                assert cutter.source_thumbs(16, 12).shape == (5, 12, 16, 3)
                cutter.set_crop(guess, provisional=True)
                assert cutter.geo is not None and not cutter.crop_final
                assert cutter.held_rgb(2) is None  # not shown to the experts before the crop is final
                assert len(cutter.source_thumbs(16, 12)) == 0
    cutter.set_crop((0, 0, 32, 32), provisional=True)  # a second guess changes nothing
    cutter.set_crop(final)
    assert cutter.crop_final and cutter.geometry.crop == final
    assert cutter.guess_missed == (guess != final)
    assert cutter.held_rgb(2) is not None or cutter.guess_missed
    for k, span in enumerate(spans):
        cutter.cut(f"c{k}", span, tmp_path / f"fast{k}.mp4")
    assert bool(cutter.pending) == (guess != final)
    done, failed = cutter.finish()
    assert failed == {}
    slow = cut_clips(
        numbered, spans, [tmp_path / f"slow{k}.mp4" for k in range(2)], dataclasses.replace(enc, crop=final)
    )
    for k, ref in enumerate(slow):
        assert done[f"c{k}"].path.read_bytes() == ref.path.read_bytes()


def test_the_crop_is_guessed_only_when_source_size_frames_would_overflow(numbered, tmp_path):
    """``on_pressure`` runs once, when the next source-size frame would overflow the budget; a guess made there
    keeps every frame (at clip size); without one the oldest frames are evicted."""
    from pipeline.clips import ClipCutter, cut_clips

    crop, enc = (8, 4, 48, 40), ClipEncoding(crf=0)
    for guess in (True, False):
        probe_cutter = ClipCutter(numbered, enc, 1 << 24)
        _decode_into(probe_cutter, numbered)
        source_bytes = max(size for _, size in probe_cutter.frames.values())
        cutter = ClipCutter(numbered, enc, 12 * source_bytes)
        calls = []
        if guess:
            cutter.on_pressure = lambda c=cutter, seen=calls: seen.append(c.set_crop(crop, provisional=True))
        _decode_into(cutter, numbered)
        assert len(calls) == (1 if guess else 0)
        assert (cutter.evicted == 0) == guess
        cutter.set_crop(crop)
        cutter.cut("c", ClipSpan(0, 0, 23), tmp_path / f"c{guess}.mp4")
        done, _ = cutter.finish()
        (ref,) = cut_clips(
            numbered, [ClipSpan(0, 0, 23)], [tmp_path / f"r{guess}.mp4"], dataclasses.replace(enc, crop=crop)
        )
        assert done["c"].path.read_bytes() == ref.path.read_bytes()


def test_yuv420p_crop_copies_the_window_of_each_plane(numbered):
    """The crop writes straight into a new frame's planes; a crop width whose rows are padded in the new frame
    (42 px) keeps exactly the window's pixels too."""
    import av

    from pipeline.clips import _crop_yuv420p

    with av.open(str(numbered)) as c:
        frame = next(c.decode(video=0))
    for x, y, w, h in [(8, 4, 48, 40), (2, 6, 42, 22), (0, 0, frame.width, frame.height)]:
        out = _crop_yuv420p(frame, x, y, w, h)
        assert (out.width, out.height, out.format.name) == (w, h, "yuv420p")
        for p, sub in ((0, 1), (1, 2), (2, 2)):
            a = np.frombuffer(frame.planes[p], np.uint8).reshape(-1, frame.planes[p].line_size)
            b = np.frombuffer(out.planes[p], np.uint8).reshape(-1, out.planes[p].line_size)
            assert np.array_equal(
                b[: h // sub, : w // sub], a[y // sub : (y + h) // sub, x // sub : (x + w) // sub]
            )


def test_cutter_resamples_like_the_second_decode(numbered, tmp_path):
    from pipeline.clips import ClipCutter, cut_clips

    enc = ClipEncoding(size=32, fps=Fraction(12))
    cutter = ClipCutter(numbered, enc, 1 << 24)
    _decode_into(cutter, numbered)
    cutter.set_crop(None)
    cutter.cut("c", ClipSpan(0, 0, 23), tmp_path / "fast.mp4")
    done, _ = cutter.finish()
    (ref,) = cut_clips(numbered, [ClipSpan(0, 0, 23)], [tmp_path / "slow.mp4"], enc)
    assert done["c"].frames == ref.frames == 12
    assert done["c"].path.read_bytes() == ref.path.read_bytes()


def test_one_reformatter_per_video_converts_like_a_fresh_one(numbered):
    """``to_clip_frame`` with a shared reformatter (the cutter's) gives the pixels of a fresh one per frame,
    on the odd-crop RGB path and on the scaling path."""
    import av
    from av.video.reformatter import VideoReformatter

    from pipeline.clips import clip_geometry, to_clip_frame

    shared = VideoReformatter()
    for crop in [None, (1, 3, 61, 41)]:
        geo = clip_geometry(96, 64, Fraction(24), ClipEncoding(size=40), crop)
        with av.open(str(numbered)) as c:
            for frame in c.decode(video=0):
                fresh = to_clip_frame(frame, geo).to_ndarray()
                assert np.array_equal(to_clip_frame(frame, geo, shared).to_ndarray(), fresh)


def test_x264_params_reach_the_encoder(numbered, tmp_path):
    """``ClipEncoding.x264_params`` is passed to x264 (its settings are written into the stream's SEI)."""
    span = [ClipSpan(0, 0, 11)]
    plain = extract_clips(numbered, span, [tmp_path / "plain.mp4"], ClipEncoding(crf=20))[0].read_bytes()
    fast_enc = ClipEncoding(crf=20, x264_params="me=dia:subme=1:partitions=i8x8,i4x4")
    fast = extract_clips(numbered, span, [tmp_path / "fast.mp4"], fast_enc)[0].read_bytes()
    assert b" me=hex " in plain and b" subme=2 " in plain
    assert b" me=dia " in fast and b" subme=1 " in fast and b" analyse=0x3:0x3 " in fast
    # the preset's lookahead and macroblock tree are kept (they are what keeps the bytes down)
    assert b" rc_lookahead=10 " in fast and b" mbtree=1 " in fast
    assert len(_yuv_frames(tmp_path / "fast.mp4")) == 12
