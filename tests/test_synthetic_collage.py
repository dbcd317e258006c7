"""The "collage" look of the synthetic footage (flat shapes and discs, the trainer's quick-to-learn proof
footage): its labels hold for the camera and timing experts as the cel look's do, and its pictures are flat."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from annotator.camera import CameraExpert
from annotator.evaluate import ABSTAIN, ExpertsAnnotator, evaluate_caption
from annotator.timing import TimingExpert
from pipeline.footage_labels import load_label
from pipeline.synthetic import SynthConfig, generate_footage
from pipeline.synthetic.paint import PALETTES, contrasting, luma, paint_background, paint_collage
from pipeline.synthetic.plan import plan_footage

CFG = SynthConfig(
    width=320,
    height=180,
    seconds=8.0,
    min_shot_seconds=1.0,
    max_shot_seconds=2.5,
    opening_seconds=2.0,
    look="collage",
    cameras=("static", "pan_left", "pan_right", "tilt_up", "tilt_down"),
)  # fmt: skip  (the look is for camera-control proofs: their moves only; zooms over it are not checked)


@pytest.fixture(scope="module")
def collage(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth_collage")
    return generate_footage(folder, 4, 3, CFG)


def _top_colour_share(img: np.ndarray, k: int = 20) -> float:
    """Share of the pixels painted in the ``k`` most frequent colours."""
    q = img.reshape(-1, 3).astype(np.int64)
    _, counts = np.unique(q[:, 0] * 65536 + q[:, 1] * 256 + q[:, 2], return_counts=True)
    return float(np.sort(counts)[::-1][:k].sum() / counts.sum())


def test_collage_labels_hold_for_the_camera_and_timing_experts(collage):
    report = evaluate_caption(
        collage.out_dir, annotate=ExpertsAnnotator([CameraExpert(), TimingExpert()]), annotator_name="c+t"
    )
    cam, tim = report.fields["camera.movement"], report.fields["motion.timing"]
    print(
        f"\ncollage: camera {cam.correct}/{cam.labelled}, timing {tim.correct}/{tim.labelled}; {cam.confusion}"
    )
    assert {"static", "pan_left", "pan_right", "tilt_up", "tilt_down"} <= set(cam.confusion)
    # big flat shapes give the flow few textured points: the camera expert reads 0.89-0.95 of these shots
    # (seeds 3 and 4), against 1.0 on the textured cel look
    assert cam.accuracy_all >= 0.85
    # the drawing cadence reads as on cel: never a wrong cadence; at most one abstention (a pan on ones with
    # speed lines redrawn on every frame hides the characters' cadence: 17 of 18 read, seed 3)
    wrong = sum(
        n for truth, row in tim.confusion.items() for got, n in row.items() if got not in (truth, ABSTAIN)
    )
    abstained = sum(row.get(ABSTAIN, 0) for row in tim.confusion.values())
    assert wrong == 0 and abstained <= 1


@pytest.mark.parametrize("seed", [0, 1])
def test_collage_backgrounds_are_flat_colour_and_cel_ones_are_not(seed):
    collage = paint_collage(np.random.default_rng(seed), 400, 240, "day", 180)
    cel = paint_background(np.random.default_rng(seed), 400, 240, "town", "day", 120, 0.5)
    # flat fills: a few colours cover nearly everything (anti-aliased outlines aside); the cel look's
    # gradients and paint wash give almost every pixel a colour of its own
    assert _top_colour_share(collage) > 0.9
    assert _top_colour_share(cel) < 0.6


def test_collage_notes_describe_discs_not_characters(collage):
    notes = " ".join(s.notes for v in collage.videos for s in load_label(v.label_path).shots)
    assert "collage background" in notes and "flat disc" in notes and "cel character" not in notes


def test_look_is_validated():
    with pytest.raises(ValueError, match="look"):
        SynthConfig(look="watercolour")


def test_cameras_restricts_the_planned_moves_and_is_validated(tmp_path):
    moves = ("static", "pan_left", "tilt_down")
    cfg = SynthConfig(width=192, height=108, seconds=6.0, look="collage", cameras=moves)  # reuse left on
    m = generate_footage(tmp_path, 4, 2, cfg)
    seen = {s.camera for v in m.videos for s in load_label(v.label_path).shots}
    assert seen == set(moves)  # each of them, and nothing else
    with pytest.raises(ValueError, match="cameras"):
        SynthConfig(cameras=("dolly",))


def test_camera_speed_fixes_every_pan_and_tilt_and_leaves_the_rest_of_the_plan():
    moves = ("static", "pan_left", "pan_right", "tilt_up", "tilt_down")
    base = SynthConfig(width=432, height=240, seconds=10.0, look="collage", cameras=moves, reuse=False)
    fixed = dataclasses.replace(base, camera_speed=7.5)
    a, b = plan_footage(base, 6, 3), plan_footage(fixed, 6, 3)
    moving = 0
    for va, vb in zip(a.videos, b.videos, strict=True):
        for sa, sb in zip(va.shots, vb.shots, strict=True):
            assert dataclasses.replace(sa, speed=0.0) == dataclasses.replace(sb, speed=0.0)
            if sb.camera in moves[1:]:
                moving += 1
                assert sb.speed == round(7.5 * 432 / 640, 2)  # 5.06 px per frame at 432 px
            else:
                assert sb.speed == sa.speed
    assert moving >= 4
    assert "camera_speed" not in base.to_json() and fixed.to_json()["camera_speed"] == 7.5
    with pytest.raises(ValueError, match="camera_speed"):
        SynthConfig(camera_speed=0.0)


@pytest.mark.parametrize("palette", ["day", "sunset", "night", "overcast"])
def test_collage_shapes_stand_out_from_the_ground(palette):
    ground = PALETTES[palette]["ground"]
    img = paint_collage(np.random.default_rng(0), 400, 240, palette, 120)
    # interior pixels (the same colour as all 8 neighbours): the outlines' anti-aliased blends left out
    key = img.astype(np.int64) @ np.array([65536, 256, 1])
    core = key[1:-1, 1:-1]
    same = np.ones_like(core, bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            same &= core == key[1 + dy : key.shape[0] - 1 + dy, 1 + dx : key.shape[1] - 1 + dx]
    values, counts = np.unique(core[same], return_counts=True)
    fills = [
        (int(v) >> 16, (int(v) >> 8) & 255, int(v) & 255)
        for v, n in zip(values, counts, strict=True)
        if n > 50
    ]
    fills = [f for f in fills if f != ground]
    assert fills  # shapes were painted
    for fill in fills:
        if fill != (38, 30, 46):  # the outline colour
            assert abs(luma(fill) - luma(ground)) >= 47.5, (palette, fill)


def test_contrasting_moves_a_colour_only_as_far_as_needed():
    ground = (150, 204, 110)  # luma ~177
    assert contrasting((20, 20, 20), ground, 48) == (20, 20, 20)  # already far: unchanged
    near = contrasting((160, 200, 120), ground, 48)  # lighter than the ground: lightened
    assert luma(near) > luma(ground) and abs(abs(luma(near) - luma(ground)) - 48) < 1.5
    dark = contrasting((150, 150, 150), ground, 48)  # darker: darkened
    assert luma(dark) < luma(ground) and abs(abs(luma(dark) - luma(ground)) - 48) < 1.5
    assert luma(contrasting((10, 10, 10), (20, 20, 20), 48)) >= luma((20, 20, 20)) + 47.5  # no room below
