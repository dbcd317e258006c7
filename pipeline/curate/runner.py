"""Runners of the map phase: the same ``process_video`` task in this process or on Ray.

A runner takes the pending videos and calls ``on_done(item, outcome)`` as each finishes; an outcome is either
the task's :class:`TaskSummary` or a :class:`TaskFailure` (timeout, a worker that kept crashing, an exception
the task did not turn into a rejection itself). Failures never stop the run.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import math
import os
import socket
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.curate.config import CurateConfig
from pipeline.curate.copies import RemoteCopies, lookup_of, new_registry, wants_registry
from pipeline.malloc_tuning import keep_large_blocks
from pipeline.spare_cpus import SpareCpus, default_folder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoTask:
    input_path: str
    video_id: str


@dataclass(frozen=True)
class TaskSummary:
    frames: int
    seconds: float
    shots: int
    clips: int
    rejected: bool
    #: The process that ran the task ("host:pid"), so a run can tell how many worker processes it used.
    worker: str = ""


@dataclass(frozen=True)
class TaskFailure:
    rule: str  # "timeout", "worker_crashed" or "task_error"
    reason: str


Outcome = TaskSummary | TaskFailure

#: Errors of the machine, not of the video: they stop the job (rerun to resume) instead of condemning a video.
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}


class EnvironmentFailure(RuntimeError):
    """The output cannot be written (disk full, read-only, I/O error); the job stops and can be resumed."""


def environment_error(exc: BaseException) -> EnvironmentFailure | None:
    """The :class:`EnvironmentFailure` for ``exc`` (or its cause chain), or None when it is about the video."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS:
            where = f" ({exc.filename})" if exc.filename else ""
            return EnvironmentFailure(
                f"{exc.strerror}{where}; free space or fix the output folder and rerun to resume"
            )
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def largest_first(tasks: Sequence[VideoTask]) -> list[VideoTask]:
    """``tasks`` by input file size, largest first (ties keep their order): the longest videos start first, so
    a job of mixed lengths does not end with one long episode running alone while the other workers idle."""

    def size(task: VideoTask) -> int:
        try:
            return Path(task.input_path).stat().st_size
        except OSError:
            return 0

    return sorted(tasks, key=size, reverse=True)


def task_cpus(videos: int, cluster_cpus: float, node_cpus: float, cpus_per_video: float, cap: int) -> float:
    """CPUs a video task asks for: ``cpus_per_video``, or, when ``videos`` are fewer than the tasks the
    cluster could run at once, an equal whole share of ``cluster_cpus`` (at most ``cap`` and ``node_cpus``,
    since a task runs on one node)."""
    if videos <= 0 or cpus_per_video <= 0 or videos * cpus_per_video >= cluster_cpus:
        return cpus_per_video
    share = min(math.floor(cluster_cpus / videos), cap, math.floor(node_cpus))
    return float(max(cpus_per_video, share))


def run_task(
    task: VideoTask,
    cfg: CurateConfig,
    out: str,
    caption_pool: Any = None,
    cpus: int | None = None,
    spare_cpus: dict[str, int] | None = None,
    copies: Any = None,
) -> TaskSummary:
    """The unit of work both runners execute (imports inside so a Ray worker pays them once); with a
    :class:`~pipeline.curate.caption_pool.CaptionPool` the shots are captioned by its actors. ``cpus``: the
    CPUs the task was given; OpenCV's thread pool is sized to them (by default it spans every core of the
    node, so tasks running side by side would oversubscribe it). ``copies``: the run's copy registry
    (:mod:`pipeline.curate.copies`)."""
    from pipeline.curate.video_task import process_video

    if cpus is not None:
        import cv2

        cv2.setNumThreads(max(1, cpus))
        keep_large_blocks()  # a Ray worker: the job's own process
    spare = _spare_cpus(spare_cpus, cpus or 1)
    try:
        r = process_video(
            task.input_path, cfg, Path(out), task.video_id, caption_pool, spare, lookup_of(copies)
        )
    finally:
        if spare is not None:
            spare.release()
    return TaskSummary(
        frames=r.frames_decoded,
        seconds=r.seconds_decoded,
        shots=len(r.shots),
        clips=len(r.clips),
        rejected=r.video is None or r.video.status != "ok",
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )


def _spare_cpus(per_node: dict[str, int] | None, cpus: int) -> SpareCpus | None:
    """This Ray node's :class:`SpareCpus` (``per_node``: the CPUs of each node the video tasks share, by Ray
    node id), with the task's own ``cpus`` claimed; None outside Ray or on a node not listed."""
    if not per_node:
        return None
    import ray

    node = ray.get_runtime_context().get_node_id()
    count = per_node.get(node, 0)
    if count <= cpus:
        return None
    spare = SpareCpus(default_folder(node), count)
    spare.claim(cpus)
    return spare


