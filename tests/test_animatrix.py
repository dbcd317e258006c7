"""The AniMatrix-style generator: conditioning channels, AdaLN init, dropout rates, checkpoints, training,
generation, rebalancing weights and the synthetic shard path (tiny models, a few seconds each)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from animatrix.closed_loop import confusion, read_camera
from animatrix.data import Batch, DataConfig, decode_clip, make_loader, pad_tags
from animatrix.generate import GenerationRequest, Generator, parse_tags
from animatrix.model import (
    MODES,
    AniMatrix,
    ConditionDropout,
    DiTBlock,
    FrozenT5,
    ModelConfig,
    OffsetBias,
    TagEncoder,
    build_text_encoder,
    flow_matching_loss,
    sample,
    sample_t,
    sample_times,
)
from animatrix.synthetic_shards import write_synthetic_shards
from animatrix.train import TrainConfig, Trainer, load_checkpoint, run_training
from pipeline.rebalance import rebalance_weights
from pipeline.shards import iter_shard
from pipeline.synthetic import SynthConfig
from taxonomy import TaxonomyError, load_taxonomy

TAX = load_taxonomy()
WORDS = [
    "a",
    "pan",
    "left",
    "right",
    "static",
    "shot",
    "camera",
    "slides",
    "the",
    "content",
    "tilt",
    "up",
    "down",
    "zoom",
    "wide",
    "close",
]
TINY_MODEL = {
    "frames": 4,
    "size": 16,
    "patch_t": 2,
    "patch_s": 4,
    "dim": 32,
    "depth": 2,
    "heads": 2,
    "tag_dim": 32,
}


def tiny_t5() -> FrozenT5:
    """A random 2-layer T5 encoder with a word-level tokenizer, both built here (no hub)."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    tok = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    torch.manual_seed(0)
    cfg = T5Config(
        vocab_size=len(vocab), d_model=16, d_kv=8, num_heads=2, num_layers=2, d_ff=32, dropout_rate=0.0
    )
    return FrozenT5(T5EncoderModel(cfg), tokenizer, max_tokens=16)


def tiny_model(**overrides) -> AniMatrix:
    vocab = TAX.vocab
    cfg = ModelConfig(num_tags=len(vocab), num_fields=vocab.num_fields, **{**TINY_MODEL, **overrides})
    torch.manual_seed(0)
    return AniMatrix(cfg, tiny_t5())


