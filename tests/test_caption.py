"""AniCaption: the expert registry and its configs, fusion with priorities, the directive, annotate_video and
``anicurate caption`` -- on frames and a video the test makes (known flashes, letterbox bars)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from annotator.base import ExpertOutput, ShotInput
from annotator.caption import AniCaption, ExpertContractError
from annotator.directive import SECTIONS, TemplateDescriber, build_directive, ordered_fields
from annotator.fusion import FusionConfig, fuse
from annotator.registry import (
    CONFIGS,
    EXPERTS,
    CaptionConfigError,
    ExpertSpec,
    build_experts,
    load_config,
    parse_config,
)
from annotator.vfx import VfxExpert
from jobs.cli import app
from pipeline.scores.registry import ScoreContext
from taxonomy import load_taxonomy
from tests.test_annotator_picture import analysis_frames, cel_frame, letterboxed
from tests.videos import write_video


class _Fixed:
    """A test expert that always votes the given values."""

    def __init__(self, name: str, field: str, value: str, confidence: float, priority: int = 0) -> None:
        self.name, self.fields, self.priority = name, (field,), priority
        self._vote = (field, value, confidence)

    def annotate(self, shot: ShotInput) -> ExpertOutput:
        out = ExpertOutput()
        field, value, conf = self._vote
        out.vote(field, value, conf, self.name)
        return out


class _Rogue(_Fixed):
    def annotate(self, shot: ShotInput) -> ExpertOutput:
        out = ExpertOutput()
        out.vote("camera.movement", "static", 0.9, self.name)
        return out


@pytest.fixture(scope="module")
def clip_frames():
    images = [cel_frame(t) for t in range(40)]
    images[20] = 255 - images[20]  # the picture inverts; the bars (added after) stay black
    return analysis_frames(letterboxed(images, 9))


# --------------------------------------------------------------------------------------------- directive


def test_directive_orders_sections_and_omits_missing_fields() -> None:
    tax = load_taxonomy()
    votes = ExpertOutput()
    for field, value in [
        ("style.medium", "2d_cel"),
        ("vfx.effects", "flash"),
        ("camera.movement", "pan_left"),
        ("motion.timing", "twos"),
        ("motion.action", "run"),
        ("camera.shot_size", "close_up"),
    ]:
        votes.vote(field, value, 0.9, "t")
    ann = fuse(votes.votes, taxonomy=tax)
    d = build_directive(ann, taxonomy=tax)
    definitions = [
        tax.value(f, v).definition
        for f, v in [
            ("motion.action", "run"),
            ("camera.shot_size", "close_up"),
            ("camera.movement", "pan_left"),
            ("motion.timing", "twos"),
            ("vfx.effects", "flash"),
            ("style.medium", "2d_cel"),
        ]
    ]
    positions = [d.description.index(text.rstrip(".")) for text in definitions]
    assert positions == sorted(positions)  # subject -> camera -> motion -> vfx -> environment
    # nothing about fields without a tag
    for field in ("camera.angle", "style.palette", "vfx.text_overlay"):
        for value in tax.field(field).values:
            assert value.definition.rstrip(".") not in d.description
    assert "\n" not in d.summary and d.summary.endswith(".")
    assert tax.value("motion.action", "run").prompts[0].lower() in d.summary.lower()
    assert set(d.tags) == set(ann.tag_strings())
    text = d.text()
    assert text.startswith("<tag>") and "<summary>" in text and text.endswith("</description>")


def test_directive_without_tags_says_so_and_quiet_values_do_not_headline() -> None:
    tax = load_taxonomy()
    empty = build_directive(fuse([], taxonomy=tax), taxonomy=tax)
    assert empty.tags == () and "No production tag" in empty.description
    out = ExpertOutput()
    out.vote("vfx.text_overlay", "none", 0.9, "t")
    out.vote("camera.layout", "letterbox", 0.9, "t")
    d = build_directive(fuse(out.votes, taxonomy=tax), taxonomy=tax)
    assert tax.value("camera.layout", "letterbox").prompts[0].lower() in d.summary.lower()
    assert tax.value("vfx.text_overlay", "none").prompts[0].lower() not in d.summary.lower()


def test_every_taxonomy_field_has_a_section() -> None:
    tax = load_taxonomy()
    listed = [f for _, fs in SECTIONS for f in fs]
    assert len(listed) == len(set(listed))
    assert {f for _, f in ordered_fields(tax)} == {f.id for f in tax.fields}
    assert isinstance(TemplateDescriber(tax).name, str)


# ---------------------------------------------------------------------------------------------- registry


def test_named_configs_and_registry() -> None:
    assert load_config(None) is CONFIGS["default"]
    assert {s.name for s in CONFIGS["picture"].experts} == {"vfx", "style", "framing", "text"}
    experts, skipped = build_experts(CONFIGS["picture"])
    assert [e.name for e in experts] == ["vfx", "style", "framing", "text"] and not skipped
    for name in ("vfx", "style", "framing", "text"):
        assert name in EXPERTS


def test_yaml_config_priorities_options_and_errors(tmp_path: Path) -> None:
    cfg_file = tmp_path / "caption.yaml"
    cfg_file.write_text(
        "experts:\n  - vfx\n  - name: framing\n    priority: 5\n"
        "  - name: annotator.not_there:Nope\n    required: false\n"
        "fusion: {min_confidence: 0.6}\ndetector: pyscenedetect-content\n"
    )
    cap = AniCaption.from_config(cfg_file)
    assert [e.name for e in cap.experts] == ["vfx", "framing"]
    assert cap.priorities == {"vfx": 1, "framing": 5}
    assert cap.fusion == FusionConfig(min_confidence=0.6)
    assert cap.detector == "pyscenedetect-content"
    assert "annotator.not_there:Nope" in cap.skipped
    with pytest.raises(CaptionConfigError, match="cannot import"):
        build_experts(parse_config({"experts": ["annotator.not_there:Nope"]}))
    with pytest.raises(CaptionConfigError, match="unknown key"):
        parse_config({"experts": ["vfx"], "fusoin": {}})
    with pytest.raises(CaptionConfigError, match="priority"):
        parse_config({"experts": [{"name": "vfx", "priority": "high"}]})
    with pytest.raises(CaptionConfigError, match="unknown name"):
        build_experts(parse_config({"experts": ["nosuch"]}))
    with pytest.raises(CaptionConfigError, match="bad options"):
        build_experts(parse_config({"experts": [{"name": "vfx", "options": {"colour": 1}}]}))
    with pytest.raises(CaptionConfigError, match="neither a file"):
        load_config(tmp_path / "missing.yaml")
    based = parse_config({"base": "picture", "fusion": {"override_margin": 0.1}})
    assert based.experts == CONFIGS["picture"].experts and based.fusion.override_margin == 0.1
    assert ExpertSpec("vfx").required


# ----------------------------------------------------------------------------------------------- caption


def test_annotate_fuses_with_priorities_and_builds_the_directive(clip_frames) -> None:
    low = _Fixed("low", "camera.movement", "pan_left", 0.8, priority=0)
    high = _Fixed("high", "camera.movement", "static", 0.7, priority=2)
    cap = AniCaption([VfxExpert(), low, high], FusionConfig(override_margin=0.25))
    ann = cap.annotate(ShotInput(clip_frames, 0, 39, ScoreContext()))
    assert ann.tags["camera.movement"] == ("static",)  # higher priority within the margin
    assert set(ann.tags["vfx.effects"]) == {"impact_frame", "colour_inversion"}
    assert ann.sources["vfx.effects=impact_frame"] == "vfx"
    assert "style.medium" in ann.missing and ann.directive is not None
    assert "vfx.effects=colour_inversion" in ann.directive.tags
    assert cap.expert_seconds["vfx"] > 0.0


def test_expert_voting_outside_its_fields_is_an_error(clip_frames) -> None:
    cap = AniCaption([_Rogue("rogue", "vfx.effects", "flash", 0.9)])
    with pytest.raises(ExpertContractError, match="does not declare"):
        cap.annotate(ShotInput(clip_frames, 0, 9, ScoreContext()))
    with pytest.raises(ValueError, match="at least one expert"):
        AniCaption([])


@pytest.fixture(scope="module")
def flash_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-shot video: a cel shot with an inverted hit frame at 20, then a cut to a different picture at 40."""
    import cv2

    pictures = [cel_frame(t) for t in range(40)]
    pictures[20] = 255 - pictures[20]  # the picture inverts; the bars (added after) stay black
    images = [cv2.resize(f, (256, 144), interpolation=cv2.INTER_NEAREST) for f in letterboxed(pictures, 9)]
    other = [
        cv2.resize(cel_frame(t, seed=11), (256, 144), interpolation=cv2.INTER_NEAREST) for t in range(32)
    ]
    other = [np.ascontiguousarray(o[:, ::-1]) for o in letterboxed(other, 9)]
    return write_video(tmp_path_factory.mktemp("caption") / "clip.mp4", images + other)


