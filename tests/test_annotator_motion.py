"""The camera and timing experts and the caption evaluator, on synthetic footage with exact labels and on
hand-made frame arrays whose motion is known."""

from __future__ import annotations

import dataclasses
import json
from fractions import Fraction

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from annotator.base import Expert, ShotInput
from annotator.camera import (
    CameraExpert,
    CameraPath,
    StepMotion,
    camera_path,
    classify_camera,
    jitter,
    measure_step,
    speed_class,
)
from annotator.evaluate import ExpertsAnnotator, evaluate_caption, shot_truth
from annotator.fusion import fuse
from annotator.style import VIDEO_MEDIUM_KEY, VideoMediumStats
from annotator.timing import (
    RENDERED_ONES_CONFIDENCE,
    TimingExpert,
    TimingVerdict,
    classify_timing,
    rendered_ones,
)
from pipeline.footage_labels import FootageLabel, ShotLabel, Span
from pipeline.frames import TINY_SIZE, AnalysisFrames
from pipeline.scores import score_shot
from pipeline.scores.motion import analyse_pairs
from pipeline.scores.registry import ScoreContext
from pipeline.scores.timing import classify_cadence, drawing_changes, drawing_runs
from pipeline.synthetic import SynthConfig, generate_footage
from taxonomy import load_taxonomy
from tests.videos import moving_pairs, snow_over

CFG = SynthConfig(seconds=8.0, min_shot_seconds=1.0, max_shot_seconds=2.5, opening_seconds=2.0)
SEED = 5
VIDEOS = 5


@pytest.fixture(scope="module")
def synth_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth_caption")
    generate_footage(folder, VIDEOS, SEED, CFG)
    annotate = ExpertsAnnotator([CameraExpert(), TimingExpert()])
    return evaluate_caption(folder, annotate=annotate, annotator_name="camera+timing"), folder


def test_camera_and_timing_accuracy_on_synthetic_footage(synth_report):
    report, _ = synth_report
    cam, tim = report.fields["camera.movement"], report.fields["motion.timing"]
    print(
        f"\nsynthetic: camera {cam.correct}/{cam.labelled} (answered {cam.answered}), "
        f"timing {tim.correct}/{tim.labelled} (answered {tim.answered}); "
        f"camera confusion {cam.confusion}; timing confusion {tim.confusion}"
    )
    # every camera move and every cadence of the generator is in the set
    assert {"static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "shake"} <= set(
        cam.confusion
    )
    assert {"ones", "twos", "threes", "held", "mixed"} <= set(tim.confusion)
    assert cam.accuracy_all >= 0.95 and tim.accuracy_all >= 0.95  # abstentions count as wrong here


def test_report_is_json_and_carries_the_other_fields(synth_report):
    report, _ = synth_report
    data = json.loads(json.dumps(report.to_json_dict()))
    assert data["shots"] == len(report.shots) > 10
    assert data["fields"]["camera.layout"]["labelled"] == len(report.shots)
    # experts that cover no field leave it unanswered: coverage 0, never a fabricated tag
    assert data["fields"]["camera.shot_size"]["answered"] == 0
    assert data["fields"]["camera.shot_size"]["confusion"]
    assert all(row["vfx_answer"] == [] for row in data["per_shot"])
    assert data["annotate_fps"] > 0 and data["decode_fps"] > 0


def test_cli_eval_caption_json(synth_report, tmp_path):
    from jobs.cli import app

    _, folder = synth_report
    config = tmp_path / "motion.yaml"
    config.write_text("experts: [camera, timing]\n")
    args = ["eval", "caption", "--footage", str(folder), "--clip", "synth_000.mp4", "--config", str(config)]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["clips"] == 1 and data["shots"] >= 2 and "camera" in data["annotator"]
    assert set(data["fields"]) >= {"camera.movement", "motion.timing", "vfx.text_overlay", "style.medium"}
    assert data["fields"]["motion.timing"]["answered"] >= 1
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0 and "camera.movement" in table.output and "frames/s" in table.output
    missing = CliRunner().invoke(app, ["eval", "caption", "--footage", str(folder / "nope")])
    assert missing.exit_code != 0 and "not a folder" in missing.output
    bad = CliRunner().invoke(app, ["eval", "caption", "--footage", str(folder), "--config", "no-such-config"])
    assert bad.exit_code != 0 and "no-such-config" in bad.output


