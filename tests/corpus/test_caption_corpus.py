"""The camera, timing and style experts against the labels of the real development clips (../shared/footage).

Measured here and printed with ``-s``: camera.movement accuracy over the shots labelled with one movement
(complex / tracking / unknown skipped), motion.timing accuracy, and style.medium on the 2D cel and 3DCG shots,
each over the shots the expert answered and over all labelled shots (an abstention counts as wrong), with the
coverage (speed: bench/bench_caption.py).
The asserted floors sit a little under the measured values so a regression fails while label
noise does not. Decoded analysis frames are cached in the temp folder (never in the repository: the clips are
copyrighted), keyed by file size and modification time, one entry per video.
"""

from __future__ import annotations

import dataclasses
import pickle
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from annotator.camera import CameraExpert
from annotator.evaluate import CaptionEvalReport, ExpertsAnnotator, evaluate_caption
from annotator.style import StyleExpert
from annotator.timing import TimingExpert
from pipeline.frames import AnalysisFrames, decode_analysis_frames

pytestmark = [pytest.mark.corpus, pytest.mark.slow]
CACHE = Path(tempfile.gettempdir()) / "anicurate-test-caption-frames"


def cached_decode(video: Path) -> AnalysisFrames:
    st = video.stat()
    path = CACHE / f"{video.stem}-{st.st_size}-{st.st_mtime_ns}.pkl"
    if path.exists():
        with path.open("rb") as fh:
            cached: AnalysisFrames = pickle.load(fh)
        # the entry may come from another checkout (a CI clone since removed): the experts that read larger
        # pictures open the file at this path, so it must be this one
        return dataclasses.replace(cached, path=str(video))
    frames = decode_analysis_frames(video)
    CACHE.mkdir(parents=True, exist_ok=True)
    # one entry per video: the footage folder is re-created between runs (new mtimes), and every earlier
    # entry of the video would otherwise stay (2 GB of /tmp after a day of CI runs)
    for stale in CACHE.glob(f"{video.stem}-*.pkl"):
        if stale.stem.rsplit("-", 2)[0] == video.stem:  # not another video whose name extends this one
            stale.unlink(missing_ok=True)
    tmp = path.with_suffix(".part")
    with tmp.open("wb") as fh:
        pickle.dump(frames, fh)
    tmp.rename(path)
    return frames


@pytest.fixture(scope="module")
def report(shared_footage) -> CaptionEvalReport:
    annotate = ExpertsAnnotator([CameraExpert(), TimingExpert()])
    return evaluate_caption(
        shared_footage, annotate=annotate, annotator_name="camera+timing", load_frames=cached_decode
    )


def test_camera_movement_accuracy(report):
    f = report.fields["camera.movement"]
    print(
        f"\ncamera.movement: accuracy {f.accuracy:.3f} over {f.answered} answered, coverage {f.coverage:.3f}, "
        f"{f.accuracy_all:.3f} over all {f.labelled} single-movement shots; confusion {f.confusion}"
    )
    assert f.labelled >= 50
    # measured 0.909 answered, coverage 0.965, 0.877 over all 57 (target: >= 0.85 with abstentions as misses)
    assert f.accuracy >= 0.85 and f.coverage >= 0.95 and f.accuracy_all >= 0.85
    # the common truths are read well: still shots, and push-ins / pull-backs (drawn and camera)
    assert f.confusion["static"].get("static", 0) >= 30
    assert f.confusion["zoom_in"].get("zoom_in", 0) >= 7 and f.confusion["zoom_out"].get("zoom_out", 0) >= 3


def test_timing_accuracy(report):
    f = report.fields["motion.timing"]
    majority = max(Counter({t: sum(row.values()) for t, row in f.confusion.items()}).values()) / f.labelled
    print(
        f"\nmotion.timing: accuracy {f.accuracy:.3f} over {f.answered} answered, coverage {f.coverage:.3f}, "
        f"{f.accuracy_all:.3f} over all {f.labelled}; majority answer {majority:.3f}; confusion {f.confusion}"
    )
    # measured 0.855 over 69 answered, coverage 0.945, 0.808 over all 73 (target: >= 0.8 with abstentions as
    # misses); before the 3DCG prior 0.812 / 0.767
    assert f.accuracy >= 0.84 and f.coverage >= 0.94 and f.accuracy_all >= 0.8
    assert f.accuracy_all > 2 * majority
    assert f.confusion["threes"].get("threes", 0) >= 10
    # the 3DCG prior: Sintel's three shots read as mixed are ones (16 ones right, was 13); no shot labelled
    # mixed turns to ones by it (the 3 there are 2D shots read as ones, as before)
    assert f.confusion["ones"].get("ones", 0) >= 16 and f.confusion["mixed"].get("ones", 0) <= 3
    # 2-4 frame shots where only snow or a crowd texture moves are held, not abstained on
    assert f.confusion["held"].get("held", 0) >= 15


@pytest.fixture(scope="module")
def style_report(shared_footage) -> CaptionEvalReport:
    return evaluate_caption(
        shared_footage,
        annotate=ExpertsAnnotator([StyleExpert()]),
        annotator_name="style",
        load_frames=cached_decode,
    )


def test_style_medium_2d_vs_3dcg(style_report):
    f = style_report.fields["style.medium.2d_vs_3dcg"]
    whole = style_report.fields["style.medium"]
    print(
        f"\nstyle.medium 2D vs 3DCG: {f.correct} of {f.labelled} right, coverage {f.coverage:.3f}; all media "
        f"{whole.correct} of {whole.labelled}; confusion {whole.confusion}"
    )
    # measured 66 of 66 (45 JP cel, 21 3DCG), every shot answered; before the video-level rules 43 of 66
    assert f.labelled >= 60 and f.correct == f.answered == f.labelled
    assert f.confusion["3dcg"] == {"3dcg": 21} and f.confusion["2d_cel"] == {"2d_cel": 45}
    # Western cartoons and motion graphics are read as cel (no clean cue tells a tradition or a technique)
    assert set(whole.confusion["western_2d_cartoon"]) | set(whole.confusion["motion_graphics"]) <= {
        "2d_cel",
        "(abstain)",
    }
