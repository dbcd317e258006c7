"""x264 options that keep encoded bytes a function of the input frames alone.

Every H.264 encode of the project (clips, synthetic footage, generated previews) sets its encoder options
through :func:`x264_options`. Resume, the Ray runner and the second-decode clip path all promise
byte-identical shards, and that needs the encoder to give the same bytes for the same frames on every run.
With one encoder thread it does, except with x264's AVX-512 code. Measured with the libx264 inside PyAV 18.1's
wheel on an AMD EPYC with AVX-512: 30 frames of 258x144 encoded 10 times in one process gave 4 different
files. With the AVX-512 code off (``asm=AVX2``: every instruction set up to AVX2) all runs were identical, at
the same encode speed.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

#: What x264's ``asm`` option is set to on a CPU with AVX-512: x264's cumulative name for every x86 instruction
#: set up to and including AVX2 (AVX-512 CPUs have all of them).
NO_AVX512 = "AVX2"

_SETS_ASM = re.compile(r"(^|:)(asm|no-asm)=")


@lru_cache(maxsize=1)
def cpu_has_avx512(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU reports AVX-512 (Linux ``/proc/cpuinfo``; False where that file does not exist)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return "avx512f" in flags and "avx2" in flags
    return False


def reproducible_x264_params(params: str | None, avx512: bool | None = None) -> str | None:
    """``params`` (x264's ``key=value:...`` syntax, or None) with ``asm=AVX2`` added when the CPU has AVX-512
    (``avx512``: override the detection), unless ``params`` already chooses the instruction sets itself."""
    if avx512 is None:
        avx512 = cpu_has_avx512()
    if not avx512 or (params and _SETS_ASM.search(params)):
        return params
    return f"{params}:asm={NO_AVX512}" if params else f"asm={NO_AVX512}"


def x264_options(options: dict[str, str], params: str | None = None) -> dict[str, str]:
    """libx264 encoder ``options`` (crf, preset, ...) plus ``x264-params``: ``params`` made reproducible by
    :func:`reproducible_x264_params` (no ``x264-params`` entry when that leaves nothing)."""
    extra = reproducible_x264_params(params)
    return {**options, "x264-params": extra} if extra else dict(options)