# --- hand-made motion --------------------------------------------------------------------------------------


def textured(seed: int, w: int = 220, h: int = 160) -> np.ndarray:
    """A textured gray canvas (blobs and lines) larger than the thumbs cut from it."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w), 120, np.uint8)
    for _ in range(60):
        cv2.circle(img, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(2, 9)),
                   int(rng.integers(0, 255)), -1, cv2.LINE_AA)  # fmt: skip
    for _ in range(20):
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.line(img, p1, p2, int(rng.integers(0, 255)), 1, cv2.LINE_AA)
    return img


def view_sequence(canvas: np.ndarray, n: int, move, w: int = 128, h: int = 72) -> np.ndarray:
    """(n, h, w) float32 views: ``move(t)`` -> (scale, dx, dy) of the content about the view centre."""
    ch, cw = canvas.shape
    out = []
    for t in range(n):
        s, dx, dy = move(t)
        # content point c maps to view point s * (c - centre) + view centre + (dx, dy)
        m = np.array([[s, 0.0, w / 2 + dx - s * cw / 2], [0.0, s, h / 2 + dy - s * ch / 2]], np.float64)
        out.append(cv2.warpAffine(canvas, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return np.stack(out).astype(np.float32)


@pytest.mark.parametrize(
    ("move", "expected"),
    [
        (lambda t: (1.0, 0.5 * t, 0.0), "pan_left"),  # content slides right: the view turns left
        (lambda t: (1.0, -0.5 * t, 0.0), "pan_right"),
        (lambda t: (1.0, 0.0, 0.4 * t), "tilt_up"),  # content slides down: the view moves up
        (lambda t: (1.0, 0.0, -0.4 * t), "tilt_down"),
        (lambda t: (1.008**t, 0.0, 0.0), "zoom_in"),  # content grows
        (lambda t: (1.008**-t, 0.0, 0.0), "zoom_out"),
        (lambda t: (1.0, 1.5 * (-1) ** t, 0.8 * (-1) ** (t // 2)), "shake"),
        (lambda t: (1.0, 0.0, 0.0), "static"),
    ],
)
def test_camera_directions_follow_the_schema(move, expected):
    gray = view_sequence(textured(3), 36, move)
    verdict = classify_camera(camera_path(gray, 24.0), jitter(gray))
    assert verdict.movement == expected, verdict.evidence
    assert verdict.confidence >= 0.5
    assert (verdict.speed is None) == (expected in ("static", "shake"))


def test_camera_on_twos_and_a_character_in_front():
    """A pan moved on twos, with a large flat 'character' sliding the other way in front of it."""
    canvas = textured(8)
    gray = view_sequence(canvas, 48, lambda t: (1.0, 0.6 * (t // 2), 0.0))
    for t in range(len(gray)):
        x = 20 + int(1.5 * t)
        cv2.rectangle(gray[t], (x, 15), (x + 30, 60), 40.0, -1)
        cv2.rectangle(gray[t], (x + 5, 20), (x + 25, 30), 200.0, 2)
    verdict = classify_camera(camera_path(gray, 24.0), jitter(gray))
    assert verdict.movement == "pan_left", verdict.evidence


def test_camera_abstains_on_a_flat_changing_picture():
    rng = np.random.default_rng(0)
    gray = np.stack([np.full((72, 128), float(rng.integers(20, 230)), np.float32) for _ in range(20)])
    verdict = classify_camera(camera_path(gray, 24.0), jitter(gray))
    assert verdict.movement is None and "unreliable" in verdict.reason
    black = np.zeros((20, 72, 128), np.float32)  # nothing changes: a still camera
    assert classify_camera(camera_path(black, 24.0), jitter(black)).movement == "static"


def test_camera_move_after_a_long_hold_is_the_shots_movement():
    """A tilt that starts two thirds into the shot: the sustained (median) motion is still, a clean run decides."""
    gray = view_sequence(textured(4), 60, lambda t: (1.0, 0.0, 1.2 * max(0, t - 40)))
    verdict = classify_camera(camera_path(gray, 24.0), jitter(gray))
    assert verdict.movement == "tilt_up", verdict.evidence
    assert verdict.evidence["run_frames"] >= 18


def test_a_whip_into_the_next_shot_leaves_a_still_shot_static():
    """Motion confined to the last few frames of a long still shot (a whip) is not the shot's movement."""
    gray = view_sequence(textured(5), 72, lambda t: (1.0, 2.0 * max(0, t - 66) ** 1.5, 0.0))
    path = camera_path(gray, 24.0)
    assert abs(path.net()[0]) > 10  # the whip is measured ...
    verdict = classify_camera(path, jitter(gray))
    assert verdict.movement == "static", verdict.evidence  # ... but it is not the shot's movement


