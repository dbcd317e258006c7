"""``anicurate audit DIR``: DuckDB over a curated corpus's manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jobs.cli import app, console, fail


@app.command("audit")
def audit_command(
    corpus: Annotated[Path, typer.Argument(help="Output folder of `anicurate curate`.")],
    sql: Annotated[
        str | None,
        typer.Option(
            help="Run one query; views: videos, shots, scores, clips, tags, rejections, shards, funnel."
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Also write a static HTML report with plots here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="With --sql: print rows as JSON.")] = False,
) -> None:
    """Audit a curated corpus: funnel, tag distributions, co-occurrence, rebalancing, sources, duplicates."""
    from jobs.audit_report import frame_table, print_audit, write_html
    from pipeline.audit import AuditError, connect
    from pipeline.audit import sql as run_sql

    try:
        con = connect(corpus)
        if sql is not None:
            df = run_sql(con, sql)
            if as_json:
                typer.echo(df.to_json(orient="records", indent=1))
            else:
                console.print(frame_table(sql, df, max_rows=200), highlight=False)
            return
        print_audit(console, con)
        if report is not None:
            written = write_html(report, con, corpus)
            console.print(f"report: {written}", highlight=False)
    except AuditError as exc:
        raise fail(str(exc)) from exc
