"""JSON and terminal renderings of shot boundaries and shot-detection evaluations."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from pipeline.frames import AnalysisFrames
from pipeline.shots.base import ShotBoundaries
from pipeline.shots.evaluate import EvalReport


def boundaries_to_json(video: str, frames: AnalysisFrames, boundaries: ShotBoundaries) -> dict[str, Any]:
    def span(kind_start: int, kind_end: int) -> dict[str, Any]:
        return {
            "start": kind_start,
            "end": kind_end,
            "start_s": round(float(frames.seconds(kind_start)), 6),
            "end_s": round(float(frames.end_seconds(kind_end)), 6),
        }

    return {
        "video": video,
        "frames": len(frames),
        "fps": float(frames.fps),
        "fps_exact": str(frames.fps),
        "detector": boundaries.detector,
        "shots": [span(s.start, s.end) for s in boundaries.shots()],
        "transitions": [{**span(t.start, t.end), "type": t.type} for t in boundaries.transitions],
        "flashes": [{**span(f.start, f.end), "type": f.type} for f in boundaries.flashes],
    }


def print_boundaries(data: dict[str, Any], console: Console) -> None:
    table = Table(
        title=f"{data['video']}: {data['frames']} frames at {data['fps']:.3f} fps ({data['detector']})"
    )
    for col in ("#", "start", "end", "frames", "start s", "end s"):
        table.add_column(col, justify="right")
    for i, s in enumerate(data["shots"]):
        table.add_row(str(i), str(s["start"]), str(s["end"]), str(s["end"] - s["start"] + 1),
                      f"{s['start_s']:.3f}", f"{s['end_s']:.3f}")  # fmt: skip
    console.print(table)
    for key in ("transitions", "flashes"):
        for t in data[key]:
            console.print(f"  {key[:-1]} {t['type']}: frames {t['start']}..{t['end']}", highlight=False)


def print_eval_reports(reports: list[EvalReport], console: Console) -> None:
    clips = [c.clip for c in reports[0].clips]
    table = Table(
        title="Shot boundaries: F1 per clip (tolerance 1 frame; transitions match inside their span ±1)"
    )
    table.add_column("clip")
    for r in reports:
        table.add_column(r.detector, justify="right")
    for i, clip in enumerate(clips):
        cells = []
        for r in reports:
            s = r.clips[i].score
            cells.append(f"{s.f1:.2f} ({s.tp}/{s.fp}/{s.fn})")
        table.add_row(clip, *cells)
    console.print(table)
    console.print("cells: F1 (tp/fp/fn)")
    summary = Table(title="Total")
    for col in (
        "detector",
        "precision",
        "recall",
        "F1",
        "tp",
        "fp",
        "fn",
        "detector frames/s",
        "decode frames/s",
    ):
        summary.add_column(col, justify="right")
    for r in reports:
        t = r.total
        summary.add_row(r.detector, f"{t.precision:.3f}", f"{t.recall:.3f}", f"{t.f1:.3f}", str(t.tp), str(t.fp),
                        str(t.fn), f"{r.frames_per_second:.0f}", f"{r.decode_frames_per_second:.0f}")  # fmt: skip
    console.print(summary)