def test_sustained_motion_needs_steps_that_agree():
    def path(txs: list[float]) -> CameraPath:
        steps = tuple(
            StepMotion(6 * i, 6 * i + 6, tx, 0.0, 0.0, 0.0, 1.0, 100, True) for i, tx in enumerate(txs)
        )
        return CameraPath(steps, 128, 72, 24.0, 6 * len(txs) + 1)

    steady = path([1.0, 1.1, 0.9, 1.0])
    assert steady.sustained()[0] == pytest.approx(steady.net()[0], rel=0.15) and steady.net()[0] > 3.5
    burst = path([0.0, 0.0, 0.0, 0.0, 9.0])  # one step moves: a head turn, redrawn speed lines
    assert burst.net()[0] == pytest.approx(9.0) and burst.sustained()[0] == 0.0
    # the median and the mean point different ways: no direction is sustained
    assert path([0.5, 0.6, -3.0]).sustained()[0] == 0.0
    assert path([1.6, -1.9, -1.3, 0.7]).sustained()[0] == pytest.approx(-0.9)  # the smaller of the two


def test_push_in_toward_an_off_centre_point_is_a_zoom():
    """A push-in toward a point right of centre also translates the centre; it is still zoom_in, not complex."""
    q = (45.0, 10.0)  # the fixed point, relative to the view centre (inside the 128 x 72 picture)

    def move(t: int) -> tuple[float, float, float]:
        s = 1.012**t
        return s, q[0] * (1 - s), q[1] * (1 - s)

    gray = view_sequence(textured(6, 320, 240), 36, move)
    path = camera_path(gray, 24.0)
    tx, _, ls, _ = path.net()
    # the translation is comparable to the zoom: read as pan + zoom this would be complex
    assert abs(tx) > 0.6 * abs(ls) * path.radius
    verdict = classify_camera(path, jitter(gray))
    assert verdict.movement == "zoom_in", verdict.evidence


def test_fast_zoom_is_re_measured_frame_by_frame():
    """A zoom too fast for one step (x1.6 over 7 frames) is measured across single frames instead."""
    gray = view_sequence(textured(7, 320, 240), 8, lambda t: (1.07**-t, 0.0, 0.0))
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    assert not measure_step(dis, gray[0], gray[7], 0, 7).reliable
    path = camera_path(gray, 24.0)
    assert path.reliable_share == 1.0
    verdict = classify_camera(path, jitter(gray))
    assert verdict.movement == "zoom_out", verdict.evidence


def test_speed_classes():
    assert speed_class(0.05) == "slow" and speed_class(0.2) == "medium" and speed_class(0.9) == "fast"


def make_frames(gray: np.ndarray, fps: int = 24) -> AnalysisFrames:
    thumb = np.repeat(np.clip(gray, 0, 255).astype(np.uint8)[..., None], 3, axis=3)
    n = len(thumb)
    tiny = np.stack([cv2.resize(t, TINY_SIZE, interpolation=cv2.INTER_AREA) for t in thumb])
    return AnalysisFrames(
        path="memory",
        fps=Fraction(fps),
        time_base=Fraction(1, fps),
        source_size=(640, 360),
        pts=np.arange(n, dtype=np.int64),
        thumb=thumb,
        tiny=tiny,
    )


def animated(n: int, step: int, pan: float = 0.0) -> np.ndarray:
    """A textured background (panned ``pan`` px / frame on ones) with a bar redrawn every ``step`` frames."""
    gray = view_sequence(textured(11), n, lambda t: (1.0, pan * t, 0.0))
    for t in range(n):
        d = t // step if step else 0
        angle = 0.5 * d
        c = (64, 36)
        tip = (int(c[0] + 25 * np.cos(angle)), int(c[1] + 25 * np.sin(angle)))
        cv2.line(gray[t], c, tip, 250.0, 4)
    return gray


