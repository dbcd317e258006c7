"""The ``anicurate`` command line. Commands only parse arguments, call the library and print."""

from __future__ import annotations

import json
import logging
import sys
from fractions import Fraction
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    name="anicurate",
    help="AniCurate: turn raw anime footage into PKS-tagged training corpora.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
taxonomy_app = typer.Typer(help="The Production Knowledge System (PKS) taxonomy.", no_args_is_help=True)
footage_app = typer.Typer(help="Footage folders: videos with optional frame labels.", no_args_is_help=True)
eval_app = typer.Typer(help="Measure a stage against labelled footage.", no_args_is_help=True)
app.add_typer(taxonomy_app, name="taxonomy")
app.add_typer(footage_app, name="footage")
app.add_typer(eval_app, name="eval")

BACKEND_HELP = "Shot detector: transnet (default, anime-aware), transnetv2-raw, pyscenedetect-adaptive, pyscenedetect-content."

# Piped output (CI logs, files) gets a wide fixed width so tables are not folded into unreadable columns.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
log = logging.getLogger("anicurate")


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line error a user can act on and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@app.callback()
def main(
    log_level: Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        raise fail(f"--log-level {log_level!r} is not one of DEBUG, INFO, WARNING, ERROR")
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


@taxonomy_app.command("show")
def taxonomy_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole taxonomy as JSON.")] = False,
    file: Annotated[
        Path | None, typer.Option(help="A taxonomy YAML file instead of the bundled PKS v1.")
    ] = None,
) -> None:
    """Show the PKS taxonomy: axes, fields, values with tag ids and definitions."""
    from taxonomy import TaxonomyError, load_taxonomy, print_tree

    try:
        tax = load_taxonomy(file)
    except TaxonomyError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(tax.to_json_dict(), indent=1, ensure_ascii=False))
    else:
        print_tree(tax, console)


@app.command("synth")
def synth(
    out: Annotated[Path, typer.Argument(help="Output folder for the videos, labels/ and duplicates.json.")],
    videos: Annotated[int, typer.Option(min=1, help="Number of videos to generate.")] = 4,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same footage.")] = 0,
    seconds: Annotated[float, typer.Option(min=1.0, help="Length of each video in seconds.")] = 10.0,
    width: Annotated[int, typer.Option(min=64, help="Frame width in pixels.")] = 640,
    height: Annotated[int, typer.Option(min=64, help="Frame height in pixels.")] = 360,
    fps: Annotated[str, typer.Option(help="Frame rate, e.g. 24000/1001, 24 or 30.")] = "24000/1001",
    reuse: Annotated[
        bool, typer.Option(help="Reuse one opening segment across videos (dedupe ground truth).")
    ] = True,
    look: Annotated[
        str,
        typer.Option(
            help="cel: painted scenes with cel characters; collage: flat-colour shapes and discs "
            "(quick for a small video model to learn)."
        ),
    ] = "cel",
    cameras: Annotated[
        str,
        typer.Option(help="Only these camera moves, comma-separated (e.g. static,pan_left); default all."),
    ] = "",
    subtitle_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Probability that a shot carries a burnt-in subtitle.")
    ] = 0.45,
) -> None:
    """Generate procedural cel-style anime footage with frame-exact ground-truth labels."""
    try:
        rate = Fraction(fps)
    except (ValueError, ZeroDivisionError) as exc:
        raise fail(f"--fps {fps!r} is not a frame rate (use e.g. 24000/1001 or 24)") from exc
    if rate <= 0:
        raise fail(f"--fps {fps!r} must be positive")
    if width % 2 or height % 2:
        raise fail(f"--width/--height must be even for H.264 4:2:0 (got {width}x{height})")
    from pipeline.synthetic import SynthConfig, generate_footage
    from pipeline.synthetic.config import LOOKS

    if look not in LOOKS:
        raise fail(f"--look {look!r}: choose one of {', '.join(LOOKS)}")
    moves = tuple(m.strip() for m in cameras.split(",") if m.strip())
    try:
        config = SynthConfig(
            width=width,
            height=height,
            seconds=seconds,
            fps=rate,
            reuse=reuse,
            look=look,
            cameras=moves,
            subtitle_rate=subtitle_rate,
        )
    except ValueError as exc:
        raise fail(f"--cameras: {exc}") from exc
    with console.status("synthesising footage") as status:
        manifest = generate_footage(out, videos=videos, seed=seed, config=config, progress=status.update)
    console.print(f"wrote {len(manifest.videos)} videos with labels to [bold]{out}[/]")


