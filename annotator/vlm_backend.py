"""The VLM expert: a vision-language model answers the PKS fields as one JSON object, validated against the taxonomy.

The expert shows the model a few frames of the shot and a prompt built from the taxonomy (each requested field
with its definition, cardinality and values) asking for ``{field: value | [values] | null}`` and, optionally, a
``description`` (the directive's ordered description). The answer text is parsed leniently (code fences and
surrounding prose are tolerated; the first JSON object that decodes is used), then every field is validated on
its own with :meth:`taxonomy.Taxonomy.validate`: a valid field becomes a vote, an invalid, missing or ``null``
field becomes an abstention with the reason. One bad field never fails the shot.

The model runs through :class:`TransformersGenerator` — any ``transformers`` image-text-to-text model
(``AutoModelForImageTextToText`` + ``AutoProcessor``) named by a hub id or a local folder — or through any
``generate(images, prompt) -> text`` callable (an inference server, a test double). With ``constrained: true``
a logits processor (:class:`JsonAnswerLogitsProcessor`) only lets the model write text of the answer grammar,
so even a weak model produces parseable JSON with taxonomy values; validation still runs on the result.

Configuration: :class:`VlmConfig` (the ``vlm:`` block; the registry builds the expert with
``VlmExpert.from_config(dict)``). Without ``model`` the expert abstains on every field it covers, logged once.
``local_files_only`` (default true) keeps transformers off the network: a hub id then loads only from the local
cache; set it to false on a machine with hub access.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from annotator.base import ExpertOutput, ShotInput
from pipeline.config_keys import field_ids, known_keys
from taxonomy import Taxonomy, TaxonomyError, load_taxonomy

log = logging.getLogger(__name__)
_said: set[str] = set()

#: ``generate(images, prompt) -> text``: RGB uint8 frames and the prompt in, the model's answer out.
GenerateFn = Callable[[Sequence[np.ndarray], str], str]

DESCRIPTION_KEY = "description"


def _log_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        log.warning(message)


class VlmConfigError(ValueError):
    """A ``vlm:`` configuration that cannot be used; the message names the key."""


@dataclass(frozen=True)
class VlmConfig:
    """The ``vlm:`` block."""

    #: A transformers hub id (``"Qwen/Qwen2.5-VL-3B-Instruct"``) or a local folder; None = not configured.
    model: str | None = None
    name: str = "vlm"
    priority: int = 0
    #: Fields asked for; None = every field of the taxonomy.
    fields: tuple[str, ...] | None = None
    #: Confidence given to each validated vote (a VLM's text carries no calibrated probability).
    confidence: float = 0.6
    #: Frames of the shot shown to the model (evenly spaced); 1 shows the middle frame.
    frames: int = 1
    max_new_tokens: int = 512
    #: Constrain decoding to the answer grammar (see :class:`JsonAnswerLogitsProcessor`).
    constrained: bool = False
    #: Also ask for a one-paragraph description (the directive's description text).
    describe: bool = False
    #: Put each value's definition in the prompt (longer prompt, better answers); False lists value ids only.
    value_definitions: bool = True
    #: Extra instructions appended to the prompt.
    instructions: str | None = None
    device: str = "cpu"
    #: torch dtype name for the weights ("float32", "bfloat16", "float16", or "auto").
    dtype: str = "float32"
    local_files_only: bool = True
    trust_remote_code: bool = False

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None, where: str = "vlm") -> VlmConfig:
        raw = known_keys(cls, raw, where, VlmConfigError)
        field_ids(raw, where, VlmConfigError)
        cfg = cls(**raw)
        if not 0 < cfg.confidence <= 1:
            raise VlmConfigError(f"{where}.confidence: must be in (0, 1], got {cfg.confidence}")
        if cfg.frames < 1 or cfg.max_new_tokens < 1:
            raise VlmConfigError(f"{where}: frames and max_new_tokens must be >= 1")
        return cfg


# ------------------------------------------------------------------------------------------ schema and prompt


def answer_schema(taxonomy: Taxonomy, field_ids: Sequence[str], describe: bool = False) -> dict[str, Any]:
    """The JSON Schema of an answer: ``{field: value | null}`` for single fields, ``{field: [values] | null}``
    for multi fields (active values only), plus a ``description`` string when ``describe``."""
    props: dict[str, Any] = {}
    for fid in field_ids:
        fld = taxonomy.field(fid)
        values = [v.id for v in fld.active_values]
        if fld.multi:
            props[fid] = {
                "description": fld.definition,
                "anyOf": [
                    {"type": "array", "items": {"enum": values}, "uniqueItems": True},
                    {"type": "null"},
                ],
            }
        else:
            props[fid] = {"description": fld.definition, "enum": [*values, None]}
    if describe:
        props[DESCRIPTION_KEY] = {"type": "string", "description": "what happens in the shot, in order"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"PKS answer ({taxonomy.version})",
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def build_prompt(
    taxonomy: Taxonomy,
    field_ids: Sequence[str],
    describe: bool = False,
    value_definitions: bool = True,
    instructions: str | None = None,
) -> str:
    """The instruction text: the fields with their definitions and values, and the exact answer format."""
    lines = [
        "You are annotating one shot of anime footage (the image(s) are frames of the shot, in order) with "
        f"production tags of the taxonomy {taxonomy.version}.",
        "Fields:",
    ]
    for fid in field_ids:
        fld = taxonomy.field(fid)
        kind = "a list of any number of these values" if fld.multi else "exactly one of these values"
        lines.append(f"- {fid}: {fld.definition} Answer {kind}, or null if you cannot tell:")
        for v in fld.active_values:
            lines.append(f"    {v.id}: {v.definition}" if value_definitions else f"    {v.id}")
    example = {fid: ([] if taxonomy.field(fid).multi else None) for fid in field_ids[:2]}
    lines.append(
        "Answer with a single JSON object and nothing else. Its keys are the field ids above"
        + (
            f' and "{DESCRIPTION_KEY}" (one paragraph describing what happens in the shot, in order)'
            if describe
            else ""
        )
        + "; single-valued fields take a value id string, list fields take a JSON list of value ids "
        "([] means none of them), and null means unknown. Example shape: " + json.dumps(example)
    )
    if instructions:
        lines.append(instructions)
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ parsing answers

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def extract_json_object(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """The first JSON object in ``text`` (inside a code fence if there is one), or (None, why not)."""
    if not isinstance(text, str) or not text.strip():
        return None, "the model's answer is empty"
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    last_error = "no '{' in the model's answer"
    for chunk in candidates:
        for start in (i for i, ch in enumerate(chunk) if ch == "{"):
            try:
                obj, _ = decoder.raw_decode(chunk, start)
            except json.JSONDecodeError as exc:
                last_error = f"no complete JSON object in the model's answer ({exc.msg} at char {exc.pos})"
                continue
            if isinstance(obj, dict):
                return obj, None
    return None, last_error


def _normalise(value: Any) -> Any:
    """Lenient spelling of value ids (``"Pan Left"`` -> ``"pan_left"``); anything not a string is kept."""
    if isinstance(value, str):
        return re.sub(r"[\s\-]+", "_", value.strip()).lower()
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


@dataclass
class VlmAnswer:
    """What the VLM said about one shot: votes and abstentions, the description, and the raw text."""

    output: ExpertOutput
    raw_text: str
    description: str | None = None
    #: ``{key: reason}`` for keys of the answer that were not used (unknown or not requested fields).
    ignored: dict[str, str] = field(default_factory=dict)


def interpret_answer(
    text: str,
    taxonomy: Taxonomy,
    field_ids: Sequence[str],
    expert: str = "vlm",
    confidence: float = 0.6,
) -> VlmAnswer:
    """Parse and validate the model's answer field by field (see the module docstring)."""
    out = ExpertOutput()
    obj, error = extract_json_object(text)
    if obj is None:
        for fid in field_ids:
            out.abstain(fid, expert, f"unparseable answer: {error}")
        return VlmAnswer(out, text)
    if "tags" in obj and isinstance(obj["tags"], dict) and not any(fid in obj for fid in field_ids):
        obj = {**obj["tags"], **{k: v for k, v in obj.items() if k != "tags"}}
    wanted = set(field_ids)
    ignored: dict[str, str] = {}
    for key in obj:
        if key in wanted or key == DESCRIPTION_KEY:
            continue
        try:
            taxonomy.field(key)
            ignored[key] = "not a requested field"
        except TaxonomyError as exc:
            ignored[key] = str(exc)
    for fid in field_ids:
        if fid not in obj:
            out.abstain(fid, expert, "the answer has no entry for this field")
            continue
        raw = obj[fid]
        if raw is None:
            out.abstain(fid, expert, "the model answered null (cannot tell)")
            continue
        try:
            checked = taxonomy.validate({fid: _normalise(raw)})
        except TaxonomyError as exc:
            out.abstain(fid, expert, f"invalid answer {json.dumps(raw)[:80]}: {exc}")
            continue
        values = checked.get(fid, ())
        if not values:
            out.abstain(fid, expert, "the model answered [] (none of these); an explicit none is not a vote")
            continue
        out.vote(fid, values, confidence, expert)
    desc = obj.get(DESCRIPTION_KEY)
    description = desc.strip() if isinstance(desc, str) and desc.strip() else None
    if DESCRIPTION_KEY in obj and description is None:
        ignored[DESCRIPTION_KEY] = "not a non-empty string"
    return VlmAnswer(out, text, description, ignored)


