"""CPUs of this machine that no video task is using right now, shared by the tasks running on it.

A Ray task asks for its CPUs when it starts and keeps exactly those. At the tail of a job that leaves cores
idle: the other workers have finished and the last video runs alone on the CPUs it asked for. Work that can
spread out mid-flight (encoding one clip while the next is analysed or encoded) may borrow such an idle core.

The bookkeeping is a set of lock files, one per CPU, in a folder on this machine: whoever holds the lock of
file ``k`` uses CPU ``k``'s worth of time. A task claims its own CPUs when it starts (:meth:`SpareCpus.claim`,
without waiting), and a borrower takes a further lock only while one is free (:meth:`SpareCpus.try_borrow`), so
while every task is busy nothing is free and nothing is oversubscribed. The locks are ``flock`` locks: the
kernel drops them when the process holding them dies, so a crashed or killed task never leaks a CPU.

Where ``fcntl`` does not exist (Windows) nothing is ever borrowed.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class SpareCpus:
    """``count`` CPU tokens in ``folder`` (created when missing), shared by every process using that folder.

    One instance per task: it remembers the tokens the task claimed for itself."""

    def __init__(self, folder: Path, count: int) -> None:
        self.folder = folder
        self.count = max(0, int(count))
        self._own: list[int] = []
        self.enabled = fcntl is not None and self.count > 0
        if self.enabled:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                log.debug("spare CPUs disabled: %s", exc)
                self.enabled = False

    def _try(self) -> int | None:
        """A file descriptor holding one free token, or None when all are taken."""
        for k in range(self.count):
            try:
                fd = os.open(self.folder / f"cpu-{k}.lock", os.O_RDWR | os.O_CREAT, 0o666)
            except OSError:
                return None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            return fd
        return None

    def claim(self, cpus: int) -> int:
        """Take up to ``cpus`` tokens for this task's own CPUs (without waiting: a token a borrower holds is
        claimed later, by :meth:`borrow`'s first call); returns how many are held."""
        if not self.enabled:
            return 0
        while len(self._own) < cpus:
            fd = self._try()
            if fd is None:
                break
            self._own.append(fd)
        return len(self._own)

    def owed(self, cpus: int) -> bool:
        """Whether this task still holds fewer than its own ``cpus`` tokens (it must not borrow then)."""
        return self.enabled and self.claim(cpus) < cpus

    def try_borrow(self, cpus: int) -> int | None:
        """One free token beyond the task's own ``cpus``, as a descriptor to hand to :meth:`give_back` when the
        borrowed work is done; None when none is free. A task that holds fewer than its own ``cpus`` takes
        those back first (and borrows nothing then)."""
        if not self.enabled or self.owed(cpus):
            return None
        return self._try()

    @staticmethod
    def give_back(fd: int) -> None:
        os.close(fd)

    def release(self) -> None:
        """Give back the task's own tokens (the task is done)."""
        own, self._own = self._own, []
        for fd in own:
            os.close(fd)


def default_folder(node_key: str) -> Path:
    """The token folder of one machine (and Ray node): in shared memory where there is some."""
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return base / f"anicurate-cpus-{uid}" / node_key
