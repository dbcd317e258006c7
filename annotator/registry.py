"""The AniCaption expert registry and its named configurations.

Experts are registered by import path (``"module:Class"``), open_clip style, and resolved lazily: an expert
whose module has not landed yet (or whose heavy imports are not wanted) costs nothing until a configuration
selects it. A factory is called with the expert's ``options`` from the configuration -- as ``from_config``
(a mapping) when the class has that classmethod, otherwise as keyword arguments -- and its ``priority`` is then
set from the configuration when given.

A *caption configuration* (:class:`CaptionConfig`) selects experts, their priorities and options, the fusion
thresholds, the shot detector of :meth:`annotator.caption.AniCaption.annotate_video` and the directive's
describer. It is one of the named configurations in :data:`CONFIGS` or a YAML file::

    experts:                 # names from EXPERTS, or {name:, priority:, options:, required:}
      - vfx
      - name: camera
        priority: 2
      - name: clip
        options: {pretrained: laion2b_s34b_b79k}
    fusion: {min_confidence: 0.5, override_margin: 0.25}
    detector: transnet
    describer: template      # or "module:Class" of an annotator.directive.Describer

An expert a named configuration lists but that cannot be imported is skipped with the reason (it may not
have landed); in a YAML file every expert is ``required`` unless it says ``required: false``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from annotator.base import Expert
from annotator.fusion import FusionConfig

log = logging.getLogger(__name__)

#: name -> "module:Class" of every known expert.
EXPERTS: dict[str, str] = {
    "vfx": "annotator.vfx:VfxExpert",
    "style": "annotator.style:StyleExpert",
    "framing": "annotator.framing:FramingExpert",
    "text": "annotator.text:TextExpert",
    "camera": "annotator.camera:CameraExpert",
    "timing": "annotator.timing:TimingExpert",
    "clip": "annotator.clip_backend:ClipExpert",
    "vlm": "annotator.vlm_backend:VlmExpert",
}
#: name -> "module:Class" of the directive describers.
DESCRIBERS: dict[str, str] = {"template": "annotator.directive:TemplateDescriber"}


class CaptionConfigError(ValueError):
    """A caption configuration that cannot be used; the message names the place."""


@dataclass(frozen=True)
class ExpertSpec:
    """One expert of a configuration: its registry name (or ``module:Class``), priority and options."""

    name: str
    priority: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    #: When False an expert that cannot be imported is skipped (with the reason) instead of failing.
    required: bool = True


@dataclass(frozen=True)
class CaptionConfig:
    experts: tuple[ExpertSpec, ...]
    fusion: FusionConfig = field(default_factory=FusionConfig)
    detector: str = "transnet"
    describer: str = "template"
    name: str = "custom"


def _optional(*names: str) -> tuple[ExpertSpec, ...]:
    return tuple(ExpertSpec(n, required=False) for n in names)


#: The named configurations. ``picture``: the classical picture experts (no weights); ``default``: those plus
#: the camera and timing experts; ``clip`` / ``vlm``: ``default`` plus the CLIP / VLM expert (each abstains,
#: with the reason, until weights or a model are configured in a YAML file's ``options``).
CONFIGS: dict[str, CaptionConfig] = {
    "picture": CaptionConfig(_optional("vfx", "style", "framing", "text"), name="picture"),
    "default": CaptionConfig(
        _optional("vfx", "style", "framing", "text", "camera", "timing"), name="default"
    ),
    "clip": CaptionConfig(
        _optional("vfx", "style", "framing", "text", "camera", "timing", "clip"), name="clip"
    ),
    "vlm": CaptionConfig(_optional("vfx", "style", "framing", "text", "camera", "timing", "vlm"), name="vlm"),
}
DEFAULT_CONFIG = "default"


def resolve(spec: str, table: Mapping[str, str]) -> Any:
    """The object behind a registry name or a ``module:attr`` path; errors say what to fix."""
    path = table.get(spec, spec)
    if ":" not in path:
        raise CaptionConfigError(
            f"unknown name {spec!r}; choose from {', '.join(table)} or give 'module:Class'"
        )
    module_name, attr = path.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CaptionConfigError(f"{spec!r}: cannot import {module_name} ({exc})") from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise CaptionConfigError(f"{spec!r}: {module_name} has no {attr}")
        obj = getattr(obj, part)
    return obj


def build_expert(spec: ExpertSpec) -> Expert:
    """Instantiate one expert of a configuration."""
    factory = resolve(spec.name, EXPERTS)
    try:
        if isinstance(factory, type) and hasattr(factory, "from_config"):
            expert = factory.from_config(dict(spec.options))
        else:
            expert = factory(**spec.options)
    except TypeError as exc:
        raise CaptionConfigError(f"expert {spec.name!r}: bad options {sorted(spec.options)} ({exc})") from exc
    if spec.priority is not None:
        expert.priority = spec.priority
    for attr in ("name", "fields", "priority", "annotate"):
        if not hasattr(expert, attr):
            raise CaptionConfigError(f"expert {spec.name!r} has no {attr!r}: not an annotator.base.Expert")
    return expert


def build_experts(config: CaptionConfig) -> tuple[list[Expert], dict[str, str]]:
    """The configuration's experts, and ``{name: reason}`` for optional ones that could not be built."""
    experts: list[Expert] = []
    skipped: dict[str, str] = {}
    for spec in config.experts:
        try:
            expert = build_expert(spec)
        except CaptionConfigError as exc:
            if spec.required:
                raise
            skipped[spec.name] = str(exc)
            log.info("caption config %s: skipping expert %s: %s", config.name, spec.name, exc)
            continue
        experts.append(expert)
    names = [e.name for e in experts]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CaptionConfigError(f"expert name(s) {', '.join(dupes)} appear twice; give one a distinct name")
    return experts, skipped


