"""AniMatrix proof run: synthetic shards -> CPU training -> loss curve summary -> closed-loop camera check.

1. shards from ``--videos`` synthetic videos, reused when present: ``--source curate`` runs the curate job on
   them (AniCaption's tags, the job's cuts, filters and dedupe; the closed loop is then curate -> train ->
   generate -> AniCaption), ``--source labels`` cuts the labelled shots and takes the ground-truth tags
   (:mod:`animatrix.synthetic_shards`);
2. training to ``--steps`` (default: the config's) with ``--config`` (default ``animatrix/configs/tiny.yaml``;
   the camera proof is ``--look collage --config animatrix/configs/proof.yaml``), resuming a run in ``--out``;
3. the loss curve from ``loss.jsonl``: mean loss per tenth of the run, first vs last tenth;
4. the camera readers on the *training* clips (decoded exactly as the model sees them), i.e. how well the
   readers themselves do at this size -- the ceiling of the closed loop;
5. whether the model uses the camera tag at all: the clean-clip error of its prediction on noised training
   clips with their true ``camera.movement`` tag vs the opposite one (pan_left <-> pan_right, tilt_up <->
   tilt_down, static -> pan_left); a ratio near 1 means the tag does not reach the output;
6. the closed loop: ``--per-class`` clips generated for each requested ``camera.movement`` (with
   ``--extra-tags``, no text, tag guidance ``--w-tag``), read back, confusion matrices per reader.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from animatrix.closed_loop import CAMERA_CLASSES, confusion, read_camera, run_closed_loop
from animatrix.data import decode_clip, expand_shards, pad_tags, to_tensor
from animatrix.generate import Generator, parse_tags
from animatrix.model import SAMPLERS, Condition
from animatrix.synthetic_shards import DEFAULT_SYNTH, write_synthetic_shards
from animatrix.train import LOSS_LOG, TrainConfig, load_checkpoint, load_config, run_training
from pipeline.curate.config import CurateConfig
from pipeline.curate.job import run_curate
from pipeline.shards import iter_shard
from pipeline.synthetic import SynthConfig, generate_footage
from pipeline.synthetic.config import LOOKS

CONFIG = Path(__file__).resolve().parents[1] / "animatrix" / "configs" / "tiny.yaml"


def curate_synthetic(data_dir: Path, videos: int, seed: int, synth: SynthConfig) -> str:
    """Render ``videos`` synthetic videos into ``data_dir/footage`` (reused when complete) and run the curate job
    on them into ``data_dir/curated`` (Ray on this machine's CPUs); returns the job's one-line summary."""
    footage = data_dir / "footage"
    if len(list(footage.glob("synth_*.mp4"))) != videos:
        # 240 lines: the default filters drop pictures under 240 px (min_resolution), as a user's job would
        generate_footage(footage, videos, seed, dataclasses.replace(synth, width=432, height=240))
    cfg = CurateConfig.from_dict({"shards": {"target_mb": 8.0}})
    summary = run_curate([footage], data_dir / "curated", cfg, say=lambda _m: None)
    r = summary.reduce
    return (
        f"{r.kept} clips kept of {r.clips} ({r.duplicates} duplicates) from {r.shots} shots of {r.videos} "
        f"videos in {summary.wall_seconds:.0f} s"
    )


def loss_summary(run_dir: Path) -> str:
    rows = [json.loads(line) for line in (run_dir / LOSS_LOG).read_text().splitlines() if line.strip()]
    if not rows:
        return "   no loss logged"
    steps = np.array([r["step"] for r in rows])
    loss = np.array([r["loss"] for r in rows])
    tenths = np.array_split(np.arange(len(rows)), min(10, len(rows)))
    lines = [f"   {'steps':>13}{'mean loss':>11}"]
    for part in tenths:
        lines.append(f"   {steps[part[0]]:>6}-{steps[part[-1]]:<6}{loss[part].mean():>11.4f}")
    first, last = loss[tenths[0]].mean(), loss[tenths[-1]].mean()
    lines.append(
        f"   loss {first:.4f} (first tenth) -> {last:.4f} (last tenth): {100 * (1 - last / first):.1f}% lower; "
        f"{rows[-1]['seconds']:.0f} s wall ({rows[-1].get('cpu_seconds', float('nan')):.0f} s CPU) for the last "
        f"session, precision {rows[-1]['precision']}"
    )
    return "\n".join(lines)


def reader_ceiling(pattern: str, frames: int, size: int, stride: int, limit: int) -> dict[str, str]:
    want, got = [], {"expert": [], "global": []}
    for url in expand_shards(pattern):
        for s in iter_shard(url):
            tags = json.loads(s["tags.json"])["tags"]
            cam = [t.split("=", 1)[1] for t in tags if t.startswith("camera.movement=")]
            if not cam or cam[0] not in CAMERA_CLASSES or len(want) >= limit:
                continue
            clip = decode_clip(s["mp4"], frames, size, stride, None)
            want.append(cam[0])
            for reader in got:
                got[reader].append(read_camera(clip, reader, fps=24 / stride).movement)
    return {reader: confusion(want, reads).format() for reader, reads in got.items()}


#: The camera tag swapped in for the tag-use check (the direction reversed; static gets a pan).
WRONG_CAMERA = {
    "static": "pan_left",
    "pan_left": "pan_right",
    "pan_right": "pan_left",
    "tilt_up": "tilt_down",
    "tilt_down": "tilt_up",
}


@torch.no_grad()
def camera_tag_use(
    gen: Generator,
    pattern: str,
    cfg: TrainConfig,
    limit: int = 40,
    ts: tuple[float, ...] = (0.3, 0.5, 0.7, 0.9),
) -> list[tuple[float, float, float]]:
    """``[(t, x0 MSE with the true camera tag, x0 MSE with the wrong one)]`` over up to ``limit`` training
    clips with a camera class, conditioned on their camera.movement, motion.timing and camera.layout tags (those
    of the run's ``data.tag_fields``)."""
    clips, true_tags, wrong_tags = [], [], []
    d = cfg.data
    for url in expand_shards(pattern):
        for s in iter_shard(url):
            tags = json.loads(s["tags.json"])["tags"]
            cam = [t.split("=", 1)[1] for t in tags if t.startswith("camera.movement=")]
            if not cam or cam[0] not in WRONG_CAMERA or len(clips) >= limit:
                continue
            keep = [
                t
                for t in tags
                if t.startswith(("motion.timing=", "camera.layout="))
                and (not d.tag_fields or t.split("=", 1)[0] in d.tag_fields)
            ]
            clips.append(to_tensor(decode_clip(s["mp4"], d.frames, d.size, d.frame_stride, None)))
            true_tags.append([f"camera.movement={cam[0]}", *keep])
            wrong_tags.append([f"camera.movement={WRONG_CAMERA[cam[0]]}", *keep])
    if not clips:
        return []
    x0 = torch.stack(clips)
    model = gen.model
    vocab = gen.taxonomy.vocab

    def condition(lists: list[list[str]]) -> Condition:
        ids = [vocab.encode(parse_tags(gen.taxonomy, tags)) for tags in lists]
        fields = [[vocab.field_index_of(i) for i in row] for row in ids]
        return model.encode([""] * len(lists), *pad_tags(ids, fields, max_tags=8))

    right, wrong = condition(true_tags), condition(wrong_tags)
    noise_gen = torch.Generator().manual_seed(0)
    out = []
    for t in ts:
        noise = torch.randn(x0.shape, generator=noise_gen)
        xt = (1 - t) * x0 + t * noise
        tt = torch.full((len(x0),), t)
        errs = [float((xt - t * model(xt, tt, c) - x0).pow(2).mean()) for c in (right, wrong)]
        out.append((t, errs[0], errs[1]))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("/tmp/anicurate-bench-train"))
    parser.add_argument("--videos", type=int, default=48)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--look",
        choices=LOOKS,
        default="cel",
        help="Synthetic footage look (collage: flat shapes, no subtitles, only the closed loop's camera moves).",
    )
    parser.add_argument(
        "--source",
        choices=("curate", "labels"),
        default="curate",
        help="curate: shards from the curate job (AniCaption tags); labels: ground-truth tags of the labelled shots.",
    )
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument(
        "--steps", type=int, default=None, help="Train to this step (default: the config's steps)."
    )
    parser.add_argument(
        "--decay-steps",
        type=int,
        default=None,
        help="LR cooldown over the last N steps before --steps (also on resume: branches a cooldown).",
    )
    parser.add_argument("--run", type=Path, default=None, help="Read this run directory (no training).")
    parser.add_argument(
        "--shards",
        default=None,
        help="Shard glob of --run (default: OUT/data/curated/shards/*.tar, or OUT/data/shards/*.tar with --source labels).",
    )
    parser.add_argument("--per-class", type=int, default=8)
    parser.add_argument("--sample-steps", type=int, default=20)
    parser.add_argument("--w-tag", type=float, default=3.0)
    parser.add_argument("--sampler", choices=SAMPLERS, default="euler")
    parser.add_argument(
        "--shift", type=float, default=None, help="SD3 time shift of sampling (default: the training shift)."
    )
    parser.add_argument("--t-start", type=float, default=1.0, help="Time at which pure noise is taken.")
    parser.add_argument(
        "--eta", type=float, default=1.0, help="Share of fresh noise per sampling step (0-1)."
    )
    parser.add_argument("--raw-weights", action="store_true", help="Sample with the raw weights, not EMA.")
    parser.add_argument(
        "--extra-tags",
        nargs="*",
        default=["motion.timing=held", "camera.layout=full"],
        help="Tags requested beside camera.movement (those outside the run's data.tag_fields are left out).",
    )
    parser.add_argument("--ceiling-clips", type=int, default=150)
    parser.add_argument(
        "--camera-speed",
        type=float,
        default=None,
        help="Pan / tilt speed of the collage footage, px per frame at 640 px width (default: random per shot). "
        "7.5 moves the picture one 4x4 patch per sampled frame at 32 px with frame_stride 6.",
    )
    args = parser.parse_args(argv)

    cfg = load_config(args.config)
    data_dir = args.out / "data"
    shard_dir = data_dir / ("curated" if args.source == "curate" else "") / "shards"
    pattern = str(shard_dir / "*.tar")
    if args.run is None:
        if not list(shard_dir.glob("*.tar")):
            t0 = time.perf_counter()
            synth = DEFAULT_SYNTH
            if args.look != "cel":
                # the proof footage: flat pictures, no subtitles, only the closed loop's camera moves
                synth = dataclasses.replace(
                    DEFAULT_SYNTH,
                    look=args.look,
                    subtitle_rate=0.0,
                    cameras=CAMERA_CLASSES,
                    camera_speed=args.camera_speed,
                )
            if args.source == "curate":
                print(f"   curated: {curate_synthetic(data_dir, args.videos, args.seed, synth)}")
            else:
                made = write_synthetic_shards(
                    data_dir, videos=args.videos, seed=args.seed, synth=synth, target_bytes=8 << 20
                )
                print(f"   shards: {made.samples} clips from {args.videos} videos (ground-truth tags)")
            print(f"   footage and shards in {time.perf_counter() - t0:.0f} s")
        run_dir = args.out / "run"
        run_training(
            pattern,
            run_dir,
            cfg,
            steps=args.steps or cfg.steps,
            resume=True,
            say=print,
            decay_steps=args.decay_steps,
        )
    else:
        run_dir = args.run
        pattern = args.shards or pattern
    state = load_checkpoint(run_dir)
    cfg = TrainConfig.from_dict(state["config"])  # decode clips exactly as this run was trained
    print(f"\n== loss curve ({run_dir}, step {state['step']})")
    print(loss_summary(run_dir))

    d = cfg.data
    if args.ceiling_clips > 0:
        print(
            f"\n== camera readers on {args.ceiling_clips} training clips ({d.frames} frames of {d.size}x{d.size}, frame stride {d.frame_stride})"
        )
        for reader, table in reader_ceiling(
            pattern, d.frames, d.size, d.frame_stride, args.ceiling_clips
        ).items():
            print(f"-- reader {reader}\n{table}")

    extra_tags = [t for t in args.extra_tags if not d.tag_fields or t.split("=", 1)[0] in d.tag_fields]
    gen = Generator.from_checkpoint(run_dir, use_ema=not args.raw_weights)
    torch.set_num_threads(1)
    print(
        "\n== camera tag use: clean-clip MSE on noised training clips, true vs reversed camera.movement tag"
    )
    for t, right, wrong in camera_tag_use(gen, pattern, cfg):
        print(f"   t {t:.1f}: true {right:.4f}  reversed {wrong:.4f}  ratio {wrong / right:.3f}")
    t0 = time.perf_counter()
    tables = run_closed_loop(
        gen,
        args.per_class,
        readers=("expert", "global"),
        fps=24 / d.frame_stride,
        extra_tags=extra_tags,
        w_tag=args.w_tag,
        steps=args.sample_steps,
        sampler=args.sampler,
        shift=args.shift,
        t_start=args.t_start,
        eta=args.eta,
    )
    print(
        f"\n== closed loop: {args.per_class} generated clips per requested camera.movement "
        f"(+ {' '.join(extra_tags) or 'no other tags'}; tags only, w_tag {args.w_tag}, {args.sample_steps} {args.sampler} "
        f"steps, shift {gen.train_shift if args.shift is None else args.shift}, t_start {args.t_start}, eta {args.eta}, {'raw' if args.raw_weights else 'EMA'} weights, "
        f"{time.perf_counter() - t0:.0f} s)"
    )
    for reader, table in tables.items():
        print(f"-- reader {reader}\n{table.format()}")


if __name__ == "__main__":
    main()
