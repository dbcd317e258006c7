"""``anicurate eval caption``: AniCaption's tag accuracy on labelled footage (annotator/evaluate.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from jobs.cli import console, eval_app, fail


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def print_caption_report(report, out: Console) -> None:  # noqa: ANN001 -- CaptionEvalReport (lazy import)
    """The report as rich tables: per-field accuracy and coverage, vfx precision / recall, confusions."""
    out.print(
        f"[bold]eval caption[/] {report.footage}: {report.clips} clips, {len(report.shots)} labelled shots"
    )
    out.print(f"annotator: {report.annotator}", highlight=False)
    table = Table(title="single-valued fields (labels that mean unknown skipped)")
    for col in ("field", "labelled", "answered", "coverage", "correct", "accuracy", "acc. incl. abstain"):
        table.add_column(col, justify="left" if col == "field" else "right")
    for f in report.fields.values():
        table.add_row(
            f.field,
            str(f.labelled),
            str(f.answered),
            _pct(f.coverage),
            str(f.correct),
            _pct(f.accuracy),
            _pct(f.accuracy_all),
        )
    out.print(table)
    vt = Table(
        title=f"vfx.effects over {report.vfx_shots} shots (coverage {_pct(report.vfx_coverage)}: shots with a tag)"
    )
    for col in ("effect", "tp", "fp", "fn", "precision", "recall"):
        vt.add_column(col, justify="left" if col == "effect" else "right")
    for e in sorted(report.effects.values(), key=lambda e: e.value):
        vt.add_row(e.value, str(e.tp), str(e.fp), str(e.fn), _pct(e.precision), _pct(e.recall))
    out.print(vt)
    for f in report.fields.values():
        if not f.confusion:
            continue
        answers = sorted({a for row in f.confusion.values() for a in row})
        ct = Table(title=f"{f.field}: truth (rows) -> answer (columns)")
        ct.add_column("truth")
        for a in answers:
            ct.add_column(a, justify="right")
        for truth in sorted(f.confusion):
            row = f.confusion[truth]
            ct.add_row(truth, *(str(row.get(a, "")) for a in answers))
        out.print(ct)
    decode, annotate = report.decode_fps, report.annotate_fps
    ratio = f" ({annotate / decode:.2f}x decode)" if decode and annotate else ""
    out.print(
        f"speed: decode {_pct(decode) if decode is None else f'{decode:.0f}'} frames/s, annotation "
        f"{'-' if annotate is None else f'{annotate:.0f}'} frames/s{ratio}",
        highlight=False,
    )


@eval_app.command("caption")
def eval_caption(
    footage: Annotated[Path, typer.Option(help="Folder of labelled clips.")],
    labels: Annotated[Path | None, typer.Option(help="Labels folder (default FOOTAGE/labels).")] = None,
    config: Annotated[
        str | None,
        typer.Option(help="AniCaption configuration: a name (picture, default, clip) or a YAML file."),
    ] = None,
    clip: Annotated[list[str] | None, typer.Option(help="Only this clip file name; repeat for more.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report (with per-shot rows) as JSON.")
    ] = False,
) -> None:
    """Per-field tag accuracy, coverage and confusions of AniCaption on the labelled shots (spans from the
    labels), per-effect vfx precision / recall, and annotation frames/s beside decode frames/s."""
    from annotator.evaluate import evaluate_caption
    from pipeline.footage_labels import LabelError

    if not footage.is_dir():
        raise fail(f"--footage {footage}: not a folder")
    if labels is not None and not labels.is_dir():
        raise fail(f"--labels {labels}: not a folder")
    try:
        with console.status("evaluating AniCaption") as status:
            report = evaluate_caption(footage, labels, config=config, clips=clip, progress=status.update)
    except (LabelError, FileNotFoundError, KeyError, ValueError) as exc:
        raise fail(str(exc)) from exc
    if not report.shots:
        raise fail(
            f"{footage}: no labelled shots found (labels are read from {labels or footage / 'labels'})"
        )
    if as_json:
        typer.echo(json.dumps(report.to_json_dict(), indent=1))
    else:
        print_caption_report(report, console)