def check_detector_device(cfg: CurateConfig, gpus_per_task: float | None) -> None:
    """EnvironmentFailure before any video when the shot detector is set to a GPU its tasks would not see:
    ``gpus_per_task`` is what each Ray task asks for, None for this process (the local runner)."""
    device = cfg.detector.device
    if device == "cpu" or cfg.detector.backend != "transnet":
        return
    if gpus_per_task is not None:
        if gpus_per_task <= 0:
            raise EnvironmentFailure(
                f"detector.device = {device} but ray.gpus_per_video = {gpus_per_task}: the video tasks would "
                "see no GPU; set ray.gpus_per_video (e.g. 0.25 to share a GPU between four tasks) or "
                "detector.device: cpu"
            )
        return
    import torch

    if not torch.cuda.is_available():
        raise EnvironmentFailure(
            f"detector.device = {device} but PyTorch sees no CUDA GPU in this process; set detector.device: cpu"
        )


class LocalRunner:
    """Runs tasks one after another in this process (debugging, tests, single-core machines)."""

    name = "local"

    def run(
        self,
        tasks: Sequence[VideoTask],
        cfg: CurateConfig,
        out: Path,
        on_done: Callable[[VideoTask, Outcome], None],
        known: Sequence[Any] = (),
    ) -> None:
        """Run ``tasks``; ``known``: fingerprints of clips staged by an earlier run (the copy registry's start)."""
        if tasks:
            check_detector_device(cfg, None)
        copies = new_registry(cfg.dedupe.policy) if wants_registry(cfg) else None
        if copies is not None:
            copies.register(known)
        for task in tasks:
            try:
                outcome: Outcome = run_task(task, cfg, str(out), copies=copies)
            except Exception as exc:  # a bug in a stage must cost one video, not the run
                env = environment_error(exc)
                if env is not None:
                    raise env from exc
                log.error("%s failed:\n%s", task.input_path, traceback.format_exc())
                outcome = TaskFailure("task_error", f"{type(exc).__name__}: {exc}")
            on_done(task, outcome)


