"""The run's :class:`~pipeline.dedupe.registry.CopyRegistry` as the video tasks see it: in this process for the
local runner, a Ray actor (no CPU reserved: a lookup is milliseconds) shared by every task for the Ray runner.

A task never waits for the registry: it sends a window's lookup before captioning the window's clips and
encodes every clip it has to cut before the answer is in. A lookup that fails (the actor died) answers "no
better copy". Either way the clip is encoded as it would be without the registry, so the registry can cost
speed but never a clip.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.curate.config import CurateConfig
from pipeline.dedupe.config import DedupeConfig
from pipeline.dedupe.fingerprint import Fingerprint
from pipeline.dedupe.policy import KeepPolicy
from pipeline.dedupe.registry import CopyRegistry

log = logging.getLogger(__name__)

#: Seconds the driver waits for the actor's answers about itself (its start, its counts).
LOOKUP_TIMEOUT_S = 30.0
#: Fingerprints per call when a resumed run hands the clips staged before to the actor.
REGISTER_BATCH = 512


def wants_registry(cfg: CurateConfig) -> bool:
    return cfg.dedupe.enabled and cfg.dedupe.defer_copies


def new_registry(policy: str) -> CopyRegistry:
    """A registry deciding by the run's keep ``policy`` (``dedupe.policy``) and the dedupe settings the reduce
    uses."""
    return CopyRegistry(KeepPolicy.parse(policy), DedupeConfig())


class CopyRegistryService:
    """The Ray actor: one registry per run, replaced by :meth:`reset` when the next run starts."""

    def __init__(self) -> None:
        self.registry = CopyRegistry()

    def reset(self, policy: str | None) -> None:
        """A new, empty registry for a run keeping copies by ``policy`` (None: free the last run's)."""
        self.registry = new_registry(policy) if policy else CopyRegistry()

    def better_copies(self, fps: list[Fingerprint]) -> list[str | None]:
        return self.registry.better_copies(fps)

    def register(self, fps: list[Fingerprint]) -> int:
        self.registry.register(fps)
        return len(self.registry)

    def counts(self) -> tuple[int, int]:
        """(lookups, lookups answered with a better copy)."""
        return self.registry.lookups, self.registry.copies


#: This driver's actor and the Ray session (job and node) it belongs to. A driver's runs reuse it (a new worker
#: process per run costs ~0.5 s of CPU, a fifth of a short run on two cores); a new Ray session gets a new one.
_ACTOR: tuple[Any, Any] | None = None


def _actor() -> Any:
    global _ACTOR
    import ray

    context = ray.get_runtime_context()
    session = (context.get_job_id(), context.get_node_id())  # job ids restart at 1 in a new local cluster
    if _ACTOR is None or _ACTOR[1] != session:
        _ACTOR = (ray.remote(num_cpus=0, max_restarts=0)(CopyRegistryService).remote(), session)
    return _ACTOR[0]


@dataclass(frozen=True)
class RemoteCopies:
    """The actor's handle; picklable, so every video task receives it as an argument."""

    actor: Any

    @classmethod
    def start(cls, cfg: CurateConfig, known: Sequence[Fingerprint] = ()) -> RemoteCopies:
        """The actor, emptied for this run and given the fingerprints of clips staged by an earlier run (in
        batches). A failure to start surfaces here, once."""
        import ray

        global _ACTOR
        actor = _actor()
        try:
            ray.get(actor.reset.remote(cfg.dedupe.policy))
        except Exception:
            # it died since the last run (an actor error, or a failed submission): start another
            _ACTOR = None
            actor = _actor()
            ray.get(actor.reset.remote(cfg.dedupe.policy))
        for k in range(0, len(known), REGISTER_BATCH):
            ray.get(actor.register.remote(list(known[k : k + REGISTER_BATCH])))
        return cls(actor)

    def ask(self, fps: list[Fingerprint]) -> CopyAnswer:
        """Send the lookup of ``fps`` and return at once: a task must never block on the registry (a Ray task
        blocked in ``ray.get`` hands its CPU back, Ray starts another worker on it, and the extra worker is
        killed again when idle: a cold worker, models loaded anew, per run)."""
        return RemoteAnswer(self.actor.better_copies.remote(fps), len(fps))

    def counts(self) -> tuple[int, int]:
        import ray

        try:
            return ray.get(self.actor.counts.remote(), timeout=LOOKUP_TIMEOUT_S)
        except Exception:
            return 0, 0

    def stop(self) -> None:
        """Free the run's fingerprints (the actor stays up for the driver's next run)."""
        self.actor.reset.remote(None)


class CopyAnswer(Protocol):
    """The registry's answer to one lookup: :meth:`poll` gives the better copy named for each fingerprint
    (None: none), or None while the answer is not in."""

    def poll(self) -> list[str | None] | None: ...


@dataclass
class LocalAnswer:
    names: list[str | None]

    def poll(self) -> list[str | None] | None:
        return self.names


@dataclass
class RemoteAnswer:
    """The actor's answer as it arrives. Polled through the reference's future, never ``ray.wait``: even with
    ``timeout=0``, a wait on an object not yet there tells the raylet the task is blocked, and the raylet
    then starts a queued video on the task's CPU in an extra, cold worker (measured: development-set runs
    10.5-13.8 s against 9.4-10.4 s, the extra workers killed again between runs)."""

    ref: Any
    count: int
    arrived: Future[Any] = field(init=False)

    def __post_init__(self) -> None:
        self.arrived = self.ref.future()

    def poll(self) -> list[str | None] | None:
        if not self.arrived.done():
            return None
        try:
            return self.arrived.result()
        except Exception as exc:  # the registry only saves work: without an answer the clips are encoded
            _warn_once(f"copy registry unavailable ({type(exc).__name__}): this worker encodes every clip")
            return [None] * self.count


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    """Log ``message`` once per process (a dead registry would otherwise warn for every analysis window)."""
    if message not in _WARNED:
        _WARNED.add(message)
        log.warning(message)


def lookup_of(copies: CopyRegistry | RemoteCopies | None) -> Callable[[list[Fingerprint]], CopyAnswer] | None:
    """What a video task calls per analysis window (None: no registry)."""
    if copies is None:
        return None
    if isinstance(copies, RemoteCopies):
        return copies.ask
    return lambda fps: LocalAnswer(copies.better_copies(fps))


__all__ = [
    "CopyAnswer",
    "CopyRegistryService",
    "RemoteCopies",
    "lookup_of",
    "new_registry",
    "wants_registry",
]
