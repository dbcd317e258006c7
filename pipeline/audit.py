"""Audit of a curated corpus: DuckDB over the manifest's Parquet tables.

:func:`connect` opens an in-memory DuckDB with one view per table (``videos``, ``shots``, ``scores``, ``clips``,
``tags``, ``rejections``, ``shards``, ``funnel``), so any SQL a user writes runs against the corpus as is. The
named queries below are the audit's standard sections; each returns a pandas DataFrame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.rebalance import EXPONENT
from pipeline.records import TABLES

EXTRA_TABLES = ("shards", "funnel")


class AuditError(ValueError):
    """The folder is not a curated corpus, or a query failed; the message says which."""


def connect(out: str | Path) -> duckdb.DuckDBPyConnection:
    manifest = Path(out) / "manifest"
    if not manifest.is_dir():
        raise AuditError(f"{out}: no manifest/ folder; run `anicurate curate ... --out {out}` first")
    con = duckdb.connect()
    for name in (*TABLES, *EXTRA_TABLES):
        path = manifest / f"{name}.parquet"
        if path.is_file():
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path.as_posix()}')")
        else:
            raise AuditError(f"{path} is missing: the curate run in {out} did not finish; rerun it to resume")
    return con


def sql(con: duckdb.DuckDBPyConnection, query: str) -> pd.DataFrame:
    try:
        return con.execute(query).df()
    except duckdb.Error as exc:
        raise AuditError(f"query failed: {exc}".splitlines()[0]) from exc


KEPT = "SELECT clip_id FROM clips WHERE status = 'kept'"


def tag_distribution(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Kept clips per (axis, field, value), with the share of the field's tagged clips."""
    return sql(
        con,
        f"""
        SELECT axis, field, value, count(DISTINCT clip_id) AS clips,
               round(count(DISTINCT clip_id) / sum(count(DISTINCT clip_id)) OVER (PARTITION BY field), 3) AS share
        FROM tags WHERE clip_id IN ({KEPT})
        GROUP BY axis, field, value ORDER BY axis, field, clips DESC, value""",
    )


def field_coverage(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per field: how many kept clips carry a tag (the rest are missing, never invented)."""
    return sql(
        con,
        f"""
        WITH k AS ({KEPT})
        SELECT axis, field, count(DISTINCT clip_id) AS tagged,
               (SELECT count(*) FROM k) AS kept_clips,
               round(count(DISTINCT clip_id) / greatest((SELECT count(*) FROM k), 1), 3) AS coverage
        FROM tags WHERE clip_id IN (SELECT clip_id FROM k) GROUP BY axis, field ORDER BY axis, field""",
    )


def co_occurrence(con: duckdb.DuckDBPyConnection, limit: int = 30) -> pd.DataFrame:
    """The most frequent pairs of tags of different fields on the same kept clip."""
    return sql(
        con,
        f"""
        WITH t AS (SELECT clip_id, field || '=' || value AS tag, field FROM tags WHERE clip_id IN ({KEPT}))
        SELECT a.tag AS tag_a, b.tag AS tag_b, count(*) AS clips
        FROM t a JOIN t b ON a.clip_id = b.clip_id AND a.field < b.field
        GROUP BY 1, 2 ORDER BY clips DESC, tag_a, tag_b LIMIT {int(limit)}""",
    )


def funnel(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return sql(con, "SELECT * FROM funnel")


def rejections_by_rule(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return sql(
        con,
        """SELECT stage, subject, rule, count(*) AS items, any_value(reason) AS example
        FROM rejections GROUP BY stage, subject, rule ORDER BY items DESC, stage, rule""",
    )


def per_source(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per input video: its shots, clips kept / duplicate, rejections and seconds kept."""
    return sql(
        con,
        """
        SELECT v.path AS source, v.status, v.width || 'x' || v.height AS size, round(v.duration_s, 1) AS seconds,
               (SELECT count(*) FROM shots s WHERE s.video_id = v.video_id) AS shots,
               (SELECT count(*) FROM clips c WHERE c.video_id = v.video_id AND c.status = 'kept') AS kept,
               (SELECT count(*) FROM clips c WHERE c.video_id = v.video_id AND c.status = 'duplicate') AS duplicates,
               (SELECT round(coalesce(sum(c.end_s - c.start_s), 0), 1) FROM clips c
                 WHERE c.video_id = v.video_id AND c.status = 'kept') AS seconds_kept
        FROM videos v ORDER BY v.path""",
    )


def duplicate_clusters(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Each kept clip that has copies, with the copies and where they come from."""
    return sql(
        con,
        """
        SELECT d.duplicate_of AS kept_clip, count(*) AS copies, string_agg(d.clip_id, ', ' ORDER BY d.clip_id) AS duplicates,
               string_agg(DISTINCT r.rule, ', ') AS kinds
        FROM clips d LEFT JOIN rejections r ON r.subject_id = d.clip_id AND r.stage = 'dedupe'
        WHERE d.status = 'duplicate' GROUP BY d.duplicate_of ORDER BY copies DESC, kept_clip""",
    )


def score_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    cols = sql(con, "DESCRIBE scores")
    numeric = cols[cols["column_type"].isin(["FLOAT", "DOUBLE", "INTEGER", "BIGINT"])]["column_name"]
    skip = {"start_frame", "end_frame", "start_s", "end_s", "width", "height", "active_x", "active_y"}
    return [c for c in numeric if c not in skip]


@dataclass
class Rebalance:
    weights: pd.DataFrame  # clip_id, weight
    gini: pd.DataFrame  # axis, before, after


def rebalance(con: duckdb.DuckDBPyConnection) -> Rebalance:
    """The long-tail weight w = (1/(n_s n_m n_c n_v))^0.7 of every kept clip and the per-axis Gini."""
    from pipeline.rebalance import axis_gini, rebalance_weights

    rows = sql(con, f"SELECT clip_id, field, value FROM tags WHERE clip_id IN ({KEPT}) ORDER BY clip_id")
    kept = sql(con, f"{KEPT} ORDER BY clip_id")["clip_id"].tolist()
    tags: dict[str, dict[str, list[str]]] = {c: {} for c in kept}
    for r in rows.itertuples():
        tags[r.clip_id].setdefault(r.field, []).append(r.value)
    tag_sets = [tags[c] for c in kept]
    w = rebalance_weights(tag_sets)
    before = axis_gini(tag_sets) if kept else {}
    after = axis_gini(tag_sets, w) if kept else {}
    gini = pd.DataFrame(
        [{"axis": a, "gini_before": round(before[a], 3), "gini_after": round(after[a], 3)} for a in before]
    )
    return Rebalance(pd.DataFrame({"clip_id": kept, "weight": w.round(4)}), gini)


__all__ = [
    "EXPONENT",
    "AuditError",
    "Rebalance",
    "co_occurrence",
    "connect",
    "duplicate_clusters",
    "field_coverage",
    "funnel",
    "per_source",
    "rebalance",
    "rejections_by_rule",
    "score_columns",
    "sql",
    "tag_distribution",
]
