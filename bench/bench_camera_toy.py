"""Can the AniMatrix denoiser learn camera control at all on this CPU? A controlled, decode-free check.

Clips are windows of 32x32 px cut from large flat-colour collages (rectangles and discs on a flat ground, a
cel-like world with no characters or scenery to memorise) and slid by ``--speed`` px per frame in the
direction of a ``camera.movement`` tag (static / pan_left / pan_right / tilt_up / tilt_down; pan_left = the
content slides right, as in footage/SCHEMA.md). They go straight to the real trainer (``run_training`` with
an in-memory batch stream: AdamW, EMA, conditioning dropout, the configured time shift) and the same closed
loop as ``bench_train.py`` reads the camera of generated clips every ``--eval-every`` steps.

This separates "the model cannot learn tag-driven motion" from "the curated synthetic shards are too hard for
a few CPU minutes": the shards' proof run is ``bench_train.py``.

    nice -n 5 .venv/bin/python bench/bench_camera_toy.py --out /tmp/camera-toy --steps 2500
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch

from animatrix.closed_loop import CAMERA_CLASSES, confusion, read_camera, run_closed_loop
from animatrix.data import Batch, pad_tags
from animatrix.generate import Generator
from animatrix.train import load_config, run_training
from pipeline.synthetic.paint import paint_collage
from taxonomy import load_taxonomy

CONFIG = Path(__file__).resolve().parents[1] / "animatrix" / "configs" / "proof.yaml"
#: Content displacement per frame of each class, as (dx, dy) signs: + = content slides right / down.
CONTENT_MOTION = {
    "static": (0, 0),
    "pan_left": (1, 0),
    "pan_right": (-1, 0),
    "tilt_up": (0, 1),
    "tilt_down": (0, -1),
}
CANVAS = 128


def collage(rng: np.random.Generator) -> np.ndarray:
    """A ``CANVAS``-px flat-colour collage in [0, 1]: a ground, 12 rectangles and 6 discs."""
    img = np.zeros((CANVAS, CANVAS, 3), np.float32) + rng.uniform(0, 1, 3).astype(np.float32)
    for _ in range(12):
        x, y = rng.integers(0, CANVAS, 2)
        w, h = rng.integers(8, 40, 2)
        img[y : y + h, x : x + w] = rng.uniform(0, 1, 3)
    for _ in range(6):
        centre = tuple(int(v) for v in rng.integers(0, CANVAS, 2))
        cv2.circle(img, centre, int(rng.integers(4, 16)), tuple(float(v) for v in rng.uniform(0, 1, 3)), -1)
    return img


class MovingShapes:
    """Camera moves over ``count`` collages: ``clip(rng, movement)`` -> ``(T, size, size, 3)`` in [0, 1]."""

    def __init__(
        self,
        count: int,
        frames: int,
        size: int,
        speed: float,
        seed: int = 0,
        max_speed: float | None = None,
        canvas: str = "toy",
    ) -> None:
        rng = np.random.default_rng(seed)
        if canvas == "paint":  # the synthetic footage's collage look, shapes scaled to a size-px view
            palettes = ("day", "sunset", "night", "overcast")
            self.collages = [
                paint_collage(rng, CANVAS, CANVAS, palettes[i % 4], float(size)).astype(np.float32) / 255
                for i in range(count)
            ]
        else:
            self.collages = [collage(rng) for _ in range(count)]
        self.frames, self.size, self.speed = frames, size, speed
        self.max_speed = max_speed if max_speed is not None else speed

    def clip(self, rng: np.random.Generator, movement: str) -> np.ndarray:
        img = self.collages[int(rng.integers(len(self.collages)))]
        cdx, cdy = CONTENT_MOTION[movement]
        speed = self.speed if self.max_speed == self.speed else float(rng.uniform(self.speed, self.max_speed))
        travel = speed * (self.frames - 1)
        lo, hi = travel + 1, CANVAS - self.size - travel - 1
        x, y = rng.uniform(lo, hi), rng.uniform(lo, hi)
        frames = []
        for k in range(self.frames):  # the window moves against the content
            shift = np.float32([[1, 0, -(x - cdx * speed * k)], [0, 1, -(y - cdy * speed * k)]])
            frames.append(cv2.warpAffine(img, shift, (self.size, self.size), flags=cv2.INTER_LINEAR))
        return np.stack(frames)


def batches(world: MovingShapes, batch_size: int, seed: int, pool: int = 0) -> Iterator[Batch]:
    """An endless stream of training batches tagged with their camera.movement only, no text: fresh clips, or
    draws from a fixed set of ``pool`` clips (as a shard set holds) when ``pool`` > 0."""
    vocab = load_taxonomy().vocab
    rng = np.random.default_rng(seed)
    moves = [CAMERA_CLASSES[i % len(CAMERA_CLASSES)] for i in range(pool)]
    fixed = [(m, world.clip(rng, m)) for m in moves]
    n = 0
    while True:
        if fixed:
            picked = [fixed[int(i)] for i in rng.integers(0, len(fixed), batch_size)]
            moves, clips = [m for m, _ in picked], [c for _, c in picked]
        else:
            moves = [CAMERA_CLASSES[i] for i in rng.integers(0, len(CAMERA_CLASSES), batch_size)]
            clips = [world.clip(rng, m) for m in moves]
        video = torch.from_numpy(np.stack(clips)).permute(0, 4, 1, 2, 3)
        ids = [[vocab.id_of(f"camera.movement={m}")] for m in moves]
        tag_ids, field_ids, mask = pad_tags(ids, [[vocab.field_index_of(i[0])] for i in ids], max_tags=1)
        keys = [f"toy-{n}-{i}" for i in range(batch_size)]
        n += 1
        yield Batch(video.float() * 2 - 1, tag_ids, field_ids, mask, [""] * batch_size, keys)


def closed_loop(run_dir: Path, per_class: int, w_tag: float, eta: float, steps: int) -> str:
    table = run_closed_loop(Generator.from_checkpoint(run_dir), per_class, w_tag=w_tag, eta=eta, steps=steps)
    return table["global"].format()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("/tmp/anicurate-bench-camera-toy"))
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--collages", type=int, default=64)
    parser.add_argument("--speed", type=float, default=2.0, help="Content px per frame at the clip size.")
    parser.add_argument(
        "--max-speed", type=float, default=None, help="Draw each clip's speed from [--speed, --max-speed]."
    )
    parser.add_argument("--pool", type=int, default=0, help="Train on a fixed set of this many clips.")
    parser.add_argument(
        "--canvas",
        choices=("toy", "paint"),
        default="toy",
        help="toy: random rectangles and discs; paint: the synthetic footage's collage look.",
    )
    parser.add_argument("--per-class", type=int, default=8)
    parser.add_argument("--w-tag", type=float, default=3.0)
    parser.add_argument("--eta", type=float, default=1.0)
    parser.add_argument("--sample-steps", type=int, default=20)
    args = parser.parse_args(argv)

    cfg = load_config(args.config)
    d = cfg.data
    world = MovingShapes(
        args.collages,
        d.frames,
        d.size,
        args.speed,
        seed=cfg.seed,
        max_speed=args.max_speed,
        canvas=args.canvas,
    )
    truth_rng = np.random.default_rng(99)
    truth = [(m, world.clip(truth_rng, m)) for m in CAMERA_CLASSES for _ in range(args.per_class)]
    reads = [read_camera((c * 255).astype(np.uint8), "global").movement for _, c in truth]
    print("== the global reader on true clips (the ceiling)")
    print(confusion([m for m, _ in truth], reads).format())
    stream = batches(world, d.batch_size, cfg.seed + 1, pool=args.pool)
    run_dir = args.out / "run"
    t0 = time.perf_counter()
    for stop in range(args.eval_every, args.steps + 1, args.eval_every):
        result = run_training([], run_dir, cfg, steps=stop, resume=True, batches=stream, say=lambda _m: None)
        print(
            f"\n== step {result.step} ({time.perf_counter() - t0:.0f} s wall); closed loop, {args.per_class} "
            f"clips per class, w_tag {args.w_tag}, eta {args.eta}, {args.sample_steps} steps, global reader"
        )
        print(closed_loop(run_dir, args.per_class, args.w_tag, args.eta, args.sample_steps))


if __name__ == "__main__":
    main()
