"""Hostile inputs through `shots` and `curate`: a clear one-line error or a rejection row with a reason, the job
always finishes, no partial shard. The corpus is generated here (tests/hostile.py), never committed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipeline.curate import CurateConfig, run_curate
from tests.hostile import make_corpus

pytestmark = pytest.mark.slow

#: What curate must say about each case: a rejection rule (stage input/probe/filter) or "kept" (clips made).
EXPECTED = {
    "zero_bytes": {"empty_file"},
    "random_bytes": {"unreadable"},
    "truncated": {"unreadable"},  # mp4 cut before its index: nothing is decodable
    "audio_only": {"no_video_stream"},
    "single_frame": {"min_duration"},
    "tiny_2x2": {"too_small"},
    "rotated": {"rotated_display"},
    "symlink_loop": {"symlink_loop"},
    "non_utf8_name": {"duplicate_input"},  # same bytes as good.mp4
    "good": {"kept"},
    "truncated_stream": {"kept"},  # the decodable first half is used
    "variable_frame_rate": {"min_duration", "kept"},
    "odd_641x361": {"kept"},
    "ten_bit_444": {"kept"},
    "high_res": {"min_duration"},
    "huge_declared_duration": {"min_resolution", "min_duration", "kept"},
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_corpus(tmp_path_factory.mktemp("hostile") / "in")


@pytest.fixture(scope="module")
def curated(corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hostile_out")
    folder = corpus["good"].parent
    run_curate([folder], out, CurateConfig.from_dict({"caption": {"enabled": False}}), runner="local")
    return out


def _verdicts(out: Path) -> dict[str, set[str]]:
    rows = duckdb.sql(f"SELECT rule, source_path FROM '{out}/manifest/rejections.parquet'").fetchall()
    got: dict[str, set[str]] = {}
    for rule, path in rows:
        got.setdefault(Path(path).name, set()).add(rule)
    kept = duckdb.sql(
        f"""SELECT DISTINCT v.path FROM '{out}/manifest/clips.parquet' c
        JOIN '{out}/manifest/videos.parquet' v USING (video_id) WHERE c.status = 'kept'"""
    ).fetchall()
    for (path,) in kept:
        got.setdefault(Path(path).name, set()).add("kept")
    return got


def test_curate_accounts_for_every_hostile_input(corpus: dict[str, Path], curated: Path) -> None:
    from pipeline.paths import text_path

    got = _verdicts(curated)
    for case, path in corpus.items():
        if case == "unreadable":
            continue  # root reads mode-000 files; see the test below
        name = Path(text_path(path)).name
        assert name in got, f"{case}: {name} left no trace in the manifest"
        assert got[name] & EXPECTED[case], f"{case}: got {got[name]}, expected one of {EXPECTED[case]}"
    assert not list((curated / "shards").glob("*.partial"))
    assert list((curated / "shards").glob("*.tar"))


def test_rejection_reasons_are_sentences(curated: Path) -> None:
    rows = duckdb.sql(f"SELECT rule, reason FROM '{curated}/manifest/rejections.parquet'").fetchall()
    for rule, reason in rows:
        assert rule and reason and len(reason) > 10 and "\n" not in reason, (rule, reason)


@pytest.mark.parametrize(
    "case", ["zero_bytes", "random_bytes", "truncated", "audio_only", "symlink_loop", "single_frame",
             "tiny_2x2", "odd_641x361", "ten_bit_444", "variable_frame_rate", "non_utf8_name", "truncated_stream"]
)  # fmt: skip
def test_shots_cli_gives_json_or_one_line_error(corpus: dict[str, Path], case: str) -> None:
    cmd = [
        sys.executable,
        "-m",
        "jobs.cli",
        "--log-level",
        "ERROR",
        "shots",
        os.fsencode(corpus[case]),
        "--json",
    ]
    r = subprocess.run(cmd, capture_output=True, timeout=300)
    if r.returncode == 0:
        import json

        payload = json.loads(r.stdout)
        assert payload["frames"] >= 1 and payload["shots"]
    else:
        assert r.returncode == 2, r.stderr[-2000:]
        lines = [x for x in r.stderr.decode(errors="replace").splitlines() if x.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), lines
        assert "Traceback" not in r.stderr.decode(errors="replace")


def test_unreadable_file_is_rejected_not_fatal(
    corpus: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(corpus["good"], src / "good.mp4")
    locked = src / "locked.mp4"
    locked.write_bytes(b"\0" * 4096)
    locked.chmod(0)
    if os.geteuid() == 0:
        # root reads mode-000 files, so the denial the kernel would give any other user is injected where the
        # pipeline asks for it
        import pipeline.curate.inputs as inputs

        real_access = os.access
        monkeypatch.setattr(
            inputs.os,
            "access",
            lambda p, mode: False if Path(p).name == "locked.mp4" else real_access(p, mode),
        )
    out = tmp_path / "out"
    run_curate([src], out, CurateConfig.from_dict({"caption": {"enabled": False}}), runner="local")
    got = _verdicts(out)
    assert got["locked.mp4"] == {"unreadable"}
    assert "kept" in got["good.mp4"]


def test_caption_cli_gives_json_or_one_line_error(corpus: dict[str, Path]) -> None:
    """`anicurate caption` on every hostile case in one process: JSON, or exit 2 with one `error:` line."""
    import json

    from typer.testing import CliRunner

    from jobs.cli import app

    runner = CliRunner()
    for case, path in corpus.items():
        if case in ("unreadable", "high_res"):
            continue  # root reads mode-000 files (see above); high_res only costs time here
        result = runner.invoke(app, ["--log-level", "ERROR", "caption", str(path), "--json"])
        if result.exit_code == 0:
            payload = json.loads(result.stdout)
            assert payload["shots"], case
            for shot in payload["shots"]:
                assert set(shot["missing"]).isdisjoint(shot["tags"]), case
        else:
            assert result.exit_code == 2, (case, result.output[-2000:], result.exception)
            lines = [x for x in result.output.splitlines() if x.strip()]
            assert lines and lines[-1].startswith("error:") and "Traceback" not in result.output, (
                case,
                lines,
            )