@pytest.mark.parametrize(("step", "pan", "expected"), [(1, 0.0, "ones"), (2, 0.0, "twos"), (3, 0.0, "threes"),
                                                       (0, 0.0, "held"), (2, 0.7, "twos"), (0, 0.7, "held")])  # fmt: skip
def test_timing_expert_separates_drawings_from_camera(step, pan, expected):
    frames = make_frames(animated(48, step, pan))
    shot = ShotInput(frames=frames, start=0, end=47, ctx=ScoreContext())
    out = TimingExpert().annotate(shot)
    tags = fuse(out.votes, out.abstentions).tags
    assert tags["motion.timing"] == (expected,)
    assert tags["motion.intensity"] == (("still",) if step == 0 else tags["motion.intensity"])
    if step:
        assert tags["motion.intensity"] != ("still",)


def test_timing_abstains_on_short_and_high_rate_shots():
    v = classify_timing(analyse_pairs(animated(4, 1)), 24.0)
    assert v.timing is None and "shorter" in v.reason
    # with the frames: a small bar redrawn on each of 4 frames is neither specks nor a big new pose
    gray = animated(4, 1)
    v = classify_timing(analyse_pairs(gray), 24.0, gray=gray)
    assert v.timing is None and "shorter" in v.reason
    v = classify_timing(analyse_pairs(animated(30, 2)), 59.94)
    assert v.timing is None and "pulldown" in v.reason


