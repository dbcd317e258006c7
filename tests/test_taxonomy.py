"""The PKS taxonomy: the bundled data file, the loader's checks, tag validation, label mapping, ids, rendering."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from pipeline.footage_labels import (
    CAMERA_VALUES,
    LAYOUT_VALUES,
    SHOT_SIZE_VALUES,
    STYLE_VALUES,
    TAGGED_LABEL_FIELDS,
    TEXT_OVERLAY_VALUES,
    TIMING_VALUES,
    VFX_VALUES,
)
from taxonomy import (
    AXES,
    BUNDLED_PATH,
    Tag,
    Taxonomy,
    TaxonomyError,
    TaxonomyLookupError,
    load_taxonomy,
    print_tree,
)

REPO = Path(__file__).resolve().parents[1]
LOCK_PATH = BUNDLED_PATH.with_name("pks_v1_ids.lock")

LABEL_SCHEMA: dict[str, tuple[str, ...]] = {
    "camera": CAMERA_VALUES,
    "shot_size": SHOT_SIZE_VALUES,
    "timing": TIMING_VALUES,
    "vfx": VFX_VALUES,
    "style": STYLE_VALUES,
    "layout": LAYOUT_VALUES,
    "text_overlay": TEXT_OVERLAY_VALUES,
}

#: What the PKS must at least express: field -> (cardinality, required values).
REQUIRED: dict[str, tuple[str, set[str]]] = {
    "style.medium": (
        "single",
        {
            "2d_cel",
            "2d_digital_painterly",
            "3dcg",
            "hybrid_2d_3d",
            "live_action_non_anime",
            "motion_graphics",
        },
    ),
    "style.rendering": (
        "single",
        {"tv_anime", "theatrical", "chibi_super_deformed", "retro_cel", "sketch", "watercolour"},
    ),
    "style.palette": ("single", {"vivid", "pastel", "muted", "monochrome", "dark_night", "warm_sunset"}),
    "motion.timing": ("single", {"ones", "twos", "threes", "held", "mixed"}),
    "motion.intensity": ("single", {"still", "subtle", "moderate", "intense", "extreme"}),
    "motion.action": (
        "multi",
        {
            "daily_walk",
            "run",
            "combat_dash",
            "strike",
            "dance",
            "talk",
            "emotional_reaction",
            "transformation",
            "flight",
        },
    ),
    "motion.deformation": ("multi", {"smear", "squash_and_stretch", "chibi_shift", "impact_pose"}),
    "camera.movement": (
        "single",
        {
            "static",
            "pan_left",
            "pan_right",
            "tilt_up",
            "tilt_down",
            "zoom_in",
            "zoom_out",
            "dolly_zoom",
            "tracking",
            "rotate",
            "shake",
            "complex",
        },
    ),  # fmt: skip
    "camera.speed": ("single", {"slow", "medium", "fast"}),
    "camera.shot_size": (
        "single",
        {"extreme_close_up", "close_up", "medium_close_up", "medium", "full", "wide", "extreme_wide"},
    ),
    "camera.angle": ("single", {"eye_level", "low_angle", "high_angle", "birds_eye", "worms_eye", "dutch"}),
    "camera.layout": ("single", {"full", "letterbox", "pillarbox", "windowbox"}),
    "vfx.effects": (
        "multi",
        {
            "speed_lines",
            "impact_frame",
            "flash",
            "particles",
            "fire",
            "lightning",
            "energy_aura",
            "explosion",
            "smoke",
            "light_rays",
            "glow",
            "water",
            "rain",
            "snow",
            "sakura_petals",
            "sparkles",
            "anger_mark",
            "sweat_drop",
            "blush_lines",
            "shockwave",
        },
    ),  # fmt: skip
    "vfx.text_overlay": ("single", {"none", "subtitle", "watermark", "logo", "credits", "title_card"}),
}


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return load_taxonomy()


def raw_bundled() -> dict[str, Any]:
    return yaml.load(
        BUNDLED_PATH.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    )


def values_of(data: dict[str, Any], field_id: str) -> list[dict[str, Any]]:
    axis, name = field_id.split(".")
    return data["axes"][axis]["fields"][name]["values"]


def value_of(data: dict[str, Any], field_id: str, value_id: str) -> dict[str, Any]:
    return next(v for v in values_of(data, field_id) if v["id"] == value_id)


def write_yaml(tmp_path: Path, data: dict[str, Any], name: str = "pks_test.yaml") -> Path:
    path = tmp_path / name
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    path.write_text(yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(TaxonomyError) as info:
        load_taxonomy(path)
    return str(info.value)


@pytest.fixture
def with_deprecated(tmp_path: Path) -> Taxonomy:
    """The bundled taxonomy with two values retired: one with a replacement, one without."""
    data = raw_bundled()
    value_of(data, "style.palette", "neon").update(deprecated=True, replaced_by="dark_night")
    value_of(data, "motion.action", "eat_drink")["deprecated"] = True
    return load_taxonomy(write_yaml(tmp_path, data))


# ------------------------------------------------------------------------------------------ the bundled file


def test_bundled_taxonomy_loads_once_with_its_version(tax: Taxonomy) -> None:
    assert tax.version == "pks-1.0"
    assert load_taxonomy() is load_taxonomy()  # cached
    assert load_taxonomy(BUNDLED_PATH) is not tax
    assert load_taxonomy(BUNDLED_PATH).fingerprint() == tax.fingerprint()


def test_four_axes_and_enough_values(tax: Taxonomy) -> None:
    assert tuple(a.id for a in tax.axes) == AXES == ("style", "motion", "camera", "vfx")
    assert len(tax.values) >= 80
    assert len(tax.fields) == sum(len(a.fields) for a in tax.axes)
    assert [f.id for f in tax.fields] == [f.id for a in tax.axes for f in a.fields]
    for fld in tax.fields:
        assert fld.id == f"{fld.axis}.{fld.name}"
        assert fld.values, fld.id


@pytest.mark.parametrize("field_id", sorted(REQUIRED))
def test_required_fields_values_and_cardinality(tax: Taxonomy, field_id: str) -> None:
    cardinality, required = REQUIRED[field_id]
    fld = tax.field(field_id)
    assert fld.cardinality == cardinality
    missing = required - {v.id for v in fld.active_values}
    assert not missing, f"{field_id} lacks {sorted(missing)}"


def test_definitions_and_prompts_are_real_text(tax: Taxonomy) -> None:
    seen_prompts: dict[str, str] = {}
    for value in tax.values:
        assert len(value.definition.split()) >= 4, f"{value.tag}: definition too thin: {value.definition!r}"
        assert "\n" not in value.definition
        assert value.prompts
        for prompt in value.prompts:
            assert 10 <= len(prompt) <= 150, f"{value.tag}: prompt length {len(prompt)}: {prompt!r}"
            # One prompt naming two tags would make CLIP zero-shot scores of the two indistinguishable.
            assert prompt not in seen_prompts, f"{value.tag} repeats the prompt of {seen_prompts[prompt]}"
            seen_prompts[prompt] = str(value.tag)
    for fld in tax.fields:
        assert len(fld.definition.split()) >= 4, fld.id
    for axis in tax.axes:
        assert len(axis.definition.split()) >= 4, axis.id


def test_camera_definitions_state_the_direction_conventions(tax: Taxonomy) -> None:
    def definition(value_id: str) -> str:
        return tax.value("camera.movement", value_id).definition.lower()

    assert "left" in definition("pan_left") and "slides to the right" in definition("pan_left")
    assert "right" in definition("pan_right") and "slides to the left" in definition("pan_right")
    assert "up" in definition("tilt_up") and "slides down" in definition("tilt_up")
    assert "down" in definition("tilt_down") and "slides up" in definition("tilt_down")
    assert "grows" in definition("zoom_in") and "shrinks" in definition("zoom_out")
    assert "background do not move" in definition("static") and "characters" in definition("static")
    assert "jittery" in definition("shake") and "combination" in definition("complex")
    assert any("left" in p for p in tax.value("camera.movement", "pan_left").prompts)


def test_ids_match_the_append_only_lock(tax: Taxonomy) -> None:
    locked = {
        line
        for line in LOCK_PATH.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }
    current = set(tax.vocab.lock_text().splitlines())
    changed = sorted(locked - current)
    assert not changed, f"ids are append-only; these locked assignments changed or vanished: {changed}"
    new = sorted(current - locked, key=lambda line: int(line.split("\t")[1]))
    assert not new, "new ids: append these lines to taxonomy/pks_v1_ids.lock:\n" + "\n".join(new)


# ------------------------------------------------------------------------------------------------ label map


@pytest.mark.parametrize("label_field", sorted(LABEL_SCHEMA))
def test_every_footage_label_value_maps(tax: Taxonomy, label_field: str) -> None:
    targets: list[Tag] = []
    for label_value in LABEL_SCHEMA[label_field]:
        tag = tax.tags_from_label(label_field, label_value)
        if label_value == "unknown":
            assert tag is None, f"{label_field}=unknown must map to no tag, got {tag}"
            continue
        assert isinstance(tag, Tag), f"{label_field}={label_value} maps to nothing"
        value = tax.value(tag.field, tag.value)
        assert not value.deprecated
        targets.append(tag)
    assert len(set(targets)) == len(targets), f"two {label_field} labels collapse onto one tag: {targets}"
    assert set(tax.label_map[label_field]) == set(LABEL_SCHEMA[label_field]), (
        "label_map has values the schema lacks"
    )


def test_label_map_covers_the_schema_fields_and_decisions(tax: Taxonomy) -> None:
    assert set(TAGGED_LABEL_FIELDS) <= set(tax.label_map)
    assert set(tax.label_map) == set(LABEL_SCHEMA)
    assert tax.tags_from_label("vfx", "smear") == Tag("motion.deformation", "smear")
    assert tax.tags_from_label("camera", "pan_left") == Tag("camera.movement", "pan_left")
    assert tax.tags_from_label("shot_size", "close_up") == Tag("camera.shot_size", "close_up")
    assert tax.tags_from_label("timing", "twos") == Tag("motion.timing", "twos")
    assert tax.tags_from_label("style", "jp_cel_tv") == Tag("style.rendering", "tv_anime")
    assert tax.tags_from_label("layout", "pillarbox") == Tag("camera.layout", "pillarbox")


def test_unmapped_label_is_a_key_error_naming_the_choices(tax: Taxonomy) -> None:
    with pytest.raises(TaxonomyLookupError) as info:
        tax.tags_from_label("camera", "dolly")
    message = str(info.value)
    assert "camera='dolly'" in message and "pan_left" in message and "unknown" in message
    assert isinstance(info.value, KeyError) and isinstance(info.value, TaxonomyError)
    with pytest.raises(KeyError, match="did you mean 'camera'"):
        tax.tags_from_label("camerra", "static")


def test_tags_from_labels_merges_fields_and_drops_unknown(tax: Taxonomy) -> None:
    tags = tax.tags_from_labels(
        {"camera": "pan_left", "timing": "unknown", "vfx": ["fire", "smear", "speed_lines"], "style": "3dcg"}
    )
    assert tags == {
        "style.medium": ("3dcg",),
        "motion.deformation": ("smear",),
        "camera.movement": ("pan_left",),
        "vfx.effects": ("speed_lines", "fire"),
    }


# ---------------------------------------------------------------------------------------------- validation


def test_validate_normalises_to_canonical_tuples(tax: Taxonomy) -> None:
    out = tax.validate(
        {
            "vfx.effects": ["fire", "speed_lines", "fire"],
            "camera.movement": "pan_left",
            "motion.deformation": [],
        }
    )
    assert out == {
        "motion.deformation": (),
        "camera.movement": ("pan_left",),
        "vfx.effects": ("speed_lines", "fire"),
    }
    assert list(out) == ["motion.deformation", "camera.movement", "vfx.effects"]  # file order
    assert tax.validate({"camera.movement": ["pan_left", "pan_left"]}) == {"camera.movement": ("pan_left",)}
    assert tax.validate({}) == {}


def test_unknown_field_suggests_and_lists_the_axis_fields(tax: Taxonomy) -> None:
    with pytest.raises(TaxonomyError) as info:
        tax.validate({"camera.movment": "pan_left"})
    message = str(info.value)
    assert "unknown field 'camera.movment'" in message
    assert "did you mean 'camera.movement'" in message
    for fld in tax.axis("camera").fields:
        assert fld.id in message
    assert "vfx.effects" not in message  # only the fields of the axis that was meant
    with pytest.raises(TaxonomyError, match="did you mean 'camera.movement'"):
        tax.validate({"movement": "pan_left"})


def test_unknown_value_lists_the_valid_values(tax: Taxonomy) -> None:
    with pytest.raises(TaxonomyError) as info:
        tax.validate({"camera.movement": "pan_lft"})
    message = str(info.value)
    assert message.startswith("camera.movement: unknown value 'pan_lft'")
    assert "did you mean 'pan_left'?" in message
    for value in tax.field("camera.movement").values:
        assert value.id in message
    with pytest.raises(TaxonomyError, match="vfx.effects: unknown value 'lasers'"):
        tax.validate({"vfx.effects": ["fire", "lasers"]})


def test_single_field_rejects_two_values(tax: Taxonomy) -> None:
    with pytest.raises(TaxonomyError) as info:
        tax.validate({"camera.movement": ["pan_left", "zoom_in"]})
    message = str(info.value)
    assert "camera.movement takes a single value but got 2: pan_left, zoom_in" in message
    assert "complex" in message  # the valid values are listed
    assert tax.validate({"vfx.effects": ["fire", "smoke"]})["vfx.effects"] == (
        "fire",
        "smoke",
    )  # multi is fine


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"camera.movement": 3}, "camera.movement: expected a value id or a list of value ids, got int 3"),
        ({"vfx.effects": ["fire", None]}, "vfx.effects: value ids are strings, got NoneType None"),
        ({3: "static"}, "a field id is a string"),
    ],
)
def test_validate_rejects_wrong_types(tax: Taxonomy, tags: dict[Any, Any], expected: str) -> None:
    with pytest.raises(TaxonomyError, match=expected.replace(".", r"\.")):
        tax.validate(tags)


def test_deprecated_value_is_refused_with_the_replacement(with_deprecated: Taxonomy) -> None:
    tax = with_deprecated
    with pytest.raises(TaxonomyError) as info:
        tax.validate({"style.palette": "neon"})
    message = str(info.value)
    assert "style.palette=neon is deprecated" in message and "tag_id 26" in message
    assert "use style.palette=dark_night instead" in message
    with pytest.raises(TaxonomyError, match="motion.action=eat_drink is deprecated.*choose one of: idle"):
        tax.validate({"motion.action": ["run", "eat_drink"]})
    with pytest.raises(TaxonomyError, match="deprecated"):
        tax.parse_tag("style.palette=neon")
    # The id stays reserved and old data still decodes, but it can no longer be encoded.
    assert tax.vocab.id_of("style.palette", "neon") == 26
    assert tax.vocab.decode([26]) == {"style.palette": ("neon",)}
    with pytest.raises(TaxonomyError, match="deprecated"):
        tax.vocab.encode({"style.palette": "neon"})
    assert "neon" not in {v.id for v in tax.field("style.palette").active_values}
    assert len(tax.vocab) == len(load_taxonomy().vocab)


def test_parse_tag(tax: Taxonomy) -> None:
    assert tax.parse_tag("camera.movement=pan_left") == Tag("camera.movement", "pan_left")
    assert tax.parse_tag(" vfx.effects = fire ") == Tag("vfx.effects", "fire")
    assert str(Tag("camera.movement", "pan_left")) == "camera.movement=pan_left"
    for bad in ("camera.movement", "camera.movement=pan_left=x", ""):
        with pytest.raises(TaxonomyError, match="expected a tag '<axis>.<field>=<value>'"):
            tax.parse_tag(bad)
    with pytest.raises(TaxonomyError, match="unknown value 'sideways'"):
        tax.parse_tag("camera.movement=sideways")


# ------------------------------------------------------------------------------------------ loader checks

Mutation = Callable[[dict[str, Any]], None]


def _set(field_id: str, value_id: str, **changes: Any) -> Mutation:
    return lambda data: value_of(data, field_id, value_id).update(changes)


def _drop_value(field_id: str, value_id: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        values = values_of(data, field_id)
        values.remove(value_of(data, field_id, value_id))

    return mutate


def _pop(field_id: str, value_id: str, key: str) -> Mutation:
    return lambda data: value_of(data, field_id, value_id).pop(key)


def _field_key(target: str, **changes: Any) -> Mutation:
    axis, name = target.split(".")
    return lambda data: data["axes"][axis]["fields"][name].update(changes)


def _label(label_field: str, label_value: str, target: Any) -> Mutation:
    return lambda data: data["label_map"][label_field].update({label_value: target})


MUTATIONS: dict[str, tuple[Mutation, list[str]]] = {
    "unknown value key": (
        _set("camera.movement", "pan_left", colour="red"),
        ["value 'camera.movement=pan_left'", "unknown key 'colour'", "allowed: id, tag_id"],
    ),
    "unknown field key": (
        _field_key("motion.timing", multi=True),
        ["field 'motion.timing'", "unknown key 'multi'"],
    ),
    "unknown top-level key": (lambda d: d.update(extra=1), ["unknown key 'extra'"]),
    "unknown axis": (
        lambda d: d["axes"].update(sound={}),
        ["axis 'sound'", "unknown axis", "style, motion, camera, vfx"],
    ),
    "missing axis": (lambda d: d["axes"].pop("vfx"), ["missing axis 'vfx'"]),
    "missing definition": (
        _pop("camera.angle", "dutch", "definition"),
        ["value 'camera.angle=dutch'", "missing required key 'definition'"],
    ),
    "duplicate tag_id": (
        _set("camera.movement", "pan_right", tag_id=64),
        ["value 'camera.movement=pan_right'", "tag_id 64 is already used by 'camera.movement=pan_left'"],
    ),
    "gap in tag_ids": (
        _set("vfx.text_overlay", "title_card", tag_id=200),
        ["value 'vfx.text_overlay=title_card'", "tag_id 200 leaves a gap", "0..128", "128 unused"],
    ),
    "removed value": (
        _drop_value("camera.movement", "pan_left"),
        ["leaves a gap", "64 unused", "removed ones stay deprecated"],
    ),
    "duplicate field_id": (
        _field_key("camera.speed", field_id=7),
        ["field 'camera.speed'", "field_id 7 is already used by 'camera.movement'"],
    ),
    "bad cardinality": (
        _field_key("motion.action", cardinality="many"),
        ["field 'motion.action'", "cardinality must be one of single, multi", "'many'"],
    ),
    "empty prompts": (
        _set("vfx.effects", "fire", prompts=[]),
        ["value 'vfx.effects=fire'", "prompts must be a non-empty list"],
    ),
    "blank prompt": (
        _set("vfx.effects", "fire", prompts=["  "]),
        ["value 'vfx.effects=fire'", "prompts[0] must be a non-empty string"],
    ),
    "tag_id as text": (
        _set("vfx.effects", "fire", tag_id="102"),
        ["value 'vfx.effects=fire'", "tag_id must be a non-negative integer", "str '102'"],
    ),
    "bool deprecated flag": (
        _set("vfx.effects", "fire", deprecated="yes"),
        ["deprecated must be true or false"],
    ),
    "duplicate value id": (
        _set("camera.movement", "pan_right", id="pan_left"),
        ["value 'camera.movement=pan_left' (values[2])", "duplicate value id 'pan_left', already values[1]"],
    ),
    "bad value id": (
        _set("camera.movement", "pan_right", id="Pan Right"),
        ["camera.movement", "values[2]", "snake_case", "'Pan Right'"],
    ),
    "replaced_by without deprecated": (
        _set("vfx.effects", "glow", replaced_by="light_rays"),
        ["only allowed on a deprecated value"],
    ),
    "version not text": (
        lambda d: d.update(version=1.0),
        ["version must be a non-empty string", "float 1.0"],
    ),
    "label to unknown tag": (
        _label("camera", "static", "camera.movement=still"),
        ["label_map.camera.static", "camera.movement: unknown value 'still'"],
    ),
    "label to deprecated tag": (
        lambda d: _set("camera.movement", "rotate", deprecated=True)(d),
        ["label_map.camera.rotate", "camera.movement=rotate is deprecated"],
    ),
}


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_malformed_taxonomy_names_the_place(tmp_path: Path, case: str) -> None:
    mutate, expected = MUTATIONS[case]
    data = raw_bundled()
    mutate(data)
    message = load_error(write_yaml(tmp_path, data))
    assert message.startswith(str(tmp_path / "pks_test.yaml")), message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_errors_point_at_the_line(tmp_path: Path) -> None:
    lines = BUNDLED_PATH.read_text(encoding="utf-8").splitlines()
    at = lines.index("          - id: pan_left")
    lines.insert(at + 1, "            colour: red")
    path = tmp_path / "pks_line.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert load_error(path).startswith(f"{path}:{at + 1}: value 'camera.movement=pan_left'")


def test_duplicate_yaml_key_is_not_silently_dropped(tmp_path: Path) -> None:
    text = BUNDLED_PATH.read_text(encoding="utf-8")
    text = text.replace("      speed:\n", "      movement:\n", 1)  # a second `movement:` field under camera
    path = tmp_path / "dup.yaml"
    path.write_text(text, encoding="utf-8")
    message = load_error(path)
    assert "duplicate key 'movement'" in message and str(path) in message


def test_broken_yaml_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text('version: "pks-1.0"\naxes:\n  style: [unclosed\n  motion: {}\n', encoding="utf-8")
    message = load_error(path)
    assert message.startswith(f"{path}:") and "invalid YAML" in message
    line = int(message.split(":")[1])
    assert 3 <= line <= 5
    assert load_error(tmp_path / "absent.yaml").startswith(f"{tmp_path / 'absent.yaml'}: cannot read")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n", encoding="utf-8")
    assert "expected a mapping" in load_error(tmp_path / "list.yaml")


def test_appended_value_keeps_every_existing_id(tmp_path: Path, tax: Taxonomy) -> None:
    data = raw_bundled()
    n = len(tax.vocab)
    values_of(data, "camera.movement").insert(
        0,
        {"id": "truck_left", "tag_id": n, "definition": "The camera body slides sideways to the left.",
         "prompts": ["an anime shot where the camera trucks to the left"]},
    )  # fmt: skip
    grown = load_taxonomy(write_yaml(tmp_path, data))
    assert len(grown.vocab) == n + 1
    assert grown.vocab.id_of("camera.movement", "truck_left") == n
    old, new = tax.vocab.id_map(), grown.vocab.id_map()
    assert {k: new[k] for k in old} == old
    assert grown.fingerprint() != tax.fingerprint()


# ---------------------------------------------------------------------------------------------------- vocab


def test_vocab_ids_are_contiguous_and_round_trip(tax: Taxonomy) -> None:
    vocab = tax.vocab
    assert len(vocab) == len(tax.values)
    assert sorted(v.tag_id for v in tax.values) == list(range(len(vocab)))
    for i in range(len(vocab)):
        tag = vocab.tag_of(i)
        assert vocab.id_of(tag) == i
        assert vocab.id_of(str(tag)) == i
        assert vocab.id_of(tag.field, tag.value) == i
        assert tax.value(tag.field, tag.value).tag_id == i
        assert vocab.field_index_of(i) == tax.field(tag.field).index
    assert sorted(vocab.field_index(f.id) for f in tax.fields) == list(range(len(tax.fields)))
    assert vocab.num_fields == len(tax.fields)
    assert tax.vocab is vocab


def test_vocab_rejects_unknown_ids_and_tags(tax: Taxonomy) -> None:
    vocab = tax.vocab
    for bad in (-1, len(vocab), True, "3"):
        with pytest.raises(TaxonomyLookupError, match="is not in 0.."):
            vocab.tag_of(bad)  # type: ignore[arg-type]
    with pytest.raises(TaxonomyError, match="unknown value 'nope'"):
        vocab.id_of("camera.movement", "nope")
    with pytest.raises(TaxonomyError, match="unknown field"):
        vocab.field_index("camera.lens")


def test_encode_validates_and_decode_inverts(tax: Taxonomy) -> None:
    vocab = tax.vocab
    tags = {"vfx.effects": ["fire", "speed_lines"], "camera.movement": "pan_left", "motion.timing": "twos"}
    ids = vocab.encode(tags)
    expected = [vocab.id_of("motion.timing", "twos"), vocab.id_of("camera.movement", "pan_left")]
    expected += [vocab.id_of("vfx.effects", "speed_lines"), vocab.id_of("vfx.effects", "fire")]
    assert ids == expected
    assert vocab.decode(ids) == tax.validate(tags)
    assert vocab.decode(reversed(ids)) == tax.validate(tags)
    with pytest.raises(TaxonomyError, match="single value"):
        vocab.encode({"camera.movement": ["pan_left", "tilt_up"]})


def test_ids_are_identical_in_fresh_processes(tax: Taxonomy) -> None:
    code = (
        "import json; from taxonomy import load_taxonomy; t = load_taxonomy(); "
        "print(json.dumps({'ids': t.vocab.id_map(), "
        "'fields': {f.id: t.vocab.field_index(f.id) for f in t.fields}, 'fp': t.fingerprint()}))"
    )
    here = {
        "ids": tax.vocab.id_map(),
        "fields": {f.id: tax.vocab.field_index(f.id) for f in tax.fields},
        "fp": tax.fingerprint(),
    }
    for seed in ("0", "31337"):  # different hash seeds: ids must not depend on set/dict hashing
        env = {
            **os.environ,
            "PYTHONHASHSEED": seed,
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        }
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == here


# ---------------------------------------------------------------------------------------- identity & output


def test_fingerprint_tracks_content_not_location(tmp_path: Path, tax: Taxonomy) -> None:
    fp = tax.fingerprint()
    assert len(fp) == 64 and int(fp, 16) >= 0
    data = raw_bundled()
    assert load_taxonomy(write_yaml(tmp_path, data, "copy.yaml")).fingerprint() == fp
    value_of(data, "camera.movement", "static")["definition"] += " Reworded."
    assert load_taxonomy(write_yaml(tmp_path, data, "reworded.yaml")).fingerprint() != fp
    data = raw_bundled()
    value_of(data, "vfx.effects", "fire")["prompts"].append("a roaring anime bonfire")
    assert load_taxonomy(write_yaml(tmp_path, data, "prompted.yaml")).fingerprint() != fp


def test_json_dict_is_serialisable_and_complete(tax: Taxonomy) -> None:
    doc = json.loads(json.dumps(tax.to_json_dict()))
    assert doc["version"] == "pks-1.0"
    assert [a["id"] for a in doc["axes"]] == list(AXES)
    fields = [f for a in doc["axes"] for f in a["fields"]]
    values = [v for f in fields for v in f["values"]]
    assert len(fields) == len(tax.fields) == doc["counts"]["fields"]
    assert len(values) == len(tax.vocab) == doc["counts"]["values"]
    assert sorted(v["tag_id"] for v in values) == list(range(len(values)))
    pan_left = next(
        v for f in fields if f["id"] == "camera.movement" for v in f["values"] if v["id"] == "pan_left"
    )
    assert pan_left["tag_id"] == tax.vocab.id_of("camera.movement", "pan_left")
    assert pan_left["prompts"] and pan_left["definition"]
    assert {f["cardinality"] for f in fields} == {"single", "multi"}
    assert doc["label_map"]["camera"]["unknown"] is None
    assert doc["label_map"]["vfx"]["smear"] == "motion.deformation=smear"


def test_print_tree_shows_every_axis_and_the_count_line(tax: Taxonomy) -> None:
    console = Console(record=True, width=200)
    print_tree(tax, console=console)
    text = console.export_text()
    for axis in tax.axes:
        assert axis.id in text
    for fld in tax.fields:
        assert f"{fld.id} [{fld.cardinality}]" in text
    assert "pan_left  (64)" in text
    assert f"PKS pks-1.0: 4 axes, {len(tax.fields)} fields, {len(tax.values)} values" in text.splitlines()[-1]


def test_print_tree_marks_deprecated_values(with_deprecated: Taxonomy) -> None:
    console = Console(record=True, width=200)
    print_tree(with_deprecated, console=console)
    text = console.export_text()
    assert "[deprecated, use dark_night]" in text
    assert text.rstrip().endswith("values (2 deprecated)")


FOOTAGE_LABELS = REPO.parent / "shared" / "footage" / "labels"


@pytest.mark.corpus
@pytest.mark.skipif(not FOOTAGE_LABELS.is_dir(), reason="../shared/footage/labels is absent")
def test_every_real_shot_label_becomes_valid_tags(tax: Taxonomy) -> None:
    from pipeline.footage_labels import load_label_dir

    labels = load_label_dir(FOOTAGE_LABELS)
    assert labels
    shots = 0
    for label in labels.values():
        for shot in label.shots:
            tags = tax.tags_from_labels(
                {"camera": shot.camera, "shot_size": shot.shot_size, "timing": shot.timing, "vfx": list(shot.vfx),
                 "text_overlay": shot.text_overlay, "style": label.style, "layout": label.layout}
            )  # fmt: skip
            assert tags["vfx.text_overlay"] and tags["camera.layout"], label.clip
            assert ("camera.movement" in tags) == (shot.camera != "unknown")
            tax.vocab.encode(tags)
            shots += 1
    assert shots >= len(labels)
