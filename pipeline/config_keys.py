"""Checks shared by the small dataclass configs read from YAML (CLIP expert, VLM expert, aesthetic head)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any


def known_keys(
    cls: type, raw: Mapping[str, Any] | None, where: str, error: type[Exception]
) -> dict[str, Any]:
    """``raw`` as a plain dict after checking every key names a field of dataclass ``cls``; otherwise
    ``error`` naming the unknown keys and the allowed ones."""
    raw = dict(raw or {})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise error(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
    return raw


def field_ids(raw: dict[str, Any], where: str, error: type[Exception], key: str = "fields") -> None:
    """Turn ``raw[key]`` (a list of field ids, or absent/None) into a tuple in place; ``error`` otherwise."""
    if raw.get(key) is not None:
        if isinstance(raw[key], str) or not isinstance(raw[key], Sequence):
            raise error(f"{where}.{key}: expected a list of field ids")
        raw[key] = tuple(raw[key])
