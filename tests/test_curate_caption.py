"""The curate job with AniCaption on: tags from the experts land in shards and the tags table, and a configured
CLIP model's shot embedding lands in ``emb.npy`` (a tiny random CLIP built here: the plumbing, not the quality)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import duckdb
import numpy as np
import pytest
import webdataset as wds

from pipeline.curate import CurateConfig, run_curate
from pipeline.synthetic import SynthConfig, generate_footage
from taxonomy import load_taxonomy
from tests.test_annotator_clip import tiny_config, tiny_weights  # noqa: F401, F811 (fixtures)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cap_synth")
    generate_footage(out, videos=1, seed=4, config=SynthConfig(width=432, height=240, seconds=6.0))
    return out


def test_tags_and_embeddings_reach_the_shards(footage: Path, tiny_config: dict, tmp_path: Path) -> None:  # noqa: F811
    caption = tmp_path / "caption.yaml"
    caption.write_text(
        json.dumps(
            {
                "base": "default",
                "experts": ["vfx", "style", "framing", "text", "camera", "timing",
                            {"name": "clip", "priority": 0, "options": tiny_config}],
            }
        )
    )  # fmt: skip
    cfg = CurateConfig.from_dict({"caption": {"config": str(caption)}, "clips": {"short_side": 120}})
    out = tmp_path / "out"
    summary = run_curate([footage], out, cfg, runner="local")
    assert summary.reduce.kept > 0
    tax = load_taxonomy()
    samples = list(wds.WebDataset(sorted(str(p) for p in (out / "shards").glob("*.tar")), shardshuffle=False))
    assert samples
    for s in samples:
        meta = json.loads(s["json"])
        tags = json.loads(s["tags.json"])
        assert tax.validate(meta["tags"]) is not None
        assert tags["tag_ids"] == tax.vocab.encode(meta["tags"])
        assert set(meta["missing"]).isdisjoint(meta["tags"])  # a field is tagged or missing with a reason
        assert meta["directive"].startswith("<tag>") and s["txt"].decode() == meta["description"]
        emb = np.load(__import__("io").BytesIO(s["emb.npy"]))
        assert emb.shape == (16,) and abs(np.linalg.norm(emb) - 1) < 0.05
    rows = duckdb.sql(f"SELECT DISTINCT field FROM '{out}/manifest/tags.parquet'").fetchall()
    assert {"camera.movement", "motion.timing", "camera.layout"} <= {r[0] for r in rows}

    # the same job on Ray with AniCaption as an actor pool: shots, the style expert's pictures and the CLIP
    # embedding travel through the actors and the shards come out byte for byte the same
    ray = pytest.importorskip("ray")
    pooled = dataclasses.replace(cfg, ray=dataclasses.replace(cfg.ray, caption_actors=2))
    try:
        run_curate([footage], tmp_path / "pool", pooled, runner="ray", num_cpus=2)
    finally:
        ray.shutdown()
    tars = sorted(p.name for p in (out / "shards").glob("*.tar"))
    assert tars == sorted(p.name for p in (tmp_path / "pool" / "shards").glob("*.tar"))
    for name in tars:
        assert (tmp_path / "pool" / "shards" / name).read_bytes() == (out / "shards" / name).read_bytes()


def test_the_style_expert_reads_the_held_clip_frames_not_the_file(
    footage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import annotator.source_frames

    def no_second_decode(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the curate job decoded source pictures a second time")

    monkeypatch.setattr(annotator.source_frames, "read_source_frames", no_second_decode)
    cfg = CurateConfig.from_dict({"clips": {"short_side": 120}})
    out = tmp_path / "out"
    assert run_curate([footage], out, cfg, runner="local").reduce.kept > 0
    samples = list(wds.WebDataset(sorted(str(p) for p in (out / "shards").glob("*.tar")), shardshuffle=False))
    metas = [json.loads(s["json"]) for s in samples]
    assert metas and all("*" not in m["missing"] for m in metas)  # no clip lost its captions
    assert any("style.medium" in m["tags"] for m in metas)


def test_captions_do_not_depend_on_the_clip_frame_budget(footage: Path, tmp_path: Path) -> None:
    """With a budget too small to hold any frame, the style expert's pictures are read back from the file and
    converted as the held clip frames are: the shards (tags, confidences, directives) are byte for byte the
    default run's."""
    base = {"clips": {"short_side": 120}}
    small = {"clips": {"short_side": 120, "buffer_mb": 0.05}}
    runs = {}
    for name, raw in (("default", base), ("small", small)):
        out = tmp_path / name
        summary = run_curate([footage], out, CurateConfig.from_dict(raw), runner="local")
        assert summary.reduce.kept > 0
        runs[name] = {p.name: p.read_bytes() for p in sorted((out / "shards").glob("*.tar"))}
        if name == "small":
            assert summary.stage_seconds.get("second decode", 0) > 0  # nothing was held
    assert runs["small"] == runs["default"]


def test_tasks_waiting_on_the_caption_actors_never_start_extra_workers(tmp_path: Path) -> None:
    """A Ray task blocked in ``ray.get`` (on its caption actor) hands its CPU back; were videos queued in Ray,
    it would start one on that CPU in a new, cold worker process (and kill it again once idle). With the pool,
    only as many videos as there are task slots are submitted at once, so the tasks run on two workers."""
    ray = pytest.importorskip("ray")
    footage = tmp_path / "footage"
    generate_footage(footage, videos=6, seed=8, config=SynthConfig(width=432, height=240, seconds=4.0))
    cfg = CurateConfig.from_dict({"clips": {"short_side": 120}, "ray": {"caption_actors": 1}})
    try:
        summary = run_curate([footage], tmp_path / "out", cfg, runner="ray", num_cpus=2)
    finally:
        ray.shutdown()
    assert summary.reduce.kept > 0
    assert summary.workers == 2