def _expert_spec(raw: Any, where: str) -> ExpertSpec:
    if isinstance(raw, str):
        return ExpertSpec(raw)
    if not isinstance(raw, Mapping):
        raise CaptionConfigError(f"{where}: expected an expert name or a mapping with 'name'")
    unknown = sorted(set(raw) - {"name", "priority", "options", "required"})
    if unknown or "name" not in raw:
        raise CaptionConfigError(
            f"{where}: keys are name, priority, options, required"
            + (f" (unknown: {', '.join(unknown)})" if unknown else " ('name' is missing)")
        )
    priority = raw.get("priority")
    if priority is not None and not isinstance(priority, int):
        raise CaptionConfigError(f"{where}.priority: expected an integer, got {priority!r}")
    options = raw.get("options") or {}
    if not isinstance(options, Mapping):
        raise CaptionConfigError(f"{where}.options: expected a mapping")
    return ExpertSpec(str(raw["name"]), priority, dict(options), bool(raw.get("required", True)))


def parse_config(raw: Any, source: str = "<config>") -> CaptionConfig:
    """A :class:`CaptionConfig` from parsed YAML (see the module docstring)."""
    if not isinstance(raw, Mapping):
        raise CaptionConfigError(f"{source}: expected a mapping with 'experts'")
    unknown = sorted(set(raw) - {"experts", "fusion", "detector", "describer", "base"})
    if unknown:
        raise CaptionConfigError(
            f"{source}: unknown key(s) {', '.join(unknown)}; allowed: experts, fusion, detector, describer, base"
        )
    base = CONFIGS[str(raw["base"])] if raw.get("base") in CONFIGS else None
    if raw.get("base") is not None and base is None:
        raise CaptionConfigError(f"{source}.base: {raw['base']!r} is not one of {', '.join(CONFIGS)}")
    if "experts" in raw:
        items = raw["experts"]
        if not isinstance(items, Sequence) or isinstance(items, str) or not items:
            raise CaptionConfigError(f"{source}.experts: expected a non-empty list")
        experts = tuple(_expert_spec(item, f"{source}.experts[{i}]") for i, item in enumerate(items))
    elif base is not None:
        experts = base.experts
    else:
        raise CaptionConfigError(f"{source}: give 'experts' or a 'base' configuration")
    fusion_raw = raw.get("fusion") or {}
    allowed = {f.name for f in fields(FusionConfig)}
    if not isinstance(fusion_raw, Mapping) or set(fusion_raw) - allowed:
        raise CaptionConfigError(f"{source}.fusion: a mapping with keys {', '.join(sorted(allowed))}")
    fusion = FusionConfig(**{k: float(v) for k, v in fusion_raw.items()})
    if not 0.0 <= fusion.min_confidence <= 1.0 or fusion.override_margin < 0.0:
        raise CaptionConfigError(f"{source}.fusion: min_confidence in [0, 1], override_margin >= 0")
    return CaptionConfig(
        experts=experts,
        fusion=fusion,
        detector=str(raw.get("detector", base.detector if base else "transnet")),
        describer=str(raw.get("describer", base.describer if base else "template")),
        name=str(source),
    )


def load_config(path_or_name: str | Path | None = None) -> CaptionConfig:
    """A named configuration (``None``: :data:`DEFAULT_CONFIG`) or a YAML file."""
    if path_or_name is None:
        return CONFIGS[DEFAULT_CONFIG]
    if isinstance(path_or_name, str) and path_or_name in CONFIGS:
        return CONFIGS[path_or_name]
    path = Path(path_or_name)
    if not path.is_file():
        raise CaptionConfigError(
            f"caption config {str(path_or_name)!r} is neither a file nor one of {', '.join(CONFIGS)}"
        )
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise CaptionConfigError(f"{path}: not valid YAML ({exc})") from exc
    return parse_config(raw, str(path))
