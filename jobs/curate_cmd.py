"""``anicurate curate``: the main job (also ``python -m jobs.curate`` for ``ray job submit``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from jobs.cli import app, console, err_console, fail


def curate_command(
    inputs: list[Path],
    out: Path,
    config: Path | None = None,
    address: str | None = None,
    runner: str = "ray",
    num_cpus: int | None = None,
    restart: bool = False,
    as_json: bool = False,
) -> None:
    from pipeline.curate import CurateConfig, CurateConfigError, run_curate
    from pipeline.curate.job import CurateResumeError
    from pipeline.curate.runner import EnvironmentFailure

    if runner not in ("ray", "local"):
        raise fail(f"--runner {runner!r}: choose ray or local")
    try:
        cfg = CurateConfig.load(config)
    except CurateConfigError as exc:
        raise fail(str(exc)) from exc
    columns = (
        TextColumn("[bold]curate[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "videos · {task.fields[shots]} shots · {task.fields[clips]} clips · {task.fields[rate]:.2f} video-s/s"
        ),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    bar = Progress(*columns, console=err_console, transient=False, disable=as_json)
    task = bar.add_task("curate", total=None, shots=0, clips=0, rate=0.0)

    def on_progress(p) -> None:  # noqa: ANN001 (pipeline.curate.job.Progress)
        bar.update(
            task,
            total=p.videos_total,
            completed=p.videos_done,
            shots=p.shots,
            clips=p.clips,
            rate=p.throughput,
        )

    def say(message: str) -> None:
        bar.console.print(message, highlight=False, markup=False)

    try:
        with bar:
            summary = run_curate(
                [str(i) for i in inputs],
                out,
                cfg,
                runner=runner,
                address=address,
                num_cpus=num_cpus,
                restart=restart,
                on_progress=on_progress,
                say=say,
            )
    except (CurateResumeError, EnvironmentFailure, ValueError) as exc:
        raise fail(str(exc)) from exc
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise fail(f"{exc.strerror or exc}{where}; fix it and rerun the same command to resume") from exc
    payload = summary.to_json_dict()
    if as_json:
        typer.echo(json.dumps(payload, indent=1))
        return
    from jobs.curate_report import print_summary

    print_summary(console, payload)


@app.command("curate")
def curate(
    inputs: Annotated[
        list[Path], typer.Argument(help="Video files, folders (searched recursively) or list files.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Output folder: shards/, manifest/, work/ (resumable).")],
    config: Annotated[
        Path | None, typer.Option(help="Curate config YAML (default: built-in defaults).")
    ] = None,
    address: Annotated[
        str | None, typer.Option(help="Ray cluster: 'auto', 'ray://host:10001'; default starts a local Ray.")
    ] = None,
    runner: Annotated[str, typer.Option(help="ray (default) or local (in this process, no Ray).")] = "ray",
    num_cpus: Annotated[int | None, typer.Option(help="CPUs of the local Ray (default: all).")] = None,
    restart: Annotated[bool, typer.Option(help="Discard previous results in --out and start over.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run summary as JSON.")] = False,
) -> None:
    """Curate footage into PKS-tagged WebDataset shards with a Parquet manifest; rerun the same command to resume."""
    curate_command(inputs, out, config, address, runner, num_cpus, restart, as_json)
