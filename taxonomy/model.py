"""The records of the Production Knowledge System: axes, fields, values and tags."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: The four PKS axes, in their canonical order: T = Style x Motion x Camera x VFX.
AXES: tuple[str, ...] = ("style", "motion", "camera", "vfx")

Cardinality = Literal["single", "multi"]
CARDINALITIES: tuple[str, ...] = ("single", "multi")


class TaxonomyError(ValueError):
    """A taxonomy file or a tag set that does not follow the PKS rules; the message names the place."""


class TaxonomyLookupError(TaxonomyError, KeyError):
    """An unknown field, value, tag id or label; also a ``KeyError`` so mapping-style callers can catch it."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True, order=True)
class Tag:
    """One production tag: a value of a field, e.g. ``Tag("camera.movement", "pan_left")``."""

    field: str
    value: str

    def __str__(self) -> str:
        return f"{self.field}={self.value}"


@dataclass(frozen=True)
class Value:
    id: str
    field: str
    tag_id: int
    definition: str
    prompts: tuple[str, ...]
    deprecated: bool = False
    replaced_by: str | None = None

    @property
    def tag(self) -> Tag:
        return Tag(self.field, self.id)


@dataclass(frozen=True)
class Field:
    """A field such as ``camera.movement``; ``index`` is the file's ``field_id`` (the field-embedding row)."""

    id: str
    axis: str
    name: str
    index: int
    cardinality: Cardinality
    definition: str
    values: tuple[Value, ...]

    @property
    def multi(self) -> bool:
        return self.cardinality == "multi"

    @property
    def active_values(self) -> tuple[Value, ...]:
        """The values that may be produced now (deprecated ones only decode old data)."""
        return tuple(v for v in self.values if not v.deprecated)


@dataclass(frozen=True)
class Axis:
    id: str
    definition: str
    fields: tuple[Field, ...]
