"""The VLM expert: answer parsing and validation on good and malformed answers, with a fake generate function
and with a tiny randomly initialised LLaVA model (character-level tokenizer) built and saved here (no hub)."""

from __future__ import annotations

import json
import logging
import string

import numpy as np
import pytest
import regex

from annotator.base import Expert, ShotInput
from annotator.fusion import fuse
from annotator.vlm_backend import (
    JsonAnswerLogitsProcessor,
    VlmConfigError,
    VlmExpert,
    answer_pattern,
    answer_schema,
    build_prompt,
    extract_json_object,
    interpret_answer,
)
from taxonomy import load_taxonomy
from tests.videos import shot_from_thumbs

FIELDS = ("camera.angle", "vfx.text_overlay", "motion.deformation")
TAX = load_taxonomy()


def make_shot(n: int = 6) -> ShotInput:
    rng = np.random.default_rng(0)
    thumb = rng.integers(0, 255, (n, 72, 128, 3), dtype=np.uint8)
    return shot_from_thumbs(thumb)


def by_field(answer):
    votes = {v.field: v.values for v in answer.output.votes}
    why = {a.field: a.reason for a in answer.output.abstentions}
    assert set(votes) | set(why) == set(FIELDS) and not set(votes) & set(why)
    return votes, why


# --- schema and prompt ---------------------------------------------------------------------------------------


