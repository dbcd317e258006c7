"""The curate job end to end on generated footage: ground truth, shards, manifest, resume, bad inputs."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import duckdb
import pytest
import webdataset as wds

from pipeline.curate import CurateConfig, CurateConfigError, run_curate
from pipeline.curate.job import CurateResumeError
from pipeline.footage_labels import load_label
from pipeline.synthetic import SynthConfig, generate_footage

pytestmark = pytest.mark.slow

CONFIG_YAML = """
caption: {enabled: false}
clips: {short_side: 144, max_seconds: 2.0}
shards: {target_mb: 0.15}
"""


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate_footage(out, videos=3, seed=5, config=SynthConfig(width=432, height=240, seconds=6.0))
    return out


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("cfg") / "curate.yaml"
    p.write_text(CONFIG_YAML)
    return p


@pytest.fixture(scope="module")
def reference(footage: Path, config_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ref")
    run_curate([footage], out, CurateConfig.load(config_file), runner="local")
    return out


def tree_bytes(out: Path) -> dict[str, bytes]:
    """Every shard member and every manifest row, for equality checks."""
    found: dict[str, bytes] = {}
    for tar in sorted((out / "shards").glob("*.tar")):
        found[f"shards/{tar.name}"] = tar.read_bytes()
    for table in sorted((out / "manifest").glob("*.parquet")):
        rows = duckdb.sql(f"SELECT * FROM '{table}'").fetchall()
        found[f"manifest/{table.name}"] = repr(sorted(map(repr, rows))).encode()
    return found


def test_clips_match_ground_truth(reference: Path, footage: Path) -> None:
    clips = duckdb.sql(f"SELECT * FROM '{reference}/manifest/clips.parquet'").df()
    videos = duckdb.sql(f"SELECT video_id, path FROM '{reference}/manifest/videos.parquet'").df()
    assert len(videos) == 3
    name_of = {r.video_id: Path(r.path).stem for r in videos.itertuples()}
    assert len(clips) >= 9
    for c in clips.itertuples():
        label = load_label(footage / "labels" / f"{name_of[c.video_id]}.json")
        # never a frame of another shot; at most the one edge frame of a gradual transition (the detector's
        # tolerance on soft boundaries, as in the evaluation rule)
        owners = {
            k
            for k, s in enumerate(label.shots)
            for f in (c.start_frame, c.end_frame)
            if s.start <= f <= s.end
        }
        in_transitions = sum(
            max(0, min(t.end, c.end_frame) - max(t.start, c.start_frame) + 1) for t in label.transitions
        )
        assert len(owners) == 1, f"clip {c.clip_id} holds frames of several labelled shots"
        assert in_transitions <= 1, f"clip {c.clip_id} holds {in_transitions} transition frames"
        assert c.end_frame - c.start_frame + 1 <= 2.0 * 24 + 1
    # the reused opening: the later copies are marked, not dropped
    dups = clips[clips.status == "duplicate"]
    assert len(dups) >= 1
    assert set(dups.duplicate_of) <= set(clips.clip_id)
    rejected = duckdb.sql(
        f"SELECT subject_id FROM '{reference}/manifest/rejections.parquet' WHERE stage = 'dedupe'"
    ).fetchall()
    assert {r[0] for r in rejected} == set(dups.clip_id)


def test_every_shot_is_clipped_or_has_a_reason(reference: Path) -> None:
    orphan = duckdb.sql(
        f"""SELECT s.shot_id FROM '{reference}/manifest/shots.parquet' s
        WHERE s.shot_id NOT IN (SELECT shot_id FROM '{reference}/manifest/clips.parquet')
          AND s.shot_id NOT IN (SELECT subject_id FROM '{reference}/manifest/rejections.parquet')"""
    ).fetchall()
    assert orphan == []


def test_shards_read_back_with_webdataset(reference: Path) -> None:
    tars = sorted(str(p) for p in (reference / "shards").glob("*.tar"))
    assert len(tars) >= 2  # the small target size splits the corpus
    assert not list((reference / "shards").glob("*.partial"))
    samples = list(wds.WebDataset(tars, shardshuffle=False))
    kept = duckdb.sql(
        f"SELECT clip_id, shard FROM '{reference}/manifest/clips.parquet' WHERE status = 'kept'"
    ).fetchall()
    assert sorted(s["__key__"] for s in samples) == sorted(k for k, _ in kept)
    for s in samples:
        assert {"mp4", "json", "tags.json", "txt", "jpg"} <= set(s)
        meta = json.loads(s["json"])
        assert meta["key"] == s["__key__"] and meta["weight"] > 0
        assert meta["missing"]  # captioning is off: said so, nothing invented
        assert s["mp4"][4:8] == b"ftyp" and s["jpg"][:2] == b"\xff\xd8"
    funnel = duckdb.sql(f"SELECT stage, items_in, kept FROM '{reference}/manifest/funnel.parquet'").fetchall()
    assert [f[0] for f in funnel] == ["input", "probe", "shots", "filter", "clips", "dedupe", "shards"]
    assert funnel[-1][2] == len(samples)


def test_rerun_is_a_no_op_with_identical_output(
    reference: Path, footage: Path, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """...and reads no input again to identify it: the ids are remembered from the first run."""
    import pipeline.curate.input_ids as input_ids

    def no_reading(path: str) -> str:
        raise AssertionError(f"{path} was hashed again")

    monkeypatch.setattr(input_ids, "file_sha256", no_reading)
    before = tree_bytes(reference)
    summary = run_curate([footage], reference, CurateConfig.load(config_file), runner="local")
    assert summary.resumed == 3 and summary.processed == 0
    assert tree_bytes(reference) == before


def test_changed_config_is_refused(reference: Path, footage: Path) -> None:
    other = CurateConfig.from_dict({"caption": {"enabled": False}, "clips": {"short_side": 120}})
    with pytest.raises(CurateResumeError, match="different config"):
        run_curate([footage], reference, other, runner="local")


def test_thread_counts_and_ray_resources_are_not_a_config_change(
    reference: Path, footage: Path, config_file: Path
) -> None:
    """How the work is spread (decoder / encoder threads, clip-frame budget, Ray resources, which copies are
    left unencoded for the reduce) is not part of the run: a rerun with other values resumes the same output
    (every decode thread count gives the same frames)."""
    base = CurateConfig.load(config_file)
    raw = {
        **base.to_dict(),
        "analysis": {**base.to_dict()["analysis"], "decode_threads": 1},
        "clips": {**base.to_dict()["clips"], "encode_threads": 3, "buffer_mb": 64},
        "ray": {"cpus_per_video": 2, "inflight_per_slot": 1},
        "dedupe": {**base.to_dict()["dedupe"], "defer_copies": False},
    }
    execution = CurateConfig.from_dict(raw)
    assert execution.fingerprint() == base.fingerprint()
    assert dataclasses.replace(base, clips=dataclasses.replace(base.clips, crf=23)).fingerprint() != (
        base.fingerprint()
    )
    before = tree_bytes(reference)
    summary = run_curate([footage], reference, execution, runner="local")
    assert summary.resumed == 3 and summary.processed == 0
    assert tree_bytes(reference) == before


def test_bad_inputs_become_rejections(footage: Path, config_file: Path, tmp_path: Path) -> None:
    bad = tmp_path / "in"
    bad.mkdir()
    (bad / "empty.mp4").write_bytes(b"")
    (bad / "noise.mp4").write_bytes(os.urandom(4096))
    good = sorted(footage.glob("*.mp4"))[1]  # [0] is letterboxed below the resolution floor
    (bad / "cut.mp4").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (bad / "loop.mp4").symlink_to(bad / "loop.mp4")
    listing = tmp_path / "inputs.txt"
    listing.write_text(f"{good}\n{good}\n{bad}\n{tmp_path / 'missing.mp4'}\n")
    out = tmp_path / "out"
    summary = run_curate([listing], out, CurateConfig.load(config_file), runner="local")
    rows = duckdb.sql(f"SELECT stage, rule, source_path FROM '{out}/manifest/rejections.parquet'").fetchall()
    by_file = {Path(p).name: rule for stage, rule, p in rows if stage in ("input", "probe", "decode", "map")}
    assert by_file["empty.mp4"] == "empty_file"
    assert by_file["noise.mp4"] in ("unreadable", "no_video_stream", "invalid_data", "open_failed")
    assert by_file["loop.mp4"] == "symlink_loop"
    assert by_file["missing.mp4"] == "missing"
    assert "duplicate_input" in {rule for _, rule, _ in rows}
    assert summary.reduce.kept > 0  # the good file (and what the truncated one holds) still made it


def test_config_errors_name_the_place(tmp_path: Path) -> None:
    with pytest.raises(CurateConfigError, match=r"clips: unknown key\(s\) max_secs"):
        CurateConfig.from_dict({"clips": {"max_secs": 3}})
    with pytest.raises(CurateConfigError, match="detector.backend"):
        CurateConfig.from_dict({"detector": {"backend": "nope"}})
    with pytest.raises(CurateConfigError, match="expected an integer"):
        CurateConfig.from_dict({"clips": {"min_frames": "ten"}})


def test_audit_sections_and_report(reference: Path, tmp_path: Path) -> None:
    from jobs.audit_report import sections, write_html
    from pipeline.audit import AuditError, connect, sql

    con = connect(reference)
    got = dict(sections(con))
    funnel = got["Funnel"]
    assert list(funnel["stage"])[0] == "input"
    sources = got["Per source"]
    assert (
        len(sources) == 3
        and sources["kept"].sum() == sql(con, "SELECT count(*) n FROM clips WHERE status='kept'")["n"][0]
    )
    clusters = got["Duplicate clusters"]
    assert (
        clusters["copies"].sum() == sql(con, "SELECT count(*) n FROM clips WHERE status='duplicate'")["n"][0]
    )
    report = write_html(tmp_path / "report.html", con, reference)
    text = report.read_text()
    assert "data:image/png;base64," in text and "Duplicate clusters" in text
    with pytest.raises(AuditError, match="query failed"):
        sql(con, "SELECT nope FROM clips")
    with pytest.raises(AuditError, match="no manifest"):
        connect(tmp_path)


def test_ray_runner_gives_the_same_shards(
    reference: Path, footage: Path, config_file: Path, tmp_path: Path
) -> None:
    ray = pytest.importorskip("ray")
    out = tmp_path / "ray"
    try:
        summary = run_curate([footage], out, CurateConfig.load(config_file), runner="ray", num_cpus=2)
    finally:
        ray.shutdown()
    assert tree_bytes(out) == tree_bytes(reference)
    # the two workers Ray started ran every task: nothing (a copy-registry lookup included) left a task
    # waiting in a way that made Ray start another, cold one
    assert summary.workers == 2


def test_a_budget_for_clip_size_frames_needs_no_second_decode(
    reference: Path, footage: Path, tmp_path: Path
) -> None:
    """23 MB holds a whole 6 s video at clip size (~9 MB) but not at source size (~25 MB): the crop guessed
    when source-size frames would overflow lets every clip come from the analysis decode (the crop is only
    final after the first window; without the guess 14 frames per video were evicted), and the shards are the
    default run's."""
    raw = {
        "caption": {"enabled": False},
        "clips": {"short_side": 144, "max_seconds": 2.0, "buffer_mb": 23},
        "shards": {"target_mb": 0.15},
    }
    out = tmp_path / "guessed-crop"
    summary = run_curate([footage], out, CurateConfig.from_dict(raw), runner="local")
    assert summary.stage_seconds.get("second decode", 0) == 0
    assert tree_bytes(out) == tree_bytes(reference)


