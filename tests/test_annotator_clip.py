"""The CLIP expert and linear probes, on a tiny randomly initialised open_clip model built here (no hub)."""

from __future__ import annotations

import dataclasses
import json
import logging

import cv2
import numpy as np
import pytest

from annotator.base import Expert, ShotInput
from annotator.clip_backend import DEFAULT_ZERO_SHOT_FIELDS, ClipExpert, ClipExpertConfig, ClipExpertError
from annotator.fusion import fuse
from annotator.probes import ProbeError, ProbeTrainConfig, examples_from_shards, load_probes, train_probes
from pipeline.clip_model import ClipLoadError, ClipSpec, load_clip
from pipeline.shards import SampleMetadata, ShardSample, ShardWriter
from taxonomy import load_taxonomy
from tests.videos import shot_from_thumbs

TINY = "anicurate-tiny-clip-annotator"
TINY_CFG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
    # the bundled SimpleTokenizer emits ids up to 49407, so the vocabulary keeps its size; the width stays tiny
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """(model-config JSON, checkpoint file, local-dir folder) of one tiny random CLIP."""
    import open_clip
    import torch

    root = tmp_path_factory.mktemp("tiny_clip")
    cfg_path = root / f"{TINY}.json"
    cfg_path.write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(cfg_path)
    torch.manual_seed(0)
    model = open_clip.create_model(TINY)
    ckpt = root / "tiny.pt"
    torch.save(model.state_dict(), ckpt)
    local = root / "local"
    local.mkdir()
    (local / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CFG, "preprocess_cfg": {}}))
    torch.save(model.state_dict(), local / "open_clip_pytorch_model.bin")
    return cfg_path, ckpt, local


@pytest.fixture(scope="module")
def tiny_config(tiny_weights):
    cfg_path, ckpt, _ = tiny_weights
    return {"model": TINY, "checkpoint": str(ckpt), "model_config": str(cfg_path)}


