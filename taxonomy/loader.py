"""Reading and validating a PKS taxonomy file. Every error names the file, the line and the place."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn, cast

import yaml

from taxonomy.model import AXES, CARDINALITIES, Axis, Cardinality, Field, Tag, TaxonomyError, Value
from taxonomy.pks import Taxonomy

#: The taxonomy shipped with AniCurate.
BUNDLED_PATH = Path(__file__).with_name("pks_v1.yaml")

_ID = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_TOP_KEYS = {"version": True, "axes": True, "label_map": False}  # key -> required
_AXIS_KEYS = {"definition": True, "fields": True}
_FIELD_KEYS = {"field_id": True, "cardinality": True, "definition": True, "values": True}
_VALUE_KEYS = {
    "id": True,
    "tag_id": True,
    "definition": True,
    "prompts": True,
    "deprecated": False,
    "replaced_by": False,
}


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load and validate a taxonomy file; ``None`` = the bundled ``pks_v1.yaml`` (loaded once per process)."""
    if path is None:
        return _load_bundled()
    return _load_path(Path(path))


@lru_cache(maxsize=1)
def _load_bundled() -> Taxonomy:
    return _load_path(BUNDLED_PATH)


def _load_path(path: Path) -> Taxonomy:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TaxonomyError(f"{path}: cannot read the taxonomy file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise TaxonomyError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return parse_taxonomy(text, source=str(path))


def parse_taxonomy(text: str, source: str = "<taxonomy>") -> Taxonomy:
    """Validate taxonomy YAML text; ``source`` names it in error messages."""
    return _Builder(source).build(_read_yaml(text, source))


# ------------------------------------------------------------------------------------------------------ YAML


class _Node(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers its 1-based line, so semantic errors can point into the file."""

    line: int = 0


# The C parser when libyaml is present (several times faster); behaviour is the same.
_SafeBase: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeBase):  # type: ignore[valid-type,misc]
    """SafeLoader that records mapping lines and rejects duplicate keys (PyYAML silently keeps the last)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> _Node:
    loader.flatten_mapping(node)
    out = _Node()
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in out
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"unhashable mapping key {key!r}", key_node.start_mark
            ) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # safe: a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        column = f" (column {mark.column + 1})" if mark is not None else ""
        problem = exc.problem or exc.context or "malformed YAML"
        raise TaxonomyError(f"{where}: invalid YAML{column}: {problem}") from exc
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{source}: invalid YAML: {exc}") from exc


# --------------------------------------------------------------------------------------------------- checks


class _Builder:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tag_ids: dict[int, tuple[str, int]] = {}  # tag_id -> (tag, line)
        self.field_ids: dict[int, tuple[str, int]] = {}

    def fail(self, line: int, place: str, msg: str) -> NoReturn:
        at = f"{self.source}:{line}" if line else self.source
        raise TaxonomyError(f"{at}: {place}: {msg}" if place else f"{at}: {msg}")

    def mapping(self, raw: Any, line: int, place: str, keys: dict[str, bool]) -> _Node:
        """A mapping with exactly the allowed keys, all required ones present."""
        if not isinstance(raw, dict):
            self.fail(line, place, f"expected a mapping with keys {', '.join(keys)}, got {_kind(raw)}")
        node = cast(_Node, raw)
        for key in node:
            if key not in keys:
                self.fail(node.line, place, f"unknown key {key!r} (allowed: {', '.join(keys)})")
        for key, required in keys.items():
            if required and key not in node:
                self.fail(node.line, place, f"missing required key {key!r}")
        return node

    def text(self, raw: Any, line: int, place: str, what: str) -> str:
        if not isinstance(raw, str) or not raw.strip():
            self.fail(line, place, f"{what} must be a non-empty string, got {_kind(raw)}")
        if "\n" in raw.strip():
            self.fail(line, place, f"{what} must be one line")
        return raw.strip()

    def integer(self, raw: Any, line: int, place: str, what: str) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
            self.fail(line, place, f"{what} must be a non-negative integer, got {_kind(raw)}")
        return raw

    def ident(self, raw: Any, line: int, place: str, what: str) -> str:
        if not isinstance(raw, str) or not _ID.match(raw):
            self.fail(line, place, f"{what} must be a snake_case name (a-z, 0-9, _), got {_kind(raw)}")
        return raw

    # ------------------------------------------------------------------------------------------------------

    def build(self, raw: Any) -> Taxonomy:
        top = self.mapping(raw, 1, "", _TOP_KEYS)
        version = self.text(top["version"], top.line, "version", "version")
        axes_raw = top["axes"]
        if not isinstance(axes_raw, dict):
            self.fail(
                top.line, "axes", f"expected a mapping of the axes {', '.join(AXES)}, got {_kind(axes_raw)}"
            )
        axes_node = cast(_Node, axes_raw)
        for name in axes_node:
            if name not in AXES:
                self.fail(
                    axes_node.line, f"axis {name!r}", f"unknown axis; the PKS axes are {', '.join(AXES)}"
                )
        for name in AXES:
            if name not in axes_node:
                self.fail(axes_node.line, "axes", f"missing axis {name!r}")
        if tuple(axes_node) != AXES:
            self.fail(axes_node.line, "axes", f"axes must appear in the order {', '.join(AXES)}")
        axes = tuple(self.axis(name, axes_node[name], axes_node.line) for name in AXES)
        self.check_contiguous(self.field_ids, "field_id", "field", "new fields take the next free field_id")
        self.check_contiguous(
            self.tag_ids,
            "tag_id",
            "value",
            "new values take the next free tag_id; removed ones stay deprecated",
        )
        tax = Taxonomy(version=version, axes=axes, label_map=MappingProxyType({}), source=self.source)
        label_map = self.label_map(top.get("label_map", _Node()), top.line, tax)
        return Taxonomy(version=version, axes=axes, label_map=label_map, source=self.source)

    def axis(self, name: str, raw: Any, line: int) -> Axis:
        place = f"axis '{name}'"
        node = self.mapping(raw, line, place, _AXIS_KEYS)
        definition = self.text(node["definition"], node.line, place, "definition")
        fields_raw = node["fields"]
        if not isinstance(fields_raw, dict) or not fields_raw:
            self.fail(
                node.line,
                place,
                f"fields must be a non-empty mapping of field name to field, got {_kind(fields_raw)}",
            )
        fields_node = cast(_Node, fields_raw)
        fields = tuple(self.field(name, fname, fraw, fields_node.line) for fname, fraw in fields_node.items())
        return Axis(id=name, definition=definition, fields=fields)

    def field(self, axis: str, name: Any, raw: Any, line: int) -> Field:
        name = self.ident(name, line, f"axis '{axis}'", "a field name")
        field_id = f"{axis}.{name}"
        place = f"field '{field_id}'"
        node = self.mapping(raw, line, place, _FIELD_KEYS)
        index = self.integer(node["field_id"], node.line, place, "field_id")
        self.claim(self.field_ids, index, field_id, node.line, place, "field_id")
        cardinality = node["cardinality"]
        if cardinality not in CARDINALITIES:
            self.fail(
                node.line,
                place,
                f"cardinality must be one of {', '.join(CARDINALITIES)}, got {_kind(cardinality)}",
            )
        definition = self.text(node["definition"], node.line, place, "definition")
        values_raw = node["values"]
        if not isinstance(values_raw, list) or not values_raw:
            self.fail(node.line, place, f"values must be a non-empty list, got {_kind(values_raw)}")
        values: list[Value] = []
        seen: dict[str, int] = {}
        for i, vraw in enumerate(values_raw):
            value = self.value(field_id, i, vraw, node.line)
            if value.id in seen:
                self.fail(
                    _line(vraw, node.line), f"value '{value.tag}' (values[{i}])",
                    f"duplicate value id {value.id!r}, already values[{seen[value.id]}] of {field_id}",
                )  # fmt: skip
            seen[value.id] = i
            values.append(value)
        for i, value in enumerate(values):
            if value.replaced_by is not None:
                target = next((v for v in values if v.id == value.replaced_by), None)
                if target is None or target.deprecated:
                    self.fail(
                        _line(values_raw[i], node.line), f"value '{value.tag}'",
                        f"replaced_by {value.replaced_by!r} must name a non-deprecated value of {field_id}",
                    )  # fmt: skip
        return Field(
            id=field_id,
            axis=axis,
            name=name,
            index=index,
            cardinality=cast(Cardinality, cardinality),
            definition=definition,
            values=tuple(values),
        )

    def value(self, field_id: str, i: int, raw: Any, line: int) -> Value:
        named = isinstance(raw, dict) and isinstance(raw.get("id"), str)
        place = (
            f"value '{field_id}={raw['id']}' (values[{i}])" if named else f"field '{field_id}' values[{i}]"
        )
        node = self.mapping(raw, line, place, _VALUE_KEYS)
        value_id = self.ident(node["id"], node.line, place, "id")
        tag_id = self.integer(node["tag_id"], node.line, place, "tag_id")
        self.claim(self.tag_ids, tag_id, f"{field_id}={value_id}", node.line, place, "tag_id")
        definition = self.text(node["definition"], node.line, place, "definition")
        prompts_raw = node["prompts"]
        if not isinstance(prompts_raw, list) or not prompts_raw:
            self.fail(
                node.line, place, f"prompts must be a non-empty list of strings, got {_kind(prompts_raw)}"
            )
        prompts = tuple(self.text(p, node.line, place, f"prompts[{j}]") for j, p in enumerate(prompts_raw))
        deprecated = node.get("deprecated", False)
        if not isinstance(deprecated, bool):
            self.fail(node.line, place, f"deprecated must be true or false, got {_kind(deprecated)}")
        replaced_by = node.get("replaced_by")
        if replaced_by is not None:
            self.ident(replaced_by, node.line, place, "replaced_by")
            if not deprecated:
                self.fail(node.line, place, "replaced_by is only allowed on a deprecated value")
        return Value(
            id=value_id,
            field=field_id,
            tag_id=tag_id,
            definition=definition,
            prompts=prompts,
            deprecated=deprecated,
            replaced_by=replaced_by,
        )

    def claim(
        self, used: dict[int, tuple[str, int]], number: int, owner: str, line: int, place: str, what: str
    ) -> None:
        if number in used:
            other, other_line = used[number]
            self.fail(line, place, f"{what} {number} is already used by '{other}' (line {other_line})")
        used[number] = (owner, line)

    def check_contiguous(self, used: dict[int, tuple[str, int]], what: str, kind: str, rule: str) -> None:
        n = len(used)
        beyond = sorted(i for i in used if i >= n)
        if not beyond:
            return
        missing = [i for i in range(n) if i not in used]
        owner, line = used[beyond[0]]
        gaps = ", ".join(str(i) for i in missing[:10]) + (" ..." if len(missing) > 10 else "")
        self.fail(
            line,
            f"{kind} '{owner}'",
            f"{what} {beyond[0]} leaves a gap: {n} {kind}s need {what}s 0..{n - 1} and {gaps} unused ({rule})",
        )

    def label_map(
        self, raw: Any, line: int, tax: Taxonomy
    ) -> MappingProxyType[str, MappingProxyType[str, Tag | None]]:
        if not isinstance(raw, dict):
            self.fail(
                line, "label_map", f"expected a mapping of label field to value mapping, got {_kind(raw)}"
            )
        node = cast(_Node, raw)
        out: dict[str, MappingProxyType[str, Tag | None]] = {}
        for label_field, entries in node.items():
            self.ident(label_field, node.line, "label_map", "a label field")
            place = f"label_map.{label_field}"
            if not isinstance(entries, dict) or not entries:
                self.fail(
                    node.line,
                    place,
                    f"expected a non-empty mapping of label value to 'field=value' or null, got {_kind(entries)}",
                )
            entries_node = cast(_Node, entries)
            mapped: dict[str, Tag | None] = {}
            for label_value, target in entries_node.items():
                self.ident(label_value, entries_node.line, place, "a label value")
                mapped[label_value] = self.label_target(
                    tax, target, entries_node.line, f"{place}.{label_value}"
                )
            out[label_field] = MappingProxyType(mapped)
        return MappingProxyType(out)

    def label_target(self, tax: Taxonomy, target: Any, line: int, place: str) -> Tag | None:
        if target is None:
            return None
        if not isinstance(target, str):
            self.fail(line, place, f"expected 'field=value' or null, got {_kind(target)}")
        try:
            return tax.parse_tag(target)
        except TaxonomyError as exc:
            self.fail(line, place, str(exc))


def _line(raw: Any, fallback: int) -> int:
    return raw.line if isinstance(raw, _Node) else fallback


def _kind(raw: Any) -> str:
    if raw is None:
        return "nothing (null)"
    if isinstance(raw, dict):
        return "a mapping"
    if isinstance(raw, list):
        return "a list"
    return f"{type(raw).__name__} {raw!r}"
