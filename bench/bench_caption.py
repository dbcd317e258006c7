"""AniCaption motion experts: camera / timing accuracy and coverage, and each expert's frames/s beside the
decode frames/s of the same clips, in one run.

Runs on the labelled development clips (../shared/footage, skipped when absent) and on synthetic footage
generated here with exact labels. Decode is the shared analysis decode (128 px thumbs); the camera expert is
timed alone, the timing expert alone (its pair analysis included), then both as one annotator.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from annotator.base import ShotInput
from annotator.camera import CameraExpert
from annotator.evaluate import ExpertsAnnotator, evaluate_caption
from annotator.timing import TimingExpert
from pipeline.footage import find_videos, label_path_for
from pipeline.footage_labels import load_label
from pipeline.frames import AnalysisFrames, decode_analysis_frames
from pipeline.scores.registry import ScoreContext
from pipeline.synthetic import SynthConfig, generate_footage

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "footage"


def _speed(folder: Path) -> tuple[int, float, dict[str, float]]:
    """(frames, decode s, {expert: s}) over the labelled shots of ``folder``, each expert on a fresh view."""
    frames_total, decode_s = 0, 0.0
    spent = {"camera": 0.0, "timing": 0.0}
    shot_frames = 0
    for video in find_videos(folder):
        path = label_path_for(video)
        if not path.exists():
            continue
        label = load_label(path)
        t0 = time.perf_counter()
        frames: AnalysisFrames = decode_analysis_frames(video)
        decode_s += time.perf_counter() - t0
        frames_total += len(frames)
        for expert in (CameraExpert(), TimingExpert()):
            ctx = ScoreContext()
            t0 = time.perf_counter()
            for shot in label.shots:
                if shot.end < len(frames):
                    expert.annotate(ShotInput(frames, shot.start, shot.end, ctx))
            spent[expert.name] += time.perf_counter() - t0
        shot_frames += sum(s.length for s in label.shots if s.end < len(frames))
    spent["frames_in_shots"] = float(shot_frames)
    return frames_total, decode_s, spent


def _table(title: str, folder: Path) -> None:
    report = evaluate_caption(
        folder, annotate=ExpertsAnnotator([CameraExpert(), TimingExpert()]), annotator_name="camera+timing"
    )
    frames, decode_s, spent = _speed(folder)
    print(f"   {title}: {report.clips} clips, {len(report.shots)} labelled shots, {frames} frames")
    print(f"   {'field':<18}{'labelled':>9}{'answered':>10}{'coverage':>10}{'accuracy':>10}{'acc. all':>10}")
    for name in ("camera.movement", "motion.timing"):
        f = report.fields[name]
        print(
            f"   {name:<18}{f.labelled:>9}{f.answered:>10}{f.coverage or 0:>10.3f}{f.accuracy or 0:>10.3f}"
            f"{f.accuracy_all or 0:>10.3f}"
        )
    decode_fps = frames / decode_s
    shot_frames = spent["frames_in_shots"]
    print(f"   {'stage':<26}{'frames/s':>10}{'vs decode':>11}")
    print(f"   {'decode (128 px thumbs)':<26}{decode_fps:>10.0f}{1.0:>11.2f}")
    both = spent["camera"] + spent["timing"]
    for name, secs in (
        ("camera expert", spent["camera"]),
        ("timing expert", spent["timing"]),
        ("camera + timing", both),
    ):
        fps = shot_frames / secs
        print(f"   {name:<26}{fps:>10.0f}{fps / decode_fps:>11.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--synthetic-videos", type=int, default=5)
    args = parser.parse_args(argv or [])
    if SHARED.is_dir():
        _table("labelled development clips", SHARED)
    else:
        print(f"   {SHARED} absent: labelled-clip table skipped")
    with tempfile.TemporaryDirectory() as tmp:
        generate_footage(Path(tmp), videos=args.synthetic_videos, seed=1, config=SynthConfig())
        _table(f"synthetic footage ({args.synthetic_videos} x 10 s)", Path(tmp))


if __name__ == "__main__":
    main()