# ------------------------------------------------------------------------------------- constrained decoding


def answer_pattern(
    taxonomy: Taxonomy, field_ids: Sequence[str], describe: bool = False, max_chars: int = 400
) -> str:
    """A regular expression of the canonical answers: the fields in order, ``", "`` and ``": "`` separators,
    values quoted ids, lists without repeats of more than the field's size, ``null`` allowed."""
    parts = []
    for fid in field_ids:
        fld = taxonomy.field(fid)
        alt = "|".join(re.escape(json.dumps(v.id)) for v in fld.active_values)
        if fld.multi:
            n = len(fld.active_values)
            value = rf"(?:null|\[\]|\[(?:{alt})(?:, (?:{alt})){{0,{n - 1}}}\])"
        else:
            value = rf"(?:null|{alt})"
        parts.append(re.escape(json.dumps(fid)) + ": " + value)
    if describe:
        parts.append(re.escape(json.dumps(DESCRIPTION_KEY)) + rf': "[^"\\\n]{{1,{max_chars}}}"')
    return r" ?\{" + ", ".join(parts) + r"\}"


class JsonAnswerLogitsProcessor:
    """A ``transformers`` logits processor that masks every token that would take the generated text out of the
    answer grammar (:func:`answer_pattern`), checked with partial regular-expression matching; once the answer
    is complete only end-of-sequence is allowed.

    Token strings are decoded one token at a time (after an anchor token, so sentencepiece's leading spaces
    survive), which is exact for character-, byte-level and sentencepiece vocabularies and an approximation for
    tokenizers whose pieces change when joined; the answer is validated after generation either way. For speed, tokens are considered by their first character and, when ``top_k`` is
    set, in descending score order until ``top_k`` allowed tokens are found (exact for greedy decoding).
    """

    def __init__(
        self, tokenizer: Any, pattern: str, prompt_length: int, eos_token_ids: Sequence[int], top_k: int = 0
    ):
        import regex

        self.tokenizer = tokenizer
        self.pattern = pattern
        self.regex = regex.compile(pattern)
        self.prompt_length = prompt_length
        self.eos = [int(i) for i in eos_token_ids]
        self.top_k = top_k
        special = set(getattr(tokenizer, "all_special_ids", []) or [])
        # Decoding a token after an anchor token keeps the leading space that sentencepiece drops at the start.
        anchor: list[int] = []
        if hasattr(tokenizer, "encode"):
            anchor = list(tokenizer.encode("a", add_special_tokens=False))[-1:]
        head = tokenizer.decode(anchor, skip_special_tokens=True) if anchor else ""
        self.pieces: dict[int, str] = {}
        self.by_first: dict[str, list[int]] = {}
        for tid in range(len(tokenizer)):
            if tid in special:
                continue
            piece = tokenizer.decode([*anchor, tid], skip_special_tokens=True)
            piece = (
                piece[len(head) :]
                if piece.startswith(head)
                else tokenizer.decode([tid], skip_special_tokens=True)
            )
            if piece:
                self.pieces[tid] = piece
                self.by_first.setdefault(piece[0], []).append(tid)

    def _allowed(self, text: str, scores: Any) -> list[int]:
        if self.regex.fullmatch(text):
            return list(self.eos)
        firsts = [c for c in self.by_first if self.regex.fullmatch(text + c, partial=True)]
        candidates = [t for c in firsts for t in self.by_first[c]]
        if self.top_k:
            candidates.sort(key=lambda t: -float(scores[t]))
        allowed: list[int] = []
        for tid in candidates:
            if self.regex.fullmatch(text + self.pieces[tid], partial=True):
                allowed.append(tid)
                if self.top_k and len(allowed) >= self.top_k:
                    break
        return allowed

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        masked = torch.full_like(scores, float("-inf"))
        for row in range(input_ids.shape[0]):
            text = self.tokenizer.decode(input_ids[row, self.prompt_length :], skip_special_tokens=True)
            allowed = self._allowed(text, scores[row])
            if not allowed:  # the vocabulary cannot continue the grammar here: leave this step unconstrained
                masked[row] = scores[row]
                continue
            idx = torch.tensor(allowed, device=scores.device)
            masked[row, idx] = scores[row, idx]
        return masked


