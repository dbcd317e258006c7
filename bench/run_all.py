"""Run every benchmark in this folder (``make bench``); each prints its own table of side-by-side ratios."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

BENCHES = [
    "bench_synth",
    "bench_shots",
    "bench_dedupe",
    "bench_caption",
    "bench_caption_speed",
    "bench_curate",
    "bench_train",
    "bench_motion",
    "bench_input_ids",
]


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    for name in BENCHES:
        t0 = time.perf_counter()
        print(f"== {name}")
        importlib.import_module(name).main()
        print(f"   ({time.perf_counter() - t0:.1f} s)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
