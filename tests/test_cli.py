"""The ``anicurate`` command line: help everywhere, actionable errors, and the commands of the foundation."""

import itertools
import json

import pytest
import typer.main
from typer.testing import CliRunner

from jobs.cli import app

runner = CliRunner()


def _command_paths(command, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    if hasattr(command, "commands"):  # a group (typer vendors its own click classes)
        for name, sub in command.commands.items():
            paths += _command_paths(sub, (*prefix, name))
    return paths


def test_every_command_has_help():
    paths = _command_paths(typer.main.get_command(app))
    assert {("taxonomy", "show"), ("synth",), ("footage", "summary"), ("schema",)} <= set(paths)
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


def test_taxonomy_show_tree_and_json():
    tree = runner.invoke(app, ["taxonomy", "show"])
    assert tree.exit_code == 0, tree.output
    for axis in ("style", "motion", "camera", "vfx"):
        assert axis in tree.output
    data = json.loads(runner.invoke(app, ["taxonomy", "show", "--json"]).output)
    assert data["version"]
    assert [a["id"] for a in data["axes"]] == ["style", "motion", "camera", "vfx"]


def test_taxonomy_show_reports_a_broken_file(tmp_path):
    bad = tmp_path / "pks.yaml"
    bad.write_text("version: x\naxes: [\n")
    result = runner.invoke(app, ["taxonomy", "show", "--file", str(bad)])
    assert result.exit_code == 2
    assert "pks.yaml" in result.output


def test_schema_lists_tables_and_rejects_unknown():
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    for table in ("videos", "shots", "clips", "tags", "rejections"):
        assert table in result.output
    bad = runner.invoke(app, ["schema", "episodes"])
    assert bad.exit_code == 2
    assert "choose from videos, shots, clips, tags, rejections" in bad.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fps", "fast"], "--fps 'fast' is not a frame rate"),
        (["--width", "641"], "must be even"),
        (["--look", "watercolour"], "--look 'watercolour': choose one of cel, collage"),
        (["--cameras", "static,dolly"], "unknown move(s) ['dolly']"),
    ],
)
def test_synth_argument_errors(tmp_path, args, message):
    result = runner.invoke(app, ["synth", str(tmp_path / "out"), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_synth_then_footage_summary(tmp_path):
    out = tmp_path / "footage"
    result = runner.invoke(app, ["synth", str(out), "--videos", "2", "--seed", "3", "--seconds", "3"])
    assert result.exit_code == 0, result.output
    summary = runner.invoke(app, ["footage", "summary", str(out), "--json"])
    assert summary.exit_code == 0, summary.output
    data = json.loads(summary.output)
    assert data["totals"]["clips"] == 2
    assert data["totals"]["labelled"] == 2
    assert all(c["label_frames_match"] for c in data["clips"])
    table = runner.invoke(app, ["footage", "summary", str(out)])
    assert table.exit_code == 0
    assert "frames match label" in table.output


def test_synth_subtitle_rate_zero_burns_in_no_subtitles(tmp_path):
    def overlays(folder):
        return [
            s["text_overlay"]
            for f in sorted((folder / "labels").glob("*.json"))
            for s in json.loads(f.read_text())["shots"]
        ]

    args = [
        "--videos",
        "3",
        "--seed",
        "1",
        "--seconds",
        "4",
        "--width",
        "160",
        "--height",
        "90",
        "--no-reuse",
    ]
    plain = runner.invoke(app, ["synth", str(tmp_path / "plain"), *args])
    quiet = runner.invoke(app, ["synth", str(tmp_path / "quiet"), *args, "--subtitle-rate", "0"])
    assert plain.exit_code == 0 and quiet.exit_code == 0, plain.output + quiet.output
    assert "subtitle" in overlays(tmp_path / "plain")
    assert "subtitle" not in overlays(tmp_path / "quiet")


def test_bad_log_level():
    result = runner.invoke(app, ["--log-level", "LOUD", "schema"])
    assert result.exit_code == 2
    assert "--log-level 'LOUD'" in result.output


@pytest.fixture(scope="module")
def synth_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli_synth")
    result = runner.invoke(
        app, ["synth", str(out), "--videos", "1", "--seed", "5", "--seconds", "4", "--no-reuse"]
    )
    assert result.exit_code == 0, result.output
    return out


def test_shots_json_has_the_documented_shape(synth_folder):
    video = synth_folder / "synth_000.mp4"
    result = runner.invoke(app, ["shots", str(video), "--backend", "pyscenedetect-adaptive", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"video", "frames", "fps", "shots", "transitions"} <= set(data)
    assert data["frames"] == 96
    assert data["shots"][0]["start"] == 0 and data["shots"][-1]["end"] == 95
    for a, b in itertools.pairwise(data["shots"]):
        assert a["end"] < b["start"] and a["end_s"] <= b["start_s"]
    assert data["shots"][0]["start_s"] == 0.0


def test_shots_rejects_unknown_backend_and_bad_file(synth_folder, tmp_path):
    bad = runner.invoke(app, ["shots", str(synth_folder / "synth_000.mp4"), "--backend", "magic"])
    assert bad.exit_code == 2
    assert "choose from transnet" in bad.output
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 100)
    result = runner.invoke(app, ["shots", str(junk), "--backend", "pyscenedetect-adaptive"])
    assert result.exit_code == 2
    assert "junk.mp4" in result.output and "Traceback" not in result.output


def test_eval_shots_json(synth_folder):
    result = runner.invoke(
        app,
        ["eval", "shots", "--footage", str(synth_folder), "--backend", "pyscenedetect-adaptive", "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["detector"] == "pyscenedetect-adaptive"
    assert len(data["clips"]) == 1
    assert 0.0 <= data["total"]["f1"] <= 1.0
    assert data["frames_per_second"] > 0


def test_clips_command_writes_one_file_per_shot(synth_folder, tmp_path):
    out = tmp_path / "clips"
    result = runner.invoke(
        app,
        ["clips", str(synth_folder / "synth_000.mp4"), str(out), "--backend", "pyscenedetect-adaptive",
         "--min-frames", "1", "--size", "144"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("*.mp4"))
    assert files and not list(out.glob("*.part"))
    from pipeline.decode import probe

    assert probe(files[0]).height == 144


def test_scores_command_writes_scores_and_rejections(synth_folder, tmp_path):
    from pipeline.records import RejectionRecord, ShotScores, read_parquet

    out = tmp_path / "run"
    video = str(synth_folder / "synth_000.mp4")
    result = runner.invoke(
        app, ["scores", video, "--out", str(out), "--backend", "pyscenedetect-adaptive", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output[result.output.index("[") :])
    scored = read_parquet(out / "manifest" / "scores.parquet", ShotScores)
    assert len(scored) == len(rows) >= 1
    rejections = read_parquet(out / "manifest" / "rejections.parquet", RejectionRecord)
    assert {r.subject_id for r in rejections} == {r["shot_id"] for r in rows if r["rejected"]}
    assert all(r["tier"] for r in rows if not r["rejected"])
    bad = runner.invoke(app, ["scores", video, "--out", str(out), "--mode", "lenient"])
    assert bad.exit_code == 2 and "--mode 'lenient'" in bad.output


def test_eval_dedupe_json(synth_folder):
    result = runner.invoke(app, ["eval", "dedupe", "--footage", str(synth_folder), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{") :])
    assert data["passed"] is True
    missing = runner.invoke(
        app, ["eval", "dedupe", "--footage", str(synth_folder), "--pairs", "/nonexistent.json"]
    )
    assert missing.exit_code == 2 and "no such file" in missing.output
