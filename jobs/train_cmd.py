"""``anicurate train`` and ``anicurate generate``: the bundled AniMatrix-style generator (see :mod:`animatrix`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jobs.cli import app, console, fail


@app.command("train")
def train(
    shards: Annotated[str, typer.Option("--shards", help="Shard glob, e.g. 'DIR/shards/*.tar' (quote it).")],
    out: Annotated[
        Path, typer.Option("--out", help="Run directory (checkpoint.pt, loss.jsonl, config.json).")
    ],
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Train config YAML (sections model, data, optim, dropout)."),
    ] = None,
    steps: Annotated[
        int | None, typer.Option("--steps", min=1, help="Total steps (default: the config's).")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/checkpoint.pt.")] = False,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Ray Train workers; 1 trains in this process.")
    ] = 1,
    decay_steps: Annotated[
        int | None,
        typer.Option(
            "--decay-steps",
            min=0,
            help="LR cooldown: the LR falls linearly to 0 over the last N steps before --steps (sets "
            "optim.decay_steps, also on --resume, so a cooldown can branch from a constant-LR checkpoint).",
        ),
    ] = None,
) -> None:
    """Train the AniMatrix denoiser on WebDataset shards (flow matching; tags + T5 text conditioning)."""
    from animatrix.data import expand_shards
    from animatrix.train import load_config, run_ray_training, run_training

    try:
        expand_shards(shards)
        cfg = load_config(config)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from exc
    say = lambda msg: console.print(msg, highlight=False)  # noqa: E731
    if workers > 1:
        step = run_ray_training(
            shards, out, cfg, workers, steps=steps, resume=resume, decay_steps=decay_steps
        )
        say(f"ray train ({workers} workers) finished at step {step}; checkpoint: {out / 'checkpoint.pt'}")
        return
    try:
        result = run_training(shards, out, cfg, steps=steps, resume=resume, say=say, decay_steps=decay_steps)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        raise fail(str(exc)) from exc
    if result.losses:
        k = max(1, len(result.losses) // 10)
        first = sum(v for _, v in result.losses[:k]) / k
        last = sum(v for _, v in result.losses[-k:]) / k
        say(
            f"step {result.step}: loss {first:.4f} -> {last:.4f} (first / last {k} steps) in {result.seconds:.0f} s"
        )
    say(f"checkpoint: {out / 'checkpoint.pt'}")


@app.command("generate")
def generate(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="Run directory or checkpoint.pt.")],
    out: Annotated[Path, typer.Option("--out", help="Output mp4 (a .gif preview is written beside it).")],
    tags: Annotated[
        list[str] | None, typer.Option("--tags", help="PKS tags 'field=value' (repeat --tags, or list them).")
    ] = None,
    extra_tags: Annotated[list[str] | None, typer.Argument(help="More tags after the options.")] = None,
    text: Annotated[str, typer.Option("--text", help="Free text for the T5 channel.")] = "",
    w_text: Annotated[float, typer.Option("--w-text", help="Text guidance weight.")] = 5.0,
    w_tag: Annotated[float, typer.Option("--w-tag", help="Tag guidance weight.")] = 2.0,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Euler sampling steps.")] = 20,
    seed: Annotated[int, typer.Option("--seed", help="Noise seed; the same seed gives the same clip.")] = 0,
    eta: Annotated[
        float,
        typer.Option(
            "--eta",
            min=0.0,
            max=1.0,
            help="Share of fresh noise per step: 1 ancestral (default), 0 deterministic Euler.",
        ),
    ] = 1.0,
    shift: Annotated[
        float | None,
        typer.Option(
            "--shift", min=0.01, help="Time shift of the sampling schedule (default: the training shift)."
        ),
    ] = None,
) -> None:
    """Generate a clip from PKS tags and text with dual classifier-free guidance; writes mp4 + gif."""
    from animatrix.generate import GenerationRequest, generate_to_files
    from taxonomy import TaxonomyError

    all_tags = [*(tags or []), *(extra_tags or [])]
    request = GenerationRequest(all_tags, text, w_text, w_tag, steps, seed, shift=shift, eta=eta)
    try:
        mp4, gif = generate_to_files(checkpoint, request, out)
    except TaxonomyError as exc:
        raise fail(str(exc)) from exc
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        raise fail(str(exc)) from exc
    console.print(f"wrote {mp4} and {gif}", highlight=False)