def test_clips_cut_by_a_second_decode_give_the_same_shards(
    reference: Path, footage: Path, tmp_path: Path
) -> None:
    """A frame budget too small for any clip (every clip cut by the second decode) and one encode thread
    write the shards the default one-decode path writes."""
    raw = {
        "caption": {"enabled": False},
        "clips": {"short_side": 144, "max_seconds": 2.0, "buffer_mb": 0.5, "encode_threads": 1},
        "shards": {"target_mb": 0.15},
    }
    out = tmp_path / "small-buffer"
    summary = run_curate([footage], out, CurateConfig.from_dict(raw), runner="local")
    assert summary.stage_seconds.get("second decode", 0) > 0  # the fallback path did run
    ref = {k: v for k, v in tree_bytes(reference).items() if k.startswith("shards/")}
    assert ref and {k: v for k, v in tree_bytes(out).items() if k.startswith("shards/")} == ref


def _staged_results(out: Path) -> list:
    from pipeline.curate import staging

    results = [staging.load(out, p.name) for p in sorted(staging.videos_dir(out).iterdir()) if p.is_dir()]
    return [r for r in results if r is not None]


def _deferred(out: Path) -> int:
    """Clips the map tasks left unencoded for a better copy (from the staged results)."""
    return sum(c.deferred_to is not None for r in _staged_results(out) for c in r.clips)


