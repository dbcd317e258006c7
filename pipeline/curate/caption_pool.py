"""AniCaption as a Ray actor pool: the model stage of the curate job when it runs on Ray.

Video tasks (decode, shot detection, scores, clips: CPU work) hand every kept shot to one of
``ray.caption_actors`` long-lived actors. Each actor builds AniCaption once (its experts load their models
once) and asks Ray for ``ray.caption_cpus`` CPUs and ``ray.caption_gpus`` GPUs, fractions allowed, so on a GPU
cluster the learned experts (CLIP, a VLM) run on GPUs while decoding stays on CPU workers.

A window's analysis frames go to the object store once (``ray.put``); every shot of that window sends only
the reference and its frame span, so a shot costs no copy of the frames. Experts that read larger pictures
(the style expert) get the few they ask for (:meth:`AniCaption.pictures_wanted`) from the task's held clip
frames, shipped with the shot, so the actor never needs the source file. The actor returns what
:meth:`annotator.caption.AniCaption.annotate_with_embedding` returns, so a video task cannot tell a pooled
captioner from a local one and the shards are the same either way.
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from annotator.base import ShotInput
    from annotator.fusion import ShotAnnotation
    from annotator.source_frames import PictureRequest, PictureSnapshot
    from pipeline.frames import AnalysisFrames
    from pipeline.scores.record import ShotScores
    from pipeline.scores.registry import ScoreContext


class CaptionService:
    """What one caption actor holds: an AniCaption built from ``config`` (a named config or a YAML path)."""

    def __init__(self, config: str | None) -> None:
        from annotator.caption import AniCaption

        self.captioner = AniCaption.from_config(config)

    def annotate(
        self,
        window: tuple[AnalysisFrames, ScoreContext],
        start: int,
        end: int,
        scores: ShotScores | None,
        video_path: str | None,
        pictures: PictureSnapshot | None = None,
    ) -> tuple[ShotAnnotation, np.ndarray | None]:
        from annotator.base import ShotInput

        frames, ctx = window
        shot = ShotInput(frames, start, end, ctx, scores, Path(video_path) if video_path else None, pictures)
        return self.captioner.annotate_with_embedding(shot)

    def pictures_wanted(
        self, window: tuple[AnalysisFrames, ScoreContext], start: int, end: int
    ) -> list[PictureRequest]:
        from annotator.base import ShotInput

        frames, ctx = window
        return self.captioner.pictures_wanted(ShotInput(frames, start, end, ctx))

    def expert_names(self) -> list[str]:
        return [e.name for e in self.captioner.experts]


@dataclass(frozen=True)
class CaptionPool:
    """Handles of the running caption actors; picklable, so every video task receives it as an argument."""

    actors: tuple[Any, ...]

    @classmethod
    def start(
        cls, config: str | None, size: int, cpus: float, gpus: float, max_restarts: int = 1
    ) -> CaptionPool:
        """Start ``size`` actors on the connected Ray cluster and wait until each has built its captioner
        (a configuration error surfaces here, once, instead of in every video task)."""
        import ray

        if size < 1:
            raise ValueError(f"ray.caption_actors must be at least 1, got {size}")
        actor_class = ray.remote(
            num_cpus=cpus, num_gpus=gpus, max_restarts=max_restarts, max_task_retries=max_restarts
        )(CaptionService)
        actors = tuple(actor_class.remote(config) for _ in range(size))
        ray.get([a.expert_names.remote() for a in actors])
        return cls(actors)

    def client(self, video_id: str) -> PooledCaptioner:
        """The captioner a video task uses: one actor per video (stable by id), so a window's frames are put
        once and read by one actor."""
        index = zlib.crc32(video_id.encode()) % len(self.actors)
        return PooledCaptioner(self.actors[index])

    def stop(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor)


class PooledCaptioner:
    """A video task's view of a caption actor, with AniCaption's ``annotate_with_embedding`` signature."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor
        self._window: tuple[AnalysisFrames, ScoreContext] | None = None
        self._window_ref: Any = None
        #: How many windows of frames this captioner has put into the object store.
        self.puts = 0

    def annotate_with_embedding(self, shot: ShotInput) -> tuple[ShotAnnotation, np.ndarray | None]:
        import ray

        if self._window is None or shot.frames is not self._window[0] or shot.ctx is not self._window[1]:
            self._window = (shot.frames, shot.ctx)
            # the loaded aesthetic model is the scorers', not the experts'; it stays in the video task
            light_ctx = dataclasses.replace(shot.ctx, aesthetic=None, _video_cache={})
            self._window_ref = ray.put((shot.frames, light_ctx))
            self.puts += 1
        snapshot = None
        if shot.pictures is not None:
            # the actor may run where the task's held pictures (or even the file) are not: send the ones its
            # experts will read
            from annotator.source_frames import PictureSnapshot

            wanted = ray.get(self.actor.pictures_wanted.remote(self._window_ref, shot.start, shot.end))
            snapshot = PictureSnapshot.take(shot.pictures, wanted) if wanted else None
        video_path = str(shot.video_path) if shot.video_path is not None else None
        call = self.actor.annotate.remote(
            self._window_ref, shot.start, shot.end, shot.scores, video_path, snapshot
        )
        return ray.get(call)


__all__ = ["CaptionPool", "CaptionService", "PooledCaptioner"]