# ------------------------------------------------------------------------------------------ the transformers hook


class TransformersGenerator:
    """``generate(images, prompt) -> text`` over a transformers image-text-to-text model (greedy decoding)."""

    def __init__(self, config: VlmConfig, processor: Any, model: Any):
        self.config = config
        self.processor = processor
        self.model = model.eval()
        #: The answer grammar (:func:`answer_pattern`) when decoding is constrained, else None.
        self.pattern: str | None = None
        self._constraint: JsonAnswerLogitsProcessor | None = None

    @classmethod
    def load(cls, config: VlmConfig) -> TransformersGenerator:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        if not config.model:
            raise VlmConfigError("no VLM configured: set vlm.model=<transformers hub id or local folder>")
        kwargs = {"local_files_only": config.local_files_only, "trust_remote_code": config.trust_remote_code}
        dtype = config.dtype if config.dtype == "auto" else getattr(torch, config.dtype)
        processor = AutoProcessor.from_pretrained(config.model, **kwargs)
        model = AutoModelForImageTextToText.from_pretrained(config.model, dtype=dtype, **kwargs)
        return cls(config, processor, model.to(config.device))

    @property
    def tokenizer(self) -> Any:
        return getattr(self.processor, "tokenizer", self.processor)

    def _text(self, n_images: int, prompt: str) -> str:
        content = [{"type": "image"} for _ in range(n_images)] + [{"type": "text", "text": prompt}]
        messages = [{"role": "user", "content": content}]
        if getattr(self.processor, "chat_template", None):
            return self.processor.apply_chat_template(messages, add_generation_prompt=True)
        token = getattr(self.processor, "image_token", None) or "<image>"
        return token * n_images + "\n" + prompt + "\n"

    def __call__(self, images: Sequence[np.ndarray], prompt: str) -> str:
        import torch
        from PIL import Image

        pil = [Image.fromarray(np.ascontiguousarray(im)) for im in images]
        inputs = self.processor(images=pil, text=self._text(len(pil), prompt), return_tensors="pt")
        inputs = inputs.to(self.config.device)
        prompt_length = int(inputs["input_ids"].shape[1])
        extra: dict[str, Any] = {}
        if self.pattern is not None:
            from transformers import LogitsProcessorList

            if self._constraint is None or self._constraint.pattern != self.pattern:
                eos = self.model.generation_config.eos_token_id
                if eos is None:
                    eos = self.tokenizer.eos_token_id
                eos_ids = [eos] if isinstance(eos, int) else list(eos or [])
                # decoding every vocabulary entry once takes seconds for a large vocabulary: keep it per model
                self._constraint = JsonAnswerLogitsProcessor(
                    self.tokenizer, self.pattern, 0, eos_ids, top_k=8
                )
            self._constraint.prompt_length = prompt_length
            extra["logits_processor"] = LogitsProcessorList([self._constraint])
        with torch.no_grad():
            out = self.model.generate(
                **inputs, max_new_tokens=self.config.max_new_tokens, do_sample=False, **extra
            )
        return self.tokenizer.decode(out[0, prompt_length:], skip_special_tokens=True)


