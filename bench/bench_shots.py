"""Shot detection: boundary P/R/F1 and detector frames/s beside decode frames/s, all detectors in one run.

Runs on the labelled development clips (../shared/footage, skipped when absent) and on synthetic footage
generated here with exact labels.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from pipeline.shots.evaluate import EvalReport, evaluate_detectors
from pipeline.shots.registry import DETECTORS, get_detector
from pipeline.synthetic import SynthConfig, generate_footage

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "footage"


def _table(title: str, reports: list[EvalReport]) -> None:
    print(f"   {title}: {reports[0].frames} frames, decode (shared, 128 px thumbs) "
          f"{reports[0].decode_frames_per_second:.0f} frames/s")  # fmt: skip
    print(
        f"   {'detector':<24}{'P':>7}{'R':>7}{'F1':>7}{'tp':>5}{'fp':>5}{'fn':>5}{'det fr/s':>10}{'det/decode':>12}"
    )
    for r in reports:
        t = r.total
        ratio = r.frames_per_second / r.decode_frames_per_second
        print(f"   {r.detector:<24}{t.precision:>7.3f}{t.recall:>7.3f}{t.f1:>7.3f}{t.tp:>5}{t.fp:>5}{t.fn:>5}"
              f"{r.frames_per_second:>10.0f}{ratio:>12.2f}")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--detectors", nargs="*", default=list(DETECTORS))
    parser.add_argument("--synthetic-videos", type=int, default=6)
    args = parser.parse_args(argv or [])
    detectors = [get_detector(name) for name in args.detectors]
    if SHARED.is_dir():
        _table("labelled development clips", evaluate_detectors(detectors, SHARED))
    else:
        print(f"   {SHARED} absent: labelled-clip table skipped")
    with tempfile.TemporaryDirectory() as tmp:
        generate_footage(Path(tmp), videos=args.synthetic_videos, seed=1, config=SynthConfig())
        _table(
            f"synthetic footage ({args.synthetic_videos} x 10 s)", evaluate_detectors(detectors, Path(tmp))
        )


if __name__ == "__main__":
    main()