def test_schema_and_prompt_come_from_the_taxonomy():
    jsonschema = pytest.importorskip("jsonschema")
    schema = answer_schema(TAX, FIELDS, describe=True)
    assert schema["required"] == [*FIELDS, "description"] and schema["additionalProperties"] is False
    assert schema["properties"]["camera.angle"]["enum"] == [
        v.id for v in TAX.field("camera.angle").active_values
    ] + [None]
    good = {
        "camera.angle": "low_angle",
        "vfx.text_overlay": None,
        "motion.deformation": ["smear"],
        "description": "x",
    }
    jsonschema.validate(good, schema)
    for bad in (
        {**good, "camera.angle": "sideways"},
        {**good, "motion.deformation": "smear"},
        {**good, "extra": 1},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    prompt = build_prompt(TAX, FIELDS, describe=True)
    for fid in FIELDS:
        assert TAX.field(fid).definition in prompt
        for v in TAX.field(fid).active_values:
            assert f"{v.id}: {v.definition}" in prompt
    assert '"description"' in prompt and "exactly one of these values" in prompt and "a list of" in prompt
    short = build_prompt(TAX, FIELDS, value_definitions=False)
    assert len(short) < len(prompt) and "    low_angle\n" in short


# --- parsing and validation ----------------------------------------------------------------------------------


def test_good_answers_become_votes_in_any_wrapping():
    plain = json.dumps(
        {"camera.angle": "low_angle", "vfx.text_overlay": "subtitle", "motion.deformation": ["smear"]}
    )
    fenced = f"Sure! Here are the tags:\n```json\n{plain}\n```\nHope this helps."
    wrapped = json.dumps({"tags": json.loads(plain), "description": " A girl runs. "})
    lenient = plain.replace('"low_angle"', '"Low Angle"').replace('"smear"', '"Smear"')
    for text in (plain, fenced, "prefix {not json} " + plain, wrapped, lenient):
        answer = interpret_answer(text, TAX, FIELDS, confidence=0.7)
        votes, why = by_field(answer)
        assert votes == {
            "camera.angle": ("low_angle",),
            "vfx.text_overlay": ("subtitle",),
            "motion.deformation": ("smear",),
        }, text
        assert not why and all(v.confidence == 0.7 and v.expert == "vlm" for v in answer.output.votes)
    assert interpret_answer(wrapped, TAX, FIELDS).description == "A girl runs."


def test_malformed_answers_abstain_with_reasons_instead_of_failing():
    for text, needle in (
        ("", "empty"),
        ("I cannot see anything.", "no '{'"),
        ('{"camera.angle": "low_angle", "vfx.text', "no complete JSON object"),
        ('["low_angle"]', "no '{'"),
    ):
        answer = interpret_answer(text, TAX, FIELDS)
        votes, why = by_field(answer)
        assert not votes and all(r.startswith("unparseable answer") and needle in r for r in why.values()), (
            text
        )

    text = json.dumps(
        {
            "camera.angle": "lowangle",  # misspelt: the taxonomy's did-you-mean
            "vfx.text_overlay": ["subtitle", "logo"],  # two values in a single-valued field
            "motion.deformation": ["smear", 3],  # not a string
            "camera.movment": "pan_left",  # unknown field
            "style.medium": "2d_cel",  # a real field that was not asked for
            "description": 5,
        }
    )
    answer = interpret_answer(text, TAX, FIELDS)
    votes, why = by_field(answer)
    assert not votes
    assert "did you mean 'low_angle'" in why["camera.angle"]
    assert "takes a single value" in why["vfx.text_overlay"]
    assert "value ids are strings" in why["motion.deformation"]
    assert "unknown field 'camera.movment'" in answer.ignored["camera.movment"]
    assert answer.ignored["style.medium"] == "not a requested field"
    assert answer.description is None and "description" in answer.ignored

    answer = interpret_answer(
        '{"camera.angle": null, "motion.deformation": [], "vfx.text_overlay": "none"}', TAX, FIELDS
    )
    votes, why = by_field(answer)
    assert votes == {"vfx.text_overlay": ("none",)}
    assert "null" in why["camera.angle"] and "none of these" in why["motion.deformation"]
    answer = interpret_answer('{"camera.angle": "dutch"}', TAX, FIELDS)
    votes, why = by_field(answer)
    assert votes == {"camera.angle": ("dutch",)} and "no entry" in why["vfx.text_overlay"]


def test_extract_json_object_prefers_the_fenced_object():
    obj, err = extract_json_object('{"a": 1}\n```json\n{"b": 2}\n```')
    assert obj == {"b": 2} and err is None


# --- the expert with a fake generate function --------------------------------------------------------------


def test_expert_with_a_fake_generate_function():
    seen = {}

    def generate(images, prompt):
        seen["shapes"] = [im.shape for im in images]
        seen["prompt"] = prompt
        answer = {
            "camera.angle": "high_angle",
            "vfx.text_overlay": "nonsense",
            "motion.deformation": ["smear", "impact_pose"],
            "description": "A hero lands.",
        }
        return f"```json\n{json.dumps(answer)}\n```"

    expert = VlmExpert.from_config({"fields": list(FIELDS), "frames": 3, "describe": True}, generate=generate)
    assert isinstance(expert, Expert) and expert.fields == FIELDS
    answer = expert.run(make_shot())
    assert len(seen["shapes"]) == 3 and seen["shapes"][0][2] == 3 and seen["prompt"] == expert.prompt
    votes, why = by_field(answer)
    assert votes == {"camera.angle": ("high_angle",), "motion.deformation": ("smear", "impact_pose")}
    assert "unknown value 'nonsense'" in why["vfx.text_overlay"] and answer.description == "A hero lands."
    hi = expert.run(images=[np.zeros((360, 640, 3), np.uint8)])  # caller-supplied full-resolution frame
    assert seen["shapes"] == [(360, 640, 3)] and hi.output.votes
    fused = fuse(answer.output.votes, answer.output.abstentions, {"vlm": 0})
    assert fused.tags["camera.angle"] == ("high_angle",)
    assert "unknown value 'nonsense'" in fused.missing["vfx.text_overlay"]


def test_abstains_without_a_model_and_when_loading_fails(tmp_path, caplog):
    expert = VlmExpert.from_config({})
    assert expert.fields == tuple(f.id for f in TAX.fields)
    with caplog.at_level(logging.WARNING, logger="annotator.vlm_backend"):
        out = expert.annotate(make_shot())
        expert.annotate(make_shot())
    assert not out.votes and len(out.abstentions) == len(TAX.fields)
    assert all(a.reason.startswith("no VLM configured: set vlm.model=") for a in out.abstentions)
    assert caplog.text.count("no VLM configured") == 1
    broken = VlmExpert.from_config({"model": str(tmp_path / "no_such_model"), "fields": list(FIELDS)})
    out = broken.annotate(make_shot())
    assert not out.votes and all(a.reason.startswith("could not load VLM") for a in out.abstentions)
    with pytest.raises(VlmConfigError, match="unknown key"):
        VlmExpert.from_config({"modle": "x"})
    with pytest.raises(KeyError, match="camera.angel"):
        VlmExpert.from_config({"fields": ["camera.angel"]})


# --- constrained decoding ----------------------------------------------------------------------------------


class CharTokenizer:
    """The minimal tokenizer interface the logits processor uses: one printable character per token."""

    def __init__(self):
        self.chars = ["</s>"] + list(string.printable[:95])
        self.all_special_ids = [0]

    def __len__(self):
        return len(self.chars)

    def decode(self, ids, skip_special_tokens=True):
        return "".join(self.chars[int(i)] for i in ids if not (skip_special_tokens and int(i) == 0))


def test_answer_pattern_accepts_exactly_the_canonical_answers():
    pat = regex.compile(answer_pattern(TAX, FIELDS, describe=True))
    good = '{"camera.angle": "dutch", "vfx.text_overlay": null, "motion.deformation": ["smear", "gag_face"], "description": "ok"}'
    assert pat.fullmatch(good) and pat.fullmatch(good[:40], partial=True)
    assert not pat.fullmatch(good.replace("dutch", "dutchy"))
    assert pat.fullmatch(good.replace('"smear", ', ""))  # a one-value list
    assert not pat.fullmatch(good.replace('"smear"', '"fire"'))  # a value of another field
    assert pat.fullmatch(good.replace('["smear", "gag_face"]', "[]"))
    assert not pat.fullmatch('{"camera.angle": "dutch"}', partial=True)


def test_logits_processor_keeps_random_decoding_inside_the_grammar():
    import torch

    tok = CharTokenizer()
    pattern = answer_pattern(TAX, FIELDS)
    proc = JsonAnswerLogitsProcessor(tok, pattern, prompt_length=2, eos_token_ids=[0])
    voted = 0
    for seed in range(8):
        gen = torch.Generator().manual_seed(seed)
        ids = torch.tensor([[5, 6]])  # a two-token "prompt"
        for _ in range(400):
            scores = proc(ids, torch.randn(1, len(tok), generator=gen))
            nxt = int(scores.argmax())
            if nxt == 0:
                break
            ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
        text = tok.decode(ids[0, 2:])
        assert regex.fullmatch(pattern, text), text
        answer = interpret_answer(text, TAX, FIELDS)
        votes, why = by_field(answer)
        assert not any(r.startswith(("unparseable", "invalid")) for r in why.values()), why
        voted += len(votes)
    assert voted > 0


# --- a tiny random LLaVA through transformers ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory):
    """A tiny random LlavaForConditionalGeneration + processor with a character-level tokenizer, saved to a folder
    the expert loads with AutoProcessor / AutoModelForImageTextToText."""
    import torch
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    specials = ["<pad>", "<s>", "</s>", "<unk>", "<image>"]
    vocab = {t: i for i, t in enumerate(specials + list(string.printable[:95]) + ["\n"])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        extra_special_tokens={"image_token": "<image>"},
    )
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tokenizer,
        patch_size=16,
        num_additional_image_tokens=1,
        vision_feature_select_strategy="default",
        chat_template=(
            "{% for m in messages %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>"
            "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endfor %}"
            "{% if add_generation_prompt %} ANSWER:{% endif %}"
        ),
    )
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=32,
            patch_size=16,
        ),
        text_config=LlamaConfig(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=4096,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
        ),
        image_token_index=vocab["<image>"],
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_llava")
    LlavaForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def test_tiny_llava_unconstrained_garbage_is_abstained_on(tiny_llava):
    cfg = {"model": str(tiny_llava), "fields": list(FIELDS), "value_definitions": False, "max_new_tokens": 24}
    expert = VlmExpert.from_config(cfg)
    answer = expert.run(make_shot())
    assert expert.unavailable_reason() is None and len(answer.raw_text) > 0
    votes, why = by_field(answer)  # a random model writes no valid JSON: every field abstains, nothing fails
    assert not votes and all(
        r.startswith(("unparseable", "invalid", "the answer has no")) for r in why.values()
    )


