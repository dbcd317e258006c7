"""Named crash points for crash-safety tests: ``ANICURATE_CRASH_AT=<point>:<n>`` kills the process with SIGKILL
the n-th time (1-based) execution reaches ``crash_point(<point>)``. Unset (always, in production) it costs one
dictionary lookup."""

from __future__ import annotations

import os
import signal

ENV = "ANICURATE_CRASH_AT"
_hits: dict[str, int] = {}


def crash_point(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    point, _, count = spec.rpartition(":")
    if point != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
