"""The synthetic footage generator: files, labels and the pictures behind every label."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from pipeline.footage_labels import FootageLabel, load_label
from pipeline.synthetic import SynthConfig, generate_footage
from pipeline.synthetic.effects import subtitle_box

CFG = SynthConfig(seconds=6.0, min_shot_seconds=0.75, max_shot_seconds=2.0, opening_seconds=2.0)
SEED = 7
VIDEOS = 4
SMALL_CFG = SynthConfig(
    width=320, height=180, seconds=4.0, min_shot_seconds=0.75, max_shot_seconds=1.5, opening_seconds=1.5
)


def decode_gray(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="gray") for f in container.decode(video=0)])


def decoded_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            digest.update(frame.to_ndarray(format="rgb24").tobytes())
    return digest.hexdigest()


@pytest.fixture(scope="session")
def footage(tmp_path_factory):
    return generate_footage(tmp_path_factory.mktemp("synth"), VIDEOS, SEED, CFG)


@pytest.fixture(scope="session")
def gray(footage) -> dict[str, np.ndarray]:
    return {v.name: decode_gray(v.path) for v in footage.videos}


@pytest.fixture(scope="session")
def labels(footage) -> dict[str, FootageLabel]:
    return {v.name: load_label(v.label_path) for v in footage.videos}


@pytest.fixture(scope="session")
def details(footage) -> dict[str, dict]:
    synth = json.loads(footage.synth_path.read_text())
    return {f["name"]: f for f in synth["files"]}


def small(img: np.ndarray) -> np.ndarray:
    return cv2.resize(img, (160, 90), interpolation=cv2.INTER_AREA).astype(np.float32)


def mad(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two gray frames, on 160x90 downscales."""
    return float(np.abs(small(a) - small(b)).mean())


def picture(footage, name: str, frame: np.ndarray) -> np.ndarray:
    x, y, w, h = next(v.active_box for v in footage.videos if v.name == name)
    return frame[y : y + h, x : x + w]


def flash_frames(label: FootageLabel) -> set[int]:
    """Flash frames and the frame right after each flash (its difference to the flash is not shot motion)."""
    out: set[int] = set()
    for f in label.flashes:
        out.update(range(f.start, f.end + 2))
    return out


def shots_where(labels, **want):
    for name, lab in labels.items():
        for shot in lab.shots:
            if all(getattr(shot, k) == v for k, v in want.items()):
                yield name, lab, shot


# --- files, manifest, schema ---------------------------------------------------------------------------------


def test_manifest_lists_the_written_files(footage):
    names = [v.name for v in footage.videos]
    assert names == [f"synth_{i:03d}.mp4" for i in range(VIDEOS)]
    assert sorted(p.name for p in footage.out_dir.glob("*.mp4")) == names
    assert sorted(p.name for p in (footage.out_dir / "labels").glob("*.json")) == [
        n.replace(".mp4", ".json") for n in names
    ]
    for v in footage.videos:
        assert v.path.exists() and v.label_path.exists()
        assert (v.frames, v.fps, v.width, v.height) == (CFG.frames, CFG.fps, CFG.width, CFG.height)
    synth = json.loads(footage.synth_path.read_text())
    assert synth["seed"] == SEED and synth["videos"] == VIDEOS and synth["version"]
    assert synth["config"]["fps"] == "24000/1001" and synth["config"]["seconds"] == CFG.seconds


