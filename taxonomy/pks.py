"""The loaded Production Knowledge System: lookups, tag validation, label mapping, canonical form."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from difflib import SequenceMatcher
from functools import cached_property
from typing import Any

from taxonomy.model import Axis, Field, Tag, TaxonomyError, TaxonomyLookupError, Value
from taxonomy.vocab import TagVocab


def _joined(names: Iterable[str]) -> str:
    return ", ".join(names)


def _did_you_mean(word: str, candidates: Sequence[str]) -> str:
    """A hint naming the closest candidates: the best match and any nearly as good."""
    scored = sorted(((SequenceMatcher(None, word, c).ratio(), c) for c in candidates), reverse=True)
    close = [c for score, c in scored[:3] if score >= 0.6 and score >= scored[0][0] - 0.05]
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


@dataclass(frozen=True, eq=False)
class Taxonomy:
    """A validated PKS taxonomy. Build it with :func:`taxonomy.load_taxonomy`; compare two with ``fingerprint()``."""

    version: str
    axes: tuple[Axis, ...]
    #: footage label field -> label value -> tag, or None for "missing, no tag".
    label_map: Mapping[str, Mapping[str, Tag | None]]
    source: str = "<memory>"
    _fields: dict[str, Field] = dc_field(init=False, repr=False)
    _values: dict[tuple[str, str], Value] = dc_field(init=False, repr=False)
    _field_pos: dict[str, int] = dc_field(init=False, repr=False)
    _value_pos: dict[tuple[str, str], int] = dc_field(init=False, repr=False)

    def __post_init__(self) -> None:
        fields = [f for axis in self.axes for f in axis.fields]
        object.__setattr__(self, "_fields", {f.id: f for f in fields})
        object.__setattr__(self, "_values", {(f.id, v.id): v for f in fields for v in f.values})
        object.__setattr__(self, "_field_pos", {f.id: i for i, f in enumerate(fields)})
        object.__setattr__(
            self, "_value_pos", {(f.id, v.id): i for f in fields for i, v in enumerate(f.values)}
        )

    # ----------------------------------------------------------------------------------------------- lookups

    @property
    def fields(self) -> tuple[Field, ...]:
        """All fields in file order."""
        return tuple(self._fields.values())

    @property
    def values(self) -> tuple[Value, ...]:
        """All values (deprecated included) in file order."""
        return tuple(self._values.values())

    def axis(self, axis_id: str) -> Axis:
        for axis in self.axes:
            if axis.id == axis_id:
                return axis
        names = [a.id for a in self.axes]
        raise TaxonomyLookupError(
            f"unknown axis {axis_id!r}{_did_you_mean(axis_id, names)} (axes: {_joined(names)})"
        )

    def field(self, field_id: str) -> Field:
        if not isinstance(field_id, str):
            raise TaxonomyLookupError(f"a field id is a string like 'camera.movement', got {field_id!r}")
        found = self._fields.get(field_id)
        if found is not None:
            return found
        ids = list(self._fields)
        hint = _did_you_mean(field_id, ids)
        if not hint and "." not in field_id:  # a bare field name such as "movement"
            same_name = [f.id for f in self.fields if f.name == field_id]
            hint = f"; did you mean {' or '.join(repr(s) for s in same_name)}?" if same_name else ""
        axis_id = field_id.partition(".")[0]
        if axis_id in {a.id for a in self.axes}:
            listing = f"fields of axis '{axis_id}': {_joined(f.id for f in self.axis(axis_id).fields)}"
        else:
            listing = f"fields: {_joined(ids)}"
        raise TaxonomyLookupError(f"unknown field {field_id!r}{hint} ({listing})")

    def value(self, field_id: str, value_id: str) -> Value:
        fld = self.field(field_id)
        if not isinstance(value_id, str):
            raise TaxonomyLookupError(
                f"{fld.id}: value ids are strings, got {type(value_id).__name__} {value_id!r}"
            )
        found = self._values.get((fld.id, value_id))
        if found is not None:
            return found
        names = [v.id for v in fld.active_values]
        hint = _did_you_mean(value_id, names)
        raise TaxonomyLookupError(
            f"{fld.id}: unknown value {value_id!r}{hint} (valid values: {_joined(names)})"
        )

    def _usable(self, field_id: str, value_id: str) -> Value:
        """The value, refusing deprecated ones with the replacement to use instead."""
        value = self.value(field_id, value_id)
        if value.deprecated:
            fld = self.field(field_id)
            if value.replaced_by:
                instead = f"use {fld.id}={value.replaced_by} instead"
            else:
                instead = f"choose one of: {_joined(v.id for v in fld.active_values)}"
            raise TaxonomyError(
                f"{value.tag} is deprecated (tag_id {value.tag_id} is kept only to decode old data); {instead}"
            )
        return value

    # -------------------------------------------------------------------------------------------------- tags

    def parse_tag(self, text: str, *, allow_deprecated: bool = False) -> Tag:
        """``"camera.movement=pan_left"`` -> ``Tag("camera.movement", "pan_left")``, checked against the taxonomy."""
        if not isinstance(text, str) or text.count("=") != 1:
            raise TaxonomyError(
                f"expected a tag '<axis>.<field>=<value>' such as 'camera.movement=pan_left', got {text!r}"
            )
        field_id, value_id = (part.strip() for part in text.split("="))
        value = self.value(field_id, value_id) if allow_deprecated else self._usable(field_id, value_id)
        return value.tag

    def validate(self, tags: Mapping[str, str | Sequence[str]]) -> dict[str, tuple[str, ...]]:
        """Check a tag set and return it canonical: ``{field_id: (value, ...)}`` in file order, duplicates dropped.

        A value may be a single id or a sequence of ids; an empty sequence is kept as an explicit "none of these".
        Raises :class:`TaxonomyError` for an unknown field or value, a deprecated value, or several values in a
        single-cardinality field.
        """
        if not isinstance(tags, Mapping):
            raise TaxonomyError(
                f"tags must be a mapping of field id to value id(s), got {type(tags).__name__}"
            )
        grouped: dict[str, list[str]] = {}
        for field_id, raw in tags.items():
            fld = self.field(field_id)
            if isinstance(raw, str):
                values = [raw]
            elif isinstance(raw, Sequence) and not isinstance(raw, bytes | bytearray):
                values = list(raw)
            else:
                raise TaxonomyError(
                    f"{fld.id}: expected a value id or a list of value ids, got {type(raw).__name__} {raw!r}"
                )
            for v in values:
                if not isinstance(v, str):
                    raise TaxonomyError(f"{fld.id}: value ids are strings, got {type(v).__name__} {v!r}")
                self._usable(fld.id, v)
            distinct = list(dict.fromkeys(values))
            if not fld.multi and len(distinct) > 1:
                raise TaxonomyError(
                    f"{fld.id} takes a single value but got {len(distinct)}: {_joined(distinct)}; keep one"
                    f" (valid values: {_joined(v.id for v in fld.active_values)})"
                )
            grouped.setdefault(fld.id, []).extend(distinct)
        return self.canonical(grouped)

    def canonical(self, grouped: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
        """Order known fields and values as in the file and drop repeats (no validation)."""
        ordered = sorted(grouped.items(), key=lambda kv: self._field_pos[kv[0]])
        return {f: tuple(sorted(set(vs), key=lambda v, f=f: self._value_pos[(f, v)])) for f, vs in ordered}

    # ------------------------------------------------------------------------------------------------ labels

    def tags_from_label(self, label_field: str, label_value: str) -> Tag | None:
        """The tag for one footage label value (``"camera", "pan_left"``); None when the label means "unknown"."""
        mapping = self.label_map.get(label_field)
        if mapping is None:
            raise TaxonomyLookupError(
                f"label field {label_field!r} is not in the label_map of {self.source}"
                f"{_did_you_mean(str(label_field), list(self.label_map))} (label fields: {_joined(self.label_map)})"
            )
        if label_value not in mapping:
            raise TaxonomyLookupError(
                f"label {label_field}={label_value!r} is not mapped in label_map.{label_field} of {self.source}"
                f" (mapped values: {_joined(mapping)}); add it there, mapping to a tag or to null for unknown"
            )
        return mapping[label_value]

    def tags_from_labels(self, labels: Mapping[str, str | Sequence[str]]) -> dict[str, tuple[str, ...]]:
        """Label values of one shot (``{"camera": "pan_left", "vfx": ["fire", "smear"]}``) -> validated tags.

        Labels that mean "unknown" contribute nothing; an empty label list contributes nothing either, because
        one label field may feed several taxonomy fields (vfx ``smear`` feeds ``motion.deformation``).
        """
        grouped: dict[str, list[str]] = {}
        for label_field, raw in labels.items():
            label_values = [raw] if isinstance(raw, str) else list(raw)
            for label_value in label_values:
                tag = self.tags_from_label(label_field, label_value)
                if tag is not None:
                    grouped.setdefault(tag.field, []).append(tag.value)
        return self.validate(grouped)

    # ------------------------------------------------------------------------------------------- identities

    @cached_property
    def vocab(self) -> TagVocab:
        return TagVocab(self)

    def to_json_dict(self) -> dict[str, Any]:
        """The whole taxonomy as plain JSON types (``anicurate taxonomy show --json``)."""
        return {
            "version": self.version,
            "counts": {"axes": len(self.axes), "fields": len(self._fields), "values": len(self._values)},
            "axes": [
                {
                    "id": axis.id,
                    "definition": axis.definition,
                    "fields": [
                        {
                            "id": f.id,
                            "field_id": f.index,
                            "cardinality": f.cardinality,
                            "definition": f.definition,
                            "values": [_value_json(v) for v in f.values],
                        }
                        for f in axis.fields
                    ],
                }
                for axis in self.axes
            ],
            "label_map": {
                label_field: {lv: (str(tag) if tag is not None else None) for lv, tag in mapping.items()}
                for label_field, mapping in self.label_map.items()
            },
        }

    def fingerprint(self) -> str:
        """sha256 hex of the canonical content (wording included), to detect a changed taxonomy on resume."""
        canonical = json.dumps(self.to_json_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _value_json(value: Value) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": value.id,
        "tag_id": value.tag_id,
        "definition": value.definition,
        "prompts": list(value.prompts),
        "deprecated": value.deprecated,
    }
    if value.replaced_by is not None:
        out["replaced_by"] = value.replaced_by
    return out