def tag_batch(tag_lists: list[list[str]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    vocab = TAX.vocab
    ids = [[vocab.id_of(t) for t in tags] for tags in tag_lists]
    return pad_tags(ids, [[vocab.field_index_of(i) for i in row] for row in ids], max_tags=8)


TAGS_A = ["camera.movement=pan_left", "motion.timing=twos", "camera.shot_size=wide"]
TAGS_B = ["camera.movement=static"]


# ---------------------------------------------------------------------------------------------- channels


def test_tag_encoder_shapes_and_padding_mask():
    enc = TagEncoder(len(TAX.vocab), TAX.vocab.num_fields, dim=32, layers=3, heads=4).eval()
    ids, fields, mask = tag_batch([TAGS_A, TAGS_B])
    tokens, cls = enc(ids, fields, mask)
    assert tokens.shape == (2, 3, 32) and cls.shape == (2, 32)
    assert torch.all(tokens[1, 1:] == 0)  # padded positions carry nothing
    # what sits in a padded slot does not leak into the real tokens or the CLS
    ids2 = ids.clone()
    ids2[1, 1:] = TAX.vocab.id_of("vfx.effects=fire")
    tokens2, cls2 = enc(ids2, fields, mask)
    assert torch.allclose(tokens2, tokens, atol=1e-6) and torch.allclose(cls2, cls, atol=1e-6)
    # but a real tag does change the CLS
    _, cls3 = enc(ids2, fields, torch.ones_like(mask))
    assert not torch.allclose(cls3[1], cls[1], atol=1e-4)


def test_text_channel_shapes_and_masking_of_dropped_or_empty_text():
    model = tiny_model().eval()
    ids, fields, mask = tag_batch([TAGS_A, TAGS_B])
    cond = model.encode(["camera pan left", ""], ids, fields, mask)
    n = cond.text_tokens.shape[1]
    assert cond.text_tokens.shape == (2, n, 16) and cond.text_mask.shape == (2, n)
    assert cond.text_mask[0, :4].all() and not cond.text_mask[1].any()  # 3 words + </s>; empty = no text
    ctx, ctx_mask, cls = model.context(cond)
    assert ctx.shape == (2, 1 + n + 3, 32) and ctx_mask.shape == (2, 1 + n + 3) and cls.shape == (2, 32)
    assert ctx_mask[:, 0].all()  # the null token is always attended
    assert ctx_mask[0, 1 + n :].tolist() == [True, True, True] and ctx_mask[1, 1 + n :].tolist() == [
        True,
        False,
        False,
    ]
    # a masked text token cannot influence the prediction
    x, t = torch.randn(2, 3, 4, 16, 16), torch.tensor([0.3, 0.7])
    dropped = cond.drop(torch.tensor([False, False]), cond.tag_mask)
    v = model(x, t, dropped)
    noisy = type(dropped)(*dropped.tensors())
    noisy.text_tokens = dropped.text_tokens + torch.randn_like(dropped.text_tokens)
    assert torch.allclose(model(x, t, noisy), v, atol=1e-5)


def test_t5_loads_from_a_local_directory_and_is_frozen_and_not_checkpointed(tmp_path):
    t5 = tiny_t5()
    t5.t5.save_pretrained(tmp_path / "t5")
    t5.tokenizer.save_pretrained(tmp_path / "t5")
    vocab = TAX.vocab
    cfg = ModelConfig(
        num_tags=len(vocab), num_fields=vocab.num_fields, text_encoder=str(tmp_path / "t5"), **TINY_MODEL
    )
    model = AniMatrix(cfg)
    assert model.text.pretrained and not any(p.requires_grad for p in model.text.parameters())
    tokens, mask = model.text(["camera pan left"])
    ref, _ = t5(["camera pan left"])
    assert torch.allclose(tokens, ref, atol=1e-5)
    assert not any(k.startswith("text.t5.") for k in model.trainable_state())
    with pytest.raises(RuntimeError, match="could not load the T5 text encoder"):
        build_text_encoder(
            ModelConfig(num_tags=4, num_fields=2, text_encoder=str(tmp_path / "missing"), **TINY_MODEL)
        )


def test_adaln_is_identity_initialised():
    block = DiTBlock(32, 4)
    x, c = torch.randn(3, 10, 32), torch.randn(3, 32)
    assert torch.allclose(block.modulated_norm1(x, c), F.layer_norm(x, (32,), eps=1e-6), atol=1e-6)
    shift, scale, gate = block.modulation(c)[:3]
    assert torch.all(shift == 0) and torch.all(scale == 0) and torch.all(gate == 0)


def test_offset_bias_starts_at_zero_and_indexes_token_offsets():
    grid = (2, 3, 3)
    bias = OffsetBias(grid, 16, 2)
    c = torch.randn(4, 16)
    assert torch.all(bias(c) == 0)  # zero-initialised: attention starts as without it
    with torch.no_grad():  # put a logit on one offset only: (dt, dy, dx) = (1, 0, -1) for head 1
        table = torch.zeros(2, bias.offsets)
        offset = (
            ((1 + grid[0] - 1) * (2 * grid[1] - 1) + 0 + grid[1] - 1) * (2 * grid[2] - 1) + -1 + grid[2] - 1
        )
        table[1, offset] = 5.0
        bias.proj[1].bias.copy_(table.flatten())
    out = bias(c)
    assert torch.all(out[:, 0] == 0)
    coords = [(t, y, x) for t in range(grid[0]) for y in range(grid[1]) for x in range(grid[2])]
    for i, (ti, yi, xi) in enumerate(coords):
        for j, (tj, yj, xj) in enumerate(coords):
            want = 5.0 if (ti - tj, yi - yj, xi - xj) == (1, 0, -1) else 0.0
            assert float(out[0, 1, i, j].detach()) == want
    # in the model: identity at init (same output as without the bias), and its logits reach attention
    base, biased = tiny_model(), tiny_model(offset_bias=True)
    biased.load_state_dict(base.state_dict(), strict=False)
    for p in (*base.final.parameters(), *biased.final.parameters()):
        torch.nn.init.normal_(p, std=0.1, generator=torch.Generator().manual_seed(0))
    for block_a, block_b in zip(base.blocks, biased.blocks, strict=True):
        for lin_a, lin_b in ((block_a.ada[1], block_b.ada[1]),):
            with torch.no_grad():
                lin_a.weight.normal_(0, 0.05, generator=torch.Generator().manual_seed(1))
                lin_b.weight.copy_(lin_a.weight)
    cond = base.encode(["camera pan left"], *tag_batch([TAGS_A]))
    x, t = torch.randn(1, 3, 4, 16, 16), torch.tensor([0.7])
    with torch.no_grad():
        assert torch.allclose(base(x, t, cond), biased(x, t, cond), atol=1e-6)
        biased.blocks[0].offset_bias.proj[1].bias.normal_(0, 3.0)
        assert not torch.allclose(base(x, t, cond), biased(x, t, cond), atol=1e-4)


def test_pixel_head_starts_as_identity_and_refines_the_decoded_clip_from_the_input_pixels():
    base, refined = tiny_model(prediction="v"), tiny_model(prediction="v", refine_channels=8)
    refined.load_state_dict(base.state_dict(), strict=False)
    for p in (*base.final.parameters(), *refined.final.parameters()):
        torch.nn.init.normal_(p, std=0.1, generator=torch.Generator().manual_seed(0))
    cond = base.encode(["camera pan left"], *tag_batch([TAGS_A]))
    x, t = torch.randn(2, 3, 4, 16, 16), torch.tensor([0.3, 0.8])
    with torch.no_grad():
        decoded = base(x, t, cond.repeat(2))
        assert torch.allclose(decoded, refined(x, t, cond.repeat(2)), atol=1e-6)  # zero-initialised residual
        refined.refine[2].weight.normal_(0, 0.1, generator=torch.Generator().manual_seed(2))
        t_map = t.view(2, 1, 1, 1, 1).expand(2, 1, 4, 16, 16)
        want = decoded + refined.refine(torch.cat([decoded, x, t_map], dim=1))
        assert torch.allclose(refined(x, t, cond.repeat(2)), want, atol=1e-5)
        assert not torch.allclose(want, decoded, atol=1e-3)


@pytest.mark.parametrize("refine_frames", [1, 3])
def test_pixel_head_reaches_only_the_frames_its_kernels_span(refine_frames):
    model = tiny_model(prediction="v", refine_channels=8, refine_frames=refine_frames)
    with torch.no_grad():
        for conv in (model.refine[0], model.refine[2]):
            conv.weight.normal_(0, 0.1, generator=torch.Generator().manual_seed(3))
    # the head alone, on a decoded clip that differs only in frame 2: two convolutions of span k reach k - 1
    # frames either way
    decoded = torch.zeros(1, 3, 4, 16, 16)
    poked = decoded.clone()
    poked[:, :, 2] = 1.0
    t_map = torch.zeros(1, 1, 4, 16, 16)
    x = torch.zeros(1, 3, 4, 16, 16)
    with torch.no_grad():
        a = model.refine(torch.cat([decoded, x, t_map], dim=1))
        b = model.refine(torch.cat([poked, x, t_map], dim=1))
    changed = [(a[:, :, f] - b[:, :, f]).abs().max().item() > 1e-6 for f in range(4)]
    assert changed == ([False, False, True, False] if refine_frames == 1 else [True, True, True, True])
    with pytest.raises(ValueError, match="refine_frames"):
        tiny_model(refine_channels=8, refine_frames=2)


def test_condition_dropout_modes_occur_at_the_configured_rates():
    drop = ConditionDropout()
    n = 40_000
    mask = torch.ones(n, 6, dtype=torch.bool)
    mode, keep_text, tag_mask = drop.sample(mask, torch.Generator().manual_seed(1))
    rates = {name: float((mode == i).float().mean()) for i, name in enumerate(MODES)}
    for name, want in zip(MODES, (0.7, 0.1, 0.1, 0.1), strict=True):
        assert abs(rates[name] - want) < 0.01, rates
    assert torch.equal(keep_text, (mode == 0) | (mode == 2))
    assert not tag_mask[(mode == 2) | (mode == 3)].any()  # text-only / none: every tag dropped
    kept = tag_mask[(mode == 0) | (mode == 1)]
    assert abs(1 - float(kept.float().mean()) - 0.15) < 0.01  # partial tag drop
    assert not (tag_mask & ~mask).any()  # padding is never turned on
    with pytest.raises(ValueError):
        ConditionDropout(p_hybrid=0.8)


# ------------------------------------------------------------------------------------ training and resume


def fixed_batches(count: int, seed: int = 0) -> list[Batch]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        ids, fields, mask = tag_batch([TAGS_A, TAGS_B])
        video = torch.rand(2, 3, 4, 16, 16, generator=g) * 2 - 1
        out.append(Batch(video, ids, fields, mask, ["camera pan left", "static shot"], ["a", "b"]))
    return out


def test_checkpoint_round_trip_and_resume_continue_identically(tmp_path):
    cfg = TrainConfig(model=TINY_MODEL, steps=4, checkpoint_every=2, log_every=1, precision="fp32")
    batches = fixed_batches(4)
    straight = run_training("unused", tmp_path / "a", cfg, text_encoder=tiny_t5(), batches=iter(batches))
    run_training("unused", tmp_path / "b", cfg, steps=2, text_encoder=tiny_t5(), batches=iter(batches[:2]))
    resumed = run_training(
        "unused", tmp_path / "b", cfg, steps=4, resume=True, text_encoder=tiny_t5(), batches=iter(batches[2:])
    )
    assert [v for _, v in straight.losses[2:]] == [v for _, v in resumed.losses]
    a, b = load_checkpoint(tmp_path / "a"), load_checkpoint(tmp_path / "b")
    assert a["step"] == b["step"] == 4
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for key in a["ema"]:
        assert torch.equal(a["ema"][key], b["ema"][key]), key
    assert a["tag_vocab"] == TAX.vocab.id_map() and a["taxonomy_version"] == TAX.version
    # a supplied T5 counts as pretrained: it is reloaded from its source, never stored in the checkpoint
    assert not any(k.startswith("text.t5.") for k in a["model"])
    rows = [json.loads(line) for line in (tmp_path / "b" / "loss.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert not list((tmp_path / "b").glob(".*tmp"))  # atomic writes leave no temporary file


def test_resume_drops_loss_rows_logged_after_the_checkpoint(tmp_path):
    cfg = TrainConfig(model=TINY_MODEL, steps=2, checkpoint_every=2, log_every=1, precision="fp32")
    batches = fixed_batches(4)
    run_training("unused", tmp_path, cfg, text_encoder=tiny_t5(), batches=iter(batches[:2]))
    # a run killed after logging steps 3 and 4 but before checkpointing them
    with open(tmp_path / "loss.jsonl", "a", encoding="utf-8") as fh:
        for step in (3, 4):
            fh.write(json.dumps({"step": step, "loss": 9.0}) + "\n")
    run_training(
        "unused", tmp_path, cfg, steps=4, resume=True, text_encoder=tiny_t5(), batches=iter(batches[2:])
    )
    rows = [json.loads(line) for line in (tmp_path / "loss.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert all(r["loss"] != 9.0 for r in rows)


def test_resume_drops_a_partly_written_last_loss_row(tmp_path):
    cfg = TrainConfig(model=TINY_MODEL, steps=2, checkpoint_every=2, log_every=1, precision="fp32")
    batches = fixed_batches(3)
    run_training("unused", tmp_path, cfg, text_encoder=tiny_t5(), batches=iter(batches[:2]))
    with open(tmp_path / "loss.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"step": 3, "lo')  # killed mid-write
    run_training(
        "unused", tmp_path, cfg, steps=3, resume=True, text_encoder=tiny_t5(), batches=iter(batches[2:])
    )
    rows = [json.loads(line) for line in (tmp_path / "loss.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]


def test_lr_cooldown_falls_linearly_to_zero_over_the_last_decay_steps_and_can_branch_on_resume(tmp_path):
    optim = {"lr": 1e-3, "warmup_steps": 2, "decay_steps": 4}
    trainer = Trainer(
        TrainConfig(model=TINY_MODEL, optim=optim, steps=10, precision="fp32"), text_encoder=tiny_t5()
    )
    lrs = [trainer.lr_at(s) for s in range(10)]
    assert lrs == pytest.approx([5e-4, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 7.5e-4, 5e-4, 2.5e-4])
    trainer.total_steps = 20  # --steps moves the cooldown with the run's end
    assert trainer.lr_at(9) == trainer.lr_at(15) == pytest.approx(1e-3) and trainer.lr_at(
        19
    ) == pytest.approx(2.5e-4)
    with pytest.raises(ValueError, match="decay_steps"):
        TrainConfig(optim={"decay_steps": -1})

    # a constant-LR run to step 2, then a cooldown of 2 steps branched from its checkpoint on resume
    cfg = TrainConfig(model=TINY_MODEL, steps=2, log_every=1, precision="fp32", optim={"warmup_steps": 1})
    batches = fixed_batches(4)
    run_training("unused", tmp_path, cfg, text_encoder=tiny_t5(), batches=iter(batches[:2]))
    run_training(
        "unused",
        tmp_path,
        cfg,
        steps=4,
        resume=True,
        decay_steps=2,
        text_encoder=tiny_t5(),
        batches=iter(batches[2:]),
    )
    rows = [json.loads(line) for line in (tmp_path / "loss.jsonl").read_text().splitlines()]
    lr = cfg.optim.lr
    assert [r["lr"] for r in rows] == pytest.approx([lr, lr, lr, lr / 2])
    assert load_checkpoint(tmp_path)["config"]["optim"]["decay_steps"] == 2

    # extending the cooled-down run moves the cooldown to the new end: the LR jumps back up, with a warning
    said: list[str] = []
    more = fixed_batches(2)
    run_training("unused", tmp_path, cfg, steps=6, resume=True, text_encoder=tiny_t5(), batches=iter(more),
                 say=said.append)  # fmt: skip
    assert any(m.startswith("warning: the LR rises from") for m in said), said
    rows = [json.loads(line) for line in (tmp_path / "loss.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in rows][4:] == pytest.approx([lr, lr / 2])
    # resuming without moving the end gives no warning
    said.clear()
    run_training("unused", tmp_path, cfg, steps=6, resume=True, text_encoder=tiny_t5(), batches=iter(more),
                 say=said.append)  # fmt: skip
    assert not any(m.startswith("warning") for m in said), said


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("animatrix")
    synth = SynthConfig(width=96, height=64, seconds=6.0)
    return write_synthetic_shards(out, videos=2, seed=3, synth=synth, clip_max_frames=24, clip_min_frames=12)


def test_synthetic_shards_follow_the_shard_format(shards):
    samples = [s for path in shards.shards for s in iter_shard(path)]
    assert len(samples) == shards.samples > 4
    vocab = TAX.vocab
    for s in samples:
        assert {"mp4", "json", "tags.json", "txt", "jpg"} <= set(s)
        meta, tags = json.loads(s["json"]), json.loads(s["tags.json"])
        assert tags["taxonomy_version"] == TAX.version == meta["taxonomy_version"]
        assert [str(vocab.tag_of(i)) for i in tags["tag_ids"]] == tags["tags"]
        assert tags["field_ids"] == [vocab.field_index_of(i) for i in tags["tag_ids"]]
        assert any(t.startswith("camera.movement=") for t in tags["tags"]) and meta["weight"] > 0
        assert s["txt"].decode()
    weights = [json.loads(s["json"])["weight"] for s in samples]
    assert abs(np.mean(weights) - 1.0) < 1e-3


def test_data_stream_decodes_fixed_size_clips_and_flips_pan_tags(shards):
    cfg = DataConfig(frames=4, size=16, frame_stride=2, batch_size=3, shuffle_buffer=4, hflip=False)
    batch = next(make_loader(shards.pattern, cfg))
    assert batch.video.shape == (3, 3, 4, 16, 16) and batch.video.min() >= -1 and batch.video.max() <= 1
    assert batch.tag_ids.shape == batch.tag_mask.shape and batch.tag_mask.any(dim=1).all()
    sample = next(s for path in shards.shards for s in iter_shard(path))
    clip = decode_clip(sample["mp4"], 4, 16, 2, None)
    assert clip.shape == (4, 16, 16, 3) and clip.dtype == np.uint8
    from animatrix.data import SampleDecoder

    pairs = {t: (i, TAX.vocab.field_index_of(i)) for t, i in TAX.vocab.id_map().items()}
    raw = dict(sample)
    meta = json.loads(raw["tags.json"])
    meta.update(
        tags=["camera.movement=pan_left"],
        tag_ids=[pairs["camera.movement=pan_left"][0]],
        field_ids=[pairs["camera.movement=pan_left"][1]],
    )
    raw["tags.json"] = json.dumps(meta).encode()
    raw["txt"] = b"The camera pans left as she runs leftwards past the Right Tower; bright lights."
    dec = SampleDecoder(DataConfig(frames=4, size=16, hflip=True), pairs)
    seen = {(tuple(s.tags), s.text) for s in (dec(raw) for _ in range(40))}
    assert seen == {
        (("camera.movement=pan_left",), "The camera pans left as she runs leftwards past the Right Tower; bright lights."),
        (("camera.movement=pan_right",), "The camera pans right as she runs rightwards past the Left Tower; bright lights."),
    }  # fmt: skip


def test_mirrored_text_swaps_joined_sides_but_not_words_containing_them():
    from animatrix.data import mirror_text

    text = "pan_right at 1.8 px/frame (content slides left); left-hand door, leftover outright LEFTWARD"
    assert mirror_text(text) == (
        "pan_left at 1.8 px/frame (content slides right); right-hand door, leftover outright RIGHTWARD"
    )
    assert mirror_text(mirror_text(text)) == text


def test_tag_fields_keep_only_the_named_fields_and_unknown_fields_fail(shards):
    from animatrix.data import SampleDecoder

    sample = next(s for path in shards.shards for s in iter_shard(path))
    everything = SampleDecoder(DataConfig(frames=4, size=16))(dict(sample))
    camera = SampleDecoder(DataConfig(frames=4, size=16, tag_fields=["camera.movement"]))(dict(sample))
    assert len(everything.tags) > 1 and any(t.startswith("camera.movement=") for t in everything.tags)
    assert camera.tags == [t for t in everything.tags if t.startswith("camera.movement=")]
    kept = [everything.tags.index(t) for t in camera.tags]
    assert camera.tag_ids == [everything.tag_ids[k] for k in kept]
    assert camera.field_ids == [everything.field_ids[k] for k in kept]
    assert torch.equal(camera.video, everything.video) and camera.text == everything.text
    bad = TrainConfig.from_dict({"data": {"tag_fields": ["camera.dolly"]}})
    with pytest.raises(ValueError, match="camera.dolly"):
        Trainer(bad)


def test_bundled_configs_load_and_build_a_model_config():
    from pathlib import Path

    from animatrix.train import load_config

    configs = sorted((Path(__file__).resolve().parents[1] / "animatrix" / "configs").glob("*.yaml"))
    assert {c.name for c in configs} >= {"tiny.yaml", "proof.yaml"}
    for path in configs:
        cfg = load_config(path)
        mc = ModelConfig(num_tags=len(TAX.vocab), num_fields=TAX.vocab.num_fields, **cfg.model)
        assert mc.frames == cfg.data.frames and mc.size == cfg.data.size, path.name
        assert cfg.loss_weighting in ("v", "x") and cfg.data.cache_decoded, path.name
    with pytest.raises(ValueError, match="unknown train config keys"):
        TrainConfig.from_dict({"stepz": 3})


def test_cached_decoding_gives_the_same_clips_as_decoding_each_time(shards):
    import random

    from animatrix.data import SampleDecoder, decode_all, window_indices

    raw = next(s for path in shards.shards for s in iter_shard(path))
    every = decode_all(raw["mp4"], 16)
    assert every.shape[1:] == (16, 16, 3) and every.shape[0] >= 12
    for seed in range(3):
        a, b = random.Random(seed), random.Random(seed)
        idx = window_indices(len(every), 4, 3, a)
        assert np.array_equal(every[idx], decode_clip(raw["mp4"], 4, 16, 3, b))
    plain = SampleDecoder(DataConfig(frames=4, size=16, frame_stride=2, seed=5), train=True)
    cached = SampleDecoder(
        DataConfig(frames=4, size=16, frame_stride=2, seed=5, cache_decoded=True), train=True
    )
    for _ in range(3):
        assert torch.equal(plain(raw).video, cached(raw).video)
    assert list(cached._frames) == [raw["__key__"]]


def test_x_loss_weighting_scales_the_velocity_loss_by_t_squared():
    model = tiny_model()
    cond = model.encode(["camera pan left"], *tag_batch([TAGS_A]))
    x0 = torch.rand(1, 3, 4, 16, 16) * 2 - 1
    with torch.no_grad():
        v = flow_matching_loss(model, x0, cond, torch.Generator().manual_seed(1), weighting="v")
        x = flow_matching_loss(model, x0, cond, torch.Generator().manual_seed(1), weighting="x")
    t = sample_t(1, "uniform", torch.Generator().manual_seed(1)).clamp(min=model.cfg.t_min)
    assert float(x) == pytest.approx(float(v) * float(t[0]) ** 2, rel=1e-5)
    with pytest.raises(ValueError, match="loss weighting"):
        flow_matching_loss(model, x0, cond, weighting="snr")


class _ErrorModel(torch.nn.Module):
    """Predicts the true velocity of a known (x0, noise) plus a given error."""

    def __init__(self, x0: torch.Tensor, noise: torch.Tensor, error: torch.Tensor) -> None:
        super().__init__()
        self.target, self.error = noise - x0, error

    def forward(self, xt, t, cond):
        return self.target + self.error


def test_temporal_loss_term_charges_errors_redrawn_per_frame_not_errors_shared_by_frames():
    x0 = torch.rand(2, 3, 4, 8, 8) * 2 - 1
    g = torch.Generator().manual_seed(3)
    sample_t(2, "uniform", g)  # the loss draws t first, then the noise
    noise = torch.randn(x0.shape, generator=g)
    shared = torch.randn(2, 3, 1, 8, 8).expand(2, 3, 4, 8, 8) * 0.1  # the same error on every frame
    redrawn = torch.randn(2, 3, 4, 8, 8) * 0.1  # a new error on every frame

    def loss(error: torch.Tensor, w: float) -> float:
        model = _ErrorModel(x0, noise, error)
        return float(flow_matching_loss(model, x0, None, torch.Generator().manual_seed(3), temporal_weight=w))

    assert loss(shared, 1.0) == pytest.approx(loss(shared, 0.0), rel=1e-6)  # no frame-to-frame difference
    plain, with_term = loss(redrawn, 0.0), loss(redrawn, 1.0)
    expected = float((redrawn[:, :, 1:] - redrawn[:, :, :-1]).pow(2).mean())
    assert with_term == pytest.approx(plain + expected, rel=1e-5)
    assert with_term > 2.5 * plain  # about twice the error's MSE on top of it
    with pytest.raises(ValueError, match="temporal_weight"):
        loss(redrawn, -1.0)


def test_training_time_shift_moves_the_times_towards_noise_and_reaches_the_loss():
    plain = sample_t(20000, "uniform", torch.Generator().manual_seed(2))
    shifted = sample_t(20000, "uniform", torch.Generator().manual_seed(2), shift=6.0)
    assert torch.allclose(shifted, 6 * plain / (1 + 5 * plain))
    assert float(plain.median()) == pytest.approx(0.5, abs=0.02)
    assert float(shifted.median()) == pytest.approx(6 * 0.5 / 3.5, abs=0.02)  # 0.857
    assert float(shifted.max()) < 1.0 and float(shifted.min()) > 0.0
    model = tiny_model()
    cond = model.encode(["camera pan left"], *tag_batch([TAGS_A]))
    x0 = torch.rand(1, 3, 4, 16, 16) * 2 - 1
    with torch.no_grad():
        losses = [
            float(
                flow_matching_loss(
                    model, x0, cond, torch.Generator().manual_seed(1), weighting="x", t_shift=s
                )
            )
            for s in (1.0, 6.0)
        ]
    t = sample_t(1, "uniform", torch.Generator().manual_seed(1))
    assert losses[1] != losses[0] and float(t[0]) < float(
        sample_t(1, "uniform", torch.Generator().manual_seed(1), shift=6.0)[0]
    )
    with pytest.raises(ValueError, match="shift"):
        sample_t(4, "uniform", shift=0.0)


@pytest.mark.slow
def test_a_few_training_steps_on_synthetic_shards_reduce_the_loss(shards, tmp_path):
    cfg = TrainConfig(
        model=TINY_MODEL,
        data=DataConfig(frames=4, size=16, frame_stride=2, batch_size=4, shuffle_buffer=8),
        optim={"lr": 2e-3, "warmup_steps": 1},
        precision="fp32",
    )
    trainer = Trainer(cfg, TAX, tiny_t5())
    probe = next(make_loader(shards.pattern, cfg.data, train=False))

    def probe_loss() -> float:
        cond = trainer.model.encode(probe.texts, probe.tag_ids, probe.field_ids, probe.tag_mask)
        with torch.no_grad():
            return float(
                flow_matching_loss(trainer.model, probe.video, cond, torch.Generator().manual_seed(0))
            )

    before = probe_loss()
    stream = make_loader(shards.pattern, cfg.data)
    for _ in range(40):
        trainer.train_step(next(stream))
    after = probe_loss()
    assert after < 0.85 * before, (before, after)


def test_train_command_trains_then_branches_a_cooldown_on_resume(shards, tmp_path):
    import yaml
    from typer.testing import CliRunner

    from jobs.cli import app

    config = tmp_path / "train.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": {
                    **TINY_MODEL,
                    "text_encoder": "random-byt5-tiny",
                    "tiny_t5": {"d_model": 16, "d_kv": 8, "d_ff": 32},
                },
                "data": {"frames": 4, "size": 16, "frame_stride": 2, "batch_size": 2, "shuffle_buffer": 4},
                "optim": {"lr": 1e-3, "warmup_steps": 1},
                "precision": "fp32",
                "log_every": 1,
                "steps": 2,
            }
        )
    )
    run = tmp_path / "run"
    base = ["train", "--shards", shards.pattern, "--out", str(run), "--config", str(config)]
    runner = CliRunner()
    first = runner.invoke(app, base)
    assert first.exit_code == 0, first.output
    branched = runner.invoke(app, [*base, "--resume", "--steps", "4", "--decay-steps", "2"])
    assert branched.exit_code == 0, branched.output
    rows = [json.loads(line) for line in (run / "loss.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert [r["lr"] for r in rows] == pytest.approx([1e-3, 1e-3, 1e-3, 5e-4])
    assert json.loads((run / "config.json").read_text())["optim"]["decay_steps"] == 2


# ------------------------------------------------------------------------------------------- generation


@pytest.mark.parametrize("eta", [1.0, 0.0])
def test_generation_is_deterministic_for_a_seed(eta):
    model = tiny_model()
    with torch.no_grad():  # an output that depends on the input (the zero-initialised head predicts 0)
        for p in model.final.parameters():
            p.normal_(0, 0.3, generator=torch.Generator().manual_seed(2))
    gen = Generator(model, TAX)
    request = GenerationRequest(TAGS_A, "camera pan left", w_text=3.0, w_tag=2.0, steps=3, seed=5, eta=eta)
    a, b = gen.generate(request), gen.generate(request)
    assert a.shape == (1, 4, 16, 16, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    c = gen.generate(GenerationRequest(TAGS_A, "camera pan left", 3.0, 2.0, 3, seed=6, eta=eta))
    assert not np.array_equal(a, c)


class XOracle(torch.nn.Module):
    """A "model" whose x-prediction is exactly ``x0`` (velocity ``(x - x0) / max(t, t_min)`` as AniMatrix
    derives it); records the (t, x) it is called with."""

    def __init__(self, cfg: ModelConfig, x0: torch.Tensor) -> None:
        super().__init__()
        self.cfg, self.x0, self.calls = cfg, x0, []

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond) -> torch.Tensor:
        self.calls.append((t.clone(), x.clone()))
        tt = t.clamp(min=self.cfg.t_min).view(-1, 1, 1, 1, 1)
        return (x - self.x0.expand_as(x)) / tt


@pytest.mark.parametrize(
    "steps,method,shift,t_start",
    [
        (1, "euler", 1.0, 1.0),
        (7, "euler", 1.0, 1.0),
        (20, "euler", 3.0, 1.0),
        (5, "heun", 3.0, 1.0),
        (10, "euler", 1.0, 0.9),
    ],
)
def test_sample_carries_pure_noise_to_the_oracle_clip_along_the_straight_path(steps, method, shift, t_start):
    model = tiny_model()
    gen = torch.Generator().manual_seed(3)
    x0 = (
        torch.rand(1, 3, 4, 16, 16, generator=gen) * 1.6 - 0.8
    )  # inside [-1, 1]: the final clamp hides nothing
    oracle = XOracle(model.cfg, x0)
    cond = model.encode(["camera pan left"], *tag_batch([TAGS_A]))
    noise = torch.randn(1, 3, 4, 16, 16, generator=torch.Generator().manual_seed(11))
    out = sample(oracle, cond, steps, 5.0, 2.0, torch.Generator().manual_seed(11), shift, method, t_start)
    assert torch.allclose(out, x0, atol=1e-5)
    times = [float(t[0]) for t, _ in oracle.calls]
    assert times[0] == pytest.approx(t_start) and all(a >= b for a, b in zip(times, times[1:], strict=False))
    for t, x in oracle.calls:  # every state lies on x_t = (1 - t/t_start) x0 + (t/t_start) noise
        s = float(t[0]) / t_start
        assert torch.allclose(x[:1], (1 - s) * x0 + s * noise, atol=1e-4)


@pytest.mark.parametrize("eta", [0.5, 1.0])
def test_stochastic_steps_reach_the_oracle_clip_and_eta_zero_is_euler(eta):
    model = tiny_model()
    x0 = torch.rand(1, 3, 4, 16, 16, generator=torch.Generator().manual_seed(3)) * 1.6 - 0.8
    cond = model.encode(["camera pan left"], *tag_batch([TAGS_A]))
    oracle = XOracle(model.cfg, x0)
    out = sample(oracle, cond, 8, 5.0, 2.0, torch.Generator().manual_seed(11), eta=eta)
    assert torch.allclose(out, x0, atol=1e-5)
    # each visited state is x0 mixed with unit-variance noise at its time: x_t - (1 - t) x0 = t * noise
    for t, x in oracle.calls[1:]:
        resid = (x[:1] - (1 - float(t[0])) * x0) / float(t[0])
        assert abs(float(resid.std()) - 1.0) < 0.15
    with torch.no_grad():  # a model whose prediction depends on its input
        for p in model.final.parameters():
            p.normal_(0, 0.3)
    euler = sample(model, cond, 5, 3.0, 2.0, torch.Generator().manual_seed(4))
    eta0 = sample(model, cond, 5, 3.0, 2.0, torch.Generator().manual_seed(4), eta=0.0)
    assert torch.allclose(euler, eta0, atol=1e-5)
    assert not torch.allclose(
        euler, sample(model, cond, 5, 3.0, 2.0, torch.Generator().manual_seed(4), eta=1.0)
    )
    with pytest.raises(ValueError, match="eta"):
        sample(oracle, cond, 4, eta=1.5)
    with pytest.raises(ValueError, match="euler"):
        sample(oracle, cond, 4, method="heun", eta=0.5)


def test_sample_times_shift_spends_steps_near_t1():
    plain, shifted = sample_times(10), sample_times(10, shift=3.0)
    assert plain[0] == shifted[0] == 1.0 and plain[-1] == shifted[-1] == 0.0
    assert (shifted[1:-1] > plain[1:-1]).all()
    assert sample_times(4, t_start=0.9)[0] == pytest.approx(0.9)
    with pytest.raises(ValueError):
        sample_times(0)


def test_unknown_and_invalid_tags_raise_the_taxonomy_error():
    with pytest.raises(TaxonomyError, match=r"unknown value 'pan_lft'; did you mean 'pan_left'"):
        parse_tags(TAX, ["camera.movement=pan_lft"])
    with pytest.raises(TaxonomyError, match="unknown field"):
        parse_tags(TAX, ["camera.moves=pan_left"])
    with pytest.raises(TaxonomyError, match="takes a single value"):
        parse_tags(TAX, ["camera.movement=pan_left", "camera.movement=static"])
    assert parse_tags(TAX, ["motion.timing=twos", "camera.movement=pan_left"]) == {
        "motion.timing": ("twos",),
        "camera.movement": ("pan_left",),
    }


def test_generate_command_writes_mp4_and_gif_and_rejects_unknown_tags(tmp_path):
    from typer.testing import CliRunner

    from jobs.cli import app

    cfg = TrainConfig(
        model={
            **TINY_MODEL,
            "text_encoder": "random-byt5-tiny",
            "tiny_t5": {"d_model": 16, "d_kv": 8, "d_ff": 32},
        },
        precision="fp32",
    )
    trainer = Trainer(cfg, TAX)
    trainer.save(tmp_path / "run")
    runner = CliRunner()
    out = tmp_path / "clip.mp4"
    ok = runner.invoke(
        app,
        [
            "generate",
            "--checkpoint",
            str(tmp_path / "run"),
            "--tags",
            "camera.movement=pan_left",
            "motion.timing=twos",
            "--text",
            "a pan",
            "--out",
            str(out),
            "--steps",
            "2",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert out.stat().st_size > 0 and out.with_suffix(".gif").stat().st_size > 0
    bad = runner.invoke(
        app,
        [
            "generate",
            "--checkpoint",
            str(tmp_path / "run"),
            "--tags",
            "camera.movement=pan_lft",
            "--out",
            str(tmp_path / "x.mp4"),
        ],
    )
    assert bad.exit_code == 2 and "did you mean 'pan_left'" in bad.output
    assert not (tmp_path / "x.mp4").exists()


def test_generation_samples_with_the_checkpoints_training_shift_by_default(tmp_path):
    cfg = TrainConfig(model=TINY_MODEL, precision="fp32", t_shift=4.0)
    trainer = Trainer(cfg, TAX, tiny_t5())
    with torch.no_grad():  # a non-zero output layer, so the sampled clip depends on the schedule
        for p in trainer.model.final.parameters():
            p.normal_(0, 0.5)
        trainer.ema = {n: p.detach().clone() for n, p in trainer.params.items()}
    trainer.save(tmp_path / "run")
    gen = Generator.from_checkpoint(tmp_path / "run", TAX, tiny_t5())
    assert gen.train_shift == 4.0

    def clip(shift):
        return gen.generate(
            GenerationRequest(TAGS_A, "a pan", w_text=0.0, w_tag=1.0, steps=4, seed=3, shift=shift)
        )

    assert np.array_equal(clip(None), clip(4.0))
    assert not np.array_equal(clip(None), clip(1.0))


# ------------------------------------------------------------------------------------------- rebalancing


def test_rebalance_weights_follow_the_rule():
    clips = [
        ["camera.movement=static", "motion.timing=twos"],
        ["camera.movement=static", "motion.timing=twos"],
        ["camera.movement=static", "motion.timing=twos"],
        ["camera.movement=pan_left", "motion.timing=twos", "vfx.effects=fire"],
    ]
    raw = rebalance_weights(clips, normalise=False)
    # style: untagged in all 4 (n_s = 1); motion: twos in 4/4; camera: 3/4 vs 1/4; vfx: untagged 3/4 vs fire 1/4
    assert raw[0] == pytest.approx((1 / (1 * 1 * 0.75 * 0.75)) ** 0.7)
    assert raw[3] == pytest.approx((1 / (1 * 1 * 0.25 * 0.25)) ** 0.7)
    norm = rebalance_weights(clips)
    assert np.mean(norm) == pytest.approx(1.0) and norm[3] > norm[0]
    # the rarest tag of an axis decides
    assert (
        rebalance_weights(
            [["motion.timing=twos", "motion.action=run"], ["motion.timing=twos"]], normalise=False
        )[0]
        > 1
    )
    with pytest.raises(ValueError):
        rebalance_weights([["nonsense"]])


def test_run_closed_loop_generates_per_class_and_reads_with_each_reader():
    from animatrix.closed_loop import CAMERA_CLASSES, run_closed_loop

    vocab = TAX.vocab
    cfg = ModelConfig(  # a byte-level tiny T5: the closed loop asks with empty text
        num_tags=len(vocab),
        num_fields=vocab.num_fields,
        **{
            **TINY_MODEL,
            "text_encoder": "random-byt5-tiny",
            "tiny_t5": {"d_model": 16, "d_kv": 8, "d_ff": 32},
        },
    )
    model = AniMatrix(cfg)
    with torch.no_grad():
        for p in model.final.parameters():
            p.normal_(0, 0.3, generator=torch.Generator().manual_seed(2))
    tables = run_closed_loop(Generator(model, TAX), 2, readers=("global", "expert"), steps=2, w_tag=1.0)
    assert set(tables) == {"global", "expert"}
    for table in tables.values():
        assert table.rows == CAMERA_CLASSES
        assert table.counts.sum(axis=1).tolist() == [2] * len(CAMERA_CLASSES)


def test_closed_loop_reader_sees_synthetic_pans():
    rng = np.random.default_rng(0)
    world = (rng.random((32, 64, 3)) * 255).astype(np.uint8)
    world = np.repeat(np.repeat(world, 2, axis=0), 2, axis=1)  # (64, 128) with 2 px texture
    right = np.stack([world[16:48, 40 - 2 * k : 72 - 2 * k] for k in range(8)])  # content slides right
    down = np.stack([world[20 - 2 * k : 52 - 2 * k, 40:72] for k in range(8)])  # content slides down
    still = np.stack([world[16:48, 40:72]] * 8)
    reads = [read_camera(c, "global").movement for c in (right, right[:, :, ::-1], down, still)]
    assert reads == ["pan_left", "pan_right", "tilt_up", "static"]
    conf = confusion(["pan_left", "pan_right", "tilt_up", "static"], reads)
    assert conf.accuracy == 1.0


@pytest.mark.slow
def test_the_trainer_function_runs_under_ray_train_local_mode(shards, tmp_path):
    from animatrix.train import run_ray_training

    cfg = TrainConfig(
        model={**TINY_MODEL, "tiny_t5": {"d_model": 16, "d_kv": 8, "d_ff": 32}},
        data=DataConfig(frames=4, size=16, frame_stride=2, batch_size=2, shuffle_buffer=4),
        precision="fp32",
        log_every=1,
    )
    assert run_ray_training(shards.pattern, tmp_path / "run", cfg, workers=0, steps=2) == 2
    rows = [json.loads(line) for line in (tmp_path / "run" / "loss.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
