"""CPU cost of the curate job's map task (``process_video``) for two source trees side by side, and whether
their outputs are the same.

Each tree (``--tree NAME=DIR``, DIR holding the ``pipeline``/``annotator``/... packages, e.g. a snapshot of
the previous commit under /tmp and the working tree) gets one persistent worker process, set up as a Ray video
task is: one torch thread, one OpenCV thread, one x264 encode thread, one decoder thread, models loaded before
timing (warm). The driver hands every video to the workers in turn, alternating which tree goes first, so both
see the same machine load. Per call it records the main thread's CPU seconds (``time.thread_time``: detection,
scoring, captioning, frame conversions and, with one encode thread, x264 itself), the whole process's CPU
seconds (adds the decoder's threads) and wall seconds. Wall time is printed but means little on a shared
machine; compare the CPU columns.

Then the staged outputs of the first repetition are compared file by file (clips, thumbnails, embeddings:
bytes; ``result.pkl``: every field except the stage timings, with the frame digests reported separately,
since a change of digest function changes them by design: they must still map one to one).

``--profile``: instead, a thread-CPU cProfile of ``process_video`` in this process (current tree), top
functions by own time and by cumulative time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def _setup_worker() -> Any:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    from pipeline.curate.config import CurateConfig

    cfg = CurateConfig()
    # TransNetV2 runs only on windows the cheap signals leave open, so a warm-up video may not load it
    from pipeline.shots.transnet import TransNetV2Model

    _ = TransNetV2Model().runner
    # as a one-CPU Ray task runs it: one encode thread, one decoder thread
    return dataclasses.replace(
        cfg,
        clips=dataclasses.replace(cfg.clips, encode_threads=1),
        analysis=dataclasses.replace(cfg.analysis, decode_threads=1),
    )


def _process_cpu() -> float:
    t = os.times()
    return t.user + t.system


def serve(scratch: Path) -> None:
    """Worker: read ``path<TAB>video_id<TAB>out`` lines, run the map task, answer one JSON line each."""
    cfg = _setup_worker()
    from pipeline.curate.video_task import process_video

    for line in sys.stdin:
        path, video_id, out = line.rstrip("\n").split("\t")
        t0, c0, p0 = time.perf_counter(), time.thread_time(), _process_cpu()
        r = process_video(path, cfg, out, video_id=video_id)
        reply = {
            "thread_cpu": time.thread_time() - c0,
            "process_cpu": _process_cpu() - p0,
            "wall": time.perf_counter() - t0,
            "clips": len(r.clips),
            "timings": r.timings,
        }
        print(json.dumps(reply), flush=True)


def _video_id(path: Path) -> str:
    from pipeline.decode import file_sha256

    return file_sha256(path)


def _same(a: Any, b: Any, where: str, problems: list[str], skip_digests: bool) -> None:
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        if type(a).__name__ != type(b).__name__:
            problems.append(f"{where}: {type(a).__name__} vs {type(b).__name__}")
            return
        for f in dataclasses.fields(a):
            if f.name == "timings" or (skip_digests and f.name == "digests"):
                continue
            if f.name.startswith("_"):
                continue
            _same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}", problems, skip_digests)
    elif isinstance(a, dict):
        if set(a) != set(b):
            problems.append(f"{where}: keys {sorted(set(a) ^ set(b))}")
            return
        for k in a:
            _same(a[k], b[k], f"{where}[{k!r}]", problems, skip_digests)
    elif isinstance(a, list | tuple):
        if len(a) != len(b):
            problems.append(f"{where}: length {len(a)} vs {len(b)}")
            return
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]", problems, skip_digests)
    elif isinstance(a, np.ndarray):
        if not isinstance(b, np.ndarray) or a.shape != b.shape or a.dtype != b.dtype:
            problems.append(f"{where}: array shape/dtype")
        elif not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
            problems.append(f"{where}: array values")
    elif isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return
    elif a != b:
        problems.append(f"{where}: {a!r} vs {b!r}")


def _digests(result: Any) -> list[bytes]:
    return [fp.digests.tobytes() for fp in result.fingerprints if fp is not None and fp.digests is not None]


def compare_outputs(a: Path, b: Path) -> tuple[list[str], str]:
    """Differences between two map-task output folders (``<out>/work/videos/<id>/``), and a digest verdict."""
    problems: list[str] = []
    digest_same = digest_diff = 0
    for va in sorted((a / "work" / "videos").iterdir()):
        vb = b / "work" / "videos" / va.name
        files_a = sorted(p.relative_to(va) for p in va.rglob("*") if p.is_file())
        files_b = sorted(p.relative_to(vb) for p in vb.rglob("*") if p.is_file()) if vb.is_dir() else []
        if files_a != files_b:
            problems.append(f"{va.name[:12]}: file lists differ")
            continue
        for rel in files_a:
            if rel.name == "result.pkl":
                with open(va / rel, "rb") as fa, open(vb / rel, "rb") as fb:
                    (fmt_a, ra), (fmt_b, rb) = pickle.load(fa), pickle.load(fb)
                if fmt_a != fmt_b:
                    problems.append(f"{va.name[:12]}: result format {fmt_a} vs {fmt_b}")
                _same(ra, rb, va.name[:12], problems, skip_digests=True)
                da, db = _digests(ra), _digests(rb)
                if da == db:
                    digest_same += 1
                else:
                    digest_diff += 1
                    # the same equalities must hold: equal new digests exactly where the old ones were equal
                    flat_a = [x for d in da for x in np.frombuffer(d, "<u8").tolist()]
                    flat_b = [x for d in db for x in np.frombuffer(d, "<u8").tolist()]
                    pairs = {(x, y) for x, y in zip(flat_a, flat_b, strict=True)}
                    if len({x for x, _ in pairs}) != len(pairs) or len({y for _, y in pairs}) != len(pairs):
                        problems.append(f"{va.name[:12]}: digests do not match one to one")
            elif (va / rel).read_bytes() != (vb / rel).read_bytes():
                problems.append(f"{va.name[:12]}/{rel}: bytes differ")
    verdict = f"digests equal in {digest_same} videos, changed (one to one) in {digest_diff}"
    return problems, verdict


def side_by_side(trees: dict[str, Path], videos: list[Path], reps: int, out: Path) -> int:
    env_base = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = {}
    for name, tree in trees.items():
        env = {**env_base, "PYTHONPATH": str(tree)}
        workers[name] = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(out / "scratch")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(tree),
        )
    ids = {v: _video_id(v) for v in videos}

    def call(name: str, video: Path, dest: Path) -> dict[str, Any]:
        w = workers[name]
        assert w.stdin is not None and w.stdout is not None
        w.stdin.write(f"{video.resolve()}\t{ids[video]}\t{dest}\n")
        w.stdin.flush()
        line = w.stdout.readline()
        if not line:
            raise SystemExit(f"worker {name} died")
        return json.loads(line)

    # warm-up: models loaded, first-call costs paid
    for name in trees:
        call(name, videos[0], out / "warm" / name)
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    totals = {n: np.zeros(3) for n in trees}
    per_video = {n: {v.name: [] for v in videos} for n in trees}
    k = 0
    for rep in range(reps):
        for video in videos:
            order = list(trees) if k % 2 == 0 else list(trees)[::-1]
            k += 1
            for name in order:
                r = call(name, video, out / name / f"rep{rep}")
                totals[name] += (r["thread_cpu"], r["process_cpu"], r["wall"])
                per_video[name][video.name].append(r["thread_cpu"])
    for w in workers.values():
        assert w.stdin is not None
        w.stdin.close()
        w.wait()
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    names = list(trees)
    print(f"{len(videos)} videos x {reps} reps; CPU seconds summed over all calls")
    print(f"{'video (thread CPU s, best rep)':<48}" + "".join(f"{n:>12}" for n in names))
    for v in videos:
        print(f"{v.name[:46]:<48}" + "".join(f"{min(per_video[n][v.name]):>12.2f}" for n in names))
    print(f"{'':<22}{'thread CPU s':>14}{'process CPU s':>15}{'wall s':>9}")
    for n in names:
        t = totals[n]
        print(f"{n:<22}{t[0]:>14.2f}{t[1]:>15.2f}{t[2]:>9.1f}")
    if len(names) == 2:
        a, b = totals[names[0]], totals[names[1]]
        print(
            f"ratio {names[0]} / {names[1]}: thread CPU {a[0] / b[0]:.3f}, process CPU {a[1] / b[1]:.3f}, "
            f"wall {a[2] / b[2]:.3f}"
        )
        problems, verdict = compare_outputs(out / names[0] / "rep0", out / names[1] / "rep0")
        print(f"outputs: {'identical' if not problems else f'{len(problems)} DIFFERENCES'} ({verdict})")
        for p in problems[:30]:
            print("  ", p)
        return 1 if problems else 0
    return 0


def profile(videos: list[Path], out: Path, top: int) -> None:
    import cProfile
    import pstats

    cfg = _setup_worker()
    from pipeline.curate.video_task import process_video

    ids = {v: _video_id(v) for v in videos}
    process_video(str(videos[0]), cfg, out / "warm", video_id=ids[videos[0]])
    prof = cProfile.Profile(time.thread_time)
    c0 = time.thread_time()
    for v in videos:
        prof.runcall(process_video, str(v), cfg, out / "prof", video_id=ids[v])
    print(f"thread CPU {time.thread_time() - c0:.2f} s over {len(videos)} videos")
    prof.dump_stats(str(out / "map.pstats"))
    stats = pstats.Stats(prof)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top * 2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("videos", nargs="*", type=Path, help="video files (folders: their *.mp4)")
    p.add_argument("--tree", action="append", default=[], help="NAME=DIR, a source tree to run (twice)")
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("/tmp/bench_map_speed"))
    p.add_argument("--profile", action="store_true")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    videos: list[Path] = []
    for v in args.videos:
        videos.extend(sorted(v.glob("*.mp4")) if v.is_dir() else [v])
    if not videos:
        p.error("no videos")
    if args.out.exists():
        import shutil

        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    if args.profile:
        profile(videos, args.out, args.top)
        return 0
    trees = dict(t.split("=", 1) for t in args.tree)
    if not trees:
        p.error("give --tree NAME=DIR at least once (or --profile)")
    return side_by_side({k: Path(v) for k, v in trees.items()}, videos, args.reps, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
