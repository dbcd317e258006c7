"""Dedupe on the shared development clips: every known duplicate pair is found (the trimmed, squashed and
frame-dropped sub-clip over the right frames of its original), and no other pair of clips is flagged --
although several clips share a series (the pokemon_* set: same characters, same backgrounds)."""

import json

import pytest

from pipeline.dedupe import run_eval_dedupe

pytestmark = pytest.mark.corpus

SUBCLIP = ("animescripter_jjk_gojo_subclip_crop802.mp4", "animescripter_jjk_gojo_test_1080p.mp4")


@pytest.fixture(scope="module")
def report(shared_footage):
    return run_eval_dedupe(shared_footage, shared_footage / "duplicates.json", labels=None)


def test_every_listed_pair_is_found(report, shared_footage):
    listed = json.loads((shared_footage / "duplicates.json").read_text())["pairs"]
    assert report.errors == []
    assert len(report.pairs) == len(listed)
    missed = [(p.a, p.b) for p in report.pairs if not p.found]
    assert missed == []


def test_no_other_pair_is_flagged(report):
    assert [(m.a, m.b, m.kind, m.similarity) for m in report.false_positives] == []
    # the only unlisted matches follow from listed ones (the sub-clip is also inside the container copy)
    assert {frozenset((m.a, m.b)) for m in report.implied} == {
        frozenset(
            (
                "animescripter_jjk_gojo_subclip_crop802.mp4",
                "animescripter_jjk_gojo_test_1080p_DUP_container.mp4",
            )
        )
    }
    assert report.passed
    # margin: no two distinct clips have keyframes within the frame match distance
    assert report.closest_non_duplicate["distance"] > report.config.max_frame_distance


def test_kinds_and_spans(report):
    got = {(p.a, p.b): p.match for p in report.pairs}
    container = got[
        ("animescripter_jjk_gojo_test_1080p.mp4", "animescripter_jjk_gojo_test_1080p_DUP_container.mp4")
    ]
    assert container.kind == "exact" and container.a_frames == container.b_frames == (0, 152)
    sintel = got[("sintel_trailer_480x204_NEARDUP_reencode.mp4", "sintel_trailer_480x204.mp4")]
    assert sintel.kind == "near" and sintel.offset == 0
    assert sintel.a_frames == sintel.b_frames and sintel.a_coverage == sintel.b_coverage == 1.0
    # the 38-frame sub-clip (vertical squash 1080 -> 802, duplicate frames dropped) spans its original: its
    # first frame is the original's frame 0 and its last the original's closing close-up (frames 145-152)
    sub = got[SUBCLIP]
    assert sub.kind == "near" and sub.a_frames == (0, 37)
    assert sub.b_frames[0] == 0 and 145 <= sub.b_frames[1] <= 152
    assert sub.similarity >= 0.95
    pika = got[("pokemon_intro-charmander-meet.mp4", "pokemon_calm-campfire.mp4")]
    assert (
        pika.kind == "near" and pika.a_frames == (0, 95) and pika.b_frames[0] == 0 and pika.b_frames[1] <= 127
    )


def test_decisions_keep_the_better_copy(report):
    dups = {d.item_id: d for d in report.decisions if d.is_duplicate}
    assert set(dups) == {
        "animescripter_jjk_gojo_subclip_crop802.mp4",
        "animescripter_jjk_gojo_test_1080p_DUP_container.mp4",
        "pokemon_intro-charmander-meet.mp4",
        "sintel_trailer_480x204_NEARDUP_reencode.mp4",
    }
    assert (
        dups["animescripter_jjk_gojo_subclip_crop802.mp4"].duplicate_of
        == "animescripter_jjk_gojo_test_1080p.mp4"
    )
    assert dups["pokemon_intro-charmander-meet.mp4"].duplicate_of == "pokemon_calm-campfire.mp4"
    # campfire is kept: only the Pikachu still (frames 0-127 of 168) is shared
    assert all(d.status == "kept" for d in report.decisions if d.item_id == "pokemon_calm-campfire.mp4")
