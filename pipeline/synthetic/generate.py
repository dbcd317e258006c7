"""``generate_footage``: plan, render, encode and label a synthetic footage set."""

from __future__ import annotations

import contextlib
import json
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from itertools import combinations
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from pipeline.footage_labels import FootageLabel, ShotLabel, Span, write_label
from pipeline.timebase import fraction_to_json

from .config import (
    GENERATOR_VERSION,
    OPENING_SEED,
    ReusedSegment,
    SynthConfig,
    SynthManifest,
    SynthVideo,
    active_box,
)
from .effects import WATERMARK_TEXT
from .encode import to_yuv_frame, write_h264
from .plan import FootagePlan, ShotSpec, VideoPlan, plan_footage
from .render import render_sequence, render_video

_NAME = re.compile(r"synth_\d{3}")
T = TypeVar("T")


def _prefetch(frames: Iterator[T], depth: int = 8) -> Iterator[T]:
    """Render in a background thread while the caller encodes (OpenCV and x264 both release the GIL).
    Order is preserved, so the output is the same as without the thread."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for item in frames:
                if stop.is_set():
                    return
                q.put(item)
            q.put(done)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=work, name="synth-render", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                q.get(timeout=0.05)
        thread.join()


def _shot_notes(spec: ShotSpec, start: int) -> str:
    n = len(spec.cast)
    parts = [
        f"{spec.shot_size.replace('_', '-')} shot, {spec.scene} background ({spec.palette}), "
        + (
            f"{n} flat disc{'s' if n > 1 else ''} for characters"
            if spec.scene == "collage"
            else f"{n} cel character{'s' if n > 1 else ''} ({', '.join(spec.actions)})"
        )
    ]
    cam = spec.camera
    if cam == "static":
        parts.append("static camera")
    elif cam in ("pan_left", "pan_right", "tilt_up", "tilt_down"):
        slide = {"pan_left": "right", "pan_right": "left", "tilt_up": "down", "tilt_down": "up"}[cam]
        parts.append(f"{cam} at {spec.speed:g} px/frame (content slides {slide})")
    elif cam == "shake":
        parts.append(f"shake, back-and-forth jitter up to {spec.speed:g} px")
    else:
        parts.append(f"{cam}, scale x{spec.zoom_rate:g} per frame about the frame centre")
    if spec.timing == "held":
        parts.append("one held drawing")
    else:
        names = {1: "ones", 2: "twos", 3: "threes"}
        segs = []
        for k, (s0, step) in enumerate(spec.steps):
            s1 = spec.steps[k + 1][0] - 1 if k + 1 < len(spec.steps) else spec.length - 1
            segs.append(f"{start + s0}-{start + s1} on {names[step]}")
        parts.append(f"{len(spec.drawing_starts())} drawings, " + ", ".join(segs))
    if spec.speed_lines:
        parts.append(
            ("radial" if spec.camera not in ("pan_left", "pan_right") else "horizontal")
            + " speed lines redrawn with each drawing"
        )
    if spec.flash is not None:
        f = spec.flash
        parts.append(f"{f.type} at {start + f.offset}-{start + f.offset + f.length - 1}, same shot continues")
    if spec.subtitle:
        parts.append(f'burnt-in subtitle "{spec.subtitle}"')
    if spec.opening:
        parts.append("part of the shared opening (identical frames in other videos)")
    return "; ".join(parts) + "."


def build_label(
    plan: VideoPlan, cfg: SynthConfig, seed: int, others: dict[str, tuple[int, int]]
) -> FootageLabel:
    """The ground-truth label of a planned video (``others``: opening placements in the other videos)."""
    starts = plan.starts()
    cuts: list[int] = []
    transitions: list[Span] = []
    flashes: list[Span] = []
    shots: list[ShotLabel] = []
    for i, spec in enumerate(plan.shots):
        s0 = starts[i]
        if i > 0:
            b = plan.boundaries[i - 1]
            if b.type == "cut":
                cuts.append(s0)
            else:
                transitions.append(Span(starts[i - 1] + plan.shots[i - 1].length, s0 - 1, b.type))
        if spec.flash is not None:
            f = spec.flash
            flashes.append(Span(s0 + f.offset, s0 + f.offset + f.length - 1, f.type))
        overlay = "watermark" if plan.watermark else ("subtitle" if spec.subtitle else "none")
        shots.append(
            ShotLabel(
                start=s0,
                end=s0 + spec.length - 1,
                camera=spec.camera,
                shot_size=spec.shot_size,
                timing=spec.timing,
                vfx=spec.vfx,
                text_overlay=overlay,
                notes=_shot_notes(spec, s0),
            )
        )
    bx, by, bw, bh = active_box(plan.layout, cfg.width, cfg.height)
    notes = [
        f"Synthetic cel-style footage from pipeline.synthetic v{GENERATOR_VERSION} (seed {seed}, video {plan.index}), "
        f"{cfg.width}x{cfg.height} at {fraction_to_json(cfg.fps)} fps, exact ground truth."
    ]
    if plan.layout == "letterbox":
        notes.append(f"Letterbox: black bars on rows 0-{by - 1} and {by + bh}-{cfg.height - 1}.")
    elif plan.layout == "pillarbox":
        notes.append(f"Pillarbox: black bars on columns 0-{bx - 1} and {bx + bw}-{cfg.width - 1}.")
    if plan.watermark:
        notes.append(f"Semi-transparent '{WATERMARK_TEXT}' watermark top-right on every frame.")
    span = plan.opening_span()
    if span is not None:
        where = ", ".join(f"{name} {a}-{b}" for name, (a, b) in sorted(others.items()))
        notes.append(f"Frames {span[0]}-{span[1]} are the shared opening, identical in {where}.")
    notes.append(
        "Conventions: a transition spans from the first frame that differs from shot A to the last frame before shot B "
        "is clean; white_flash frames are the picture blended >=80% towards white (first frame pure white); "
        "inversion = colour negative of the picture; impact_frame = two-tone black/white picture; flashes, fades and "
        "flash cuts affect the picture area only (bars stay black, watermark stays on top)."
    )
    return FootageLabel(
        clip=plan.name,
        frames=plan.frames,
        cuts=tuple(cuts),
        transitions=tuple(transitions),
        flashes=tuple(flashes),
        shots=tuple(shots),
        layout=plan.layout,
        style="jp_cel_tv",
        confidence="high",
        notes=" ".join(notes),
    )


def _video_detail(plan: VideoPlan, cfg: SynthConfig) -> dict[str, Any]:
    starts = plan.starts()
    shots = []
    for spec, s0 in zip(plan.shots, starts, strict=True):
        shots.append(
            {
                "start": s0,
                "end": s0 + spec.length - 1,
                "camera": spec.camera,
                "pan_px_per_frame": spec.speed
                if spec.camera in ("pan_left", "pan_right", "tilt_up", "tilt_down")
                else 0.0,
                "shake_px": spec.speed if spec.camera == "shake" else 0.0,
                "zoom_per_frame": spec.zoom_rate if spec.camera in ("zoom_in", "zoom_out") else 1.0,
                "timing": spec.timing,
                "steps": [[s0 + a, step] for a, step in spec.steps],
                "drawing_starts": [s0 + t for t in spec.drawing_starts()],
                "shot_size": spec.shot_size,
                "scene": spec.scene,
                "palette": spec.palette,
                "characters": len(spec.cast),
                "actions": list(spec.actions),
                "speed_lines": spec.speed_lines,
                "flash": None
                if spec.flash is None
                else {
                    "start": s0 + spec.flash.offset,
                    "end": s0 + spec.flash.offset + spec.flash.length - 1,
                    "type": spec.flash.type,
                },
                "subtitle": spec.subtitle,
                "opening": spec.opening,
                "seed": spec.seed,
            }
        )
    return {
        "name": plan.name,
        "frames": plan.frames,
        "layout": plan.layout,
        "active_box": list(active_box(plan.layout, cfg.width, cfg.height)),
        "watermark": plan.watermark,
        "opening": None if plan.opening_span() is None else list(plan.opening_span()),
        "shots": shots,
    }


def _coverage(labels: list[FootageLabel]) -> dict[str, list[str]]:
    cov: dict[str, set[str]] = {
        k: set()
        for k in ("camera", "timing", "shot_size", "vfx", "text_overlay", "transition", "flash", "layout")
    }
    for lab in labels:
        cov["layout"].add(lab.layout)
        cov["transition"].update(t.type for t in lab.transitions)
        if lab.cuts:
            cov["transition"].add("cut")
        cov["flash"].update(f.type for f in lab.flashes)
        for s in lab.shots:
            cov["camera"].add(s.camera)
            cov["timing"].add(s.timing)
            cov["shot_size"].add(s.shot_size)
            cov["vfx"].update(s.vfx)
            cov["text_overlay"].add(s.text_overlay)
    return {k: sorted(v) for k, v in cov.items()}


def generate_footage(
    out_dir: Path,
    videos: int,
    seed: int,
    config: SynthConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> SynthManifest:
    """Render ``videos`` synthetic cel-anime clips with exact labels into ``out_dir``.

    Writes ``<name>.mp4`` (H.264, yuv420p, CFR), ``labels/<name>.json`` (footage label schema),
    ``duplicates.json`` (pairs sharing the reused opening, with frame spans) and ``synth.json`` (version, seed,
    config and per-shot render details). Same seed and config give the same labels and the same frames.
    Stale ``synth_NNN`` videos/labels from an earlier, larger run in ``out_dir`` are removed.
    """
    cfg = config or SynthConfig()
    say = progress or (lambda _msg: None)
    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    labels_dir = out_dir / "labels"
    labels_dir.mkdir(parents=True, exist_ok=True)
    plan: FootagePlan = plan_footage(cfg, videos, seed)
    names = {p.name for p in plan.videos}
    for stale in [*out_dir.glob("synth_*.mp4"), *labels_dir.glob("synth_*.json")]:
        if _NAME.fullmatch(stale.stem) and f"{stale.stem}.mp4" not in names:
            stale.unlink()

    opening_frames: list[np.ndarray] | None = None
    if plan.opening is not None:
        opening_frames = list(
            render_sequence(plan.opening.shots, plan.opening.boundaries, cfg.width, cfg.height)
        )
    placements = {p.name: p.opening_span() for p in plan.videos if p.opening_span() is not None}

    written: list[SynthVideo] = []
    labels: list[FootageLabel] = []
    for vp in plan.videos:
        t0 = time.perf_counter()
        box = active_box(vp.layout, cfg.width, cfg.height)
        path = out_dir / vp.name
        part = out_dir / f".{vp.name}.part"
        count = write_h264(
            part,
            _prefetch(to_yuv_frame(f) for f in render_video(vp, cfg.width, cfg.height, box, opening_frames)),
            cfg.width,
            cfg.height,
            cfg.fps,
            cfg.crf,
            cfg.preset,
            cfg.encoder_threads,
        )
        if count != vp.frames:
            raise AssertionError(f"{vp.name}: wrote {count} frames, planned {vp.frames}")
        part.replace(path)
        others = {name: span for name, span in placements.items() if name != vp.name}
        label = build_label(vp, cfg, seed, others)
        label_path = labels_dir / f"{path.stem}.json"
        write_label(label, label_path)
        labels.append(label)
        written.append(
            SynthVideo(
                name=vp.name,
                path=path,
                label_path=label_path,
                frames=count,
                fps=cfg.fps,
                width=cfg.width,
                height=cfg.height,
                layout=vp.layout,
                active_box=box,
                watermark=vp.watermark,
                opening=vp.opening_span(),
            )
        )
        say(
            f"{vp.name}: {count} frames, {len(vp.shots)} shots, {vp.layout} in {time.perf_counter() - t0:.1f} s"
        )

    reused: list[ReusedSegment] = []
    pairs = []
    if plan.opening is not None and len(placements) >= 2:
        reused.append(
            ReusedSegment(
                "opening", plan.opening.frames, tuple((n, a, b) for n, (a, b) in placements.items())
            )
        )
        for (na, sa), (nb, sb) in combinations(sorted(placements.items()), 2):
            pairs.append(
                {
                    "a": na,
                    "b": nb,
                    "relation": f"share the same reused {plan.opening.frames}-frame opening segment (identical frames)",
                    "a_frames": list(sa),
                    "b_frames": list(sb),
                }
            )
    duplicates_path = out_dir / "duplicates.json"
    note = (
        "every other pair of videos is distinct content"
        if pairs
        else "no reused segments: every video is distinct content"
    )
    duplicates_path.write_text(json.dumps({"pairs": pairs, "note": note}, indent=1) + "\n", encoding="utf-8")

    coverage = _coverage(labels)
    synth_path = out_dir / "synth.json"
    synth = {
        "generator": "pipeline.synthetic",
        "version": GENERATOR_VERSION,
        "seed": seed,
        "videos": videos,
        "config": cfg.to_json(),
        "opening": None
        if plan.opening is None
        else {
            "seed": OPENING_SEED,
            "frames": plan.opening.frames,
            "placements": {n: list(s) for n, s in placements.items()},
        },
        "coverage": coverage,
        "files": [_video_detail(vp, cfg) for vp in plan.videos],
    }
    synth_path.write_text(json.dumps(synth, indent=1) + "\n", encoding="utf-8")
    elapsed = time.perf_counter() - t_start
    say(f"wrote {len(written)} videos to {out_dir} in {elapsed:.1f} s")
    return SynthManifest(
        out_dir=out_dir,
        seed=seed,
        config=cfg,
        videos=written,
        reused=reused,
        duplicates_path=duplicates_path,
        synth_path=synth_path,
        coverage=coverage,
        seconds=elapsed,
    )
