import copy
import json

import pytest

from pipeline.footage_labels import LabelError, load_label, load_label_dir, parse_label, write_label

GOOD = {
    "clip": "x.mp4",
    "frames": 40,
    "cuts": [10],
    "transitions": [{"start": 20, "end": 24, "type": "dissolve"}],
    "flashes": [{"start": 5, "end": 5, "type": "white_flash"}],
    "shots": [
        {"start": 0, "end": 9, "camera": "pan_left", "shot_size": "wide", "timing": "twos",
         "vfx": ["flash"], "text_overlay": "subtitle", "notes": "a"},
        {"start": 10, "end": 19, "camera": "static", "shot_size": "close_up", "timing": "held",
         "vfx": [], "text_overlay": "none", "notes": "b"},
        {"start": 25, "end": 39, "camera": "zoom_in", "shot_size": "medium", "timing": "threes",
         "vfx": ["speed_lines"], "text_overlay": "none", "notes": "c"},
    ],
    "layout": "letterbox",
    "style": "jp_cel_tv",
    "confidence": "high",
    "notes": "",
}  # fmt: skip


def test_parse_and_round_trip(tmp_path):
    label = parse_label(GOOD)
    assert label.boundaries() == [10]
    assert label.shots[0].vfx == ("flash",)
    assert label.uncovered_frames() == []
    write_label(label, tmp_path / "x.json")
    assert load_label(tmp_path / "x.json") == label
    assert json.loads((tmp_path / "x.json").read_text()) == GOOD
    assert list(load_label_dir(tmp_path)) == ["x.mp4"]


def test_uncovered_frames_are_reported():
    raw = copy.deepcopy(GOOD)
    raw["shots"][2]["start"] = 27
    assert parse_label(raw).uncovered_frames() == [25, 26]


def _broken(path, value):
    raw = copy.deepcopy(GOOD)
    target = raw
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return raw


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("shots", 1, "camera"), "dolly", r"shots\[1\]\.camera: 'dolly' is not one of static"),
        (("shots", 0, "vfx"), ["flash", "glitter"], r"shots\[0\]\.vfx\[1\]: 'glitter'"),
        (("cuts",), [0], r"cuts\[0\]: cut 0 outside 1\.\.39"),
        (("transitions", 0, "end"), 19, r"transitions\[0\]: start 20 is after end 19"),
        (("shots", 1, "start"), 5, "overlap or are out of order"),
        (("shots", 2, "end"), 40, r"shots\[2\]: span 25\.\.40 is not inside 0\.\.39"),
        (("layout",), "wide", "layout: 'wide' is not one of"),
        (("frames",), "40", "frames: '40' is not a frame index"),
    ],
)
def test_schema_violations_name_the_place(path, value, message):
    with pytest.raises(LabelError, match=message):
        parse_label(_broken(path, value), "lab.json")


def test_missing_key_and_bad_json(tmp_path):
    raw = copy.deepcopy(GOOD)
    del raw["shots"]
    with pytest.raises(LabelError, match="missing required key 'shots'"):
        parse_label(raw)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(LabelError, match="bad.json: not valid JSON"):
        load_label(bad)


def test_transition_past_the_last_frame_is_rejected():
    with pytest.raises(LabelError, match=r"transitions\[0\]: span 20\.\.45 is not inside 0\.\.39"):
        parse_label(_broken(("transitions", 0, "end"), 45), "lab.json")
