"""Inference: PKS tags + text -> a clip, with dual classifier-free guidance, written as mp4 and a gif preview.

Tags are parsed with the taxonomy's own ``Taxonomy.parse_tag`` / ``validate`` (unknown or deprecated tags raise
its error message, with suggestions), encoded with the checkpoint's tag id map (checked against the taxonomy),
and sampled with the EMA weights from the guided velocity
``v = v0 + w_text (v_text - v0) + w_tag (v_tag+text - v_text)`` (:func:`animatrix.model.guided_velocity`) by
Euler steps that re-noise with fresh noise (``eta`` 1, the default: measured to turn patch mosaics into coherent
pictures), or deterministic Euler / Heun integration (``eta`` 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import torch
from PIL import Image

from animatrix.data import pad_tags, to_uint8
from animatrix.model import AniMatrix, FrozenT5, ModelConfig, sample
from animatrix.train import check_checkpoint, load_checkpoint
from pipeline.x264 import x264_options
from taxonomy import Taxonomy, load_taxonomy


@dataclass
class GenerationRequest:
    """What to generate: tags (``"field=value"``), text, guidance weights, sampler steps and seed; ``sampler``
    "euler" / "heun", ``shift`` (SD3 time shift, > 1 = more steps near t = 1; None = the shift the checkpoint
    was trained with), ``t_start`` (the time pure noise is taken at) and ``eta`` (share of fresh noise per
    step; 1 by default, 0 = deterministic Euler) as in :func:`animatrix.model.sample`."""

    tags: Sequence[str]
    text: str = ""
    w_text: float = 5.0
    w_tag: float = 2.0
    steps: int = 20
    seed: int = 0
    sampler: str = "euler"
    shift: float | None = None
    t_start: float = 1.0
    eta: float = 1.0


def parse_tags(taxonomy: Taxonomy, tags: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """``["camera.movement=pan_left", ...]`` -> validated canonical tags; raises the taxonomy's errors."""
    grouped: dict[str, list[str]] = {}
    for text in tags:
        tag = taxonomy.parse_tag(text)
        grouped.setdefault(tag.field, []).append(tag.value)
    return taxonomy.validate(grouped)


class Generator:
    """A loaded model (EMA weights by default) with its taxonomy, ready to sample."""

    def __init__(self, model: AniMatrix, taxonomy: Taxonomy, train_shift: float = 1.0) -> None:
        self.model = model.eval()
        self.taxonomy = taxonomy
        #: The time shift the model was trained with: the default sampling shift.
        self.train_shift = train_shift

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        taxonomy: Taxonomy | None = None,
        text_encoder: FrozenT5 | None = None,
        use_ema: bool = True,
    ) -> Generator:
        state = load_checkpoint(path)
        tax = taxonomy or load_taxonomy()
        check_checkpoint(state, tax)
        model = AniMatrix(ModelConfig(**state["model_config"]), text_encoder)
        model.load_trainable_state(state["model"])
        if use_ema:
            params = dict(model.named_parameters())
            with torch.no_grad():
                for name, value in state["ema"].items():
                    params[name].copy_(value)
        return cls(model, tax, float(state.get("config", {}).get("t_shift", 1.0)))

    def encode_tags(self, tags: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        vocab = self.taxonomy.vocab
        ids = vocab.encode(parse_tags(self.taxonomy, tags))
        return pad_tags([ids], [[vocab.field_index_of(i) for i in ids]], max_tags=max(1, len(ids)))

    def generate(self, request: GenerationRequest, batch: int = 1) -> np.ndarray:
        """``(batch, T, H, W, 3)`` uint8 clips (one seed; the batch draws consecutive noise from it)."""
        tag_ids, field_ids, tag_mask = self.encode_tags(request.tags)
        cond = self.model.encode([request.text], tag_ids, field_ids, tag_mask)
        if batch > 1:
            cond = cond.repeat(batch)
        generator = torch.Generator().manual_seed(request.seed)
        video = sample(
            self.model,
            cond,
            request.steps,
            request.w_text,
            request.w_tag,
            generator,
            shift=self.train_shift if request.shift is None else request.shift,
            method=request.sampler,
            t_start=request.t_start,
            eta=request.eta,
        )
        return np.stack([to_uint8(v) for v in video])


def _upscale(frames: np.ndarray, scale: int) -> np.ndarray:
    if scale == 1:
        return frames
    return np.stack(
        [
            cv2.resize(f, (f.shape[1] * scale, f.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
            for f in frames
        ]
    )


def write_mp4(frames: np.ndarray, path: str | Path, fps: Fraction | int = 8, scale: int = 4) -> Path:
    """``(T, H, W, 3)`` uint8 -> H.264 mp4 (pixels repeated ``scale`` times so a tiny clip is viewable)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    big = _upscale(frames, scale)
    h, w = big.shape[1:3]
    tmp = path.with_name(path.name + ".part")
    with av.open(str(tmp), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        stream.options = x264_options({"crf": "12", "preset": "veryfast"})
        for f in big:
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(f[: h - h % 2, : w - w % 2]), format="rgb24"
            )
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)
    return path


def write_gif(frames: np.ndarray, path: str | Path, fps: int = 8, scale: int = 4) -> Path:
    """A looping gif preview of ``(T, H, W, 3)`` uint8 frames."""
    path = Path(path)
    images = [Image.fromarray(f) for f in _upscale(frames, scale)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return path


def generate_to_files(
    checkpoint: str | Path, request: GenerationRequest, out: str | Path, **kwargs: Any
) -> tuple[Path, Path]:
    """Load, generate one clip, write ``out`` (mp4) and ``out`` with ``.gif``; returns both paths."""
    gen = Generator.from_checkpoint(checkpoint, **kwargs)
    frames = gen.generate(request)[0]
    out = Path(out)
    return write_mp4(frames, out), write_gif(frames, out.with_suffix(".gif"))
