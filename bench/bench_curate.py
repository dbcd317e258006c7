"""Curate throughput: source video-seconds per wall-second of the whole job beside plain PyAV decode of the
same files in the same run (the headline ratio), peak memory, and how time divides between stages.

Default: 6 synthetic 10 s 640x360 videos, the default curate config, local runner (one process, so the
stage breakdown adds up to the wall time) and Ray runner with all CPUs.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from pipeline.curate import CurateConfig, run_curate
from pipeline.decode import iter_frames, probe
from pipeline.synthetic import SynthConfig, generate_footage


def decode_seconds(videos: list[Path]) -> tuple[float, float]:
    """(wall seconds, source seconds) to decode every frame of ``videos`` at full size with PyAV."""
    t0 = time.perf_counter()
    source = 0.0
    for v in videos:
        info = probe(v)
        n = sum(1 for _ in iter_frames(v))
        source += n / float(info.fps)
    return time.perf_counter() - t0, source


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--runners", nargs="*", default=["local", "ray"])
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args(argv or [])
    cfg = CurateConfig.load(args.config)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        generate_footage(data, videos=args.videos, seed=3, config=SynthConfig())
        videos = sorted(data.glob("*.mp4"))
        dec_wall, source = decode_seconds(videos)
        dec_rate = source / dec_wall
        print(
            f"   {len(videos)} videos, {source:.0f} s of 640x360 video; plain decode {dec_rate:.1f} video-s/s"
        )
        print(
            f"   {'runner':<8}{'wall s':>8}{'video-s/s':>11}{'/ decode':>10}{'kept':>6}{'dups':>6}{'peak RSS MB':>13}"
        )
        for runner in args.runners:
            out = Path(tmp) / f"out-{runner}"
            t0 = time.perf_counter()
            s = run_curate([data], out, cfg, runner=runner, say=lambda _m: None)
            wall = time.perf_counter() - t0
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            rate = source / wall
            print(f"   {runner:<8}{wall:>8.1f}{rate:>11.2f}{rate / dec_rate:>10.2f}{s.reduce.kept:>6}"
                  f"{s.reduce.duplicates:>6}{rss:>13.0f}")  # fmt: skip
            if runner == "local":
                total = sum(v for k, v in s.stage_seconds.items() if k != "total")
                parts = ", ".join(
                    f"{k} {v / total:.0%}"
                    for k, v in sorted(s.stage_seconds.items(), key=lambda kv: -kv[1])
                    if k != "total"
                )
                print(f"   time by stage (local): {parts}")
        if "ray" in args.runners:
            import ray

            ray.shutdown()
        print(
            "   peak RSS is of the driver process (local runner: everything; Ray: the workers are separate)"
        )


if __name__ == "__main__":
    main()
