"""glibc's malloc tuned for a long-lived worker that allocates the same large arrays over and over.

By default glibc serves every allocation above a threshold (128 KB, raised as large blocks are freed, to at
most 32 MB) with a fresh ``mmap`` and returns it with ``munmap`` on free, so each new array of that size is
faulted in page by page again. A video task allocates such arrays all the time: TransNetV2's activations are
33-66 MB per batch of two windows, and the analysis window's thumbs and grays are tens to hundreds of MB. On
the development machine a bf16 TransNet batch took ~65,000 page faults and 0.49 s of CPU untuned, none and
0.39 s tuned; warm Ray runs of the 24 development clips took 2-3 % less CPU (two A/B pairs, 19.7-20.1 against
19.2-19.6 CPU s).

:func:`keep_large_blocks` raises the mmap threshold to :data:`MMAP_THRESHOLD` and the trim threshold to
:data:`TRIM_THRESHOLD`: blocks up to 128 MB come from (and go back to) the heap, and the heap returns memory to
the system only once 512 MB at its top are free. The cost is that a worker keeps up to that much freed memory.
It is called by Ray video tasks (processes the job owns), never in a user's own process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

MMAP_THRESHOLD = 128 << 20
TRIM_THRESHOLD = 512 << 20
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


@functools.cache
def keep_large_blocks() -> bool:
    """Apply the thresholds once per process; False where the C library has no ``mallopt`` (not glibc) or
    refuses them."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
