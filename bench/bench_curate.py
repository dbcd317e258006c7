"""Curate throughput: source video-seconds per wall-second of the whole job beside plain PyAV decode of the
same files in the same run (the headline ratio), peak memory, and how time divides between stages.

Default: 6 synthetic 10 s 640x360 videos, the default curate config, local runner (one process, so the
stage breakdown adds up to its wall time) and Ray runner with all CPUs, twice: "ray" starts Ray and its
workers (each worker imports torch and loads the models once), "ray-warm" reruns the same inputs into a new
output folder on the workers the first run left up, which is the steady state of a long job. Memory is sampled from /proc every
0.2 s over this process and all its descendants (Ray's GCS, raylet and workers), so the Ray figure includes
the workers; ``ru_maxrss`` alone would only see the driver. CPU seconds (user + system, all threads, the same
process tree) are printed too: on a shared, loaded machine the wall-clock ratio mostly measures the load, while
"decode CPU / curate CPU" is the share of decode speed the job would reach on the same cores left to itself.

``--repeat N`` (default 3) runs "ray-warm" N times, each right after its own plain decode of the same files,
and prints each run's ratio to the decode measured just before it, then the median of those ratios: on a
shared or virtual machine either speed can move by 10 % from one minute to the next, and one pair of runs can
land on either side of a threshold.

``--footage DIR --limit N``: the same measurement on N real videos of DIR instead of the synthetic set (the
largest frames first, leaving out the known duplicates of ``DIR/duplicates.json``); the files are read in place,
never copied.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from pipeline.curate import CurateConfig, run_curate
from pipeline.decode import decode_rgb_reference, probe
from pipeline.synthetic import SynthConfig, generate_footage


def footage_videos(folder: Path, limit: int) -> list[Path]:
    """Up to ``limit`` videos of ``folder``, largest frames first (then by name), leaving out a video listed
    in ``duplicates.json`` as a duplicate of one already taken (a duplicate would only measure dedupe)."""
    paired: dict[str, set[str]] = {}
    dup_file = folder / "duplicates.json"
    if dup_file.is_file():
        for pair in json.loads(dup_file.read_text()).get("pairs", []):
            paired.setdefault(pair["a"], set()).add(pair["b"])
            paired.setdefault(pair["b"], set()).add(pair["a"])
    sized = []
    for v in sorted(folder.glob("*.mp4")):
        info = probe(v)
        sized.append((-info.width * info.height, v.name, v))
    taken: list[Path] = []
    for _, name, v in sorted(sized):
        if len(taken) < limit and not paired.get(name, set()) & {t.name for t in taken}:
            taken.append(v)
    return taken


def decode_seconds(videos: list[Path]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, source seconds) to decode every frame of ``videos`` with PyAV (the
    decoder's automatic threads) and convert it to a full-size RGB array, through one reformatter per file
    (:func:`pipeline.decode.decode_rgb_reference`)."""
    t0, c0 = time.perf_counter(), time.process_time()
    source = 0.0
    for v in videos:
        info = probe(v)
        source += decode_rgb_reference(v) / float(info.fps)
    return time.perf_counter() - t0, time.process_time() - c0, source


