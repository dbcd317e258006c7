"""The shared development footage: every label parses, covers its clip and agrees with the decoded video."""

import json

import pytest

from pipeline.decode import count_frames, probe
from pipeline.footage import find_videos, label_path_for
from pipeline.footage_labels import load_label, load_label_dir

pytestmark = pytest.mark.corpus


def test_every_label_parses_and_names_an_existing_clip(shared_footage):
    labels = load_label_dir(shared_footage / "labels")
    assert len(labels) >= 28
    names = {p.name for p in find_videos(shared_footage)}
    for clip, label in labels.items():
        assert clip in names, f"label for missing clip {clip}"
        assert label.uncovered_frames() == [], clip
        assert label_path_for(shared_footage / clip).exists()


def test_label_frame_counts_match_decoded_frames(shared_footage):
    mismatches = {}
    for clip, label in load_label_dir(shared_footage / "labels").items():
        decoded = count_frames(shared_footage / clip)
        if decoded != label.frames:
            mismatches[clip] = (label.frames, decoded)
    assert mismatches == {}


def test_unlabelled_clips_are_exactly_the_known_duplicates(shared_footage):
    pairs = json.loads((shared_footage / "duplicates.json").read_text())["pairs"]
    names = {p.name for p in find_videos(shared_footage)}
    for pair in pairs:
        assert pair["a"] in names and pair["b"] in names
    unlabelled = {n for n in names if not label_path_for(shared_footage / n).exists()}
    duplicated = {p["a"] for p in pairs} | {p["b"] for p in pairs}
    assert unlabelled and unlabelled <= duplicated


def test_probe_reads_every_clip(shared_footage):
    for video in find_videos(shared_footage):
        info = probe(video)
        assert info.width > 0 and info.height > 0 and info.fps > 0, video.name
        path = label_path_for(video)
        if path.exists():
            assert load_label(path).clip == video.name