@footage_app.command("summary")
def footage_summary(
    folder: Annotated[Path, typer.Argument(help="Folder of video files (labels in FOLDER/labels).")],
    labels: Annotated[Path | None, typer.Option(help="Labels folder if not FOLDER/labels.")] = None,
    verify: Annotated[
        bool, typer.Option(help="Decode every frame and check the labels' frame counts.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Summarise a footage folder: per clip size, rate, frames and labelled shots; totals of the labels."""
    from jobs.footage_report import print_footage_summary, summary_to_json
    from pipeline.footage import summarize_footage
    from pipeline.footage_labels import LabelError

    if not folder.is_dir():
        raise fail(f"{folder}: not a folder")
    try:
        with console.status("reading footage") as status:
            summary = summarize_footage(folder, labels, verify_frames=verify, progress=status.update)
    except LabelError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(summary_to_json(summary), indent=1))
        return
    print_footage_summary(summary, console)
    mismatched = [c.clip for c in summary.clips if c.label_frames_match is False]
    if mismatched:
        raise fail(f"label frame counts disagree with the decoded videos: {', '.join(mismatched)}", code=1)


def _detector(backend: str):
    from pipeline.shots.registry import get_detector

    try:
        return get_detector(backend)
    except ValueError as exc:
        raise fail(str(exc)) from exc


def _analysis_frames(video: Path, stills: int = 0):
    from pipeline.decode import VideoError
    from pipeline.frames import decode_analysis_frames

    try:
        with console.status(f"decoding {video.name}"):
            return decode_analysis_frames(video, stills=stills)
    except VideoError as exc:
        raise fail(str(exc)) from exc


@app.command("shots")
def shots(
    video: Annotated[Path, typer.Argument(help="A video file.")],
    backend: Annotated[str, typer.Option(help=BACKEND_HELP)] = "transnet",
    as_json: Annotated[bool, typer.Option("--json", help="Print shots and transitions as JSON.")] = False,
) -> None:
    """Split a video into frame-exact shots; report gradual transitions and in-shot flashes."""
    from jobs.shots_report import boundaries_to_json, print_boundaries

    detector = _detector(backend)
    frames = _analysis_frames(video)
    with console.status(f"detecting shots ({detector.name})"):
        boundaries = detector.detect(frames)
    data = boundaries_to_json(str(video), frames, boundaries)
    if as_json:
        typer.echo(json.dumps(data, indent=1))
    else:
        print_boundaries(data, console)


@eval_app.command("shots")
def eval_shots(
    footage: Annotated[Path, typer.Option(help="Folder of labelled clips.")],
    labels: Annotated[Path | None, typer.Option(help="Labels folder (default FOOTAGE/labels).")] = None,
    backend: Annotated[list[str] | None, typer.Option(help=BACKEND_HELP + " Repeat to compare.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
) -> None:
    """Precision, recall and F1 of shot boundaries per clip and in total (matching rule of the label schema)."""
    from jobs.shots_report import print_eval_reports
    from pipeline.footage_labels import LabelError
    from pipeline.shots.evaluate import evaluate_detectors

    if not footage.is_dir():
        raise fail(f"--footage {footage}: not a folder")
    detectors = [_detector(b) for b in (backend or ["transnet"])]
    try:
        with console.status("evaluating") as status:
            reports = evaluate_detectors(detectors, footage, labels, progress=status.update)
    except (LabelError, FileNotFoundError, KeyError, ValueError) as exc:
        raise fail(str(exc)) from exc
    if as_json:
        payload = [r.to_json_dict() for r in reports]
        typer.echo(json.dumps(payload[0] if len(payload) == 1 else payload, indent=1))
    else:
        print_eval_reports(reports, console)


@eval_app.command("dedupe")
def eval_dedupe(
    footage: Annotated[Path, typer.Option(help="Folder of videos.")],
    pairs: Annotated[
        Path | None, typer.Option(help="Known duplicate pairs (default FOOTAGE/duplicates.json).")
    ] = None,
    labels: Annotated[Path | None, typer.Option(help="Labels folder for a shot-level pass.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Exact / near duplicates among a folder's videos, scored against the known pairs."""
    from pipeline.dedupe import run_eval_dedupe

    if not footage.is_dir():
        raise fail(f"--footage {footage}: not a folder")
    pairs = pairs or footage / "duplicates.json"
    if not pairs.is_file():
        raise fail(f"--pairs {pairs}: no such file")
    try:
        with console.status("evaluating dedupe"):
            report = run_eval_dedupe(footage, pairs, labels)
    except (FileNotFoundError, KeyError, ValueError, json.JSONDecodeError) as exc:
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(report.to_json_dict(), indent=1))
    else:
        for line in report.summary_lines():
            console.print(line, highlight=False, markup=False)


@app.command("clips")
def clips(
    video: Annotated[Path, typer.Argument(help="A video file.")],
    out: Annotated[Path, typer.Argument(help="Folder for the clip files.")],
    backend: Annotated[str, typer.Option(help=BACKEND_HELP)] = "transnet",
    max_seconds: Annotated[
        float | None, typer.Option(help="Split longer shots into windows of this length.")
    ] = None,
    min_frames: Annotated[int, typer.Option(min=1, help="Drop clips shorter than this.")] = 8,
    size: Annotated[int | None, typer.Option(help="Scale the short side to this many pixels.")] = None,
    fps: Annotated[
        str | None, typer.Option(help="Resample to this rate (default: keep every frame).")
    ] = None,
    crf: Annotated[int, typer.Option(min=0, max=51, help="x264 quality; 0 is lossless.")] = 18,
) -> None:
    """Cut a video into one clip per shot (frame-exact, transitions trimmed) with PyAV."""
    from pipeline.clips import ClipEncoding, extract_clips, plan_clips
    from pipeline.decode import VideoError

    try:
        rate = Fraction(fps) if fps else None
    except (ValueError, ZeroDivisionError) as exc:
        raise fail(f"--fps {fps!r} is not a frame rate") from exc
    detector = _detector(backend)
    frames = _analysis_frames(video)
    boundaries = detector.detect(frames)
    max_frames = max(1, int(max_seconds * float(frames.fps))) if max_seconds else None
    spans = plan_clips(boundaries.shots(), max_frames=max_frames, min_frames=min_frames)
    paths = [out / f"{video.stem}_{s.start:06d}_{s.end:06d}.mp4" for s in spans]
    try:
        with console.status(f"cutting {len(spans)} clips"):
            extract_clips(video, spans, paths, ClipEncoding(size=size, fps=rate, crf=crf))
    except VideoError as exc:
        raise fail(str(exc)) from exc
    console.print(
        f"wrote {len(paths)} clips from {len(boundaries.shots())} shots to [bold]{out}[/]", highlight=False
    )


@app.command("scores")
def scores(
    video: Annotated[Path, typer.Argument(help="A video file.")],
    out: Annotated[
        Path, typer.Option(help="Folder for manifest/scores.parquet and manifest/rejections.parquet.")
    ],
    backend: Annotated[str, typer.Option(help=BACKEND_HELP)] = "transnet",
    config: Annotated[
        Path | None, typer.Option(help="Filter/tier config YAML (default: the bundled one).")
    ] = None,
    mode: Annotated[
        str | None, typer.Option(help="filter or score-only (default: the config's mode).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the per-shot scores and verdicts as JSON.")
    ] = False,
) -> None:
    """Score every shot (quality, motion, timing, text, layout), apply the filters and assign tiers."""
    import dataclasses

    from pipeline.decode import file_sha256
    from pipeline.filters import MODES, FilterConfig, FilterConfigError, apply_filters, summarize
    from pipeline.records import RejectionRecord, ShotScores, write_parquet
    from pipeline.scores import ScoreContext, score_shots
    from pipeline.scores.aesthetic import load_aesthetic
    from pipeline.scores.text import STILLS as TEXT_STILLS

    if mode is not None and mode not in MODES:
        raise fail(f"--mode {mode!r} is not one of {', '.join(MODES)}")
    try:
        cfg = FilterConfig.load(config)
    except FilterConfigError as exc:
        raise fail(str(exc)) from exc
    detector = _detector(backend)
    frames = _analysis_frames(video, stills=TEXT_STILLS)
    with console.status(f"detecting shots ({detector.name}) and scoring"):
        shots = detector.detect(frames).shots()
        ctx = ScoreContext(
            video_id=file_sha256(video), source_path=str(video), aesthetic=load_aesthetic(cfg.aesthetic)
        )
        rows = score_shots(frames, [(s.start, s.end) for s in shots], ctx)
        result = apply_filters(rows, cfg, mode)
    write_parquet(rows, ShotScores, out / "manifest" / "scores.parquet")
    write_parquet(result.rejections, RejectionRecord, out / "manifest" / "rejections.parquet")
    if as_json:
        rejected = {r.subject_id: r for r in result.rejections}
        payload = [
            {
                **dataclasses.asdict(row),
                "tier": result.tiers.get(row.shot_id),
                "rejected": dataclasses.asdict(rejected[row.shot_id]) if row.shot_id in rejected else None,
            }
            for row in rows
        ]
        typer.echo(json.dumps(payload, indent=1, default=str))
        return
    summary = summarize(result)
    console.print(
        f"{len(rows)} shots scored: {summary['kept']} kept, {summary['rejected']} rejected; "
        f"by rule {summary['by_rule'] or '-'}; tiers {summary['by_tier'] or '-'}",
        highlight=False,
    )
    for r in result.rejections:
        console.print(f"  rejected {r.subject_id}: {r.rule} ({r.reason})", highlight=False)
    console.print(f"wrote {out / 'manifest'}/scores.parquet and rejections.parquet", highlight=False)


@app.command("schema")
def schema(
    table: Annotated[
        str | None, typer.Argument(help="One table: videos, shots, clips, tags or rejections.")
    ] = None,
) -> None:
    """Describe the Arrow schemas of the manifest tables the pipeline writes."""
    from pipeline.records import TABLES, describe

    if table is not None and table not in TABLES:
        raise fail(f"unknown table {table!r}; choose from {', '.join(TABLES)}")
    for name, record_type in TABLES.items():
        if table in (None, name):
            console.print(f"[bold]{name}[/]", highlight=False)
            console.print(describe(record_type), highlight=False, markup=False)
            console.print()


#: Modules that add their commands to ``app`` / ``eval_app`` when imported (each imports ``app`` from here).
COMMAND_MODULES: tuple[str, ...] = (
    "jobs.curate_cmd",
    "jobs.caption_cmd",
    "jobs.caption_eval_cmd",
    "jobs.train_cmd",
    "jobs.probes_cmd",
    "jobs.audit_cmd",
)


def _load_command_modules() -> None:
    import importlib

    for module in COMMAND_MODULES:
        importlib.import_module(module)


_load_command_modules()

if __name__ == "__main__":
    app()