def make_shot(n: int = 12, seed: int = 0) -> ShotInput:
    """A shot of flat-coloured cel-like 128x72 thumbs."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n):
        img = np.full((72, 128, 3), rng.integers(40, 200, 3), np.uint8)
        cv2.circle(img, (20 + 6 * i, 36), 14, tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
        cv2.circle(img, (20 + 6 * i, 36), 14, (15, 15, 15), 1)
        images.append(img)
    return shot_from_thumbs(np.stack(images))


# --- no weights --------------------------------------------------------------------------------------------


def test_abstains_on_every_field_without_weights_and_says_so_once(caplog):
    expert = ClipExpert.from_config({})
    assert isinstance(expert, Expert) and expert.fields == DEFAULT_ZERO_SHOT_FIELDS
    shot = make_shot()
    with caplog.at_level(logging.WARNING, logger="annotator.clip_backend"):
        out = expert.annotate(shot)
        again = expert.annotate(shot)
    assert not out.votes and not again.votes
    assert [a.field for a in out.abstentions] == list(DEFAULT_ZERO_SHOT_FIELDS)
    for a in out.abstentions:
        assert a.expert == "clip"
        assert a.reason.startswith("no CLIP weights configured: set clip.pretrained=")
        assert "clip.checkpoint=" in a.reason
    assert caplog.text.count("no CLIP weights configured") == 1
    with pytest.raises(ClipLoadError, match="no CLIP weights configured"):
        expert.embed_shot(shot)
    fused = fuse(out.votes, out.abstentions)
    assert "no CLIP weights configured" in fused.missing["style.medium"]
    assert not fused.decisions


def test_abstains_when_the_configured_weights_cannot_be_read(tmp_path):
    expert = ClipExpert.from_config({"checkpoint": str(tmp_path / "missing.pt")})
    out = expert.annotate(make_shot())
    assert not out.votes and all("is not a file" in a.reason for a in out.abstentions)
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    (empty / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CFG}))
    with pytest.raises(ClipLoadError, match="holds no weights"):
        load_clip(ClipSpec(model=f"local-dir:{empty}"))
    with pytest.raises(ClipLoadError, match="not both"):
        load_clip(ClipSpec(pretrained="openai", checkpoint=str(tmp_path / "x.pt")))


def test_config_errors_name_the_key():
    with pytest.raises(ClipExpertError, match="unknown key"):
        ClipExpertConfig.from_dict({"pretraind": "x"})
    with pytest.raises(ClipExpertError, match="temperature"):
        ClipExpertConfig.from_dict({"temperature": 0})
    with pytest.raises(KeyError, match="camera.movment"):
        ClipExpert.from_config({"fields": ["camera.movment"]})


# --- zero-shot ---------------------------------------------------------------------------------------------


def test_checkpoint_and_local_dir_load_the_same_weights(tiny_weights, tiny_config):
    _, _, local = tiny_weights
    a = load_clip(ClipExpertConfig.from_dict(tiny_config).spec)
    b = load_clip(ClipSpec(model=f"local-dir:{local}"))
    shot = make_shot()
    imgs = [shot.frames.thumb[0], shot.frames.thumb[5]]
    assert a.embed_dim == b.embed_dim == 16
    np.testing.assert_allclose(a.encode_images(imgs), b.encode_images(imgs), atol=1e-5)
    text = a.encode_texts(["a hand-drawn anime shot", "a 3D computer-animated shot"])
    assert text.shape == (2, 16) and np.allclose(np.linalg.norm(text, axis=1), 1, atol=1e-5)


def test_embed_shot_is_the_mean_of_unit_frame_embeddings(tiny_config):
    expert = ClipExpert.from_config({**tiny_config, "frames": 3})
    shot = make_shot()
    emb = expert.embed_shot(shot)
    assert emb.shape == (16,) and emb.dtype == np.float32
    idx = shot.view.sample(3)
    rows = expert.embed_images([shot.view.picture[i] for i in idx])
    assert np.allclose(np.linalg.norm(rows, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(emb, rows.mean(axis=0), atol=1e-6)
    assert expert.embed_shot(shot) is emb  # same shot: embedded once
    big = [cv2.resize(shot.frames.thumb[i], (640, 360)) for i in idx]  # caller-supplied higher-res frames
    hi = expert.embed_shot(images=big)
    assert hi.shape == (16,) and np.isfinite(hi).all()
    with pytest.raises(ValueError, match="empty"):
        expert.embed_shot(images=[])


def test_zero_shot_votes_are_valid_and_fuse(tiny_config):
    tax = load_taxonomy()
    # the random model is nearly uniform: a sharp temperature and no margin make it commit on every field
    expert = ClipExpert.from_config(
        {**tiny_config, "temperature": 1e-4, "min_margin": 0.0, "multi_min_prob": 0.2}
    )
    out = expert.annotate(make_shot())
    covered = {v.field for v in out.votes} | {a.field for a in out.abstentions}
    assert covered == set(DEFAULT_ZERO_SHOT_FIELDS)
    singles = [f for f in DEFAULT_ZERO_SHOT_FIELDS if not tax.field(f).multi]
    assert {v.field for v in out.votes} >= set(singles)
    for v in out.votes:
        for value in v.values:
            assert not tax.value(v.field, value).deprecated
        assert 0 <= v.confidence <= 1 and v.expert == "clip"
        if not tax.field(v.field).multi:
            assert 0 <= v.evidence["margin"] <= 1 and -1 <= v.evidence["cosine"] <= 1
    fused = fuse(out.votes, out.abstentions, {"clip": expert.priority}, tax)
    assert set(fused.tags) <= set(DEFAULT_ZERO_SHOT_FIELDS)
    tax.validate({f: list(vs) for f, vs in fused.tags.items()})


def test_zero_shot_picks_the_value_whose_prompts_match(tiny_config):
    """An embedding equal to one value's prompt prototype is decided as that value, confidently."""
    expert = ClipExpert.from_config(
        {**tiny_config, "fields": ["style.medium", "camera.angle"], "temperature": 1e-3}
    )
    protos = expert.prototypes()
    for fid in ("style.medium", "camera.angle"):
        for k, value in enumerate(protos.values[fid]):
            out = expert.annotate_embedding(protos.rows[fid][k])
            vote = next(v for v in out.votes if v.field == fid)
            assert vote.values == (value,) and vote.evidence["cosine"] == pytest.approx(1.0, abs=1e-4)


