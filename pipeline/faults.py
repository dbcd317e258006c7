"""Named fault points for crash-safety tests. Unset (always, in production) each costs one dictionary lookup.

``ANICURATE_CRASH_AT=<point>:<n>``  the n-th time (1-based) execution reaches ``fault_point(<point>)`` the process
                                     kills itself with SIGKILL (a crash: no cleanup, no flush);
``ANICURATE_ENOSPC_AT=<point>:<n>`` ... raises ``OSError(ENOSPC)`` instead (a full disk);
``ANICURATE_HANG_AT=<point>:<n>``   ... sleeps for an hour (a hung decoder).

Hits are counted per process, or across processes when ``ANICURATE_FAULT_COUNTER`` names a file (so "crash the
first attempt only" works when Ray retries the task in a fresh worker). ``<n>`` may be ``*``: every time.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import time

_ACTIONS = {"ANICURATE_CRASH_AT": "kill", "ANICURATE_ENOSPC_AT": "enospc", "ANICURATE_HANG_AT": "hang"}
COUNTER_ENV = "ANICURATE_FAULT_COUNTER"
_hits: dict[str, int] = {}


def _count(name: str) -> int:
    path = os.environ.get(COUNTER_ENV)
    if not path:
        _hits[name] = _hits.get(name, 0) + 1
        return _hits[name]
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        n = sum(1 for line in fh if line.strip() == name) + 1
        fh.write(name + "\n")
        fh.flush()
        return n


def fault_point(name: str) -> None:
    for env, action in _ACTIONS.items():
        spec = os.environ.get(env)
        if not spec:
            continue
        point, _, count = spec.rpartition(":")
        if point != name:
            continue
        n = _count(name)
        if count == "*" or n == int(count or 1):
            if action == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            elif action == "enospc":
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f"<injected at {name}>")
            else:
                time.sleep(3600)


#: The name the pipeline code uses; kept short at the call sites.
crash_point = fault_point
