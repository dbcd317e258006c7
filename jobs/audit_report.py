"""``anicurate audit``: the audit sections as terminal tables and as a static HTML report with plots."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from pipeline import audit


def sections(con) -> list[tuple[str, pd.DataFrame]]:  # noqa: ANN001 (duckdb connection)
    reb = audit.rebalance(con)
    weights = reb.weights.describe().T.reset_index() if len(reb.weights) else pd.DataFrame()
    return [
        ("Funnel", audit.funnel(con)),
        ("Rejections by rule", audit.rejections_by_rule(con)),
        ("Tag coverage per field (kept clips)", audit.field_coverage(con)),
        ("Tag distribution per axis and field (kept clips)", audit.tag_distribution(con)),
        ("Most frequent tag pairs across fields", audit.co_occurrence(con)),
        ("Long-tail rebalancing: per-axis Gini before / after w = (1/(n_s n_m n_c n_v))^0.7", reb.gini),
        ("Rebalancing weights (mean 1)", weights),
        ("Per source", audit.per_source(con)),
        ("Duplicate clusters", audit.duplicate_clusters(con)),
    ]


def frame_table(title: str, df: pd.DataFrame, max_rows: int = 40) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for c in df.columns:
        table.add_column(str(c), overflow="fold")
    for row in df.head(max_rows).itertuples(index=False):
        table.add_row(*[_cell(v) for v in row])
    if len(df) > max_rows:
        table.caption = f"{len(df) - max_rows} more rows (see the HTML report or use --sql)"
    return table


def _cell(v: object) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def print_audit(console: Console, con) -> None:  # noqa: ANN001
    for title, df in sections(con):
        if df.empty:
            console.print(f"[bold]{title}[/]: none", highlight=False)
            continue
        console.print(frame_table(title, df), highlight=False)


def _png(draw: Callable) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = draw(plt)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def plots(con) -> list[tuple[str, str]]:  # noqa: ANN001
    """(title, base64 PNG) of the tag distribution per field, score histograms and the funnel."""
    out: list[tuple[str, str]] = []
    tags = audit.tag_distribution(con)
    for field, df in tags.groupby("field", sort=True):

        def bar(plt, df=df, field=field):  # noqa: ANN001
            fig, ax = plt.subplots(figsize=(6, 0.3 * len(df) + 1))
            ax.barh(df["value"], df["clips"], color="#4477aa")
            ax.invert_yaxis()
            ax.set_title(field)
            ax.set_xlabel("kept clips")
            return fig

        out.append((f"tags: {field}", _png(bar)))
    scores = audit.sql(con, "SELECT * FROM scores")
    cols = [c for c in audit.score_columns(con) if scores[c].notna().any()]
    if cols:

        def hist(plt):  # noqa: ANN001
            n = len(cols)
            rows = (n + 3) // 4
            fig, axes = plt.subplots(rows, 4, figsize=(14, 2.6 * rows))
            for ax, c in zip(axes.flat, cols, strict=False):
                ax.hist(scores[c].dropna().astype(float), bins=20, color="#228833")
                ax.set_title(c, fontsize=8)
            for ax in list(axes.flat)[n:]:
                ax.axis("off")
            fig.tight_layout()
            return fig

        out.append(("score histograms (all shots)", _png(hist)))
    fun = audit.funnel(con)
    if not fun.empty:

        def funnel_plot(plt):  # noqa: ANN001
            fig, ax = plt.subplots(figsize=(7, 3))
            ax.bar(fun["stage"], fun["seconds_kept"], color="#aa3377")
            ax.set_ylabel("source seconds kept")
            ax.set_title("funnel")
            return fig

        out.append(("funnel", _png(funnel_plot)))
    return out


def write_html(path: Path, con, corpus: Path) -> Path:  # noqa: ANN001
    parts = [
        "<!doctype html><meta charset='utf-8'><title>AniCurate audit</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:2px 6px}h2{margin-top:1.6em}</style>",
        f"<h1>AniCurate audit of {html.escape(str(corpus))}</h1>",
    ]
    for title, df in sections(con):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(df.to_html(index=False, na_rep="-", escape=True) if not df.empty else "<p>none</p>")
    parts.append("<h2>Plots</h2>")
    for title, png in plots(con):
        parts.append(
            f"<h3>{html.escape(title)}</h3><img alt='{html.escape(title)}' src='data:image/png;base64,{png}'>"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(parts))
    tmp.replace(path)
    return path