def test_ambiguous_single_field_abstains_with_both_values_named(tiny_config):
    expert = ClipExpert.from_config({**tiny_config, "fields": ["style.palette"], "temperature": 10.0})
    out = expert.annotate(make_shot())  # a huge temperature flattens the softmax: no value leads
    assert not out.votes
    (a,) = out.abstentions
    assert a.field == "style.palette" and "ambiguous" in a.reason and "margin" in a.reason


# --- probes ------------------------------------------------------------------------------------------------


def toy_problem(n: int, dim: int = 16, seed: int = 0):
    """Three separable clusters for style.medium; vfx.effects speed_lines / fire from the signs of two dims."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((3, dim)).astype(np.float32) * 3
    media = ("2d_cel", "3dcg", "stop_motion")
    x, labels = [], []
    for i in range(n):
        k = i % 3
        v = centers[k] + rng.standard_normal(dim).astype(np.float32) * 0.3
        v[0], v[1] = rng.choice([-1.0, 1.0], 2) * rng.uniform(0.5, 2.0, 2)
        effects = [e for e, d in (("speed_lines", 0), ("fire", 1)) if v[d] > 0]
        lab: dict[str, object] = {"style.medium": media[k], "vfx.effects": effects}
        if i % 5 == 0:
            del lab["style.medium"]  # unknown for this shot: it must not train the medium head
        x.append(v)
        labels.append(lab)
    return np.stack(x), labels


def test_probes_learn_a_separable_toy_problem_and_round_trip(tmp_path):
    x, labels = toy_problem(120)
    probes = train_probes(x, labels, config=ProbeTrainConfig(epochs=100), embedder="toy")
    assert set(probes.fields) == {"style.medium", "vfx.effects"}
    assert probes.report.examples == {"style.medium": 96, "vfx.effects": 120}
    assert min(probes.report.train_accuracy.values()) >= 0.95
    x2, l2 = toy_problem(180, seed=0)  # same clusters, 60 more draws than the training set saw
    held_x, held_l = x2[120:], l2[120:]
    med = probes.probes["style.medium"]
    pred = med.probabilities(held_x).argmax(axis=1)
    truth = [lab.get("style.medium") for lab in held_l]
    known = [i for i, t in enumerate(truth) if t]
    assert np.mean([med.values[pred[i]] == truth[i] for i in known]) >= 0.95
    eff = probes.probes["vfx.effects"]
    on = eff.probabilities(held_x) >= 0.5
    want = np.array([[v in lab["vfx.effects"] for v in eff.values] for lab in held_l])
    assert (on == want).all(axis=1).mean() >= 0.9

    path = probes.save(tmp_path / "probes.pt")
    back = load_probes(path)
    assert back.taxonomy_version == load_taxonomy().version and back.embedder == "toy"
    for fid, p in probes.probes.items():
        q = back.probes[fid]
        assert q.values == p.values and q.multi == p.multi
        np.testing.assert_allclose(q.probabilities(held_x), p.probabilities(held_x), rtol=1e-6)


def test_probe_checkpoint_for_another_taxonomy_version_is_refused(tmp_path):
    tax = load_taxonomy()
    other = dataclasses.replace(tax, version="pks-0.9")
    x, labels = toy_problem(30)
    path = train_probes(x, labels, taxonomy=other, config=ProbeTrainConfig(epochs=5)).save(
        tmp_path / "old.pt"
    )
    with pytest.raises(
        ProbeError, match=r"trained for taxonomy pks-0\.9, but the taxonomy in use is pks-1\.0"
    ):
        load_probes(path, tax)
    with pytest.raises(ProbeError, match="does not exist"):
        load_probes(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ProbeError, match="not a readable probe checkpoint"):
        load_probes(tmp_path / "junk.pt")


def test_probe_training_refuses_bad_labels_and_reports_thin_fields():
    x, labels = toy_problem(30)
    with pytest.raises(ProbeError, match="label 0"):
        train_probes(x, [{"style.medium": "2d_cell"}] + labels[1:])
    with pytest.raises(ProbeError, match="one row per label"):
        train_probes(x[:5], labels)
    labels = [dict(lab) for lab in labels]
    labels[0]["camera.angle"] = "low_angle"
    probes = train_probes(x, labels, config=ProbeTrainConfig(epochs=5))
    assert "camera.angle" not in probes.probes and "min_examples" in probes.report.skipped["camera.angle"]


def test_probes_train_from_shards_and_drive_the_expert(tmp_path, tiny_config):
    tax = load_taxonomy()
    expert = ClipExpert.from_config({**tiny_config, "fields": []})
    shots = [make_shot(8, seed=s) for s in range(12)]
    out_dir = tmp_path / "shards"
    with ShardWriter(out_dir, target_bytes=4096) as writer:
        for i, shot in enumerate(shots):
            medium = "2d_cel" if i % 2 else "3dcg"
            meta = SampleMetadata(
                key=f"{i:016x}_{0:07d}_{7:07d}",
                video_id=f"{i:016x}",
                source_path="memory",
                shot_id=f"s{i}",
                start_frame=0,
                end_frame=7,
                start_s=0.0,
                end_s=0.33,
                fps="24",
                width=640,
                height=360,
                frames=8,
                taxonomy_version=tax.version,
                tags={"style.medium": [medium], "vfx.effects": []},
            )
            ids = tax.vocab.encode({"style.medium": medium})
            writer.write(ShardSample(meta, b"\x00", ids, [0], embedding=expert.embed_shot(shot)))
    shards = sorted(out_dir.glob("*.tar"))
    assert len(shards) >= 2
    x, labels, keys = examples_from_shards(shards)
    assert x.shape == (12, 16) and len(keys) == 12 and labels[0]["vfx.effects"] == []
    np.testing.assert_allclose(x[3], expert.embed_shot(shots[3]), atol=1e-6)
    probes = train_probes(
        x, labels, config=ProbeTrainConfig(epochs=100), embedder=expert.config.spec.describe()
    )
    path = probes.save(tmp_path / "probes.pt")
    with_probes = ClipExpert.from_config({**tiny_config, "probes": str(path), "fields": ["style.medium"]})
    assert with_probes.fields == ("style.medium", "vfx.effects") and with_probes.zero_shot_fields == ()
    out = with_probes.annotate_embedding(x[1])
    for v in out.votes:
        tax.value(v.field, v.values[0])
    assert {v.field for v in out.votes} | {a.field for a in out.abstentions} == {
        "style.medium",
        "vfx.effects",
    }

    from typer.testing import CliRunner

    from jobs.cli import app

    result = CliRunner().invoke(
        app,
        [
            "probes",
            "train",
            str(out_dir / "*.tar"),
            "--out",
            str(tmp_path / "cli.pt"),
            "--holdout",
            "0.25",
            "--epochs",
            "100",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    medium = report["fields"]["style.medium"]
    assert medium["train_examples"] == 9 and medium["heldout_examples"] == 3
    assert load_probes(tmp_path / "cli.pt").fields == ("style.medium", "vfx.effects")
    bad = CliRunner().invoke(
        app, ["probes", "train", str(tmp_path / "none.tar"), "--out", str(tmp_path / "x.pt")]
    )
    assert bad.exit_code == 2 and "no such shard file" in bad.output

    mismatched = train_probes(
        x, labels, config=ProbeTrainConfig(epochs=5), embedder="ViT-B-32/laion2b_s34b_b79k"
    ).save(tmp_path / "other.pt")
    other = ClipExpert.from_config({**tiny_config, "probes": str(mismatched), "fields": []})
    out = other.annotate_embedding(x[0])
    assert not out.votes
    assert all("trained on ViT-B-32/laion2b_s34b_b79k embeddings" in a.reason for a in out.abstentions)
