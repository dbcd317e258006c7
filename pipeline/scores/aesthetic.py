"""Learned aesthetic score: an open_clip image embedding fed to a small MLP head (e.g. the LAION
improved-aesthetic-predictor, 1-10), averaged over a few thumbs of the shot.

Configured by :class:`AestheticConfig` (the ``aesthetic:`` block of the filter config): an open_clip
model name, ``pretrained`` = an open_clip pretrained tag or a local checkpoint file, and ``head`` = a local
checkpoint of the MLP head (a state dict of ``Linear`` layers, e.g. ``layers.0.weight`` ... as the LAION
predictor saves it; the layer order is the numeric order in the keys). ``model_config`` adds an open_clip
model-config JSON (file or folder) for architectures open_clip does not ship.

Without a configuration, or when the weights cannot be loaded (this machine has no model hub), the column
stays null and the log says why, once. Loading and embedding are shared with the AniCaption CLIP expert
(:mod:`pipeline.clip_model`). The score is computed from the 128 px analysis thumbs upscaled to
the model's input size (no second decode), so it is a proxy of the full-resolution score.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.clip_model import ClipSpec, LoadedClip, load_clip
from pipeline.config_keys import known_keys
from pipeline.scores.registry import ShotView, register

log = logging.getLogger(__name__)
_said: set[str] = set()


def _log_once(message: str, *args: Any) -> None:
    key = message % args if args else message
    if key not in _said:
        _said.add(key)
        log.warning(message, *args)


class AestheticError(ValueError):
    pass


@dataclass(frozen=True)
class AestheticConfig:
    model: str
    head: str
    pretrained: str | None = None
    model_config: str | None = None
    #: Activation between the head's Linear layers: 'none' (the LAION predictor has none) or 'relu'.
    activation: str = "none"
    #: L2-normalise the image embedding before the head (the LAION predictor expects it).
    normalize: bool = True
    #: Thumbs per shot (evenly spaced); the score is their mean.
    frames: int = 3
    device: str = "cpu"

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "aesthetic") -> AestheticConfig:
        if not isinstance(raw, dict):
            raise AestheticError(f"{where}: expected a mapping")
        raw = known_keys(cls, raw, where, AestheticError)
        for key in ("model", "head"):
            if not isinstance(raw.get(key), str) or not raw[key]:
                raise AestheticError(f"{where}.{key}: required string")
        if raw.get("activation", "none") not in ("none", "relu"):
            raise AestheticError(f"{where}.activation: {raw['activation']!r} is not 'none' or 'relu'")
        return cls(**raw)


def build_head(state: dict[str, Any], activation: str = "none"):
    """An ``nn.Sequential`` of the Linear layers in ``state`` (weights loaded), in key order."""
    import torch
    from torch import nn

    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    weights = [(k, v) for k, v in state.items() if k.endswith(".weight") and getattr(v, "ndim", 0) == 2]
    if not weights:
        raise AestheticError("head checkpoint holds no Linear layer weights")

    def order(key: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", key)) or (0,)

    weights.sort(key=lambda kv: order(kv[0]))
    layers: list[nn.Module] = []
    for i, (key, w) in enumerate(weights):
        lin = nn.Linear(w.shape[1], w.shape[0], bias=f"{key[: -len('weight')]}bias" in state)
        with torch.no_grad():
            lin.weight.copy_(w)
            if lin.bias is not None:
                lin.bias.copy_(state[f"{key[: -len('weight')]}bias"])
        if i and activation == "relu":
            layers.append(nn.ReLU())
        layers.append(lin)
    for a, b in zip(weights, weights[1:], strict=False):
        if a[1].shape[0] != b[1].shape[1]:
            raise AestheticError(
                f"head layers {a[0]} -> {b[0]} do not chain ({tuple(a[1].shape)} -> {tuple(b[1].shape)})"
            )
    if weights[-1][1].shape[0] != 1:
        raise AestheticError(f"head must end in one output, got {weights[-1][1].shape[0]}")
    return nn.Sequential(*layers).eval()


class AestheticModel:
    """A loaded CLIP image tower + MLP head."""

    def __init__(self, clip_model: Any, preprocess: Any, head: Any, config: AestheticConfig):
        self.clip = clip_model.eval()
        self.preprocess = preprocess
        self.head = head
        self.config = config
        self._loaded = LoadedClip(self.clip, preprocess, ClipSpec(model=config.model, device=config.device))

    @classmethod
    def load(cls, config: AestheticConfig) -> AestheticModel:
        import torch

        spec = ClipSpec(
            model=config.model,
            pretrained=config.pretrained,
            model_config=config.model_config,
            device=config.device,
        )
        clip = load_clip(spec, require_weights=False, config_prefix="aesthetic")
        head_path = Path(config.head)
        if not head_path.is_file():
            raise AestheticError(f"head checkpoint {head_path} does not exist")
        head = build_head(torch.load(head_path, map_location="cpu", weights_only=True), config.activation)
        embed_dim = clip.embed_dim
        first = next(m for m in head if hasattr(m, "in_features"))
        if first.in_features != embed_dim:
            raise AestheticError(
                f"head expects {first.in_features}-d input, {config.model} embeds {embed_dim}-d"
            )
        return cls(clip.model, clip.preprocess, head.to(config.device), config)

    def score_images(self, images: list[np.ndarray]) -> np.ndarray:
        """(k,) scores of RGB uint8 images."""
        import torch

        if not images:
            return np.zeros(0, np.float32)
        emb = self._loaded.encode_images(images, normalize=self.config.normalize)
        with torch.no_grad():
            out = self.head(torch.from_numpy(emb).to(self.config.device)).squeeze(-1)
        return out.cpu().numpy().astype(np.float32)


def load_aesthetic(config: AestheticConfig | dict[str, Any] | None) -> AestheticModel | None:
    """The configured model, or None (logged once) when none is configured or it cannot be loaded."""
    if not config:
        _log_once(
            "aesthetic score disabled: no CLIP weights configured (set aesthetic.model, aesthetic.pretrained and "
            "aesthetic.head in the filter config); the aesthetic column stays null"
        )
        return None
    try:
        cfg = config if isinstance(config, AestheticConfig) else AestheticConfig.from_dict(config)
        return AestheticModel.load(cfg)
    except Exception as exc:  # weights absent, no hub access, bad checkpoint: the column stays null
        _log_once("aesthetic score disabled: could not load %s: %s", getattr(config, "model", config), exc)
        return None


@register("aesthetic", "aesthetic")
def score_aesthetic(view: ShotView) -> dict:
    """CLIP + MLP aesthetic score of a few thumbs of the shot (null without a configured model)."""
    model = view.ctx.aesthetic
    if model is None:
        _log_once("aesthetic column is null: no aesthetic model in the score context")
        return {"aesthetic": None}
    idx = view.sample(model.config.frames)
    scores = model.score_images([view.picture[i] for i in idx])
    return {"aesthetic": round(float(scores.mean()), 4) if scores.size else None}
