"""The directive: the fused tags rendered as the paper's three-part text (``<tag>``, ``<summary>``,
``<description>``).

Without a VLM the text is built from the taxonomy itself, so it says exactly what the tags say and nothing
more: the summary joins the first prompt of the leading tag of up to ``SUMMARY_PARTS`` sections; the
description is the definitions of the emitted values, ordered subject -> camera -> motion -> VFX ->
environment (``SECTIONS``). A field without a tag (missing) is simply not mentioned. A VLM (or any other
:class:`Describer`) can replace the summary and description; the tag list always comes from fusion.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from annotator.fusion import Directive, ShotAnnotation
from taxonomy import Taxonomy, load_taxonomy

#: Description order: (section, fields). Fields of the taxonomy not listed here go to the environment
#: section, after the listed ones, so a new field is described rather than dropped.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("subject", ("motion.action",)),
    ("camera", ("camera.shot_size", "camera.angle", "camera.movement", "camera.speed", "camera.layout")),
    ("motion", ("motion.timing", "motion.intensity", "motion.deformation")),
    ("vfx", ("vfx.effects", "vfx.text_overlay")),
    ("environment", ("style.palette", "style.medium", "style.rendering")),
)
#: Sections whose leading tag makes it into the one-line summary.
SUMMARY_PARTS = 3
#: Values that say "nothing here": described, but never the summary's headline.
QUIET_VALUES = {("vfx.text_overlay", "none"), ("camera.layout", "full"), ("camera.movement", "static")}
EMPTY_SUMMARY = "An anime shot."
EMPTY_DESCRIPTION = "No production tag was decided for this shot."


@runtime_checkable
class Describer(Protocol):
    """Writes the summary and description of a shot from its annotation (e.g. a VLM looking at frames)."""

    name: str

    def describe(self, annotation: ShotAnnotation) -> tuple[str, str]: ...


def ordered_fields(taxonomy: Taxonomy) -> list[tuple[str, str]]:
    """``(section, field)`` for every taxonomy field in description order."""
    listed = [(section, fid) for section, fids in SECTIONS for fid in fids]
    known = {f.id for f in taxonomy.fields}
    out = [(s, f) for s, f in listed if f in known]
    seen = {f for _, f in out}
    out += [("environment", f.id) for f in taxonomy.fields if f.id not in seen]
    return out


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


class TemplateDescriber:
    """Summary and description from the taxonomy's prompts and value definitions (no model)."""

    name = "template"

    def __init__(self, taxonomy: Taxonomy | None = None) -> None:
        self.taxonomy = taxonomy or load_taxonomy()

    def describe(self, annotation: ShotAnnotation) -> tuple[str, str]:
        tags = annotation.tags
        order = ordered_fields(self.taxonomy)
        sentences: list[str] = []
        headlines: list[str] = []
        used_sections: set[str] = set()
        for section, fid in order:
            for value_id in tags.get(fid, ()):
                value = self.taxonomy.value(fid, value_id)
                sentences.append(_sentence(value.definition))
                if (
                    section not in used_sections
                    and (fid, value_id) not in QUIET_VALUES
                    and value.prompts
                    and len(headlines) < SUMMARY_PARTS
                ):
                    headlines.append(value.prompts[0])
                    used_sections.add(section)
        if not sentences:
            return EMPTY_SUMMARY, EMPTY_DESCRIPTION
        if not headlines:  # only quiet values: still summarise the first of them
            first_field = next(f for _, f in order if f in tags)
            headlines.append(self.taxonomy.value(first_field, tags[first_field][0]).prompts[0])
        return _sentence("; ".join(headlines)), " ".join(sentences)


def build_directive(
    annotation: ShotAnnotation, describer: Describer | None = None, taxonomy: Taxonomy | None = None
) -> Directive:
    """The directive of one annotated shot: fused tags, and the describer's (default: template) texts."""
    describer = describer or TemplateDescriber(taxonomy)
    summary, description = describer.describe(annotation)
    summary = " ".join(summary.split())  # one line
    return Directive(tags=tuple(annotation.tag_strings()), summary=summary, description=description)


def tags_in_order(annotation: ShotAnnotation, taxonomy: Taxonomy) -> Sequence[str]:
    """The annotation's ``field=value`` tags in description order (for display)."""
    rank = {fid: i for i, (_, fid) in enumerate(ordered_fields(taxonomy))}
    return sorted(annotation.tag_strings(), key=lambda t: rank.get(t.split("=", 1)[0], len(rank)))
