"""The curate job: inputs -> map tasks (local or Ray) -> reduce -> shards, manifest, funnel.

Resume: a rerun with the same output folder skips every video whose staging folder is final, restarts the rest,
and redoes the (deterministic) reduce, so the output equals that of an uninterrupted run. The output folder
remembers the fingerprint of the config and the taxonomy it was made with (``work/run.json``); a rerun with a
different one is refused with the difference named, rather than mixing two configurations in one corpus.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.curate import staging
from pipeline.curate.config import CurateConfig
from pipeline.curate.input_ids import CACHE_FILE as INPUT_IDS_FILE
from pipeline.curate.input_ids import content_ids
from pipeline.curate.inputs import resolve_inputs
from pipeline.curate.reduce import ReduceSummary, reduce_results
from pipeline.curate.runner import (
    LocalRunner,
    Outcome,
    RayRunner,
    TaskFailure,
    TaskSummary,
    VideoTask,
    largest_first,
)
from pipeline.curate.video_task import VideoResult
from pipeline.paths import text_path
from pipeline.records import RejectionRecord

log = logging.getLogger(__name__)
RUN_FILE = "run.json"


class CurateResumeError(RuntimeError):
    """The output folder was made with another config or taxonomy; the message says what differs."""


@dataclass
class Progress:
    """What the job reports while it runs (the CLI draws it as a live bar)."""

    videos_total: int = 0
    videos_done: int = 0
    videos_skipped: int = 0
    shots: int = 0
    clips: int = 0
    source_seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)

    @property
    def throughput(self) -> float:
        """Source video-seconds processed per wall second."""
        dt = time.monotonic() - self.started
        return self.source_seconds / dt if dt > 0 else 0.0


@dataclass
class CurateSummary:
    out: Path
    inputs: int
    processed: int
    resumed: int
    reduce: ReduceSummary
    wall_seconds: float
    source_seconds: float
    stage_seconds: dict[str, float]
    #: Processes that ran this run's video tasks (one per Ray worker; more than the cluster's task slots
    #: means workers were restarted).
    workers: int = 0

    def to_json_dict(self) -> dict[str, Any]:
        r = self.reduce
        return {
            "out": str(self.out),
            "inputs": self.inputs,
            "processed": self.processed,
            "resumed": self.resumed,
            "workers": self.workers,
            "videos": r.videos,
            "shots": r.shots,
            "clips": r.clips,
            "kept": r.kept,
            "duplicates": r.duplicates,
            "shards": r.shards,
            "wall_seconds": round(self.wall_seconds, 2),
            "source_seconds": round(self.source_seconds, 2),
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
            "gini_before": r.gini_before,
            "gini_after": r.gini_after,
            "funnel": [vars(f) if not hasattr(f, "__dataclass_fields__") else _asdict(f) for f in r.funnel],
        }


def _asdict(obj: Any) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(obj)


def run_fingerprint(cfg: CurateConfig) -> dict[str, Any]:
    from pipeline.curate.staging import RESULT_FORMAT
    from pipeline.decode import PICTURE_DIGEST
    from taxonomy import load_taxonomy

    tax = load_taxonomy()
    return {
        "config": cfg.fingerprint(),
        "taxonomy": f"{tax.version}:{tax.fingerprint()}",
        "result_format": RESULT_FORMAT,
        # staged fingerprints hold frame digests, which only match digests of the same function
        "frame_digest": PICTURE_DIGEST,
    }


def check_run_file(out: Path, cfg: CurateConfig) -> None:
    """Record the run fingerprint, or refuse when the folder holds a run made differently."""
    path = out / "work" / RUN_FILE
    now = run_fingerprint(cfg)
    if path.is_file():
        before = json.loads(path.read_text())
        diff = [k for k in now if before.get(k) != now[k]]
        if diff:
            what = ", ".join(f"{k} {before.get(k)} -> {now[k]}" for k in diff)
            raise CurateResumeError(
                f"{out} was curated with a different {' and '.join(diff)} ({what}); "
                "use a new --out folder, or --restart to discard the previous results"
            )
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**now, "config_body": cfg.to_dict()}, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _input_rejection(path: str, rule: str, reason: str) -> RejectionRecord:
    return RejectionRecord("input", "video", text_path(path), text_path(path), rule, reason, None, None)


def run_curate(
    inputs: Sequence[str | Path],
    out: str | Path,
    cfg: CurateConfig | None = None,
    runner: str = "ray",
    address: str | None = None,
    num_cpus: int | None = None,
    restart: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    say: Callable[[str], None] | None = None,
) -> CurateSummary:
    """Curate ``inputs`` into ``out`` (see the module doc); ``runner`` is "ray" or "local"."""
    cfg = cfg or CurateConfig()
    say = say or log.info
    out = Path(out)
    t_start = time.monotonic()
    if restart and (out / "work").exists():
        import shutil

        shutil.rmtree(out / "work")
        for sub in ("shards", "manifest"):
            shutil.rmtree(out / sub, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    check_run_file(out, cfg)
    for p in staging.clear_partials(out):
        say(f"restarting {p.name.removesuffix('.partial')[:16]}: it was interrupted")

    files = resolve_inputs(inputs)
    if not files:
        raise ValueError("no input videos found in " + ", ".join(map(str, inputs)))
    input_rejections: list[RejectionRecord] = []
    tasks: list[VideoTask] = []
    seen_ids: dict[str, str] = {}
    readable = [f.resolved or f.path for f in files if f.problem is None]
    next_note = time.monotonic() + 2.0

    def hashing_progress(done: int, total: int) -> None:
        nonlocal next_note
        if time.monotonic() >= next_note and done < total:  # only for a slow first read of a large corpus
            say(f"identifying inputs (sha256): {done} of {total} files read")
            next_note = time.monotonic() + 10.0

    ids = content_ids(readable, out / "work" / INPUT_IDS_FILE, on_hashed=hashing_progress)
    if ids.hashed:
        remembered = f", {ids.remembered} remembered from an earlier run" if ids.remembered else ""
        say(
            f"identified {len(readable)} inputs (sha256): {ids.hashed} read, {ids.bytes_hashed / 1e9:.2f} GB "
            f"in {ids.seconds:.1f} s{remembered}"
        )
    for f in files:
        if f.problem is not None:
            input_rejections.append(_input_rejection(f.path, f.problem, f.detail))
            continue
        vid = ids.ids[f.resolved or f.path]
        if isinstance(vid, OSError):
            input_rejections.append(_input_rejection(f.path, "unreadable", vid.strerror or str(vid)))
            continue
        if vid in seen_ids:
            input_rejections.append(
                _input_rejection(
                    f.path, "duplicate_input", f"same content as {seen_ids[vid]} (sha256 {vid[:16]})"
                )
            )
            continue
        seen_ids[vid] = f.path
        tasks.append(VideoTask(f.resolved or f.path, vid))

    progress = Progress(videos_total=len(tasks))
    pending = []
    done: dict[str, VideoResult] = {}  # staged by an earlier run (read once, for the registry and the reduce)
    for t in tasks:
        staged = staging.load(out, t.video_id) if staging.final_dir(out, t.video_id).is_dir() else None
        if staged is not None:
            done[t.video_id] = staged
            progress.videos_skipped += 1
            progress.videos_done += 1
        else:
            pending.append(t)
    if progress.videos_skipped:
        say(f"resuming: {progress.videos_skipped} of {len(tasks)} videos already done")
    if on_progress:
        on_progress(progress)

    workers: set[str] = set()

    def on_done(task: VideoTask, outcome: Outcome) -> None:
        progress.videos_done += 1
        if isinstance(outcome, TaskSummary):
            workers.add(outcome.worker)
            progress.shots += outcome.shots
            progress.clips += outcome.clips
            progress.source_seconds += outcome.seconds
        elif isinstance(outcome, TaskFailure):
            say(f"{task.input_path}: {outcome.rule}: {outcome.reason}")
            quarantined = VideoResult(
                task.input_path,
                None,
                rejections=[
                    RejectionRecord(
                        "map",
                        "video",
                        task.video_id,
                        text_path(task.input_path),
                        outcome.rule,
                        outcome.reason,
                    )
                ],
            )
            staging.commit(out, task.video_id, quarantined)
        if on_progress:
            on_progress(progress)

    run = RayRunner(address, num_cpus) if runner == "ray" else LocalRunner()
    if runner not in ("ray", "local"):
        raise ValueError(f"runner {runner!r}: choose ray or local")
    # the clips staged before a resume are copies the remaining videos need not encode again
    known = [fp for r in done.values() for fp in r.fingerprints if fp is not None]
    run.run(largest_first(pending), cfg, out, on_done, known)

    results: list[VideoResult] = []
    stage_seconds: dict[str, float] = {}
    for t in tasks:
        r = done.pop(t.video_id, None) or staging.load(out, t.video_id)
        if r is None:  # cannot happen unless staging was removed under us
            input_rejections.append(
                _input_rejection(t.input_path, "lost", "no staged result after the map phase")
            )
            continue
        results.append(r)
        for k, v in r.timings.items():
            stage_seconds[k] = stage_seconds.get(k, 0.0) + v
    say(f"reduce: {len(results)} videos")
    t0 = time.monotonic()
    summary = reduce_results(out, results, cfg, input_rejections, len(files), say)
    stage_seconds["reduce"] = time.monotonic() - t0
    return CurateSummary(
        out=out,
        inputs=len(files),
        processed=len(pending),
        resumed=progress.videos_skipped,
        reduce=summary,
        wall_seconds=time.monotonic() - t_start,
        source_seconds=sum(r.seconds_decoded for r in results),
        stage_seconds=stage_seconds,
        workers=len(workers),
    )
