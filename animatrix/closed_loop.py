"""Closed-loop check of the generator: read the camera movement of generated clips and compare it with the
requested ``camera.movement`` tag (a confusion matrix).

Two readers over ``(T, H, W, 3)`` uint8 clips, both upscaled to ``THUMB`` px so the pixel thresholds calibrated
on 128 px analysis thumbs apply:

- ``expert``: the AniCaption camera expert (:mod:`annotator.camera`: RANSAC similarity fits of dense flow over
  textured points, a shake test, abstentions);
- ``global``: the scores stage's global motion (:func:`pipeline.scores.motion.analyse_pairs`, phase
  correlation + ECC per consecutive pair), whose per-pair content displacements are summed; the dominant axis
  and its sign give the pan / tilt direction, a small net path gives ``static``. Only the five classes
  static / pan / tilt are read.

Conventions follow footage/SCHEMA.md: pan_left = content slides right, tilt_up = content slides down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from animatrix.generate import GenerationRequest, Generator

#: Width the clips are upscaled to before reading (the analysis-thumb width the thresholds assume).
THUMB = 128
#: The camera classes of the closed-loop check.
CAMERA_CLASSES = ("static", "pan_left", "pan_right", "tilt_up", "tilt_down")
ABSTAIN = "abstain"
#: ``global`` reader: net content displacement (thumb px over the clip) below which the camera is static.
STATIC_NET_PX = 3.0

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def clip_gray(frames: np.ndarray, width: int = THUMB) -> np.ndarray:
    """``(T, H, W, 3)`` uint8 -> ``(T, h, width)`` float32 luma, upscaled (aspect kept, cubic)."""
    t, h, w = frames.shape[:3]
    size = (width, max(2, round(h * width / w)))
    return (
        np.stack([cv2.resize(f, size, interpolation=cv2.INTER_CUBIC) for f in frames]).astype(np.float32)
        @ _LUMA
    )


@dataclass(frozen=True)
class CameraReading:
    movement: str  # a camera.movement value or "abstain"
    dx: float  # net content displacement over the clip, thumb px (+ = content slides right)
    dy: float  # (+ = content slides down)
    reason: str = ""


def read_global_motion(frames: np.ndarray) -> CameraReading:
    """The ``global`` reader (see the module doc)."""
    from pipeline.scores.motion import analyse_pairs

    gray = clip_gray(frames)
    pm = analyse_pairs(gray, flow=False)
    h, w = gray.shape[1:]
    ys, xs = np.mgrid[0:h:8, 0:w:8]
    pts = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)]).astype(np.float64)
    dx = dy = 0.0
    for warp in pm.warp:  # warp maps current coords to previous coords: content moved by x - W(x)
        src = warp.astype(np.float64) @ pts
        dx += float((pts[0] - src[0]).mean())
        dy += float((pts[1] - src[1]).mean())
    if np.hypot(dx, dy) < STATIC_NET_PX:
        return CameraReading("static", dx, dy)
    if abs(dx) >= abs(dy):
        return CameraReading("pan_left" if dx > 0 else "pan_right", dx, dy)
    return CameraReading("tilt_up" if dy > 0 else "tilt_down", dx, dy)


def read_expert(frames: np.ndarray, fps: float) -> CameraReading:
    """The ``expert`` reader: :mod:`annotator.camera` on the upscaled clip (``fps``: frames per second of the
    clip as sampled, e.g. 8 for every third frame of 24 fps footage)."""
    from annotator.camera import camera_path, classify_camera, jitter

    gray = clip_gray(frames)
    step = max(1, (len(frames) - 1) // 3)
    verdict = classify_camera(camera_path(gray, fps, step=step), jitter(gray, anchor_every=step))
    ev = verdict.evidence
    if verdict.movement is None:
        return CameraReading(ABSTAIN, ev.get("pan_px", 0.0), ev.get("tilt_px", 0.0), verdict.reason)
    return CameraReading(verdict.movement, ev.get("pan_px", 0.0), ev.get("tilt_px", 0.0))


def read_camera(frames: np.ndarray, reader: str = "expert", fps: float = 8.0) -> CameraReading:
    if reader == "expert":
        return read_expert(frames, fps)
    if reader == "global":
        return read_global_motion(frames)
    raise ValueError(f"reader must be 'expert' or 'global', got {reader!r}")


@dataclass
class Confusion:
    """Rows: requested (or true) class; columns: the reading (``CAMERA_CLASSES`` + other values + abstain)."""

    rows: tuple[str, ...]
    cols: tuple[str, ...]
    counts: np.ndarray

    @property
    def accuracy(self) -> float:
        """Share of clips read as their row's class (abstentions count as wrong)."""
        hits = sum(int(self.counts[i, self.cols.index(r)]) for i, r in enumerate(self.rows) if r in self.cols)
        total = int(self.counts.sum())
        return hits / total if total else 0.0

    def format(self) -> str:
        width = max(10, *(len(c) for c in self.cols)) + 1
        lines = ["requested \\ read".ljust(18) + "".join(c.rjust(width) for c in self.cols)]
        for i, r in enumerate(self.rows):
            lines.append(r.ljust(18) + "".join(str(int(v)).rjust(width) for v in self.counts[i]))
        lines.append(
            f"accuracy {self.accuracy:.3f} over {int(self.counts.sum())} clips (chance {1 / len(self.rows):.3f})"
        )
        return "\n".join(lines)


def confusion(
    requested: Sequence[str], read: Sequence[str], rows: Sequence[str] = CAMERA_CLASSES
) -> Confusion:
    extra = sorted({r for r in read if r not in rows and r != ABSTAIN})
    cols = (*rows, *extra, ABSTAIN)
    counts = np.zeros((len(rows), len(cols)), np.int64)
    for want, got in zip(requested, read, strict=True):
        if want in rows:
            counts[rows.index(want), cols.index(got)] += 1
    return Confusion(tuple(rows), cols, counts)


def run_closed_loop(
    gen: Generator,
    per_class: int,
    readers: Sequence[str] = ("global",),
    fps: float = 8.0,
    extra_tags: Sequence[str] = (),
    **request: Any,
) -> dict[str, Confusion]:
    """Generate ``per_class`` clips for each of ``CAMERA_CLASSES`` (tags only: ``camera.movement`` plus
    ``extra_tags``, no text, seed ``1000 + class index``; ``request``: further :class:`GenerationRequest`
    fields such as ``w_tag``, ``steps``, ``eta``) and read them back: one confusion matrix per reader."""
    requested: list[str] = []
    reads: dict[str, list[str]] = {reader: [] for reader in readers}
    for k, movement in enumerate(CAMERA_CLASSES):
        ask = GenerationRequest(
            [f"camera.movement={movement}", *extra_tags], "", w_text=0.0, seed=1000 + k, **request
        )
        for clip in gen.generate(ask, batch=per_class):
            requested.append(movement)
            for reader, got in reads.items():
                got.append(read_camera(clip, reader, fps).movement)
    return {reader: confusion(requested, got) for reader, got in reads.items()}
