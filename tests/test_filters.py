"""Declarative filters and tiers: config validation, filter / score-only modes, rejections, anime defaults."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from pipeline.filters import (
    DEFAULT_CONFIG,
    FilterConfig,
    FilterConfigError,
    apply_filters,
    assign_tier,
    rules_no_shot_can_pass,
    score_types,
    summarize,
)
from pipeline.records import RejectionRecord, arrow_schema, to_table
from pipeline.scores import ShotScores


def row(shot: str = "v:0-47", **scores) -> ShotScores:
    """A technically sound limited-animation shot (twos, many held frames) unless overridden."""
    base = dict(
        shot_id=shot, video_id="v" * 64, source_path="/in/ep01.mkv", start_frame=0, end_frame=47,
        start_s=0.0, end_s=2.0, frames=48, duration_s=2.0, fps=23.976, width=1920, height=1080,
        layout="full", active_width=1920, active_height=1080, short_side_px=1080, sharpness=900.0,
        brightness=120.0, contrast=50.0, colourfulness=60.0, black_share=0.0, blank_share=0.0,
        camera_motion=0.0, subject_motion=0.05, held_share=0.5, still_share=0.5, drawing_changes=24,
        drawing_rate=12.0, cadence="twos", cadence_share=1.0, text_area=0.0, text_kind="none", aesthetic=None,
    )  # fmt: skip
    base.update(scores)
    return ShotScores(**base)


def config(text: str) -> FilterConfig:
    return FilterConfig.from_dict(yaml.safe_load(text), "test.yaml")


def test_default_config_loads_and_names_only_known_scores():
    cfg = FilterConfig.load()
    assert cfg.source == str(DEFAULT_CONFIG) and cfg.mode == "filter"
    assert [t.name for t in cfg.tiers] == ["S", "A", "B"]
    known = score_types()
    assert all(r.condition.score in known for r in cfg.rules)
    assert "held_share" not in {
        r.condition.score for r in cfg.rules
    }  # limited animation is never dropped for holds


def test_default_filters_are_anime_aware():
    cfg = FilterConfig.load()
    limited = row("v:0-47", held_share=0.92, still_share=0.9, cadence="threes", drawing_changes=3)
    held_pan = row("v:48-95", held_share=1.0, cadence="held", camera_motion=0.1, still_share=0.0)
    still = row(
        "v:96-143", held_share=1.0, still_share=1.0, cadence="held", still_image=True, drawing_changes=0
    )
    slides = row("v:144-191", slideshow=True)
    short = row("v:192-200", duration_s=0.3)
    kept, rejections, tiers = apply_filters([limited, held_pan, still, slides, short], cfg)
    assert [r.shot_id for r in kept] == ["v:0-47", "v:48-95"]
    assert {r.subject_id: r.rule for r in rejections} == {
        "v:96-143": "not_still_image", "v:144-191": "not_slideshow", "v:192-200": "min_duration",
    }  # fmt: skip
    assert tiers == {"v:0-47": "A", "v:48-95": "A"}  # no aesthetic model: S is out of reach (null fails)
    assert assign_tier(dataclasses.replace(limited, aesthetic=6.2), cfg) == "S"
    assert assign_tier(dataclasses.replace(limited, text_kind="subtitle"), cfg) == "B"
    # a held shot without any camera move does not reach A
    assert assign_tier(dataclasses.replace(held_pan, camera_motion=0.0), cfg) == "B"


def test_rejection_records_say_stage_rule_measured_and_threshold():
    cfg = FilterConfig.load()
    _, rejections, _ = apply_filters([row("v:0-5", duration_s=0.25, black_share=0.9)], cfg)
    (rej,) = rejections
    assert isinstance(rej, RejectionRecord)
    assert (rej.stage, rej.subject, rej.subject_id, rej.source_path) == (
        "filter",
        "shot",
        "v:0-5",
        "/in/ep01.mkv",
    )
    assert rej.rule == "min_duration" and rej.measured == 0.25 and rej.threshold == ">= 1.0"
    assert "duration_s = 0.25" in rej.reason and "also fails not_black" in rej.reason
    table = to_table(rejections, RejectionRecord)
    assert table.schema.equals(arrow_schema(RejectionRecord), check_metadata=False)
    _, rejections, _ = apply_filters([row(still_image=True)], cfg)
    assert rejections[0].measured == 1.0 and rejections[0].threshold == "== False"


def test_score_only_mode_rejects_nothing_and_tiers_everything():
    cfg = FilterConfig.load()
    rows = [row("a:0-1", duration_s=0.1), row("a:2-50")]
    kept, rejections, tiers = apply_filters(rows, cfg, mode="score-only")
    assert kept == rows and rejections == [] and set(tiers) == {"a:0-1", "a:2-50"}
    assert tiers["a:0-1"] == "B" and tiers["a:2-50"] == "A"
    cfg2 = config("mode: score-only\nrules: [{score: duration_s, op: '>=', value: 5}]")
    assert apply_filters(rows, cfg2).rejections == []
    assert len(apply_filters(rows, cfg2, mode="filter").rejections) == 2
    with pytest.raises(ValueError, match="mode"):
        apply_filters(rows, cfg, mode="drop")
    assert summarize(apply_filters(rows, cfg)) == {
        "kept": 1,
        "rejected": 1,
        "by_rule": {"min_duration": 1},
        "by_tier": {"A": 1},
    }


def test_operators_nulls_and_any_groups():
    cfg = config(
        """
