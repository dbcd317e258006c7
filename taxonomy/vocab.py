"""The tag vocabulary: stable integer ids for the tag encoder (tag = field embedding + value embedding).

Ids come from the taxonomy file (``tag_id`` and ``field_id``), never from iteration order or hashing, so they are
identical in every process and stay valid when values are appended.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from taxonomy.model import Tag, TaxonomyError, TaxonomyLookupError

if TYPE_CHECKING:
    from taxonomy.pks import Taxonomy


class TagVocab:
    """Tag <-> id maps of one taxonomy. Deprecated values keep their ids (they decode), but never encode."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self._tax = taxonomy
        by_id: dict[int, tuple[Tag, int]] = {}
        for fld in taxonomy.fields:
            for value in fld.values:
                by_id[value.tag_id] = (value.tag, fld.index)
        # The loader guarantees tag_ids are exactly 0..N-1, so position == id.
        self._tags: tuple[Tag, ...] = tuple(by_id[i][0] for i in range(len(by_id)))
        self._tag_field: tuple[int, ...] = tuple(by_id[i][1] for i in range(len(by_id)))
        self._ids: dict[Tag, int] = {tag: i for i, tag in enumerate(self._tags)}

    def __len__(self) -> int:
        return len(self._tags)

    def __iter__(self) -> Iterator[Tag]:
        """Tags in id order."""
        return iter(self._tags)

    @property
    def num_fields(self) -> int:
        """Rows of the field-embedding table."""
        return len(self._tax.fields)

    def id_of(self, tag_or_field: Tag | str, value: str | None = None) -> int:
        """Id of a tag: ``id_of(Tag(...))``, ``id_of("camera.movement=pan_left")`` or ``id_of("camera.movement", "pan_left")``."""
        if value is not None:
            if not isinstance(tag_or_field, str):
                raise TaxonomyError(f"id_of(field, value) needs a field id string, got {tag_or_field!r}")
            tag = Tag(tag_or_field, value)
        elif isinstance(tag_or_field, Tag):
            tag = tag_or_field
        elif isinstance(tag_or_field, str):
            tag = self._tax.parse_tag(tag_or_field, allow_deprecated=True)
        else:
            raise TaxonomyError(f"id_of expects a Tag or 'field=value' string, got {tag_or_field!r}")
        found = self._ids.get(tag)
        if found is None:
            self._tax.value(tag.field, tag.value)  # raises the precise unknown-field / unknown-value error
            raise TaxonomyLookupError(
                f"tag {tag} has no id"
            )  # unreachable while the vocab matches the taxonomy
        return found

    def tag_of(self, tag_id: int) -> Tag:
        if isinstance(tag_id, bool) or not isinstance(tag_id, int) or not 0 <= tag_id < len(self._tags):
            raise TaxonomyLookupError(
                f"tag id {tag_id!r} is not in 0..{len(self._tags) - 1} ({self._tax.version})"
            )
        return self._tags[tag_id]

    def field_index(self, field_id: str) -> int:
        """Row of a field in the field-embedding table (0..F-1, from the file's ``field_id``)."""
        return self._tax.field(field_id).index

    def field_index_of(self, tag_id: int) -> int:
        """Field-embedding row of the field a tag id belongs to."""
        self.tag_of(tag_id)
        return self._tag_field[tag_id]

    def encode(self, tags: Mapping[str, str | Sequence[str]]) -> list[int]:
        """Validate a tag set (see ``Taxonomy.validate``) and return its ids in canonical order."""
        validated = self._tax.validate(tags)
        return [self._ids[Tag(field_id, value)] for field_id, values in validated.items() for value in values]

    def decode(self, ids: Iterable[int]) -> dict[str, tuple[str, ...]]:
        """Ids back to ``{field_id: values}`` in canonical (file) order; deprecated tags decode too."""
        grouped: dict[str, list[str]] = {}
        for i in ids:
            tag = self.tag_of(i)
            grouped.setdefault(tag.field, []).append(tag.value)
        return self._tax.canonical(grouped)

    def id_map(self) -> dict[str, int]:
        """``{"field=value": tag_id}``, to store beside a tag-encoder checkpoint."""
        return {str(tag): i for i, tag in enumerate(self._tags)}

    def lock_text(self) -> str:
        """The id assignment as text lines (``field <id> <field>`` / ``tag <id> <field=value>``) for the lock file."""
        lines = [f"field\t{f.index}\t{f.id}" for f in sorted(self._tax.fields, key=lambda f: f.index)]
        lines += [f"tag\t{i}\t{tag}" for i, tag in enumerate(self._tags)]
        return "\n".join(lines) + "\n"
