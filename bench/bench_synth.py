"""Synthetic footage: generation speed beside plain PyAV decode of the same files, in one run."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pipeline.decode import iter_frames
from pipeline.synthetic import SynthConfig, generate_footage


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv or [])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        config = SynthConfig(seconds=args.seconds)
        t0 = time.perf_counter()
        manifest = generate_footage(out, videos=args.videos, seed=0, config=config)
        gen_s = time.perf_counter() - t0
        frames = 0
        t0 = time.perf_counter()
        for video in manifest.videos:
            frames += sum(1 for _ in iter_frames(video.path))
        dec_s = time.perf_counter() - t0
    video_s = args.videos * args.seconds
    print(
        f"   {args.videos} videos x {args.seconds:.0f} s at {config.width}x{config.height}, {frames} frames"
    )
    print(f"   {'stage':<22}{'wall s':>9}{'frames/s':>11}{'video-s per wall-s':>21}")
    print(f"   {'synthesise + encode':<22}{gen_s:>9.2f}{frames / gen_s:>11.0f}{video_s / gen_s:>21.2f}")
    print(f"   {'decode (PyAV, rgb24)':<22}{dec_s:>9.2f}{frames / dec_s:>11.0f}{video_s / dec_s:>21.2f}")
    print(
        f"   generation costs {gen_s / dec_s:.1f}x decode; {gen_s / args.videos:.2f} s per {args.seconds:.0f} s video"
    )


if __name__ == "__main__":
    main()
