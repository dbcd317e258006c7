"""Arrow schemas derived from record dataclasses, and their Parquet round trip.

A record is a frozen dataclass whose fields are declared with :func:`col` (a documented column); the Arrow
schema is derived from the annotations, so the dataclass is the single source of truth.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

R = TypeVar("R")


def col(doc: str, arrow: pa.DataType | None = None, default: Any = dataclasses.MISSING) -> Any:
    """A documented column; ``arrow`` overrides the type inferred from the annotation."""
    meta = {"doc": doc, "arrow": arrow}
    if default is dataclasses.MISSING:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


_SCALARS: dict[type, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
}


def _arrow_type(annotation: Any) -> tuple[pa.DataType, bool]:
    """(arrow type, nullable) for a field annotation such as ``int`` or ``str | None``."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"unsupported union {annotation}")
        return _SCALARS[inner[0]], True
    if annotation not in _SCALARS:
        raise TypeError(f"no Arrow mapping for {annotation}")
    return _SCALARS[annotation], False


def arrow_schema(record_type: type) -> pa.Schema:
    """The Arrow schema of a record dataclass, with each column's ``doc`` in the field metadata."""
    hints = typing.get_type_hints(record_type)
    fields = []
    for f in dataclasses.fields(record_type):
        inferred, nullable = _arrow_type(hints[f.name])
        arrow = f.metadata.get("arrow") or inferred
        fields.append(pa.field(f.name, arrow, nullable=nullable, metadata={"doc": f.metadata["doc"]}))
    return pa.schema(fields, metadata={"record": record_type.__name__})


def to_table(records: Iterable[Any], record_type: type) -> pa.Table:
    """Rows of ``record_type`` as a table with exactly its schema (an empty table keeps the schema)."""
    schema = arrow_schema(record_type)
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for rec in records:
        if not isinstance(rec, record_type):
            raise TypeError(f"expected {record_type.__name__}, got {type(rec).__name__}")
        for name in schema.names:
            columns[name].append(getattr(rec, name))
    return pa.Table.from_pydict(columns, schema=schema)


def from_table(table: pa.Table, record_type: type[R]) -> list[R]:
    """Rows of a table read back as ``record_type``; missing or extra columns are an error."""
    expected = arrow_schema(record_type).names
    if sorted(table.column_names) != sorted(expected):
        missing = sorted(set(expected) - set(table.column_names))
        extra = sorted(set(table.column_names) - set(expected))
        raise ValueError(
            f"table does not match {record_type.__name__}: missing {missing}, unexpected {extra}"
        )
    return [record_type(**row) for row in table.to_pylist()]


def write_parquet(records: Sequence[Any], record_type: type, path: str | Path) -> Path:
    """Write records atomically: to ``<path>.tmp`` first, renamed when complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(to_table(records, record_type), tmp)
    tmp.replace(path)
    return path


def read_parquet(path: str | Path, record_type: type[R]) -> list[R]:
    return from_table(pq.read_table(path), record_type)


def describe(record_type: type) -> str:
    """A plain-text description of a table's columns, for docs and ``--help``."""
    schema = arrow_schema(record_type)
    lines = [f"{record_type.__name__}"]
    for f in schema:
        null = " (nullable)" if f.nullable else ""
        lines.append(f"  {f.name}: {f.type}{null}  {f.metadata[b'doc'].decode()}")
    return "\n".join(lines)
