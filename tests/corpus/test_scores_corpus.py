"""Per-shot scores against the labels of the real development clips (../shared/footage).

Measured here and printed with ``-s``: timing accuracy (labelled cadence vs ``cadence``; 'unknown' labels
skipped), layout accuracy, burnt-in text detection precision / recall (any text vs none; watermark and logo
count as one kind; the decode keeps the text scorer's stills, as ``anicurate scores`` does), and scoring vs
decode speed. The asserted floors sit a little under the measured values
so a regression fails while label noise does not.
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
import pytest

from pipeline.footage import find_videos, label_path_for
from pipeline.footage_labels import load_label
from pipeline.frames import decode_analysis_frames
from pipeline.scores import ScoreContext, score_shot
from pipeline.scores.layout import find_layout
from pipeline.scores.motion import analyse_pairs
from pipeline.scores.text import STILLS

pytestmark = [pytest.mark.corpus, pytest.mark.slow]
ANIME_STYLES = ("jp_cel_tv", "jp_cel_film", "western_2d")
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@pytest.fixture(scope="module")
def corpus(shared_footage):
    out = []
    decode_s = score_s = 0.0
    n_frames = 0
    for video in find_videos(shared_footage):
        path = label_path_for(video)
        if not path.exists():
            continue
        label = load_label(path)
        t0 = time.perf_counter()
        frames = decode_analysis_frames(video, stills=STILLS)  # as `anicurate scores` decodes
        t1 = time.perf_counter()
        ctx = ScoreContext(video_id=video.stem.ljust(64, "0"), source_path=str(video))
        rows = [score_shot(frames, s.start, s.end, ctx) for s in label.shots]
        t2 = time.perf_counter()
        decode_s += t1 - t0
        score_s += t2 - t1
        n_frames += len(frames)
        out.append((video.name, frames, label, rows))
    print(
        f"\nscores: {n_frames} frames, scoring {n_frames / score_s:.0f} frames/s, decode {n_frames / decode_s:.0f} frames/s"
    )
    return out


def test_timing_accuracy_against_labels(corpus):
    pairs = {"all": [], "anime": []}
    for _, _, label, rows in corpus:
        for shot, row in zip(label.shots, rows, strict=True):
            if shot.timing == "unknown":
                continue
            pairs["all"].append((shot.timing, row.cadence))
            if label.style in ANIME_STYLES:
                pairs["anime"].append((shot.timing, row.cadence))
    acc = {k: float(np.mean([t == p for t, p in v])) for k, v in pairs.items()}
    majority = max(Counter(t for t, _ in pairs["all"]).values()) / len(pairs["all"])
    print(
        f"timing accuracy: all {acc['all']:.3f} ({len(pairs['all'])} shots), 2D anime/cartoon {acc['anime']:.3f} "
        f"({len(pairs['anime'])}); majority answer {majority:.3f}; confusion {dict(Counter(pairs['all']))}"
    )
    assert acc["all"] >= 0.75 and acc["anime"] >= 0.79 and acc["all"] > 2.5 * majority


def test_limited_animation_is_not_a_still_and_a_frozen_still_is(corpus):
    by_clip = {name: (label, rows) for name, _, label, rows in corpus}
    for clip in (
        "eisai_anohana_s01e001_input_panel_crop.mp4",
        "eisai_sakura_quest_s01e009_input_panel_crop.mp4",
    ):
        label, rows = by_clip[clip]
        (row,) = rows
        assert row.cadence == "threes" and not row.still_image and row.held_share > 0.6
    label, rows = by_clip["pokemon_intro-charmander-meet.mp4"]  # one frozen still for 96 frames
    assert rows[0].still_image and rows[0].cadence == "held"


def test_noise_floor_on_labelled_exact_stills(corpus):
    """Compression noise, grain and dither inside labelled exact stills stay under the noise floor."""
    stills = {
        "pokemon_calm-campfire.mp4": (0, 127),
        "pokemon_cel-dragon-claw.mp4": (0, 67),
        "pokemon_calm-stargazing.mp4": (0, 64),
        "pokemon_cel-blue-aura.mp4": (0, 35),
        "pokemon_intro-charmander-meet.mp4": (0, 95),
    }
    for name, frames, _, _ in corpus:
        if name in stills:
            a, b = stills[name]
            lay = find_layout(frames.thumb, frames.source_size)
            gray = lay.crop(frames.thumb[a : b + 1]).astype(np.float32) @ _LUMA
            pm = analyse_pairs(gray, flow=False)
            assert not pm.changed.any() and not pm.moved.any(), name


def test_layout_accuracy(corpus):
    results = [(label.layout, rows[0].layout) for _, _, label, rows in corpus]
    acc = float(np.mean([t == p for t, p in results]))
    print(f"layout accuracy {acc:.3f} over {len(results)} clips: {dict(Counter(results))}")
    assert acc >= 0.95


def test_text_overlay_detection(corpus):
    tp = fp = fn = kind_ok = total = 0
    for _, _, label, rows in corpus:
        for shot, row in zip(label.shots, rows, strict=True):
            truth = "watermark" if shot.text_overlay == "logo" else shot.text_overlay
            pred = row.text_kind
            tp += truth != "none" and pred != "none"
            fp += truth == "none" and pred != "none"
            fn += truth != "none" and pred == "none"
            kind_ok += truth == pred
            total += 1
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    print(
        f"text overlay: precision {precision:.2f} recall {recall:.2f} ({tp} tp, {fp} fp, {fn} fn); "
        f"kind accuracy {kind_ok / total:.2f} over {total} shots"
    )
    # measured 0.89 / 0.94 (16 tp, 2 fp, 1 fn), kind accuracy 0.96: the floors allow one more false alarm
    # or one more miss
    assert precision >= 0.8 and recall >= 0.85 and kind_ok / total >= 0.93