rules:
  - {name: cadence_known, score: cadence, op: not_in, value: [unknown]}
  - {name: aesthetic_floor, score: aesthetic, op: ">", value: 3, on_null: pass}
  - {name: needs_motion, score: camera_motion, op: ">=", value: 0.0, on_null: reject}
tiers:
  - name: top
    when:
      - any: [{score: layout, op: "==", value: full}, {score: active_fraction, op: ">=", value: 0.9}]
      - {score: aesthetic, op: ">=", value: 5, on_null: pass}
  - name: rest
    when: []
"""
    )
    ok = row("a:0-9")
    kept, rej, tiers = apply_filters(
        [ok, row("b:0-9", cadence="unknown"), row("c:0-9", camera_motion=None), row("d:0-9", aesthetic=2.0)],
        cfg,
    )
    assert [r.shot_id for r in kept] == ["a:0-9"]
    assert [(r.subject_id, r.rule) for r in rej] == [
        ("b:0-9", "cadence_known"), ("c:0-9", "needs_motion"), ("d:0-9", "aesthetic_floor"),
    ]  # fmt: skip
    assert rej[0].measured is None and "cadence = 'unknown'" in rej[0].reason
    assert tiers == {"a:0-9": "top"}
    assert assign_tier(row(layout="letterbox", active_fraction=0.7), cfg) == "rest"
    assert assign_tier(row(layout="letterbox", active_fraction=0.95), cfg) == "top"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "rules: [{score: durration_s, op: '>=', value: 1}]",
            "rules[0].score: 'durration_s' is not a score column",
        ),
        ("rules: [{score: duration_s, op: '=>', value: 1}]", "rules[0].op: '=>' is not one of"),
        ("rules: [{score: duration_s, op: '>=', value: one}]", "rules[0].value: 'one' is not a number"),
        ("rules: [{score: cadence, op: '>=', value: 1}]", "rules[0].op: '>=' needs a numeric score"),
        ("rules: [{score: cadence, op: in, value: twos}]", "rules[0].value: 'in' needs a non-empty list"),
        ("rules: [{score: still_image, op: '==', value: 1}]", "rules[0].value: 1 is not a bool"),
        (
            "rules: [{score: duration_s, op: '>=', value: 1, treshold: 2}]",
            "rules[0]: unknown key(s) 'treshold'",
        ),
        ("rules: [{score: duration_s, op: '>='}]", "rules[0]: missing 'value'"),
        (
            "rules: [{score: duration_s, op: '>=', value: 1, on_null: fail}]",
            "rules[0].on_null: 'fail' is not one of pass, reject",
        ),
        (
            "rules: [{name: a, score: duration_s, op: '>=', value: 1}, {name: a, score: fps, op: '>', value: 1}]",
            "rules[1].name: duplicate",
        ),
        (
            "tiers: [{name: S, when: [{score: aestetic, op: '>=', value: 5}]}]",
            "tiers[0].when[0].score: 'aestetic'",
        ),
        ("tiers: [{name: S, when: [{any: []}]}]", "tiers[0].when[0].any: expected a non-empty list"),
        ("tiers: [{name: S}, {name: S}]", "tiers[1].name: duplicate tier 'S'"),
        ("tiers: [{when: []}]", "tiers[0].name: required string"),
        ("rulez: []", "top level: unknown key(s) 'rulez'"),
        ("mode: drop", "mode: 'drop' is not one of filter, score-only"),
        ("version: 2", "version: 2 is not a supported version"),
        ("aesthetic: {model: ViT-B-32}", "aesthetic.head: required string"),
        ("rules: [{score: shot_id, op: '==', value: x}]", "'shot_id' is not a score column"),
    ],
)
def test_config_errors_name_the_place(text, message):
    with pytest.raises(FilterConfigError) as exc:
        config(text)
    assert str(exc.value).startswith("test.yaml: ")
    assert message in str(exc.value)


def test_load_errors_name_the_file(tmp_path):
    bad = tmp_path / "f.yaml"
    bad.write_text("rules: [\n")
    with pytest.raises(FilterConfigError, match="f.yaml: not valid YAML"):
        FilterConfig.load(bad)
    with pytest.raises(FilterConfigError, match="cannot read"):
        FilterConfig.load(tmp_path / "missing.yaml")
    good = tmp_path / "g.yaml"
    good.write_text(
        "rules: [{name: long, score: duration_s, op: '>=', value: 3}]\ntiers: [{name: B, when: []}]\n"
    )
    cfg = FilterConfig.load(good)
    assert cfg.rule_names() == ["long"] and cfg.rules[0].condition.value == 3.0


def test_rules_no_shot_can_pass_follow_from_the_frame_size():
    default = FilterConfig.load()
    assert [r.name for r in rules_no_shot_can_pass(480, 204, default)] == ["min_resolution"]
    assert rules_no_shot_can_pass(640, 360, default) == []
    # the active picture may fill the frame: 240 >= 240
    assert rules_no_shot_can_pass(320, 240, default) == []
    assert rules_no_shot_can_pass(480, 204, dataclasses.replace(default, mode="score-only")) == []
    assert rules_no_shot_can_pass(480, 204, default, mode="score-only") == []
    cfg = config(
        """
rules:
  - {name: wide, score: active_width, op: ">", value: 500}
  - {name: small_only, score: short_side_px, op: "<=", value: 100}
  - {name: tall, score: active_height, op: ">=", value: 200}
"""
    )
    # an upper bound can still be met by a shot whose active picture is smaller than the frame
    assert [r.name for r in rules_no_shot_can_pass(480, 204, cfg)] == ["wide"]
    assert [r.name for r in rules_no_shot_can_pass(500, 150, cfg)] == ["wide", "tall"]
