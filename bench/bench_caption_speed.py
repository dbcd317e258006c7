"""The whole default AniCaption per shot beside decoding the same frames, in one run (issue #5: "annotation of
a shot must cost less than decoding it").

For every labelled shot of a folder (the labelled development clips of ../shared/footage, skipped when absent,
and synthetic footage generated here with exact labels) it times, per video and in the same process:

* **plain decode**: PyAV decode of the video to RGB at source resolution (as ``bench/bench_curate.py``), and
  the same with one decoder thread (the experts run on one thread);
* **analysis decode**: the shared analysis decode, :func:`pipeline.frames.decode_analysis_frames` with the
  text stills, as ``anicurate caption`` runs it (:meth:`annotator.caption.AniCaption.annotate_video`);
* **AniCaption** (the default configuration: experts, fusion, directive) on every labelled shot, in the
  modes users hit:

  - ``file``: ``anicurate caption`` -- :meth:`~annotator.caption.AniCaption.annotate_video` with the labelled
    shots given; it reads the experts' larger source pictures from the file (all shots' in one pass) and
    its own analysis decode is not counted;
  - ``shot-file``: :meth:`~annotator.caption.AniCaption.annotate` per shot with ``ShotInput.video_path``, a
    caller that hands over one shot at a time (each expert that needs larger pictures decodes them itself;
    ``anicurate eval caption`` did this before its annotator was told each video's shots ahead);
  - ``memory``: the curate job -- the pictures come from memory (``ShotInput.pictures``) and the shot's
    scores (``ShotInput.scores``, same ``ScoreContext``) from the scoring stage and the shot signals from the
    shot detector; here all three are made ahead of the timed part (the scoring stage and the detector are the
    curate job's cost, not AniCaption's), and OpenCV runs one thread, as in a curate task given one CPU.

Each stage is reported in frames per second of the frames it covers (decodes: every frame of the video;
AniCaption: the frames of the labelled shots) and as a ratio to the plain decode; AniCaption's time is split
by expert (:attr:`annotator.caption.AniCaption.expert_seconds`; the rest is fusion and the directive). Times
are wall-clock on one process, and beside them the process's CPU time (all threads: PyAV decodes with
several) for the decodes and the whole AniCaption; ``--dump FILE`` also writes every shot's annotation (tags, confidences,
sources, missing fields, directive, every vote with its evidence) so two versions of the experts can be
compared shot by shot.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from annotator.base import ShotInput
from annotator.caption import AniCaption
from annotator.fusion import ShotAnnotation
from annotator.source_frames import PictureSnapshot, read_source_frames
from pipeline.decode import decode_rgb_reference
from pipeline.footage import find_videos, label_path_for
from pipeline.footage_labels import load_label
from pipeline.frames import AnalysisFrames, decode_analysis_frames
from pipeline.scores.registry import ScoreContext, score_shot
from pipeline.scores.text import STILLS
from pipeline.shots import anime as _anime  # noqa: F401 -- the VFX expert imports it (and torch) on first use:
from pipeline.shots.signals import compute_signals, forget_signals

# imported here so that no timed shot pays a one-off import
from pipeline.synthetic import SynthConfig, generate_footage

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "footage"
MODES = ("file", "shot-file", "memory")


@dataclass
class SpeedTally:
    """Frames and seconds of one folder: decodes per video, AniCaption per labelled shot and mode."""

    videos: int = 0
    shots: int = 0
    video_frames: int = 0
    shot_frames: int = 0
    plain_s: float = 0.0
    #: the same decode with one decoder thread (AniCaption's experts run on one thread)
    plain1_s: float = 0.0
    analysis_s: float = 0.0
    #: CPU seconds of the process (all its threads) in the same stages: steadier than wall-clock on a loaded
    #: machine
    plain_cpu: float = 0.0
    plain1_cpu: float = 0.0
    analysis_cpu: float = 0.0
    caption_cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(MODES, 0.0))
    caption_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(MODES, 0.0))
    picture_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(MODES, 0.0))
    expert_s: dict[str, Counter[str]] = field(default_factory=lambda: {m: Counter() for m in MODES})
    annotations: dict[str, list[dict]] = field(default_factory=lambda: {m: [] for m in MODES})


def held_pictures(captioner: AniCaption, shot: ShotInput) -> PictureSnapshot:
    """The pictures the experts want for ``shot``, read from the file now (the curate job holds them)."""
    # a throwaway view, so that the shot's own (timed) view computes its layout as in the curate job
    layout = ShotInput(shot.frames, shot.start, shot.end, ScoreContext()).view.layout
    box = layout.source_box if layout.thumb_size[0] and layout.thumb_size[1] else None
    pictures = {}
    for request in captioner.pictures_wanted(shot):
        for f in read_source_frames(shot.video_path, request.pts, request.width, box):
            pictures[(request.width, f.pts)] = f.image
    return PictureSnapshot(pictures)


def annotation_record(video: str, start: int, end: int, ann: ShotAnnotation, votes: list) -> dict:
    """Everything a shot's annotation says, JSON-ready, for comparing two runs."""
    return {
        "video": video,
        "span": [start, end],
        "tags": {k: list(v) for k, v in sorted(ann.tags.items())},
        "confidences": dict(sorted(ann.confidences.items())),
        "sources": dict(sorted(ann.sources.items())),
        "missing": dict(sorted(ann.missing.items())),
        "directive": ann.directive.text() if ann.directive else None,
        "votes": votes,
    }


