"""Encoded bytes depend on the frames alone (pipeline.x264): resume and the Ray runner rely on it."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline.clips import ClipEncoding, ClipSpan, cut_clips
from pipeline.curate.config import X264_FAST_PARAMS
from pipeline.synthetic import SynthConfig, generate_footage
from pipeline.x264 import cpu_has_avx512, reproducible_x264_params, x264_options


def test_avx512_is_switched_off_unless_the_params_choose_the_instruction_sets() -> None:
    assert reproducible_x264_params(None, avx512=False) is None
    assert reproducible_x264_params("me=dia", avx512=False) == "me=dia"
    assert reproducible_x264_params(None, avx512=True) == "asm=AVX2"
    assert reproducible_x264_params("me=dia:subme=1", avx512=True) == "me=dia:subme=1:asm=AVX2"
    assert reproducible_x264_params("asm=SSE4", avx512=True) == "asm=SSE4"
    assert reproducible_x264_params("me=dia:no-asm=1", avx512=True) == "me=dia:no-asm=1"
    base = {"crf": "20", "preset": "veryfast"}
    expected = reproducible_x264_params("me=dia")  # this machine's CPU
    assert x264_options(base, "me=dia") == {**base, "x264-params": expected}
    assert x264_options(base) == ({**base, "x264-params": "asm=AVX2"} if cpu_has_avx512() else base)


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 avx512f avx512bw\n")
    assert cpu_has_avx512.__wrapped__(str(info))
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2\n")
    assert not cpu_has_avx512.__wrapped__(str(info))
    assert not cpu_has_avx512.__wrapped__(str(tmp_path / "absent"))


def test_the_same_clip_encodes_to_the_same_bytes_every_time(tmp_path: Path) -> None:
    """Twenty encodes of one span in one process. On an AVX-512 CPU, x264's AVX-512 code gave several
    different files for this clip (see pipeline.x264)."""
    generate_footage(tmp_path, videos=2, seed=5, config=SynthConfig(width=432, height=240, seconds=6.0))
    src = tmp_path / "synth_001.mp4"
    enc = ClipEncoding(size=144, crf=20, preset="veryfast", x264_params=X264_FAST_PARAMS)
    digests = set()
    for rep in range(20):
        (clip,) = cut_clips(src, [ClipSpan(0, 0, 29)], [tmp_path / f"clip{rep}.mp4"], enc)
        digests.add(hashlib.sha256(clip.path.read_bytes()).hexdigest())
    assert len(digests) == 1
