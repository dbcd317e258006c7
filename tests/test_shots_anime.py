"""The anime-aware shot detector on videos built inside the tests: cuts, flashes, fades, dissolves, holds."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from pipeline.footage_labels import load_label_dir
from pipeline.frames import AnalysisFrames, decode_analysis_frames
from pipeline.shots.anime import (
    AnimeShotConfig,
    AnimeShotDetector,
    novelty_curve,
)
from pipeline.shots.base import ShotBoundaries
from pipeline.shots.evaluate import BoundaryScore, score_boundaries
from pipeline.shots.signals import compute_signals, find_active_area, structure_similarity
from pipeline.shots.transnet import TransNetPredictions, TransNetV2Model, window_count
from pipeline.shots.transnet_int8 import cpu_flags_have_vnni, int8_ops_available, quantize_activation
from tests.videos import write_video

W, H = 160, 90
FPS = Fraction(24000, 1001)


# ------------------------------------------------------------------------------------------ test footage


def _canvas(seed: int) -> np.ndarray:
    """A cel-like background twice the frame size: a two-colour gradient plus flat shapes in one palette."""
    rng = np.random.default_rng(seed)
    hue = rng.uniform(0, 180)
    h, w = 2 * H, 2 * W

    def colour(dh: float, s: float, v: float) -> tuple[int, int, int]:
        hsv = np.uint8([[[int((hue + dh) % 180), int(s), int(v)]]])
        return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])

    top, bottom = np.array(colour(0, 120, 220), float), np.array(colour(20, 200, 90), float)
    ys, xs = np.mgrid[0:h, 0:w]
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xs / w + np.sin(angle) * ys / h)[..., None]
    ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min())
    img = (top * (1 - ramp) + bottom * ramp).astype(np.uint8)
    for _ in range(40):
        c = colour(rng.uniform(-40, 40), rng.uniform(60, 255), rng.uniform(40, 255))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if rng.random() < 0.5:
            cv2.circle(img, (x, y), int(rng.integers(4, 22)), c, -1)
        else:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(6, 40)), y + int(rng.integers(6, 30))), c, -1)
    return img


def shot(seed: int, n: int, pan: float = 1.0, step: int = 2, start: int = 0) -> list[np.ndarray]:
    """``n`` frames of one shot: a panning crop of its background and a character (a two-tone ellipse pair)
    that gets a new drawing every ``step`` frames (0 = held). ``start`` continues the same shot later."""
    bg = _canvas(seed)
    rng = np.random.default_rng(seed + 1000)
    body = tuple(int(c) for c in rng.integers(30, 230, 3))
    x_c, y_c = int(rng.integers(W // 4, 3 * W // 4)), int(rng.integers(H // 3, 2 * H // 3))
    size = float(rng.uniform(0.6, 1.4))
    frames = []
    for t in range(start, start + n):
        x0 = int(round(W / 2 + pan * (t - start))) % W  # the camera starts moving at ``start``
        img = bg[H // 2 : H // 2 + H, x0 : x0 + W].copy()
        d = (t // step) if step else 0
        cx, cy = x_c + int(10 * np.sin(d * 0.9)), y_c + int(6 * np.cos(d * 1.3))
        cv2.ellipse(img, (cx, cy), (int(18 * size), int(26 * size)), 0, 0, 360, body, -1)
        head = (cx + 4, cy - int(14 * size))
        cv2.ellipse(img, head, (int(10 * size), int(8 * size)), d * 20, 0, 360, (250, 230, 210), -1)
        frames.append(img)
    return frames


def to_colour(img: np.ndarray, colour: int, amount: float) -> np.ndarray:
    return (img.astype(np.float32) * (1 - amount) + colour * amount).astype(np.uint8)


def blend(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    return cv2.addWeighted(a, 1.0 - w, b, w, 0.0)


def build(name: str) -> list[np.ndarray]:
    if name == "cut":
        return shot(1, 30) + shot(2, 30)
    if name == "white_flash":
        frames = shot(3, 50)
        frames[24] = np.full_like(frames[24], 255)
        frames[25] = to_colour(frames[25], 255, 0.85)
        return frames
    if name == "inversion":
        frames = shot(4, 50)
        frames[25] = 255 - frames[25]
        return frames
    if name == "flash_cut":
        white = np.full((H, W, 3), 255, np.uint8)
        return shot(5, 25) + [white, white.copy()] + shot(6, 25)
    if name == "fade_black":
        a, b = shot(7, 36), shot(8, 36)
        out = a[:30] + [to_colour(f, 0, (i + 1) / 6) for i, f in enumerate(a[30:])]
        out += [np.zeros((H, W, 3), np.uint8)] * 2
        out += [to_colour(f, 0, 1 - (i + 1) / 7) for i, f in enumerate(b[:6])] + b[6:]
        return out
    if name == "dissolve":
        a, b = shot(9, 42), shot(10, 42)
        mix = [blend(a[30 + i], b[i], (i + 1) / 13) for i in range(12)]
        return a[:30] + mix + b[12:]
    if name == "held_and_twos":
        return (
            shot(11, 50, pan=0.0, step=0)
            + shot(11, 40, pan=0.0, step=2, start=50)
            + shot(11, 30, pan=0.5, step=3, start=90)
        )
    if name == "short_shot":
        return shot(12, 30) + shot(13, 3) + shot(14, 30)
    raise KeyError(name)


#: Expected boundaries: first frame of the new shot after a cut, or the span a transition must touch.
CUT_AT = {"cut": 30, "short_shot": 30}


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, AnalysisFrames]:
    root = tmp_path_factory.mktemp("anime_shots")
    names = ["cut", "white_flash", "inversion", "flash_cut", "fade_black", "dissolve", "held_and_twos",
             "short_shot"]  # fmt: skip
    return {n: decode_analysis_frames(write_video(root / f"{n}.mp4", build(n), FPS)) for n in names}


@pytest.fixture(scope="module")
def detector() -> AnimeShotDetector:
    return AnimeShotDetector()


@pytest.fixture(scope="module")
def results(videos, detector) -> dict[str, ShotBoundaries]:
    return {name: detector.detect(frames) for name, frames in videos.items()}


# ------------------------------------------------------------------------------------------ behaviour


def test_hard_cut_at_the_exact_frame(results):
    r = results["cut"]
    assert r.cuts == (30,)
    assert r.transitions == ()
    assert [(s.start, s.end) for s in r.shots()] == [(0, 29), (30, 59)]


def test_white_flash_inside_a_shot_is_a_flash_not_a_cut(results):
    r = results["white_flash"]
    assert r.cuts == () and r.transitions == ()
    assert len(r.flashes) == 1
    flash = r.flashes[0]
    assert flash.type == "white_flash"
    assert flash.start <= 24 and flash.end >= 25 and flash.end <= 28


def test_inverted_impact_frame_is_not_a_cut(results):
    r = results["inversion"]
    assert r.cuts == () and r.transitions == ()
    assert [(f.start, f.end) for f in r.flashes] == [(25, 25)]
    assert r.flashes[0].type in ("inversion", "impact_frame")


def test_flash_between_two_shots_is_a_flash_cut(results):
    r = results["flash_cut"]
    assert r.cuts == ()
    assert len(r.transitions) == 1
    t = r.transitions[0]
    assert t.type == "flash_cut"
    assert t.start <= 26 and t.end >= 25 and t.end - t.start <= 4
    assert r.flashes == ()


def test_fade_through_black_is_one_span(results):
    r = results["fade_black"]
    assert r.cuts == ()
    assert len(r.transitions) == 1
    t = r.transitions[0]
    assert t.type == "fade_black"
    # fade-out 30-35, black 36-37, fade-in 38-43: the span covers the black and reaches into both ramps
    assert t.start <= 34 and t.end >= 39
    assert t.start >= 26 and t.end <= 46


def test_dissolve_is_one_span(results):
    r = results["dissolve"]
    assert r.cuts == ()
    assert len(r.transitions) == 1
    t = r.transitions[0]
    assert t.type == "dissolve"
    assert t.start <= 36 <= t.end  # the blend runs over frames 30-41
    assert t.start >= 24 and t.end <= 47


def test_held_shot_and_animation_on_twos_and_threes_have_no_boundary(results):
    r = results["held_and_twos"]
    assert r.cuts == () and r.transitions == ()


def test_min_shot_length(videos, results):
    assert results["short_shot"].cuts == (30, 33)  # default keeps a 3-frame shot (min 2)
    r = AnimeShotDetector(AnimeShotConfig(min_shot_frames=5)).detect(videos["short_shot"])
    assert len(r.cuts) + len(r.transitions) == 1
    assert all(s.length >= 5 for s in r.shots())
    assert len(r.shots()) == 2


def test_every_shot_is_long_enough_and_boundaries_are_ordered(results):
    for r in results.values():
        starts = r.boundary_frames()
        assert starts == sorted(starts)
        assert all(s.length >= AnimeShotConfig().min_shot_frames for s in r.shots())
        assert r.detector == "transnet"


# ------------------------------------------------------------------------------------------ TransNet gate


def test_window_predictions_match_the_full_video_run(videos):
    model = TransNetV2Model()
    tiny = videos["fade_black"].tiny  # 74 frames: windows 0 and 1
    full = model.predict(tiny)
    part = model.predict(tiny, [1])
    assert window_count(len(tiny)) == 2
    np.testing.assert_allclose(part.single[50:], full.single[50:], atol=1e-5)
    np.testing.assert_allclose(part.many[50:], full.many[50:], atol=1e-5)
    assert not part.single[:50].any()


def test_gating_gives_the_same_result_as_transnet_everywhere(synthetic):
    for frames, label in (synthetic[0], synthetic[-1]):
        gated = AnimeShotDetector(AnimeShotConfig(gating=True)).detect(frames)
        full = AnimeShotDetector(AnimeShotConfig(gating=False)).detect(frames)
        assert (gated.cuts, gated.transitions, gated.flashes) == (full.cuts, full.transitions, full.flashes)
        assert gated.extra["transnet_windows"] < full.extra["transnet_windows"] == 2
        assert gated.boundary_frames(), label.clip


# ------------------------------------------------------------------------------------------ edge cases


def _frames(thumb: np.ndarray) -> AnalysisFrames:
    tiny = np.stack([cv2.resize(t, (48, 27), interpolation=cv2.INTER_AREA) for t in thumb])
    n = len(thumb)
    return AnalysisFrames("mem", Fraction(24), Fraction(1, 24), (128, 72), np.arange(n), thumb, tiny)


def _no_network(tiny: np.ndarray, windows: list[int] | None) -> TransNetPredictions:
    assert windows == [], f"TransNet asked for windows {windows}"
    return TransNetPredictions(np.zeros(len(tiny), np.float32), np.zeros(len(tiny), np.float32))


def test_degenerate_videos_need_no_network():
    rng = np.random.default_rng(0)
    black = np.zeros((20, 72, 128, 3), np.uint8)
    picture = np.stack([cv2.GaussianBlur(rng.integers(0, 255, (72, 128, 3), dtype=np.uint8), (0, 0), 3)] * 20)
    detector = AnimeShotDetector(predictor=_no_network)
    assert detector.detect(_frames(picture[:1])).cuts == ()
    assert detector.detect(_frames(np.concatenate([black, black]))).transitions == ()
    # a black leader belongs to the first shot; a hard cut into a black tail is a cut
    assert detector.detect(_frames(np.concatenate([black, picture]))).boundary_frames() == []
    assert detector.detect(_frames(np.concatenate([picture, black]))).cuts == (20,)
    # alternating black and white frames are one strobe, not 29 boundaries
    strobe = np.stack([np.full((72, 128, 3), 255 * (i % 2), np.uint8) for i in range(30)])
    r = detector.detect(_frames(strobe))
    assert r.boundary_frames() == [] and [f.type for f in r.flashes] == ["strobe"]


def test_config_overrides():
    d = AnimeShotDetector(min_shot_frames=7, gating=False)
    assert d.config.min_shot_frames == 7 and not d.config.gating
    assert AnimeShotDetector.name == "transnet"
    with pytest.raises(ValueError):
        AnimeShotConfig(min_shot_frames=0)


# ------------------------------------------------------------------------------------------ signals


def test_bars_are_cropped_and_overlays_ignored():
    frames = np.zeros((12, 72, 128, 3), np.uint8)
    for i in range(12):
        frames[i, :, 16:112] = 20 + 15 * i  # pillarbox bars of 16 px; each picture one flat colour
    frames[:, 60:66, 24:40] = 250  # a static bug inside the picture, on top of every frame
    area = find_active_area(frames)
    assert (area.left, area.right, area.top, area.bottom) == (16, 112, 0, 72)
    sig = compute_signals(frames)
    assert sig.overlay.any()
    assert float(sig.contrast.max()) < 1.0  # the bug is masked: every picture is flat


def test_structure_similarity_tolerates_small_shifts():
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.uniform(0, 255, (36, 64)).astype(np.float32), (5, 5), 2)
    assert structure_similarity(img, np.roll(img, 2, axis=1), 3) > 0.9
    assert structure_similarity(img, rng.uniform(0, 255, (36, 64)).astype(np.float32), 3) < 0.3
    flat = np.full((36, 64), 10, np.float32)
    assert structure_similarity(flat, flat + 2, 3) == 1.0


def test_novelty_peaks_at_a_change_of_colours():
    hist = np.zeros((80, 4), np.float32)
    hist[:40, 0] = 1
    hist[40:, 1] = 1
    nov = novelty_curve(hist, 16)
    assert int(np.argmax(nov)) == 40
    assert nov[40] == pytest.approx(1.0)
    assert nov[10] == pytest.approx(0.0)


# ------------------------------------------------------------------------------------------ synthetic set


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    synth = pytest.importorskip("pipeline.synthetic")
    # 3 x 96 frames: cuts, a flash cut, a dissolve, white flashes, inversions and an impact frame
    cfg = synth.SynthConfig(
        width=320, height=180, seconds=4.0, min_shot_seconds=0.75, max_shot_seconds=1.5, opening_seconds=1.25
    )
    out: Path = tmp_path_factory.mktemp("synth_shots")
    manifest = synth.generate_footage(out, 3, 11, cfg)
    labels = load_label_dir(out / "labels")
    return [(decode_analysis_frames(v.path), labels[v.path.name]) for v in manifest.videos]


def test_synthetic_footage_f1(synthetic, detector):
    total = BoundaryScore()
    for frames, label in synthetic:
        total = total + score_boundaries(detector.detect(frames), label)
    assert total.truth >= 6
    assert total.f1 >= 0.98, (total.false_positives, total.misses)
    assert total.fp_in_flash == 0


# ------------------------------------------------------------------------------------------ shape wipes


def _any_windows(tiny: np.ndarray, windows: list[int] | None) -> TransNetPredictions:
    """TransNet seeing nothing anywhere: what is found comes from the cheap signals alone."""
    return TransNetPredictions(np.zeros(len(tiny), np.float32), np.zeros(len(tiny), np.float32))


def _thumbs(frames: list[np.ndarray]) -> AnalysisFrames:
    return _frames(np.stack([cv2.resize(f, (128, 72), interpolation=cv2.INTER_AREA) for f in frames]))


def _reveal(
    a: list[np.ndarray], b: list[np.ndarray], start: int, masks: list[np.ndarray]
) -> list[np.ndarray]:
    """``a``, with ``b`` shown where ``masks[i]`` is set on frame ``start + i`` and after the last mask."""
    out = list(a[:start])
    for i, mask in enumerate(masks):
        out.append(np.where(mask[..., None], b[start + i], a[start + i]).astype(np.uint8))
    last = masks[-1]
    out += [np.where(last[..., None], fb, fa).astype(np.uint8) for fa, fb in zip(a, b, strict=True)][
        len(out) :
    ]
    return out


def test_iris_wipe_between_shots_of_one_palette_is_one_wipe():
    # The next shot is the same painting turned upside down: the colours hardly change, only the layout.
    a = shot(21, 90, pan=0.0, step=2)
    b = [np.ascontiguousarray(f[::-1, ::-1]) for f in shot(21, 90, pan=0.0, step=3)]
    centre, length = (W - 20, 15), 26
    radius = float(np.hypot(centre[0], H - centre[1]))
    masks = []
    for i in range(length):
        mask = np.zeros((H, W), np.uint8)
        cv2.circle(mask, centre, int(round(radius * (i + 1) / length)), 1, -1)
        masks.append(mask.astype(bool))
    frames = _reveal(a, b, 30, masks)
    for i in range(length - 1):  # the iris' white rim
        cv2.circle(frames[30 + i], centre, int(round(radius * (i + 1) / length)), (255, 255, 255), 1)
    r = AnimeShotDetector(predictor=_any_windows).detect(_thumbs(frames))
    assert r.cuts == ()
    assert [t.type for t in r.transitions] == ["wipe"]
    assert r.transitions[0].start <= 30 + length and r.transitions[0].end >= 30


def test_inset_popping_up_inside_a_shot_is_not_a_boundary():
    # A callout box growing in one corner of a held picture covers a fifth of the frame: the shot goes on
    # (it grows like a wipe -- the area it replaces is what tells them apart).
    a = shot(22, 80, pan=0.0, step=0)
    b = [np.ascontiguousarray(f[::-1, ::-1]) for f in shot(22, 80, pan=0.0, step=0)]
    box_h, box_w = int(0.45 * H), int(0.45 * W)
    masks = []
    for i in range(12):
        mask = np.zeros((H, W), bool)
        mask[4 : 4 + box_h * (i + 1) // 12, 6 : 6 + box_w * (i + 1) // 12] = True
        masks.append(mask)
    r = AnimeShotDetector(predictor=_any_windows).detect(_thumbs(_reveal(a, b, 30, masks)))
    assert r.boundary_frames() == []


# ------------------------------------------------------------------------------------------ held jumps


def _zoomed(img: np.ndarray, scale: float) -> np.ndarray:
    """The centre ``1/scale`` of ``img`` enlarged to the full frame (a closer framing of the same picture)."""
    h, w = img.shape[:2]
    ch, cw = int(round(h / scale)), int(round(w / scale))
    y, x = (h - ch) // 2, (w - cw) // 2
    return cv2.resize(img[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_AREA)


def _stepped_pull_back(hold: int) -> list[np.ndarray]:
    """A detailed painting pulled back in two framing steps (2x, 1.4x, then 1x), each framing held ``hold``
    frames, then held at the widest framing."""
    painting = cv2.resize(_canvas(31), (W, H), interpolation=cv2.INTER_AREA)
    frames = []
    for scale in (2.0, 1.4):
        frames += [_zoomed(painting, scale)] * hold
    return frames + [painting] * 20


def test_jump_between_held_framings_is_a_cut_but_a_stepped_move_on_twos_is_not():
    detector = AnimeShotDetector(predictor=_any_windows)  # TransNet blind: the cheap signals decide
    # each framing held 6 frames (0.25 s at 24 fps): two jump cuts
    assert detector.detect(_thumbs(_stepped_pull_back(6))).cuts == (6, 12)
    # the same steps on twos (a drawing every 2 frames): a stepped camera move, one shot
    assert detector.detect(_thumbs(_stepped_pull_back(2))).cuts == ()


# ------------------------------------------------------------------------------------------ folded network


def test_folded_network_equals_the_packaged_forward():
    """The rearranged network gives the packaged module's outputs, also with non-trivial batch-norm
    statistics (the folding must use them, not rely on the shipped values)."""
    import copy

    from pipeline.shots.transnet import FoldedTransNetV2

    net = copy.deepcopy(TransNetV2Model(folded=False).net)
    gen = torch.Generator().manual_seed(0)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm3d):
            module.running_mean.normal_(0.0, 0.2, generator=gen)
            module.running_var.uniform_(0.5, 2.0, generator=gen)
    folded = FoldedTransNetV2(net).eval()
    rng = np.random.default_rng(0)
    frames = np.stack(build("cut")[:50] + build("dissolve")[:50])
    tiny = np.stack([cv2.resize(f, (48, 27), interpolation=cv2.INTER_AREA) for f in frames])
    batch = torch.from_numpy(np.stack([tiny, rng.integers(0, 256, tiny.shape, dtype=np.uint8)]))
    with torch.inference_mode():
        ref_single, ref_extra = net(batch)
        single, extra = folded(batch)
    assert single.shape == ref_single.shape and extra["many_hot"].shape == ref_extra["many_hot"].shape
    torch.testing.assert_close(single, ref_single, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(extra["many_hot"], ref_extra["many_hot"], atol=1e-4, rtol=1e-4)


def test_folded_and_packaged_predictions_agree(videos):
    tiny = videos["cut"].tiny
    folded = TransNetV2Model(folded=True).predict(tiny)
    packaged = TransNetV2Model(folded=False).predict(tiny)
    np.testing.assert_allclose(folded.single, packaged.single, atol=1e-5)
    np.testing.assert_allclose(folded.many, packaged.many, atol=1e-5)
    assert int(np.argmax(folded.single)) == CUT_AT["cut"] - 1  # the cut's peak: on the shot's last frame


@pytest.mark.parametrize(
    ("precision", "atol"),
    [
        ("bf16", 0.03),
        pytest.param(
            "int8",
            0.05,
            marks=pytest.mark.skipif(not int8_ops_available(), reason="no oneDNN int8 convolution here"),
        ),
    ],
)
def test_reduced_precision_stays_close_to_fp32_and_keeps_the_window_grid(videos, precision, atol):
    """bfloat16 TransNet, or its int8 spatial convolutions (forced here, so they run on any CPU, only slower
    without native support), move the probabilities by a little, keep the cut's peak, and still give exactly
    the full run's values on a subset of windows, whatever the batch (int8: each window's activation scales
    are its own)."""
    tiny = np.concatenate([videos["cut"].tiny, videos["dissolve"].tiny])
    fp32 = TransNetV2Model(precision="fp32").predict(tiny)
    model = TransNetV2Model(precision=precision)
    low = model.predict(tiny)
    assert model.precision == precision
    assert low.single.dtype == np.float32 and low.single.shape == fp32.single.shape
    assert not np.array_equal(low.single, fp32.single)  # the arithmetic did change
    np.testing.assert_allclose(low.single, fp32.single, atol=atol)
    np.testing.assert_allclose(low.many, fp32.many, atol=atol)
    assert int(np.argmax(low.single[: len(videos["cut"])])) == CUT_AT["cut"] - 1
    windows = [1, 3]
    for batch in (1, 2, 3):
        part = TransNetV2Model(precision=precision, batch_windows=batch).predict(tiny, windows)
        for k in windows:
            sl = slice(k * 50, min(len(tiny), k * 50 + 50))
            np.testing.assert_array_equal(part.single[sl], low.single[sl])
            np.testing.assert_array_equal(part.many[sl], low.many[sl])


def test_activations_quantize_to_their_own_maximum():
    x = torch.tensor([[0.0, 0.5, 1.0], [2.0, 3.99, 4.0]]).reshape(1, 2, 1, 3)
    q, scale = quantize_activation(x)
    assert q.dtype == torch.uint8 and scale == pytest.approx(4.0 / 255)
    assert q.flatten().tolist() == [0, 32, 64, 128, 254, 255]
    assert float((q.float() * scale - x).abs().max()) <= scale / 2 + 1e-6
    cl = torch.rand(3, 4, 5, 6).contiguous(memory_format=torch.channels_last)
    assert quantize_activation(cl)[0].is_contiguous(memory_format=torch.channels_last)
    zeros, one = quantize_activation(torch.zeros(2, 3))
    assert one == 1.0 and not zeros.any()


@pytest.mark.skipif(not int8_ops_available(), reason="no oneDNN int8 convolution here")
def test_int8_is_checked_against_fp32_before_use(monkeypatch):
    from pipeline.shots import transnet_int8
    from pipeline.shots.transnet_int8 import Int8Unavailable, build_int8

    folded = TransNetV2Model(precision="fp32").runner
    assert build_int8(folded, torch.float32).stacks  # the op computes what it should here
    right = transnet_int8._Int8SpatialConv.__call__

    def wrong(self, x, scale):
        return 1.5 * right(self, x, scale)

    monkeypatch.setattr(transnet_int8._Int8SpatialConv, "__call__", wrong)
    with pytest.raises(Int8Unavailable, match="disagrees with fp32"):
        build_int8(folded, torch.float32)
    monkeypatch.setattr(transnet_int8, "int8_ops_available", lambda: False)
    with pytest.raises(Int8Unavailable, match="no oneDNN int8 convolution"):
        build_int8(folded, torch.float32)


def test_int8_that_cannot_run_falls_back_and_says_so(monkeypatch, caplog, videos):
    import pipeline.shots.transnet as transnet
    from pipeline.shots.transnet_int8 import Int8Unavailable

    def unavailable(folded, dtype):
        raise Int8Unavailable("no int8 here (test)")

    monkeypatch.setattr(transnet, "build_int8", unavailable)
    monkeypatch.setattr(TransNetV2Model, "_int8_cache", {})
    monkeypatch.setattr(transnet, "native_bf16", lambda device: False)
    model = TransNetV2Model(precision="int8")
    with caplog.at_level("WARNING", logger="pipeline.shots.transnet"):
        got = model.predict(videos["cut"].tiny)
    assert model.precision == "fp32" and "no int8 here (test)" in caplog.text
    want = TransNetV2Model(precision="fp32").predict(videos["cut"].tiny)
    np.testing.assert_array_equal(got.single, want.single)


def test_auto_precision_follows_the_hardware(monkeypatch):
    import pipeline.shots.transnet as transnet

    monkeypatch.setattr(transnet, "native_int8", lambda: True)
    assert transnet.resolve_precision("auto", "cpu") == "int8"
    assert AnimeShotDetector().model.precision == "int8"
    assert transnet.resolve_precision("auto", "cuda") != "int8"  # int8 is for CPUs
    with pytest.raises(ValueError, match="CPU only"):
        transnet.resolve_precision("int8", "cuda")
    monkeypatch.setattr(transnet, "native_int8", lambda: False)
    monkeypatch.setattr(transnet, "native_bf16", lambda device: True)
    assert transnet.resolve_precision("auto", "cpu") == "bf16"
    assert AnimeShotDetector().model.precision == "bf16"
    assert AnimeShotDetector(precision="fp32").model.precision == "fp32"
    monkeypatch.setattr(transnet, "native_bf16", lambda device: False)
    assert transnet.resolve_precision("auto", "cpu") == "fp32"
    assert transnet.resolve_precision("bf16", "cpu") == "bf16"  # forced: emulated where not native
    with pytest.raises(ValueError, match="choose from auto, fp32, bf16, int8"):
        transnet.resolve_precision("fp16", "cpu")
    with pytest.raises(ValueError, match="precision 'half'"):
        AnimeShotConfig(precision="half")


def test_cpu_int8_support_is_read_from_the_cpu_flags():
    assert cpu_flags_have_vnni("flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n")
    assert cpu_flags_have_vnni("flags : fpu avx2 avx_vnni\n")
    assert cpu_flags_have_vnni("flags : fpu avx512f amx_int8 amx_tile\n")
    assert not cpu_flags_have_vnni("flags\t\t: fpu sse2 avx2 avx512f avx512bw\n")
    assert not cpu_flags_have_vnni("")


def test_cpu_bf16_support_is_read_from_the_cpu_flags():
    from pipeline.shots.transnet import cpu_flags_have_bf16

    assert cpu_flags_have_bf16("flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n")
    assert cpu_flags_have_bf16("flags : fpu avx512f amx_bf16 amx_tile\n")
    assert cpu_flags_have_bf16("Features\t: fp asimd bf16 i8mm\n")  # Arm
    assert not cpu_flags_have_bf16("flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni\n")
    assert not cpu_flags_have_bf16("")


def test_signals_of_the_same_thumbs_are_computed_once_and_never_stale():
    """The detector and the vfx expert read the signals of the same window: the second call returns the
    first result; a changed array (in place), another array or an explicit area recomputes them."""
    import pipeline.shots.signals as signals

    rng = np.random.default_rng(3)
    thumb = rng.integers(0, 256, (12, 36, 64, 3), dtype=np.uint8)
    first = compute_signals(thumb)
    assert compute_signals(thumb) is first
    copy = thumb.copy()
    again = compute_signals(copy)
    assert again is not first and np.array_equal(again.luma, first.luma)
    copy[3] = 255 - copy[3]
    changed = compute_signals(copy)
    assert changed is not again and not np.array_equal(changed.luma, again.luma)
    assert compute_signals(copy, find_active_area(copy)) is not changed
    signals.forget_signals()
    assert compute_signals(copy) is not changed