def test_tiny_llava_constrained_answers_parse_and_validate(tiny_llava):
    cfg = {
        "model": str(tiny_llava),
        "fields": list(FIELDS),
        "value_definitions": False,
        "constrained": True,
        "max_new_tokens": 300,
    }
    expert = VlmExpert.from_config(cfg)
    answer = expert.run(make_shot())
    assert regex.fullmatch(answer_pattern(TAX, FIELDS), answer.raw_text), answer.raw_text
    votes, why = by_field(answer)
    assert not any(r.startswith(("unparseable", "invalid")) for r in why.values()), why
    for fid, values in votes.items():
        TAX.validate({fid: list(values)})


def test_logits_processor_with_a_sentencepiece_style_tokenizer():
    """Multi-character pieces with sentencepiece's leading-space marker ('▁"dutch"}') are matched with the
    space they decode to inside a sequence, so random decoding still lands inside the grammar."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [
        json.dumps({fid: v.id}) + " " + json.dumps({fid: [v.id, v.id]}) + " null []"
        for fid in FIELDS
        for v in TAX.field(fid).active_values
    ]
    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Metaspace()
    core.decoder = decoders.Metaspace()
    alphabet = list('{}[]",: _.' + string.ascii_lowercase)
    core.train_from_iterator(
        corpus * 5,
        trainers.BpeTrainer(vocab_size=300, special_tokens=["</s>", "<unk>"], initial_alphabet=alphabet),
    )
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="</s>", unk_token="<unk>")
    pattern = answer_pattern(TAX, FIELDS)
    proc = JsonAnswerLogitsProcessor(tok, pattern, 0, [tok.eos_token_id])
    assert any(len(p) > 3 and p.startswith(' "') for p in proc.pieces.values())
    for seed in range(4):
        gen = torch.Generator().manual_seed(seed)
        ids = torch.zeros((1, 0), dtype=torch.long)
        for _ in range(300):
            nxt = int(proc(ids, torch.randn(1, len(tok), generator=gen)).argmax())
            if nxt == tok.eos_token_id:
                break
            ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
        text = tok.decode(ids[0], skip_special_tokens=True)
        assert regex.fullmatch(pattern, text), text
        by_field(interpret_answer(text, TAX, FIELDS))