def test_timing_abstains_under_a_full_frame_effect_layer():
    """Fire over the whole picture redrawn on every frame, a figure on twos under it: the character's cadence
    is hidden, so the expert abstains -- the same way whether or not the scoring stage ran first."""
    rng = np.random.default_rng(2)
    gray = []
    for t in range(36):
        flames = cv2.resize(
            rng.uniform(40, 230, (9, 16)).astype(np.float32), (128, 72), interpolation=cv2.INTER_CUBIC
        )
        cv2.ellipse(flames, (64, 40), (14, 24), 20 * (t // 2), 0, 360, 10.0, -1)
        gray.append(flames)
    frames = make_frames(np.stack(gray))
    shot = ShotInput(frames=frames, start=0, end=35, ctx=ScoreContext())
    verdict = TimingExpert().read(shot)
    assert verdict.timing is None and "full-frame layer" in verdict.reason
    scored = ShotInput(frames=frames, start=0, end=35, ctx=ScoreContext(), scores=score_shot(frames, 0, 35))
    assert scored.scores.cadence == "ones"  # the picture does change on every frame
    assert TimingExpert().read(scored).timing is None
    # a character redrawn on every frame over a still background is tagged
    assert (
        TimingExpert().read(ShotInput(make_frames(animated(36, 1)), 0, 35, ScoreContext())).timing == "ones"
    )


def test_a_mixed_reading_in_a_3dcg_video_is_ones():
    """A renderer draws a new picture on every frame while anything moves: in a 3DCG video the holds inside a
    shot read as mixed are motion too small to see, so it is ones; other readings, and other media, stay."""
    mixed = TimingVerdict("mixed", 0.8, "subtle", 0.6, "", {"frames": 48.0})
    ones = rendered_ones(mixed, "3dcg")
    assert (ones.timing, ones.timing_confidence, ones.evidence["video_3dcg"]) == (
        "ones",
        RENDERED_ONES_CONFIDENCE,
        1.0,
    )
    assert ones.intensity == "subtle" and ones.evidence["frames"] == 48.0
    assert rendered_ones(mixed, "2d_cel") is mixed and rendered_ones(mixed, None) is mixed
    for kept in ("held", "twos", "threes", "ones", None):
        verdict = TimingVerdict(kept, 0.9, "still", 0.8, "", {})
        assert rendered_ones(verdict, "3dcg") is verdict
    # through the expert: the video's medium comes from the context's per-video cache (the style expert's)
    gray = np.concatenate([animated(24, 0), animated(24, 1)[:24]])  # a hold, then a new drawing every frame
    frames = make_frames(gray)
    plain = TimingExpert().read(ShotInput(frames, 0, 47, ScoreContext()))
    assert plain.timing == "mixed"  # no source file: no video medium, the shot's own reading
    for medium_stats, expected in (
        (VideoMediumStats(0.0, 0.03, 0.2, 16, 16, 0.1), "ones"),  # 3DCG-like
        (VideoMediumStats(0.0, 0.15, 0.9, 16, 16, 0.6), "mixed"),  # cel-like
    ):
        ctx = ScoreContext()
        ctx.video_cached(frames, VIDEO_MEDIUM_KEY, lambda m=medium_stats: m)
        out = TimingExpert().annotate(ShotInput(frames, 0, 47, ctx))
        assert [v.values for v in out.votes if v.field == "motion.timing"] == [(expected,)]


def test_timing_tags_a_short_shot_held_when_only_specks_move():
    base = textured(5)[:72, :128].astype(np.float32)
    v = TimingExpert().read(ShotInput(make_frames(snow_over(base, flakes=10, seed=1)), 0, 2, ScoreContext()))
    assert v.timing == "held" and v.timing_confidence == 0.5 and "specks" in v.reason


def test_experts_satisfy_the_protocol():
    for expert in (CameraExpert(), TimingExpert()):
        assert isinstance(expert, Expert)
        tax = load_taxonomy()
        for f in expert.fields:
            tax.field(f)


def test_truth_mapping():
    tax = load_taxonomy()
    shot = ShotLabel(0, 20, camera="complex", shot_size="unknown", timing="twos", vfx=("fire", "smear"))
    label = FootageLabel(
        clip="x.mp4", frames=30, cuts=(21,), transitions=(), flashes=(Span(5, 5, "inversion"), Span(25, 25, "white_flash")),
        shots=(shot,), layout="pillarbox", style="jp_cel_tv",
    )  # fmt: skip
    truth, effects = shot_truth(label, shot, tax)
    assert "camera.movement" not in truth and "camera.shot_size" not in truth
    assert truth["motion.timing"] == ("motion.timing", "twos")
    assert truth["style"] == ("style.rendering", "tv_anime") and truth["style.medium"] == (
        "style.medium",
        "2d_cel",
    )
    assert truth["camera.layout"] == ("camera.layout", "pillarbox")
    assert truth["style.medium.2d_vs_3dcg"] == ("style.medium", "2d_cel")
    # the 2D-vs-3DCG row scores cel and 3DCG shots only; the style.medium row every medium
    for style, medium, scored in (("3dcg", "3dcg", True), ("western_2d", "western_2d_cartoon", False)):
        other, _ = shot_truth(dataclasses.replace(label, style=style), shot, tax)
        assert other["style.medium"] == ("style.medium", medium)
        assert ("style.medium.2d_vs_3dcg" in other) == scored
    assert effects == {
        "fire",
        "colour_inversion",
    }  # smear is a deformation; the flash at 25 is outside the shot


def test_cadence_tolerates_a_change_found_one_frame_off():
    def cad(runs: list[int]) -> tuple[str, float | None]:
        pattern = "".join("x" + "." * (r - 1) for r in runs)
        changed = np.array([c == "x" for c in pattern[1:]])
        return classify_cadence(drawing_runs(changed), 24.0)

    # threes with two changes found a frame early / late (2 + 4, 4 + 2): only half the runs are exact threes
    assert cad([3, 3, 2, 4, 3, 3, 4, 2, 3, 3]) == ("threes", 1.0)
    # a single frame is a drawing on ones, not a misplaced change: 1 + 3 is no evidence of twos
    assert cad([2, 2, 2, 1, 3, 2, 2, 1, 3, 2, 1, 3, 2])[0] == "mixed"


def test_floor_adapts_to_a_split_of_the_residuals_under_a_moving_camera():
    # threes under a pan: held pairs leave 5-9 of residual, new drawings 25-40
    held, new = [5.5, 6.0, 7.2, 8.9, 6.4, 5.1, 7.7, 6.6], [25.0, 31.0, 40.0, 28.0]
    residual = []
    for k in range(4):
        residual += [held[2 * k], held[2 * k + 1], new[k]]
    pm = moving_pairs(residual)
    assert pm.changed.sum() == 12
    changed = drawing_changes(pm)
    assert changed.tolist() == [False, False, True] * 4
    # a continuous spread (ones with small and large changes) keeps the fixed floor
    spread = moving_pairs([5.5, 6.5, 7.5, 9.0, 10.5, 12.0, 14.0, 16.0])
    assert drawing_changes(spread).tolist() == spread.changed.tolist()
    # with a still camera nothing is adapted: a mouth flap beside a big change stays a change
    still = moving_pairs(residual, moved=False)
    assert drawing_changes(still).tolist() == still.changed.tolist()
