"""Terminal rendering of the curate summary: the funnel and where the outputs are."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def print_summary(console: Console, s: dict[str, Any]) -> None:
    table = Table(title="funnel", title_justify="left")
    for name in ("stage", "unit", "in", "kept", "dropped", "seconds in", "seconds kept", "dropped because"):
        table.add_column(
            name, justify="right" if name not in ("stage", "unit", "dropped because") else "left"
        )
    for f in s["funnel"]:
        table.add_row(
            f["stage"],
            f["unit"],
            str(f["items_in"]),
            str(f["kept"]),
            str(f["dropped"]),
            f"{f['seconds_in']:.1f}",
            f"{f['seconds_kept']:.1f}",
            f["reasons"] or "-",
        )
    console.print(table)
    rate = s["source_seconds"] / s["wall_seconds"] if s["wall_seconds"] else 0.0
    console.print(
        f"{s['videos']} videos ({s['resumed']} already done), {s['shots']} shots, {s['clips']} clips: "
        f"{s['kept']} kept, {s['duplicates']} duplicates; {s['source_seconds']:.1f} s of video in "
        f"{s['wall_seconds']:.1f} s ({rate:.2f} video-s/s)",
        highlight=False,
    )
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in sorted(s["stage_seconds"].items(), key=lambda kv: -kv[1]))
    console.print(f"time by stage: {stages}", highlight=False)
    console.print(f"shards:   {s['out']}/shards/ ({len(s['shards'])} tar)", highlight=False)
    console.print(f"manifest: {s['out']}/manifest/ (query with: anicurate audit {s['out']})", highlight=False)
