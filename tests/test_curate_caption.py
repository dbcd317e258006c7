"""The curate job with AniCaption on: tags from the experts land in shards and the tags table, and a configured
CLIP model's shot embedding lands in ``emb.npy`` (a tiny random CLIP built here: the plumbing, not the quality)."""

from __future__ import annotations

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