class _Recording(AniCaption):
    """AniCaption that keeps every shot's votes (with evidence) for :func:`annotation_record`."""

    def run_experts(self, shot: ShotInput):  # type: ignore[override]
        votes, abstentions, description = super().run_experts(shot)
        if not hasattr(self, "votes"):
            self.votes: list[list] = []
        self.votes.append(
            [
                [v.expert, v.field, list(v.values), v.confidence, dict(sorted(v.evidence.items()))]
                for v in votes
            ]
            + [[a.expert, a.field, "abstain", a.reason] for a in abstentions]
        )
        return votes, abstentions, description


def _record_shots(
    captioner: _Recording, video: Path, anns: list[tuple[int, int, ShotAnnotation]]
) -> list[dict]:
    return [
        annotation_record(video.name, a, b, ann, votes)
        for (a, b, ann), votes in zip(anns, captioner.votes, strict=True)
    ]


def measure(folder: Path, modes: tuple[str, ...] = MODES, limit: int | None = None) -> SpeedTally:
    """:class:`SpeedTally` of every labelled video of ``folder`` (the first ``limit`` ones when given)."""
    tally = SpeedTally()
    for video in find_videos(folder):
        label_file = label_path_for(video)
        if not label_file.exists():
            continue
        if limit is not None and tally.videos >= limit:
            break
        label = load_label(label_file)
        tally.videos += 1
        t0, c0 = time.perf_counter(), time.process_time()
        tally.video_frames += decode_rgb_reference(video)
        tally.plain_s += time.perf_counter() - t0
        tally.plain_cpu += time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        decode_rgb_reference(video, threads=1)
        tally.plain1_s += time.perf_counter() - t0
        tally.plain1_cpu += time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        frames: AnalysisFrames = decode_analysis_frames(video, stills=STILLS)
        tally.analysis_s += time.perf_counter() - t0
        tally.analysis_cpu += time.process_time() - c0
        spans = [(s.start, s.end) for s in label.shots if s.end < len(frames)]
        tally.shots += len(spans)
        tally.shot_frames += sum(b - a + 1 for a, b in spans)
        for mode in modes:
            # a fresh captioner and context per video and mode: nothing cached from another run
            captioner = _Recording.from_config(None)
            if mode == "file":
                # its analysis decode is not counted: CPU time of a second decode of the same file
                c0 = time.process_time()
                decode_analysis_frames(video, stills=STILLS)
                decode_cpu = time.process_time() - c0
                t0, c0 = time.perf_counter(), time.process_time()
                result = captioner.annotate_video(video, shots=spans)
                spent = time.perf_counter() - t0 - result.decode_seconds - result.detect_seconds
                tally.caption_cpu[mode] += max(0.0, time.process_time() - c0 - decode_cpu)
                anns = [(s.start, s.end, s.annotation) for s in result.shots]
                tally.picture_s[mode] += getattr(result, "picture_seconds", 0.0)
            else:
                ctx = ScoreContext(source_path=str(video))
                shots = [ShotInput(frames, a, b, ctx, video_path=video) for a, b in spans]
                threads = cv2.getNumThreads()
                if mode == "memory":
                    # as the curate job: the scoring stage has scored the shots with the same context, the
                    # pictures are in memory, the shot detector has computed the window's shot signals (the
                    # VFX expert reads them), and the task's OpenCV pool has its one CPU
                    # (pipeline.curate.runner.run_task)
                    for shot in shots:
                        shot.scores = score_shot(frames, shot.start, shot.end, ctx)
                        shot.pictures = held_pictures(captioner, shot)
                    compute_signals(frames.thumb)
                    cv2.setNumThreads(1)
                t0, c0 = time.perf_counter(), time.process_time()
                anns = [(shot.start, shot.end, captioner.annotate(shot)) for shot in shots]
                spent = time.perf_counter() - t0
                tally.caption_cpu[mode] += time.process_time() - c0
                cv2.setNumThreads(threads)
                forget_signals()
            tally.caption_s[mode] += spent
            tally.annotations[mode] += _record_shots(captioner, video, anns)
            tally.expert_s[mode].update(captioner.expert_seconds)
    return tally


