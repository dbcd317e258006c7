"""Terminal and JSON renderings of a :class:`~pipeline.footage.FootageSummary`."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from rich.console import Console
from rich.table import Table

from pipeline.footage import FootageSummary


def summary_to_json(summary: FootageSummary) -> dict[str, Any]:
    return {
        "folder": summary.folder,
        "clips": [
            {
                "clip": c.clip,
                "width": c.width,
                "height": c.height,
                "fps": c.fps,
                "seconds": c.seconds,
                "frames": c.frames,
                "frames_verified": c.frames_verified,
                "labelled": c.label is not None,
                "label_frames_match": c.label_frames_match,
                "shots": len(c.label.shots) if c.label else None,
                "error": c.error,
            }
            for c in summary.clips
        ],
        "totals": summary.totals(),
    }


def _counts(counter: object) -> str:
    assert isinstance(counter, dict)
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))) or "-"


def print_footage_summary(summary: FootageSummary, console: Console) -> None:
    table = Table(title=f"Footage in {summary.folder}", title_justify="left")
    for name, justify in [
        ("clip", "left"),
        ("size", "right"),
        ("fps", "right"),
        ("seconds", "right"),
        ("frames", "right"),
        ("shots", "right"),
        ("cuts", "right"),
        ("trans.", "right"),
        ("flashes", "right"),
        ("layout", "left"),
        ("check", "left"),
    ]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for c in summary.clips:
        lab = c.label
        if c.error:
            check = f"[red]unreadable: {c.error}[/]"
        elif c.label_frames_match is True:
            check = "[green]frames match label[/]"
        elif c.label_frames_match is False:
            check = f"[red]label says {lab.frames if lab else '?'}[/]"
        else:
            check = "no label" if lab is None else "not verified"
        table.add_row(
            c.clip,
            f"{c.width}x{c.height}",
            f"{float(Fraction(c.fps)):.3f}",
            f"{c.seconds:.2f}",
            str(c.frames if c.frames is not None else "?"),
            str(len(lab.shots)) if lab else "-",
            str(len(lab.cuts)) if lab else "-",
            str(len(lab.transitions)) if lab else "-",
            str(len(lab.flashes)) if lab else "-",
            lab.layout if lab else "-",
            check,
        )
    console.print(table)
    t = summary.totals()
    console.print(
        f"[bold]{t['clips']} clips[/], {t['labelled']} labelled, {t['unreadable']} unreadable; "
        f"{t['seconds']} s, {t['frames']} frames; {t['shots']} labelled shots, {t['cuts']} hard cuts",
        highlight=False,
    )
    for key in (
        "transitions",
        "flashes",
        "camera",
        "timing",
        "shot_size",
        "vfx",
        "text_overlay",
        "layout",
        "style",
    ):
        console.print(f"  {key:<13} {_counts(t[key])}", highlight=False)