def test_clips_deferred_to_a_better_copy_leave_the_output_unchanged(
    reference: Path, footage: Path, tmp_path: Path
) -> None:
    """The reused opening's clips in later videos are not encoded (the run had fingerprinted a better copy),
    and the output is the one of a run that encodes every clip."""
    assert _deferred(reference) > 0
    raw = {
        "caption": {"enabled": False},
        "clips": {"short_side": 144, "max_seconds": 2.0},
        "shards": {"target_mb": 0.15},
        "dedupe": {"defer_copies": False},
    }
    out = tmp_path / "encode-all"
    run_curate([footage], out, CurateConfig.from_dict(raw), runner="local")
    assert _deferred(out) == 0
    assert tree_bytes(out) == tree_bytes(reference)


def test_a_deferred_clip_the_reduce_keeps_is_encoded_there(
    reference: Path, footage: Path, config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registry that names a copy for every clip (as if each better copy were lost later): no task encodes
    anything, the reduce keeps what dedupe keeps and encodes those clips itself, with the same bytes."""
    from pipeline.dedupe.registry import CopyRegistry

    monkeypatch.setattr(CopyRegistry, "better_copy", lambda self, fp: "a-copy-that-never-reaches-the-reduce")
    out = tmp_path / "all-deferred"
    run_curate([footage], out, CurateConfig.load(config_file), runner="local")
    assert not list(out.glob("work/videos/*/clips/*.mp4.part"))
    kept = duckdb.sql(f"SELECT count(*) AS n FROM '{out}/manifest/clips.parquet' WHERE status = 'kept'").df()
    assert 0 < int(kept.n[0]) <= _deferred(out)
    assert tree_bytes(out) == tree_bytes(reference)


def test_a_resumed_run_starts_the_copy_registry_with_the_staged_clips(
    reference: Path, footage: Path, config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Videos staged before a resume are copies the remaining videos need not encode again: their clips'
    fingerprints are registered before any task runs, and the output is the uninterrupted run's."""
    from pipeline.dedupe.registry import CopyRegistry

    registered: list[int] = []
    register = CopyRegistry.register
    monkeypatch.setattr(
        CopyRegistry, "register", lambda self, fps: (registered.append(len(fps)), register(self, fps))[1]
    )
    cfg = CurateConfig.load(config_file)
    out = tmp_path / "resumed"
    first = next(r.input_path for r in _staged_results(reference) if r.clips)
    run_curate([first], out, cfg, runner="local")
    staged = sum(len(r.clips) for r in _staged_results(out))
    assert registered == [0] and staged > 0
    summary = run_curate([footage], out, cfg, runner="local")
    assert summary.resumed == 1 and registered == [0, staged]
    assert tree_bytes(out) == tree_bytes(reference)
