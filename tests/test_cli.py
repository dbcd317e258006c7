"""The ``anicurate`` command line: help everywhere, actionable errors, and the commands of the foundation."""

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


def test_bad_log_level():
    result = runner.invoke(app, ["--log-level", "LOUD", "schema"])
    assert result.exit_code == 2
    assert "--log-level 'LOUD'" in result.output