def print_table(title: str, tally: SpeedTally, modes: tuple[str, ...] = MODES) -> None:
    """The frames/s table of one folder."""
    print(
        f"   {title}: {tally.videos} videos, {tally.shots} labelled shots, {tally.shot_frames} shot frames "
        f"({tally.video_frames} video frames)"
    )
    plain = tally.video_frames / tally.plain_s
    plain_cpu = tally.video_frames / tally.plain_cpu
    print(
        f"   {'stage':<34}{'frames/s':>10}{'x plain decode':>16}{'share':>8}{'CPU frames/s':>14}{'x decode':>10}"
    )

    def decode_row(label: str, seconds: float, cpu_seconds: float) -> None:
        fps, cpu = tally.video_frames / seconds, tally.video_frames / cpu_seconds
        print(f"   {label:<34}{fps:>10.0f}{fps / plain:>16.2f}{'':>8}{cpu:>14.0f}{cpu / plain_cpu:>10.2f}")

    decode_row("plain PyAV decode (source px, RGB)", tally.plain_s, tally.plain_cpu)
    decode_row("  the same, one decoder thread", tally.plain1_s, tally.plain1_cpu)
    decode_row("analysis decode (128 px + stills)", tally.analysis_s, tally.analysis_cpu)
    for mode in modes:
        total = tally.caption_s[mode]
        fps = tally.shot_frames / total
        cpu = tally.shot_frames / max(tally.caption_cpu[mode], 1e-9)
        print(
            f"   {'AniCaption default, ' + mode:<34}{fps:>10.0f}{fps / plain:>16.2f}{1.0:>8.2f}"
            f"{cpu:>14.0f}{cpu / plain_cpu:>10.2f}"
        )
        spent = tally.expert_s[mode]
        for name, secs in sorted(spent.items(), key=lambda kv: -kv[1]):
            e_fps = tally.shot_frames / secs if secs else float("inf")
            print(f"   {'  ' + name:<34}{e_fps:>10.0f}{e_fps / plain:>16.2f}{secs / total:>8.2f}")
        pictures = tally.picture_s[mode]
        if pictures:
            p_fps = tally.shot_frames / pictures
            print(
                f"   {'  picture reads ahead':<34}{p_fps:>10.0f}{p_fps / plain:>16.2f}{pictures / total:>8.2f}"
            )
        rest = total - sum(spent.values()) - pictures
        print(f"   {'  fusion + directive':<34}{'':>10}{'':>16}{rest / total:>8.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--synthetic-videos", type=int, default=5)
    parser.add_argument(
        "--footage", type=Path, default=SHARED, help="labelled clips (default ../shared/footage)"
    )
    parser.add_argument("--clips", type=int, default=None, help="only the first N labelled clips")
    parser.add_argument(
        "--modes", default=",".join(MODES), help=f"any of {', '.join(MODES)} (comma-separated)"
    )
    parser.add_argument("--dump", type=Path, default=None, help="write every shot's annotation to this JSON")
    args = parser.parse_args(argv)
    modes = tuple(m for m in args.modes.split(",") if m)
    if set(modes) - set(MODES) or not modes:
        parser.error(f"--modes: choose from {', '.join(MODES)}")
    print(
        f"   load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}, {os.cpu_count()} cores"
    )
    dump: dict[str, dict] = {}
    if args.footage.is_dir():
        tally = measure(args.footage, modes, args.clips)
        print_table("labelled development clips", tally, modes)
        dump["footage"] = tally.annotations
    else:
        print(f"   {args.footage} absent: labelled-clip table skipped")
    if args.synthetic_videos:
        with tempfile.TemporaryDirectory() as tmp:
            generate_footage(Path(tmp), videos=args.synthetic_videos, seed=1, config=SynthConfig())
            tally = measure(Path(tmp), modes)
            print_table(f"synthetic footage ({args.synthetic_videos} x 10 s, seed 1)", tally, modes)
            dump["synthetic"] = tally.annotations
    print(f"   load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.dump is not None:
        args.dump.write_text(json.dumps(dump, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