def test_set_covers_every_value(footage, labels):
    seen = {
        k: set()
        for k in ("camera", "timing", "shot_size", "vfx", "text_overlay", "transition", "flash", "layout")
    }
    for lab in labels.values():
        seen["layout"].add(lab.layout)
        seen["transition"].update(t.type for t in lab.transitions)
        seen["flash"].update(f.type for f in lab.flashes)
        for s in lab.shots:
            seen["camera"].add(s.camera)
            seen["timing"].add(s.timing)
            seen["shot_size"].add(s.shot_size)
            seen["vfx"].update(s.vfx)
            seen["text_overlay"].add(s.text_overlay)
    assert seen["camera"] >= {
        "static",
        "pan_left",
        "pan_right",
        "tilt_up",
        "tilt_down",
        "zoom_in",
        "zoom_out",
        "shake",
    }
    assert seen["timing"] == {"ones", "twos", "threes", "held", "mixed"}
    assert seen["shot_size"] == {"close_up", "medium", "full", "wide"}
    assert seen["transition"] == {"dissolve", "fade_black", "fade_white", "flash_cut"}
    assert seen["flash"] == {"white_flash", "inversion", "impact_frame"}
    assert seen["layout"] == {"full", "letterbox", "pillarbox"}
    assert seen["text_overlay"] == {"none", "subtitle", "watermark"}
    assert seen["vfx"] == {"flash", "impact_frame", "speed_lines"}
    assert footage.coverage["camera"] == sorted(seen["camera"])
    assert any(lab.cuts for lab in labels.values())


