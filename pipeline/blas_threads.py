"""numpy's BLAS on one thread, for results that must not depend on how many cores a machine has.

OpenBLAS splits a large matrix product over its threads (one per core by default), and the split changes how
the edge tiles are summed: the dedupe hashes of the same frames (:func:`pipeline.dedupe.phash.hash_views`)
differed between 1 and 2 BLAS threads on the development clips. Ray starts its workers with
``OMP_NUM_THREADS=1``, which OpenBLAS honours, but the local runner and library callers inherit the default,
so without this the local and the Ray runner could hash, and so dedupe, the same video differently.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any


@functools.cache
def _controller() -> Any:
    """threadpoolctl's view of the loaded BLAS libraries (made once: it scans the process's libraries)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with every BLAS library numpy (or anything else loaded) uses limited to one thread; the
    previous limits are restored after it (a few microseconds each way)."""
    with _controller().limit(limits=1, user_api="blas"):
        yield
