"""Crash safety of the curate job: kill -9 at named points of every stage and at random moments, a full disk,
and Ray worker faults. After a resume the output must equal an uninterrupted run: the same sample keys, the same
bytes of every tar member, the same manifest rows."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.curate import CurateConfig, run_curate
from pipeline.synthetic import SynthConfig, generate_footage
from tests.test_curate import tree_bytes

pytestmark = pytest.mark.slow

CONFIG_YAML = """
caption: {enabled: false}
clips: {short_side: 120, max_seconds: 1.5}
shards: {target_mb: 0.05}
"""
#: Every named fault point of the job (pipeline/faults.py) with the hit to crash on.
KILL_POINTS = [
    "map.video_start:1",
    "map.video_start:2",
    "map.window_done:1",
    "map.clips_cut:2",
    "staging.result_written:1",
    "map.before_commit:2",
    "map.after_commit:1",
    "reduce.dedupe_done:1",
    "reduce.sample_written:3",
    "reduce.shard_closed:2",
    "reduce.manifest:1",
]


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("crash_synth")
    generate_footage(out, videos=2, seed=8, config=SynthConfig(width=432, height=240, seconds=5.0))
    return out


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("crash_cfg") / "curate.yaml"
    p.write_text(CONFIG_YAML)
    return p


@pytest.fixture(scope="module")
def reference(footage: Path, config_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("crash_ref")
    run_curate([footage], out, CurateConfig.load(config_file), runner="local")
    got = tree_bytes(out)
    assert sum(k.startswith("shards/") for k in got) >= 2  # several shards, so shard-level points are real
    return got


def _cmd(footage: Path, out: Path, config_file: Path) -> list[str]:
    return [sys.executable, "-m", "jobs.curate", str(footage), "--out", str(out), "--config", str(config_file),
            "--runner", "local", "--json"]  # fmt: skip


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANICURATE_") or k == "ANICURATE_FOOTAGE"}
    return {**env, **extra}


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_at_point_then_resume(
    point: str, reference: dict[str, bytes], footage: Path, config_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    crashed = subprocess.run(
        _cmd(footage, out, config_file), env=_env(ANICURATE_CRASH_AT=point), capture_output=True, text=True
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    resumed = subprocess.run(_cmd(footage, out, config_file), env=_env(), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert tree_bytes(out) == reference


def test_kills_at_random_moments_then_resume(
    reference: dict[str, bytes], footage: Path, config_file: Path, tmp_path: Path
) -> None:
    """Three kills at random wall-clock moments of one run (seeded), then a resume."""
    rng = random.Random(20261126)
    out = tmp_path / "run"
    for _ in range(3):
        proc = subprocess.Popen(_cmd(footage, out, config_file), env=_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(rng.uniform(2.0, 12.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    resumed = subprocess.run(_cmd(footage, out, config_file), env=_env(), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert tree_bytes(out) == reference


@pytest.mark.parametrize("point", ["map.clips_cut:2", "staging.result_written:1", "reduce.sample_written:2"])
def test_disk_full_fails_cleanly_and_resumes(
    point: str, reference: dict[str, bytes], footage: Path, config_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    full = subprocess.run(
        _cmd(footage, out, config_file), env=_env(ANICURATE_ENOSPC_AT=point), capture_output=True, text=True
    )
    assert full.returncode == 2, full.stderr[-2000:]
    error = [x for x in full.stderr.splitlines() if x.startswith("error:")]
    assert error and "No space left on device" in error[0] and "resume" in error[0]
    assert "Traceback" not in full.stderr
    assert not list((out / "shards").glob("*.partial")) if (out / "shards").exists() else True
    resumed = subprocess.run(_cmd(footage, out, config_file), env=_env(), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert tree_bytes(out) == reference


def _ray_run(footage: Path, out: Path, cfg: CurateConfig, **env: str) -> None:
    """One curate run on a fresh local Ray whose workers see ``env`` (Ray workers keep the environment they
    were started with, so each scenario gets its own Ray)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, runtime_env={"env_vars": env})
    try:
        run_curate([footage], out, cfg, runner="ray")
    finally:
        ray.shutdown()


def test_ray_worker_faults(
    reference: dict[str, bytes], footage: Path, config_file: Path, tmp_path: Path
) -> None:
    """A worker killed once is retried (output unchanged); a video that kills every worker is quarantined after
    the retries; a hung video is stopped by the timeout."""
    import duckdb

    from pipeline.curate.config import LimitSection

    counter = tmp_path / "hits"
    out = tmp_path / "once"
    _ray_run(footage, out, CurateConfig.load(config_file), ANICURATE_CRASH_AT="map.window_done:1",
             ANICURATE_FAULT_COUNTER=str(counter))  # fmt: skip
    assert counter.read_text().count("map.window_done") >= 2  # it did die once and ran again
    assert tree_bytes(out) == reference

    base = CurateConfig.load(config_file)
    cfg = CurateConfig(**{**base.__dict__, "limits": LimitSection(max_retries=1, timeout_s=600.0)})
    out = tmp_path / "always"
    _ray_run(footage, out, cfg, ANICURATE_CRASH_AT="map.window_done:*")
    rules = duckdb.sql(f"SELECT rule, reason FROM '{out}/manifest/rejections.parquet'").fetchall()
    crashed = [r for r in rules if r[0] == "worker_crashed"]
    assert len(crashed) == 2 and "quarantined" in crashed[0][1]

    out = tmp_path / "hang"
    t0 = time.monotonic()
    cfg = CurateConfig(**{**base.__dict__, "limits": LimitSection(timeout_s=30.0)})
    _ray_run(footage, out, cfg, ANICURATE_HANG_AT="map.video_start:*")
    assert time.monotonic() - t0 < 600  # not the hour the hang would take
    rules = duckdb.sql(f"SELECT rule FROM '{out}/manifest/rejections.parquet'").fetchall()
    assert [r[0] for r in rules].count("timeout") == 2
