"""Loading an open_clip model by configuration, and embedding images and texts with it.

Shared by the aesthetic score (:mod:`pipeline.scores.aesthetic`) and the AniCaption CLIP expert
(:mod:`annotator.clip_backend`). A :class:`ClipSpec` names where the weights come from, in one of four ways:

* ``model`` = an open_clip architecture (``"ViT-B-32"``) and ``pretrained`` = an open_clip pretrained tag
  (``"laion2b_s34b_b79k"``; downloaded into ``cache_dir`` on first use, or read from it offline);
* ``model`` = an architecture and ``checkpoint`` = a local weights file (``.pt`` / ``.bin`` / ``.safetensors``);
* ``model`` = ``"hf-hub:org/repo"``: an open_clip repository on the Hugging Face hub (config and weights);
* ``model`` = ``"local-dir:/path"``: a folder with ``open_clip_config.json`` and the weights (e.g. a downloaded
  hub snapshot).

``model_config`` registers an extra open_clip model-config JSON (file or folder) for architectures open_clip
does not ship. Loading fails with :class:`ClipLoadError` (an actionable message) when no weights are configured
and ``require_weights`` is set, or when the weights cannot be read.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


class ClipLoadError(RuntimeError):
    """The configured CLIP model cannot be loaded; the message says what to set or fix."""


@dataclass(frozen=True)
class ClipSpec:
    """Where an open_clip model comes from (see the module docstring for the four ways)."""

    model: str = "ViT-B-32"
    pretrained: str | None = None
    checkpoint: str | None = None
    model_config: str | None = None
    cache_dir: str | None = None
    device: str = "cpu"

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    @property
    def has_weights(self) -> bool:
        """True when the spec names weights (it may still fail to load them)."""
        return bool(self.pretrained or self.checkpoint or self.model.startswith(("hf-hub:", "local-dir:")))

    def describe(self) -> str:
        """A short identity of the embedding model (stored beside probes trained on its embeddings)."""
        source = self.checkpoint and Path(self.checkpoint).name or self.pretrained
        return f"{self.model}/{source}" if source else self.model


def _missing_weights_message(prefix: str) -> str:
    return (
        f"no CLIP weights configured: set {prefix}.pretrained=<open_clip tag, e.g. laion2b_s34b_b79k> or "
        f"{prefix}.checkpoint=<local weights file>, or {prefix}.model=hf-hub:<org/repo> or local-dir:<folder>"
    )


class LoadedClip:
    """An open_clip model in eval mode with its image preprocessing and (lazily) its tokenizer."""

    def __init__(self, model: Any, preprocess: Any, spec: ClipSpec, tokenizer: Any = None):
        self.model = model.eval()
        self.preprocess = preprocess
        self.spec = spec
        self._tokenizer = tokenizer

    @property
    def embed_dim(self) -> int:
        return int(self.model.visual.output_dim)

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            import open_clip

            self._tokenizer = open_clip.get_tokenizer(self.spec.model, cache_dir=self.spec.cache_dir)
        return self._tokenizer

    def encode_images(
        self, images: Sequence[np.ndarray], normalize: bool = True, batch_size: int = 32
    ) -> np.ndarray:
        """(k, D) float32 embeddings of RGB uint8 images of any size (the model's preprocessing resizes them);
        rows are L2-normalised when ``normalize``."""
        import torch
        from PIL import Image

        if not len(images):
            return np.zeros((0, self.embed_dim), np.float32)
        out = []
        for i in range(0, len(images), batch_size):
            batch = torch.stack(
                [
                    self.preprocess(Image.fromarray(np.ascontiguousarray(im)))
                    for im in images[i : i + batch_size]
                ]
            )
            with torch.no_grad():
                out.append(self.model.encode_image(batch.to(self.spec.device)).float().cpu())
        emb = torch.cat(out)
        if normalize:
            emb = emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        return emb.numpy().astype(np.float32)

    def encode_texts(self, texts: Sequence[str], normalize: bool = True, batch_size: int = 64) -> np.ndarray:
        """(k, D) float32 text embeddings; rows L2-normalised when ``normalize``."""
        import torch

        if not texts:
            return np.zeros((0, self.embed_dim), np.float32)
        out = []
        for i in range(0, len(texts), batch_size):
            tokens = self.tokenizer(list(texts[i : i + batch_size]))
            with torch.no_grad():
                out.append(self.model.encode_text(tokens.to(self.spec.device)).float().cpu())
        emb = torch.cat(out)
        if normalize:
            emb = emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        return emb.numpy().astype(np.float32)


_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt")


def _check_schema_weights(spec: ClipSpec, config_prefix: str) -> None:
    """open_clip only warns and keeps random weights when a local-dir / hf-hub model has none: refuse instead."""
    if spec.model.startswith("local-dir:"):
        folder = Path(spec.model[len("local-dir:") :])
        if not (folder / "open_clip_config.json").is_file():
            raise ClipLoadError(f"{config_prefix}.model: {folder} holds no open_clip_config.json")
        if not any(p.suffix in _WEIGHT_SUFFIXES for p in folder.iterdir()):
            raise ClipLoadError(
                f"{config_prefix}.model: {folder} holds no weights ({', '.join(_WEIGHT_SUFFIXES)})"
            )
    elif spec.model.startswith("hf-hub:"):
        from open_clip.pretrained import download_pretrained_from_hf

        try:
            download_pretrained_from_hf(spec.model[len("hf-hub:") :], cache_dir=spec.cache_dir)
        except Exception as exc:
            raise ClipLoadError(
                f"could not get the weights of {spec.model} (no hub access? pre-download them into "
                f"{config_prefix}.cache_dir, or use local-dir:<folder>): {exc}"
            ) from exc


def load_clip(spec: ClipSpec, require_weights: bool = True, config_prefix: str = "clip") -> LoadedClip:
    """Load the model ``spec`` names. ``require_weights=False`` allows a randomly initialised model when no weights
    are named (only useful for tests of the plumbing); ``config_prefix`` names the config block in messages."""
    import open_clip

    if spec.pretrained and spec.checkpoint:
        raise ClipLoadError(f"{config_prefix}: set pretrained or checkpoint, not both")
    if require_weights and not spec.has_weights:
        raise ClipLoadError(_missing_weights_message(config_prefix))
    if spec.model_config:
        path = Path(spec.model_config)
        if not path.exists():
            raise ClipLoadError(f"{config_prefix}.model_config: {path} does not exist")
        open_clip.add_model_config(path)
    _check_schema_weights(spec, config_prefix)
    pretrained = spec.pretrained
    if spec.checkpoint:
        ckpt = Path(spec.checkpoint)
        if not ckpt.is_file():
            raise ClipLoadError(f"{config_prefix}.checkpoint: {ckpt} is not a file")
        pretrained = str(ckpt)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            spec.model, pretrained=pretrained, device=spec.device, cache_dir=spec.cache_dir
        )
    except Exception as exc:
        raise ClipLoadError(f"could not load CLIP {spec.describe()}: {exc}") from exc
    return LoadedClip(model, preprocess, spec)