def test_labels_parse_and_match_decoded_frame_counts(footage, labels, gray):
    for v in footage.videos:
        lab = labels[v.name]
        assert lab.clip == v.name and lab.style == "jp_cel_tv" and lab.confidence == "high"
        assert lab.layout == v.layout
        assert lab.frames == v.frames == len(gray[v.name]) == CFG.frames
        assert gray[v.name].shape[1:] == (CFG.height, CFG.width)
        with av.open(str(v.path)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
            assert stream.average_rate == CFG.fps


def test_shots_and_transitions_cover_every_frame_once(labels):
    for lab in labels.values():
        count = np.zeros(lab.frames, int)
        for s in lab.shots:
            count[s.start : s.end + 1] += 1
        for t in lab.transitions:
            count[t.start : t.end + 1] += 1
        assert (count == 1).all(), lab.clip
        starts = {s.start for s in lab.shots}
        after_transition = {t.end + 1 for t in lab.transitions}
        assert set(lab.cuts) == starts - after_transition - {0}
        for f in lab.flashes:
            assert any(s.start < f.start and f.end < s.end for s in lab.shots), f
        for s in lab.shots:
            inside = [f for f in lab.flashes if s.start <= f.start <= s.end]
            assert ("flash" in s.vfx) == any(f.type == "white_flash" for f in inside)
            assert ("impact_frame" in s.vfx) == any(f.type in ("inversion", "impact_frame") for f in inside)


def test_duplicates_file_has_the_footage_shape(footage):
    dup = json.loads(footage.duplicates_path.read_text())
    assert set(dup) == {"pairs", "note"}
    assert dup["pairs"], "the opening should be reused in at least two videos"
    for pair in dup["pairs"]:
        assert {"a", "b", "relation", "a_frames", "b_frames"} <= set(pair)
        assert pair["a_frames"][1] - pair["a_frames"][0] == pair["b_frames"][1] - pair["b_frames"][0]
        assert pair["a_frames"][0] != pair["b_frames"][0], "the opening should sit at different positions"
    (segment,) = footage.reused
    placed = {name: (a, b) for name, a, b in segment.placements}
    for pair in dup["pairs"]:
        assert placed[pair["a"]] == tuple(pair["a_frames"]) and placed[pair["b"]] == tuple(pair["b_frames"])


# --- pictures ---------------------------------------------------------------------------------------------------


def static_held_diffs(labels, gray) -> list[float]:
    out = []
    for name, lab, shot in shots_where(labels, camera="static", timing="held"):
        skip = flash_frames(lab)
        out += [
            mad(gray[name][i - 1], gray[name][i])
            for i in range(shot.start + 1, shot.end + 1)
            if i not in skip
        ]
    return out


def test_static_held_shots_are_still(labels, gray):
    diffs = static_held_diffs(labels, gray)
    assert len(diffs) >= 10
    assert max(diffs) < 0.5


def test_hard_cuts_are_big_changes(labels, gray):
    floor = max(static_held_diffs(labels, gray))
    cut_diffs = [mad(gray[name][c - 1], gray[name][c]) for name, lab in labels.items() for c in lab.cuts]
    assert len(cut_diffs) >= 4
    assert min(cut_diffs) > 8.0
    assert min(cut_diffs) > 10 * floor


def changed_pixels(a: np.ndarray, b: np.ndarray) -> int:
    """Pixels that changed clearly between two frames (blurred first, so coding noise does not count)."""
    a, b = cv2.GaussianBlur(a, (5, 5), 0), cv2.GaussianBlur(b, (5, 5), 0)
    return int((cv2.absdiff(a, b) > 20).sum())


@pytest.mark.parametrize(("timing", "step"), [("twos", 2), ("threes", 3), ("ones", 1)])
def test_drawing_cadence_on_static_shots(labels, gray, details, timing, step):
    checked = 0
    for name, lab, shot in shots_where(labels, camera="static", timing=timing):
        skip = flash_frames(lab)
        frames = gray[name]
        for i in range(shot.start + 1, shot.end + 1):
            if i in skip:
                continue
            changed = changed_pixels(frames[i - 1], frames[i])
            new_drawing = (i - shot.start) % step == 0
            assert (changed > 200) == new_drawing, (name, shot.start, i, changed)
            checked += 1
        starts = next(s for s in details[name]["shots"] if s["start"] == shot.start)["drawing_starts"]
        assert starts == list(range(shot.start, shot.end + 1, step))
    if timing != "ones":  # ones on a static camera is not guaranteed by the plan
        assert checked >= 10


def shift(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Content motion from a to b (positive = right / down), ignoring the subtitle band: phase correlation refined
    to sub-pixel accuracy by ECC."""
    h = int(a.shape[0] * 0.8)
    a32, b32 = a[:h].astype(np.float32), b[:h].astype(np.float32)
    (dx, dy), _ = cv2.phaseCorrelate(a32, b32)
    warp = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4)
    _, warp = cv2.findTransformECC(a32, b32, warp, cv2.MOTION_TRANSLATION, criteria, None, 5)
    return float(warp[0, 2]), float(warp[1, 2])


@pytest.mark.parametrize(
    ("camera", "axis", "sign"),
    [("pan_left", 0, 1), ("pan_right", 0, -1), ("tilt_up", 1, 1), ("tilt_down", 1, -1)],
)
def test_pan_and_tilt_move_content_the_labelled_way(footage, labels, gray, details, camera, axis, sign):
    checked = 0
    for name, lab, shot in shots_where(labels, camera=camera):
        if "speed_lines" in shot.vfx:
            continue
        detail = next(s for s in details[name]["shots"] if s["start"] == shot.start)
        speed = detail["pan_px_per_frame"]
        assert 1.5 <= speed <= 6.0
        skip = flash_frames(lab) | set(detail["drawing_starts"])
        holds = [i for i in range(shot.start + 1, shot.end + 1) if i not in skip][:12]
        frames = gray[name]
        if holds:  # the drawing does not change: the frame moves exactly by the labelled camera speed
            for i in holds:
                move = shift(picture(footage, name, frames[i - 1]), picture(footage, name, frames[i]))
                assert abs(move[axis] - sign * speed) < 0.15, (name, i, move, speed)
                assert abs(move[1 - axis]) < 0.15, (name, i, move)
        else:  # on ones the characters move too: the median motion still follows the camera
            pairs = [i for i in range(shot.start + 1, shot.end + 1) if i not in flash_frames(lab)][:12]
            along = np.median(
                [
                    shift(picture(footage, name, frames[i - 1]), picture(footage, name, frames[i]))[axis]
                    for i in pairs
                ]
            )
            assert abs(along - sign * speed) < 0.25 * speed, (name, shot.start, along, speed)
        checked += 1
    if camera in ("pan_left", "tilt_up"):
        assert checked >= 1


def zoomed(img: np.ndarray, z: float) -> np.ndarray:
    h, w = img.shape
    m = np.array([[z, 0, (1 - z) * w / 2], [0, z, (1 - z) * h / 2]])
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR)


@pytest.mark.parametrize("camera", ["zoom_in", "zoom_out"])
def test_zoom_scales_content_the_labelled_way(footage, labels, gray, details, camera):
    checked = 0
    for name, lab, shot in shots_where(labels, camera=camera):
        rate = next(s for s in details[name]["shots"] if s["start"] == shot.start)["zoom_per_frame"]
        a, b = shot.start + 2, shot.end - 2
        if any(i in flash_frames(lab) for i in (a, b)) or b - a < 6:
            continue
        fa, fb = picture(footage, name, gray[name][a]), picture(footage, name, gray[name][b])
        z = rate ** (b - a)
        grown, shrunk = (fb, fa) if camera == "zoom_in" else (fa, fb)
        # the later (zoom_in) / earlier (zoom_out) frame is the other one enlarged about the centre
        err_model = mad(zoomed(shrunk, z)[20:-20, 20:-20], grown[20:-20, 20:-20])
        err_wrong = mad(zoomed(shrunk, 1 / z)[20:-20, 20:-20], grown[20:-20, 20:-20])
        assert err_model < 0.6 * err_wrong, (name, shot.start, err_model, err_wrong)
        checked += 1
    assert checked >= 1


def test_flash_frames_look_like_their_type(footage, labels, gray):
    for name, lab in labels.items():
        frames = gray[name]
        for f in lab.flashes:
            before = picture(footage, name, frames[f.start - 1])
            for i in range(f.start, f.end + 1):
                pic = picture(footage, name, frames[i])
                if f.type == "white_flash":
                    assert pic.mean() > (240 if i == f.start else 200), (name, i)
                elif f.type == "inversion":
                    # a colour negative of the shot (which may move on under it: compare loosely)
                    assert mad(255 - pic, before) < 0.5 * mad(pic, before), (name, i)
                    assert np.corrcoef(small(pic).ravel(), small(before).ravel())[0, 1] < -0.2, (name, i)
                else:  # impact_frame: two-tone
                    two_tone = ((pic < 50) | (pic > 205)).mean()
                    assert two_tone > 0.8, (name, i, two_tone)
            after = picture(footage, name, frames[f.end + 1])
            assert 30 < after.mean() < 235  # the shot is back


def test_transitions_look_like_their_type(footage, labels, gray):
    for name, lab in labels.items():
        frames = gray[name]
        for t in lab.transitions:
            means = [picture(footage, name, frames[i]).mean() for i in range(t.start, t.end + 1)]
            a_end, b_start = frames[t.start - 1], frames[t.end + 1]
            if t.type in ("fade_white", "flash_cut"):
                assert max(means) > 245, (name, t)
            elif t.type == "fade_black":
                assert min(means) < 12, (name, t)
            else:  # dissolve: every frame lies between the two shots and moves from A towards B
                d_ab = mad(a_end, b_start)
                for i in range(t.start, t.end + 1):
                    assert mad(frames[i], a_end) < d_ab and mad(frames[i], b_start) < d_ab, (name, i)
                assert mad(frames[t.start], a_end) < mad(frames[t.end], a_end)
                assert mad(frames[t.end], b_start) < mad(frames[t.start], b_start)
            assert mad(frames[t.start], a_end) > 2.0 and mad(frames[t.end], b_start) > 2.0, (name, t)


def test_layout_bars_are_black(footage, gray):
    for v in footage.videos:
        frames = gray[v.name]
        x, y, w, h = v.active_box
        if v.layout == "letterbox":
            assert y > 0 and x == 0
            bars = np.concatenate([frames[:, :y], frames[:, y + h :]], axis=1)
        elif v.layout == "pillarbox":
            assert x > 0 and y == 0
            bars = np.concatenate([frames[:, :, :x], frames[:, :, x + w :]], axis=2)
        else:
            assert (x, y, w, h) == (0, 0, CFG.width, CFG.height)
            assert frames[:, :2].mean() > 20 and frames[:, :, :2].mean() > 20  # pictures reach the frame edge
            continue
        assert bars.mean() < 2.0, v.name
        m = 4  # coding noise may bleed a few pixels into the bars next to the picture
        if v.layout == "letterbox":
            assert frames[:, : y - m].max() < 24 and frames[:, y + h + m :].max() < 24, v.name
        else:
            assert frames[:, :, : x - m].max() < 24 and frames[:, :, x + w + m :].max() < 24, v.name
        inner = frames[:, y + 2 : y + h - 2, x + 2 : x + w - 2]
        assert inner.mean() > 40


def test_subtitles_are_white_text_with_black_outline(footage, labels, gray, details):
    checked = 0
    for name, lab, shot in shots_where(labels, text_overlay="subtitle"):
        text = next(s for s in details[name]["shots"] if s["start"] == shot.start)["subtitle"]
        assert text and text in shot.notes
        x, y, w, h = next(v.active_box for v in footage.videos if v.name == name)
        x0, y0, x1, y1 = subtitle_box(text, w, h)
        assert y0 > 0.75 * h and x0 > 0.02 * w and x1 < 0.98 * w  # bottom band, inside the picture
        skip = flash_frames(lab)
        i = next(i for i in range((shot.start + shot.end) // 2, shot.end + 1) if i not in skip)
        band = gray[name][i, y + y0 : y + y1, x + x0 : x + x1]
        bright, dark = band > 225, band < 40
        near_dark = cv2.dilate(dark.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        outlined = (bright & near_dark).mean()
        assert outlined > 0.12 and dark.mean() > 0.15, (name, shot.start, outlined, dark.mean())
        # the text stays in place for the whole shot
        j = next(j for j in range(shot.start, shot.end + 1) if j not in skip)
        band_j = gray[name][j, y + y0 : y + y1, x + x0 : x + x1]
        text_px = bright & near_dark
        assert ((band_j > 225) & text_px).sum() > 0.9 * text_px.sum()
        checked += 1
    assert checked >= 1


def test_reused_opening_frames_are_identical(footage, gray):
    dup = json.loads(footage.duplicates_path.read_text())
    for pair in dup["pairs"]:
        (a0, a1), (b0, b1) = pair["a_frames"], pair["b_frames"]
        fa, fb = gray[pair["a"]][a0 : a1 + 1], gray[pair["b"]][b0 : b1 + 1]
        per_frame = np.abs(fa.astype(np.int16) - fb.astype(np.int16)).mean(axis=(1, 2))
        assert per_frame.max() < 1.0, pair
        # and the segment is not some trivially constant picture: outside it the videos differ
        outside = (
            [(a1 + 1, b1 + 1)] if a1 + 1 < len(gray[pair["a"]]) and b1 + 1 < len(gray[pair["b"]]) else []
        )
        outside += [(a0 - 1, b0 - 1)] if a0 > 0 and b0 > 0 else []
        for i, j in outside:
            assert mad(gray[pair["a"]][i], gray[pair["b"]][j]) > 5.0


# --- determinism ------------------------------------------------------------------------------------------------


def test_same_seed_same_output_and_other_seed_differs(tmp_path):
    runs = {}
    for key, seed in (("a", 3), ("b", 3), ("c", 4)):
        m = generate_footage(tmp_path / key, 2, seed, SMALL_CFG)
        runs[key] = (
            [v.label_path.read_text() for v in m.videos],
            [decoded_hash(v.path) for v in m.videos],
            [v.path.read_bytes() for v in m.videos],
            m.duplicates_path.read_text(),
        )
    assert runs["a"][0] == runs["b"][0]
    assert runs["a"][1] == runs["b"][1]
    assert runs["a"][2] == runs["b"][2]
    assert runs["a"][3] == runs["b"][3]
    assert runs["a"][0] != runs["c"][0]
    assert not set(runs["a"][1]) & set(runs["c"][1])


def test_rerun_into_the_same_folder_drops_stale_videos(tmp_path):
    generate_footage(tmp_path, 3, 1, SMALL_CFG)
    m = generate_footage(tmp_path, 1, 1, SMALL_CFG)
    assert [p.name for p in tmp_path.glob("*.mp4")] == ["synth_000.mp4"]
    assert [p.name for p in (tmp_path / "labels").glob("*.json")] == ["synth_000.json"]
    assert json.loads(m.duplicates_path.read_text())["pairs"] == []


def test_config_is_validated():
    with pytest.raises(ValueError):
        SynthConfig(width=641)
    with pytest.raises(ValueError):
        SynthConfig(min_shot_seconds=3.0, max_shot_seconds=2.0)
    assert SynthConfig(fps="30000/1001").fps.denominator == 1001
    assert SynthConfig().frames == 240
