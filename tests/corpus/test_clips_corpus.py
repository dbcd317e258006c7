"""Clips cut from real clips at the labelled shot boundaries hold exactly the shot's frames."""

import av
import numpy as np
import pytest

from pipeline.clips import ClipEncoding, extract_clips, plan_clips
from pipeline.footage_labels import load_label
from pipeline.shots.base import Shot

pytestmark = pytest.mark.corpus

# clips with several labelled shots, hard cuts and a transition between them (the transition frames
# must be left out of both neighbouring clips)
CASES = [
    "pokemon_calm-sleeping.mp4",
    "pokemon_calm-flying-sunset.mp4",
    "animescripter_jjk_gojo_subclip_crop802.mp4",
]


def _decoded(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray() for f in c.decode(video=0)]


@pytest.mark.parametrize("clip", CASES)
def test_shot_clips_hold_exactly_the_shot_frames(shared_footage, tmp_path, clip):
    label = load_label(shared_footage / "labels" / (clip.rsplit(".", 1)[0] + ".json"))
    shots = [Shot(s.start, s.end) for s in label.shots]
    spans = plan_clips(shots)
    outs = extract_clips(
        shared_footage / clip, spans, [tmp_path / f"{k}.mp4" for k in range(len(spans))], ClipEncoding(crf=0)
    )
    source = _decoded(shared_footage / clip)
    for span, out in zip(spans, outs, strict=True):
        frames = _decoded(out)
        assert len(frames) == span.frames
        # first and last frame identical to the source's (lossless mode), and so is everything between
        assert np.array_equal(frames[0], source[span.start])
        assert np.array_equal(frames[-1], source[span.end])
        assert all(np.array_equal(f, source[span.start + k]) for k, f in enumerate(frames))
        # the frames just outside the span (neighbouring shot or transition) differ from the clip's ends
        if span.start > 0:
            assert not np.array_equal(frames[0], source[span.start - 1])
        if span.end + 1 < len(source):
            assert not np.array_equal(frames[-1], source[span.end + 1])
    in_transitions = {i for t in label.transitions for i in range(t.start, t.end + 1)}
    covered = {i for s in spans for i in range(s.start, s.end + 1)}
    assert not covered & in_transitions