# ------------------------------------------------------------------------------------------------ the expert


class VlmExpert:
    """AniCaption expert over a vision-language model (see the module docstring)."""

    def __init__(
        self,
        config: VlmConfig | None = None,
        taxonomy: Taxonomy | None = None,
        generate: GenerateFn | None = None,
    ):
        self.config = config or VlmConfig()
        self.taxonomy = taxonomy or load_taxonomy()
        self.name = self.config.name
        self.priority = self.config.priority
        chosen = (
            self.config.fields
            if self.config.fields is not None
            else tuple(f.id for f in self.taxonomy.fields)
        )
        for fid in chosen:
            self.taxonomy.field(fid)
        self.fields: tuple[str, ...] = tuple(chosen)
        self.prompt = build_prompt(
            self.taxonomy,
            self.fields,
            self.config.describe,
            self.config.value_definitions,
            self.config.instructions,
        )
        self.schema = answer_schema(self.taxonomy, self.fields, self.config.describe)
        self._generate = generate
        self._load_error: str | None = None

    @classmethod
    def from_config(
        cls,
        raw: Mapping[str, Any] | None = None,
        taxonomy: Taxonomy | None = None,
        generate: GenerateFn | None = None,
    ) -> VlmExpert:
        """The expert from a ``vlm:`` config block (a plain mapping, e.g. parsed YAML)."""
        return cls(VlmConfig.from_dict(raw), taxonomy, generate)

    def unavailable_reason(self) -> str | None:
        """Why no model can answer (not configured, failed to load), or None; loads the model on first call."""
        if self._generate is not None:
            return None
        if self._load_error is None:
            if not self.config.model:
                self._load_error = "no VLM configured: set vlm.model=<transformers hub id or local folder>"
            else:
                try:
                    gen = TransformersGenerator.load(self.config)
                    if self.config.constrained:
                        gen.pattern = answer_pattern(self.taxonomy, self.fields, self.config.describe)
                    self._generate = gen
                    return None
                except Exception as exc:  # no weights in the cache, no hub access, unsupported model
                    self._load_error = f"could not load VLM {self.config.model}: {type(exc).__name__}: {exc}"
            _log_once(f"{self.name} expert abstains on {len(self.fields)} field(s): {self._load_error}")
        return self._load_error

    def run(self, shot: ShotInput | None = None, images: Sequence[np.ndarray] | None = None) -> VlmAnswer:
        """Ask the model about ``images`` (e.g. higher-resolution frames the caller decoded) or, by default,
        ``frames`` evenly spaced analysis thumbs of ``shot`` cropped to the active picture."""
        reason = self.unavailable_reason()
        if reason is not None:
            out = ExpertOutput()
            for fid in self.fields:
                out.abstain(fid, self.name, reason)
            return VlmAnswer(out, "")
        if images is None:
            if shot is None:
                raise ValueError("run needs a shot or images")
            view = shot.view
            images = [view.picture[i] for i in view.sample(self.config.frames)]
        assert self._generate is not None
        text = self._generate(list(images), self.prompt)
        answer = interpret_answer(text, self.taxonomy, self.fields, self.name, self.config.confidence)
        if answer.ignored:
            log.debug("%s ignored answer keys: %s", self.name, answer.ignored)
        return answer

    def annotate(self, shot: ShotInput) -> ExpertOutput:
        return self.run(shot).output
