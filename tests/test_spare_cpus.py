import os
import signal
import subprocess
import sys
import textwrap

import pytest

from pipeline.spare_cpus import SpareCpus, fcntl

pytestmark = pytest.mark.skipif(fcntl is None, reason="no fcntl (Windows): nothing is ever borrowed")


def test_a_cpu_is_borrowed_only_while_no_task_holds_it(tmp_path):
    a, b = SpareCpus(tmp_path, 2), SpareCpus(tmp_path, 2)
    assert a.claim(1) == 1 and b.claim(1) == 1
    # both CPUs are some task's own: nothing to borrow
    assert a.try_borrow(1) is None and b.try_borrow(1) is None
    b.release()  # b's video is done: its CPU idles
    token = a.try_borrow(1)
    assert token is not None
    assert a.try_borrow(1) is None  # there was one idle CPU, and it is taken
    SpareCpus.give_back(token)
    assert (token := a.try_borrow(1)) is not None
    SpareCpus.give_back(token)
    a.release()


def test_a_task_that_started_short_of_its_cpus_takes_them_back_before_borrowing(tmp_path):
    lender, late = SpareCpus(tmp_path, 2), SpareCpus(tmp_path, 2)
    assert lender.claim(1) == 1
    token = lender.try_borrow(1)  # the lone task borrowed the idle CPU ...
    assert token is not None
    assert late.claim(1) == 0  # ... when a new task started on it: it runs anyway, short of its token
    SpareCpus.give_back(token)
    assert late.try_borrow(1) is None  # the freed CPU becomes the late task's own, not a loan
    assert late.claim(1) == 1
    assert lender.try_borrow(1) is None
    lender.release()
    late.release()


def test_a_killed_task_never_keeps_a_cpu(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from pipeline.spare_cpus import SpareCpus
                s = SpareCpus(Path({str(tmp_path)!r}), 1)
                assert s.claim(1) == 1
                print("held", flush=True)
                time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        other = SpareCpus(tmp_path, 1)
        assert other.try_borrow(0) is None
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        token = other.try_borrow(0)
        assert token is not None  # the kernel dropped the dead process's lock
        SpareCpus.give_back(token)
    finally:
        holder.kill()
        holder.wait()


def test_an_unusable_folder_disables_borrowing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    s = SpareCpus(blocker / "cpus", 4)
    assert not s.enabled
    assert s.claim(1) == 0 and s.try_borrow(1) is None