def _children(pid: int) -> list[int] | None:
    """Child pids of ``pid`` from ``/proc/PID/task/*/children`` (None where the kernel does not provide it)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    kids: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                kids.extend(int(k) for k in fh.read().split())
        except FileNotFoundError:
            if tid == tasks[0] and os.path.exists(f"/proc/{pid}/task/{tid}"):
                return None  # no "children" files on this kernel
        except (OSError, ValueError):
            continue
    return kids


def _tree(root: int) -> set[int]:
    """``root`` and all its live descendants. Follows the kernel's per-thread children lists, so that the
    memory sampler does not read every process's stat file five times a second (1-2 % of a core, taken from
    the job it measures); scans all of /proc where those lists do not exist."""
    tree, frontier = {root}, [root]
    while frontier:
        kids = _children(frontier.pop())
        if kids is None:
            return _tree_by_scan(root)
        kids = [k for k in kids if k not in tree]
        tree.update(kids)
        frontier.extend(kids)
    return tree


def _tree_by_scan(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == pid and p not in tree]
        tree.update(kids)
        frontier.extend(kids)
    return tree


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of ``root`` (all its threads) and its live descendants (Ray's processes)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in _tree(root):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return total


def _tree_rss(root: int) -> tuple[int, int, int]:
    """(RSS of ``root``, summed RSS of ``root`` and all its descendants, largest single descendant) in bytes."""
    own = total = biggest = 0
    for pid in _tree(root):
        try:
            with open(f"/proc/{pid}/status") as fh:
                rss = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue
        total += rss
        if pid == root:
            own = rss
        else:
            biggest = max(biggest, rss)
    return own, total, biggest


class MemorySampler:
    """Peak RSS of this process, of its whole process tree, and of its largest descendant, while running."""

    def __init__(self, every: float = 0.2) -> None:
        self.every = every
        self.peak_own = self.peak_tree = self.peak_child = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        root = os.getpid()
        while not self._stop.is_set():
            own, total, child = _tree_rss(root)
            self.peak_own = max(self.peak_own, own)
            self.peak_tree = max(self.peak_tree, total)
            self.peak_child = max(self.peak_child, child)
            self._stop.wait(self.every)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _split(stage_seconds: dict[str, float]) -> str:
    total = sum(v for k, v in stage_seconds.items() if k != "total")
    return ", ".join(
        f"{k} {v / total:.0%}"
        for k, v in sorted(stage_seconds.items(), key=lambda kv: -kv[1])
        if k != "total" and v / total >= 0.005
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--runners", nargs="*", default=["local", "ray", "ray-warm"])
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument(
        "--footage", type=Path, default=None, help="real videos to use instead of synthetic ones"
    )
    parser.add_argument("--limit", type=int, default=4, help="videos taken from --footage")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="ray-warm runs, each beside its own plain decode (median printed)",
    )
    args = parser.parse_args(argv)
    cfg = CurateConfig.load(args.config)
    mb = 1 / 2**20
    with tempfile.TemporaryDirectory() as tmp:
        if args.footage is not None:
            videos = footage_videos(args.footage, args.limit)
            if not videos:
                raise SystemExit(f"{args.footage}: no .mp4 videos")
            inputs = videos
        else:
            data = Path(tmp) / "data"
            generate_footage(data, videos=args.videos, seed=3, config=SynthConfig())
            videos = sorted(data.glob("*.mp4"))
            inputs = [data]
        dec_wall, dec_cpu, source = decode_seconds(videos)
        dec_rate = source / dec_wall
        sizes = sorted({f"{i.width}x{i.height}" for i in map(probe, videos)})
        print(f"   load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(
            f"   {len(videos)} videos, {source:.0f} s of {', '.join(sizes)} video; plain decode {dec_wall:.1f} s "
            f"wall = {dec_rate:.1f} video-s/s, {dec_cpu:.1f} CPU s"
        )
        print(
            f"   {'runner':<8}{'wall s':>8}{'video-s/s':>11}{'/ decode':>10}{'CPU s':>8}{'decode/CPU':>12}"
            f"{'kept':>6}{'dups':>6}{'peak RSS MB (driver / all / worker)':>38}"
        )
        splits = []
        warm_ratios: list[float] = []
        for runner in args.runners:
            reps = max(1, args.repeat) if runner == "ray-warm" else 1
            for rep in range(reps):
                rate_ref = dec_rate
                if runner == "ray-warm":
                    wall_ref, _, _ = decode_seconds(videos)
                    rate_ref = source / wall_ref
                out = Path(tmp) / f"out-{runner}-{rep}"
                with MemorySampler() as mem:
                    t0, c0 = time.perf_counter(), tree_cpu_seconds(os.getpid())
                    s = run_curate(inputs, out, cfg, runner=runner.split("-")[0], say=lambda _m: None)
                    wall, cpu = time.perf_counter() - t0, tree_cpu_seconds(os.getpid()) - c0
                rate = source / wall
                if runner == "ray-warm":
                    warm_ratios.append(rate / rate_ref)
                worker = f"{mem.peak_child * mb:.0f}" if runner.startswith("ray") else "-"
                rss = f"{mem.peak_own * mb:.0f} / {mem.peak_tree * mb:.0f} / {worker}"
                print(f"   {runner:<8}{wall:>8.1f}{rate:>11.2f}{rate / rate_ref:>10.2f}{cpu:>8.1f}"
                      f"{dec_cpu / cpu:>12.2f}{s.reduce.kept:>6}{s.reduce.duplicates:>6}{rss:>38}"
                      + (f"   (decode just before: {rate_ref:.1f} video-s/s)" if runner == "ray-warm" else ""))  # fmt: skip
                shutil.rmtree(out, ignore_errors=True)
            splits.append((runner, s.stage_seconds))
        if len(warm_ratios) > 1:
            print(
                f"   ray-warm / decode over {len(warm_ratios)} runs: median {statistics.median(warm_ratios):.3f} "
                f"(min {min(warm_ratios):.3f}, max {max(warm_ratios):.3f})"
            )
        # decode again after the curate runs: the ratio is only meaningful if the machine load did not change
        dec_wall2, _, _ = decode_seconds(videos)
        print(f"   plain decode again after the runs: {source / dec_wall2:.1f} video-s/s")
        for runner, stage_seconds in splits:
            what = "wall of one process" if runner == "local" else "summed over workers"
            print(f"   time by stage ({runner}, {what}): {_split(stage_seconds)}")
        print(f"   load average after: {os.getloadavg()[0]:.1f}")
        if any(r.startswith("ray") for r in args.runners):
            import ray

            ray.shutdown()


if __name__ == "__main__":
    main()
