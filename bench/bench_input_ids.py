"""How long the curate driver takes to identify its inputs (sha256 of every file) before the first task starts:
one file after another (as before), on threads (:func:`pipeline.curate.input_ids.content_ids`), and on a rerun
that finds the ids remembered in the output folder (a resume after a crash), side by side in one run.

The files are random bytes written to a temporary folder (``--mb`` MB each, ``--files`` of them); each pass reads
them from the page cache once the first has, so the hashing, not the disk, is timed (the first pass reads them
warm too: they were just written).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from pipeline.curate.input_ids import CACHE_FILE, content_ids, default_threads
from pipeline.decode import file_sha256


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--mb", type=int, default=128)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_input_ids_") as tmp:
        root = Path(tmp)
        paths = []
        block = os.urandom(1 << 20)
        for k in range(args.files):
            path = root / f"episode_{k:03d}.mkv"
            with open(path, "wb") as fh:
                for i in range(args.mb):
                    fh.write(block[i % 7 :] + block[: i % 7])  # differing MBs, written fast
            paths.append(str(path))
        total_gb = args.files * args.mb / 1024

        t = time.perf_counter()
        serial = {p: file_sha256(p) for p in paths}
        t_serial = time.perf_counter() - t

        cache = root / "out" / "work" / CACHE_FILE
        t = time.perf_counter()
        first = content_ids(paths, cache)
        t_threads = time.perf_counter() - t

        t = time.perf_counter()
        rerun = content_ids(paths, cache)
        t_rerun = time.perf_counter() - t
        assert first.ids == serial == rerun.ids, "the three ways must give the same ids"

    print(
        f"{args.files} files, {total_gb:.2f} GiB, {os.cpu_count()} CPUs ({default_threads()} hashing threads)"
    )
    print(f"{'way':<34}{'wall ms':>9}{'GiB/s':>9}{'vs one by one':>15}")
    for name, secs in (
        ("one file after another (before)", t_serial),
        ("threads, first run", t_threads),
        ("rerun, ids remembered", t_rerun),
    ):
        rate = f"{total_gb / secs:.2f}" if secs > 0.01 else "-"
        print(f"{name:<34}{secs * 1000:>9.1f}{rate:>9}{t_serial / secs:>14.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
