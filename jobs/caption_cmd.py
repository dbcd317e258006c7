"""``anicurate caption``: AniCaption on one video -- per shot its PKS tags, confidences, sources, missing
fields and directive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from jobs.cli import app, console, fail


@app.command("caption")
def caption(
    video: Annotated[Path, typer.Argument(help="Video file to annotate.")],
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="A caption config YAML file, or a named config: picture, default (the default), clip, vlm.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print every shot as JSON.")] = False,
) -> None:
    """Split VIDEO into shots and tag each with the AniCaption experts (tags, confidences, directive)."""
    from annotator.caption import AniCaption
    from annotator.registry import CaptionConfigError
    from pipeline.decode import VideoError

    if not video.is_file():
        raise fail(f"{video} is not a file")
    try:
        captioner = AniCaption.from_config(config)
    except CaptionConfigError as exc:
        raise fail(str(exc)) from exc
    try:
        result = captioner.annotate_video(video)
    except VideoError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
        return
    console.print(
        f"[bold]{video.name}[/]: {result.frames} frames, {len(result.shots)} shots "
        f"(detector {result.detector}); experts: {', '.join(e.name for e in captioner.experts)}"
    )
    for name, reason in result.skipped_experts.items():
        console.print(f"[yellow]skipped expert {name}[/]: {reason}")
    table = Table("shot", "time (s)", "tags", "missing")
    for s in result.shots:
        ann = s.annotation
        tags = "\n".join(f"{d.tag} ({d.confidence:.2f}, {d.source})" for d in ann.decisions)
        table.add_row(
            f"{s.start}-{s.end}",
            f"{s.start_s:.2f}-{s.end_s:.2f}",
            tags or "-",
            ", ".join(ann.missing),
        )
    console.print(table)
