"""The run's :class:`~pipeline.dedupe.registry.CopyRegistry` as the video tasks see it: in this process for the
local runner, a Ray actor (no CPU reserved: a lookup is milliseconds) shared by every task for the Ray runner.

A lookup that fails (the actor died, a timeout) answers "no better copy": the clip is then encoded as it would
be without the registry, so the registry can cost speed but never a clip.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.curate.config import CurateConfig
from pipeline.dedupe.config import DedupeConfig
from pipeline.dedupe.fingerprint import Fingerprint
from pipeline.dedupe.policy import KeepPolicy
from pipeline.dedupe.registry import CopyRegistry

log = logging.getLogger(__name__)

#: Seconds a task waits for one lookup before it encodes the clip anyway.
LOOKUP_TIMEOUT_S = 30.0
#: Fingerprints per call when a resumed run hands the clips staged before to the actor.
REGISTER_BATCH = 512


def wants_registry(cfg: CurateConfig) -> bool:
    return cfg.dedupe.enabled and cfg.dedupe.defer_copies


def new_registry(cfg: CurateConfig) -> CopyRegistry:
    """A registry deciding by the run's keep policy and the dedupe settings the reduce uses."""
    return CopyRegistry(KeepPolicy.parse(cfg.dedupe.policy), DedupeConfig())


class CopyRegistryService:
    """The Ray actor: one registry for the whole run."""

    def __init__(self, policy: str) -> None:
        self.registry = CopyRegistry(KeepPolicy.parse(policy), DedupeConfig())

    def better_copy(self, fp: Fingerprint) -> str | None:
        return self.registry.better_copy(fp)

    def register(self, fps: list[Fingerprint]) -> int:
        self.registry.register(fps)
        return len(self.registry)

    def counts(self) -> tuple[int, int]:
        """(lookups, lookups answered with a better copy)."""
        return self.registry.lookups, self.registry.copies


@dataclass(frozen=True)
class RemoteCopies:
    """The actor's handle; picklable, so every video task receives it as an argument."""

    actor: Any

    @classmethod
    def start(cls, cfg: CurateConfig, known: Sequence[Fingerprint] = ()) -> RemoteCopies:
        """Start the actor with the fingerprints of clips staged by an earlier run (sent in batches)."""
        import ray

        actor = ray.remote(num_cpus=0, max_restarts=0)(CopyRegistryService).remote(cfg.dedupe.policy)
        ray.get(actor.counts.remote())  # a failure to start surfaces here, once
        for k in range(0, len(known), REGISTER_BATCH):
            ray.get(actor.register.remote(list(known[k : k + REGISTER_BATCH])))
        return cls(actor)

    def better_copy(self, fp: Fingerprint) -> str | None:
        import ray

        try:
            return ray.get(self.actor.better_copy.remote(fp), timeout=LOOKUP_TIMEOUT_S)
        except Exception as exc:  # the registry only saves work: without an answer the clip is encoded
            log.warning("copy registry unavailable (%s): encoding the clip", type(exc).__name__)
            return None

    def counts(self) -> tuple[int, int]:
        import ray

        try:
            return ray.get(self.actor.counts.remote(), timeout=LOOKUP_TIMEOUT_S)
        except Exception:
            return 0, 0

    def stop(self) -> None:
        import ray

        ray.kill(self.actor)


def lookup_of(copies: CopyRegistry | RemoteCopies | None) -> Any:
    """What a video task calls per clip (None: no registry)."""
    return copies.better_copy if copies is not None else None


__all__ = ["CopyRegistryService", "RemoteCopies", "lookup_of", "new_registry", "wants_registry"]
