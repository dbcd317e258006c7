"""``anicurate probes train``: fit the CLIP expert's linear probes on the embeddings and tags of WebDataset shards."""

from __future__ import annotations

import glob
import json
import math
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from jobs.cli import app, console, fail

probes_app = typer.Typer(
    help="Linear probes of the CLIP expert (PKS fields from shot embeddings).", no_args_is_help=True
)
app.add_typer(probes_app, name="probes")


@probes_app.command("train")
def probes_train(
    shards: Annotated[
        list[str], typer.Argument(help="Shard files or globs (quote globs), e.g. 'OUT/shards/*.tar'.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Probe checkpoint to write (e.g. probes.pt).")],
    field: Annotated[
        list[str] | None,
        typer.Option("--field", help="A field to train (repeat); default: every labelled field."),
    ] = None,
    embedder: Annotated[
        str,
        typer.Option(
            "--embedder",
            help="Identity of the model that made emb.npy, as the CLIP expert describes it (e.g. "
            "'ViT-B-32/laion2b_s34b_b79k'); the expert refuses probes of another model. Empty: not checked.",
        ),
    ] = "",
    holdout: Annotated[
        float,
        typer.Option("--holdout", min=0.0, max=0.9, help="Share of samples held out to measure accuracy."),
    ] = 0.2,
    epochs: Annotated[
        int, typer.Option("--epochs", min=1, help="Full-batch optimisation steps per field.")
    ] = 300,
    seed: Annotated[int, typer.Option("--seed", help="Split and initialisation seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Train one linear head per PKS field from the shards' emb.npy and tags; print train / held-out accuracy."""
    from annotator.probes import (
        ProbeError,
        ProbeTrainConfig,
        evaluate_probes,
        examples_from_shards,
        train_probes,
    )

    paths = sorted({p for pattern in shards for p in (glob.glob(pattern) or [pattern])})
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise fail(f"no such shard file(s): {', '.join(missing)}")
    try:
        x, labels, _ = examples_from_shards(paths)
    except ProbeError as exc:
        raise fail(str(exc)) from exc
    if not len(labels):
        raise fail(
            f"none of the {len(paths)} shard(s) has samples with emb.npy (run curate with a CLIP model)"
        )
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(holdout * len(labels)))
    test, train = order[:n_test], order[n_test:]
    try:
        probes = train_probes(
            x[train],
            [labels[i] for i in train],
            fields=field or None,
            config=ProbeTrainConfig(epochs=epochs, seed=seed),
            embedder=embedder,
        )
    except (ProbeError, KeyError) as exc:
        raise fail(str(exc)) from exc
    held = evaluate_probes(probes, x[test], [labels[i] for i in test]) if n_test else {}
    probes.save(out)
    report = probes.report
    assert report is not None
    rows = {
        fid: {
            "train_examples": report.examples[fid],
            "train_accuracy": report.train_accuracy[fid],
            "heldout_examples": held.get(fid, (math.nan, 0))[1],
            "heldout_accuracy": None
            if math.isnan(held.get(fid, (math.nan, 0))[0])
            else round(held[fid][0], 4),
        }
        for fid in probes.fields
    }
    if as_json:
        console.print_json(json.dumps({"checkpoint": str(out), "fields": rows, "skipped": report.skipped}))
        return
    console.print(f"{len(labels)} samples from {len(paths)} shard(s); {n_test} held out", highlight=False)
    for fid, r in rows.items():
        acc = "n/a" if r["heldout_accuracy"] is None else f"{r['heldout_accuracy']:.3f}"
        console.print(
            f"  {fid:<22} train {r['train_accuracy']:.3f} on {r['train_examples']:>5}   "
            f"held-out {acc} on {r['heldout_examples']:>5}",
            highlight=False,
        )
    for fid, why in report.skipped.items():
        console.print(f"  {fid:<22} skipped: {why}", highlight=False)
    console.print(f"checkpoint: {out}", highlight=False)