class RayRunner:
    """Runs one Ray task per video on a local Ray instance or an existing cluster (``address``).

    Each task asks for ``cfg.ray.cpus_per_video`` CPUs (and ``gpus_per_video`` GPUs, fractions allowed, when
    learned experts run on GPUs); Ray reuses worker processes, so models loaded by a task (the shot
    detector, AniCaption's experts) stay loaded for the next video the worker takes. A task whose worker dies is
    retried ``cfg.limits.max_retries`` times, then the video is quarantined; a task running longer than
    ``cfg.limits.timeout_s`` is cancelled."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None):
        self.address = address
        self.num_cpus = num_cpus

    def _init(self) -> Any:
        import ray

        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "configure_logging": False,
                "log_to_driver": True,
            }
            if self.address not in (None, "local"):
                ray.init(address=self.address, **kwargs)
            else:
                ray.init(num_cpus=self.num_cpus, **kwargs)
        return ray

    def run(
        self,
        tasks: Sequence[VideoTask],
        cfg: CurateConfig,
        out: Path,
        on_done: Callable[[VideoTask, Outcome], None],
        known: Sequence[Any] = (),
    ) -> None:
        """Run ``tasks``; ``known``: fingerprints of clips staged by an earlier run (the copy registry's start)."""
        if not tasks:
            return
        check_detector_device(cfg, cfg.ray.gpus_per_video)
        ray = self._init()

        rc = cfg.ray
        cluster = ray.cluster_resources()
        node_cpus = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")), default=1)
        # the caption actors' CPUs are not there for the tasks (asking for them would leave a task unscheduled)
        actors = rc.caption_actors * rc.caption_cpus if cfg.caption.enabled else 0.0
        cpus = task_cpus(
            len(tasks),
            cluster.get("CPU", 1) - actors,
            node_cpus - actors,
            rc.cpus_per_video,
            rc.max_cpus_per_video,
        )
        if cpus != rc.cpus_per_video:
            log.info(
                "%d video(s) on %g CPUs: each task asks for %g CPUs", len(tasks), cluster.get("CPU", 1), cpus
            )
        # a task may use the CPUs it asked for, not every CPU of the node (that would oversubscribe it)
        threads = max(1, int(cpus))
        if cfg.clips.encode_threads == 0:
            cfg = dataclasses.replace(cfg, clips=dataclasses.replace(cfg.clips, encode_threads=threads))
        if cfg.analysis.decode_threads == 0:
            cfg = dataclasses.replace(cfg, analysis=dataclasses.replace(cfg.analysis, decode_threads=threads))
        remote = ray.remote(num_cpus=cpus, num_gpus=rc.gpus_per_video, max_retries=cfg.limits.max_retries)(
            run_task
        )
        slots = cluster.get("CPU", 1) / cpus
        if rc.gpus_per_video:
            gpus = ray.cluster_resources().get("GPU", 0)
            if gpus <= 0:
                raise EnvironmentFailure(
                    f"ray.gpus_per_video = {rc.gpus_per_video} but the Ray cluster has no GPU; set it to 0"
                )
            slots = min(slots, gpus / rc.gpus_per_video)
        # A task waiting in ray.get on a caption actor hands its CPU back to Ray, which would start one of the
        # queued tasks on it, in a new (cold) worker process that is killed again once idle: with the pool, no
        # task waits in Ray's queue (measured: 21-30 s against 16 s for a 24-video run, and new workers each run).
        capacity = max(1, int(slots)) * (
            1 if cfg.caption.enabled and rc.caption_actors > 0 else rc.inflight_per_slot
        )
        pool = None
        if cfg.caption.enabled and rc.caption_actors > 0:
            if rc.caption_gpus and ray.cluster_resources().get("GPU", 0) <= 0:
                raise EnvironmentFailure(
                    f"ray.caption_gpus = {rc.caption_gpus} but the Ray cluster has no GPU; set it to 0"
                )
            from pipeline.curate.caption_pool import CaptionPool

            pool = CaptionPool.start(
                cfg.caption.config,
                rc.caption_actors,
                rc.caption_cpus,
                rc.caption_gpus,
                cfg.limits.max_retries,
            )
        # idle CPUs a task may borrow for extra encodes (the tail of a job): each node's CPUs less the caption
        # actors' (their placement is not known, so every node leaves room for all of them)
        spare = {
            n["NodeID"]: int(n["Resources"].get("CPU", 0) - actors)
            for n in ray.nodes()
            if rc.borrow_idle_cpus and n.get("Alive") and n["Resources"].get("CPU", 0) - actors >= 2
        }
        copies = RemoteCopies.start(cfg, known) if wants_registry(cfg) else None
        try:
            self._drain(ray, remote, tasks, cfg, out, capacity, pool, threads, spare, copies, on_done)
        finally:
            if copies is not None:
                lookups, found = copies.counts()
                log.info(
                    "copy registry: %d of %d clips not encoded (a better copy was ahead)", found, lookups
                )
                copies.stop()
            if pool is not None:
                pool.stop()

    def _drain(
        self,
        ray: Any,
        remote: Any,
        tasks: Sequence[VideoTask],
        cfg: CurateConfig,
        out: Path,
        capacity: int,
        pool: Any,
        cpus: int,
        spare: dict[str, int],
        copies: Any,
        on_done: Callable[[VideoTask, Outcome], None],
    ) -> None:
        """Keep ``capacity`` video tasks in flight until every task has an outcome (each sizing its OpenCV
        threads to ``cpus``)."""
        from ray.exceptions import (
            OutOfMemoryError,
            RayError,
            TaskCancelledError,
            WorkerCrashedError,
        )

        queue = list(tasks)
        running: dict[Any, tuple[VideoTask, float]] = {}
        while queue or running:
            while queue and len(running) < capacity:
                task = queue.pop(0)
                running[remote.remote(task, cfg, str(out), pool, cpus, spare, copies)] = (
                    task,
                    time.monotonic(),
                )
            ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
            for ref in ready:
                task, _ = running.pop(ref)
                try:
                    outcome: Outcome = ray.get(ref)
                except (WorkerCrashedError, OutOfMemoryError) as exc:
                    outcome = TaskFailure(
                        "worker_crashed",
                        f"the worker died on this video {cfg.limits.max_retries + 1} times; quarantined ({exc})",
                    )
                except TaskCancelledError:
                    outcome = TaskFailure(
                        "timeout", f"stopped after limits.timeout_s = {cfg.limits.timeout_s} s"
                    )
                except RayError as exc:
                    env = environment_error(getattr(exc, "cause", None) or exc)
                    if env is not None or "No space left on device" in str(exc):
                        for other in running:
                            ray.cancel(other, force=True)
                        raise env or EnvironmentFailure(str(exc).strip().splitlines()[-1]) from exc
                    outcome = TaskFailure("task_error", str(exc).strip().splitlines()[-1][:500])
                on_done(task, outcome)
            now = time.monotonic()
            for ref, (task, started) in list(running.items()):
                if now - started > cfg.limits.timeout_s:
                    ray.cancel(ref, force=True)
                    running.pop(ref)
                    on_done(
                        task,
                        TaskFailure("timeout", f"stopped after limits.timeout_s = {cfg.limits.timeout_s} s"),
                    )