def test_annotate_video_with_given_and_detected_shots(flash_video: Path) -> None:
    cap = AniCaption.from_config("picture")
    given = cap.annotate_video(flash_video, shots=[(0, 39), (40, 71)])
    assert [(s.start, s.end) for s in given.shots] == [(0, 39), (40, 71)]
    first, second = given.shots
    assert set(first.annotation.tags["vfx.effects"]) == {"impact_frame", "colour_inversion"}
    assert "vfx.effects" not in second.annotation.tags
    assert first.annotation.tags["camera.layout"] == ("letterbox",)
    assert second.start_s == pytest.approx(40 * 1001 / 24000, abs=1e-3)
    detected = cap.annotate_video(flash_video)
    assert detected.detector == "transnet"
    assert [s.start for s in detected.shots][:2] == [0, 40]  # the inverted frame is not a cut
    with pytest.raises(ValueError, match="not inside"):
        cap.annotate_video(flash_video, shots=[(0, 500)])


def test_caption_cli_json(flash_video: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["caption", str(flash_video), "--config", "picture", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    shot = data["shots"][0]
    assert shot["span"] == [0, 39]
    assert set(shot["tags"]["vfx.effects"]) == {"impact_frame", "colour_inversion"}
    assert shot["sources"]["camera.layout=letterbox"] == "framing"
    assert "camera.shot_size" in shot["missing"] and shot["directive"].startswith("<tag>")
    assert set(data["timing"]["experts_s"]) == {"vfx", "style", "framing", "text"}
    bad = CliRunner().invoke(app, ["caption", str(flash_video), "--config", str(tmp_path / "nope.yaml")])
    assert bad.exit_code == 2 and "neither a file" in bad.output


def test_a_vlm_description_replaces_the_template_description(clip_frames) -> None:
    from annotator.vlm_backend import VlmConfig, VlmExpert

    answer = '{"vfx.effects": ["flash"], "description": "A boy raises his hand.  The screen flashes white."}'
    vlm = VlmExpert(VlmConfig(describe=True, fields=("vfx.effects",)), generate=lambda images, prompt: answer)
    ann = AniCaption([vlm]).annotate(ShotInput(clip_frames, 0, 39, ScoreContext()))
    assert ann.tags["vfx.effects"] == ("flash",)
    assert ann.directive is not None
    assert ann.directive.description == "A boy raises his hand. The screen flashes white."
    assert "flash" in ann.directive.summary  # the summary still comes from the tags
    silent = VlmExpert(
        VlmConfig(fields=("vfx.effects",)), generate=lambda images, prompt: '{"vfx.effects": []}'
    )
    ann = AniCaption([VfxExpert(), silent]).annotate(ShotInput(clip_frames, 0, 39, ScoreContext()))
    tax = load_taxonomy()
    assert tax.value("vfx.effects", "colour_inversion").definition.rstrip(".") in ann.directive.description


def test_vlm_config_without_a_model_abstains() -> None:
    cap = AniCaption.from_config("vlm")
    vlm = next(e for e in cap.experts if e.name == "vlm")
    frames = analysis_frames([cel_frame(t) for t in range(6)])
    out = vlm.annotate(ShotInput(frames, 0, 5, ScoreContext()))
    assert not out.votes and out.abstentions
