"""Streaming the curate job's WebDataset shards into training batches.

Each sample's ``mp4`` is decoded with PyAV to ``frames`` frames taken every ``frame_stride`` source frames from a
random start (the middle for evaluation), centre-cropped to a square and resized to ``size`` x ``size``; pixels are
scaled to [-1, 1] as ``(C, T, H, W)``. ``tags.json`` gives the tag and field ids (padded to ``max_tags`` with a
mask), ``txt`` the text channel. Long-tail rebalancing repeats a sample ``floor(w)`` or ``ceil(w)`` times (mean
``w``) before the shuffle buffer, with ``w`` from the ``json`` member's ``weight`` or computed over the shards'
tags by :func:`pipeline.rebalance.rebalance_weights`.

``hflip`` mirrors a clip with probability 1/2 and swaps the tags (and the words of its text) that name a horizontal direction
(``camera.movement=pan_left`` <-> ``pan_right``), so the augmentation never contradicts the tags.
"""

from __future__ import annotations

import glob
import io
import json
import random
import re
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import av
import cv2
import numpy as np
import torch
import webdataset as wds

from pipeline.rebalance import rebalance_weights

#: Tags that swap when a clip is mirrored left-right.
HFLIP_SWAPS = {"camera.movement=pan_left": "camera.movement=pan_right"}
#: "left" / "right" (+ -ward, -wards) as a word or joined by "_" / "-" ("pan_left", "left-hand"), not inside a
#: longer word ("leftover", "outright").
_SIDE = re.compile(r"(?<![A-Za-z])(left|right)(wards?)?(?![A-Za-z])", re.IGNORECASE)


def mirror_text(text: str) -> str:
    """``text`` as it reads for the mirrored clip: "left" and "right" (and -ward, -wards) swapped, case kept,
    so a flipped pan's description agrees with its swapped tag."""

    def swap(m: re.Match[str]) -> str:
        word = "right" if m.group(1).lower() == "left" else "left"
        if m.group(1).isupper():
            word = word.upper()
        elif m.group(1)[0].isupper():
            word = word.capitalize()
        return word + (m.group(2) or "")

    return _SIDE.sub(swap, text)


@dataclass
class DataConfig:
    """How clips become tensors."""

    frames: int = 8
    size: int = 32
    frame_stride: int = 3
    max_tags: int = 16
    batch_size: int = 8
    shuffle_buffer: int = 64
    #: "none", "json" (the ``weight`` stored by the curate job; clips without one get 1) or "tags" (computed).
    rebalance: str = "json"
    hflip: bool = False
    workers: int = 0
    #: Keep every clip's decoded, resized frames in memory (per loader process) so each clip is decoded once;
    #: decoding is about half the CPU time of a tiny-model step. ~``frames x size^2 x 3`` bytes per clip.
    cache_decoded: bool = False
    #: Train on the tags of these fields only (e.g. ``[camera.movement]``); empty: every tag of the clip.
    tag_fields: tuple[str, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        self.tag_fields = tuple(self.tag_fields)
        if self.rebalance not in ("none", "json", "tags"):
            raise ValueError(f"rebalance must be 'none', 'json' or 'tags', got {self.rebalance!r}")
        if self.frames < 1 or self.size < 8 or self.frame_stride < 1:
            raise ValueError("need frames >= 1, size >= 8, frame_stride >= 1")


def expand_shards(pattern: str | Sequence[str]) -> list[str]:
    """Shard paths from a glob (``'DIR/shards/*.tar'``), a brace list or explicit paths; errors name the pattern."""
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    urls: list[str] = []
    for p in patterns:
        found = sorted(glob.glob(p)) if any(c in p for c in "*?[") else list(wds.shardlists.expand_urls(p))
        urls.extend(found)
    if not urls:
        raise FileNotFoundError(f"no shards match {pattern!r} (expected e.g. 'DIR/shards/*.tar')")
    return urls


def window_indices(n: int, frames: int, stride: int, rng: random.Random | None) -> list[int]:
    """Indices of ``frames`` frames every ``stride`` frames of an ``n``-frame clip, from a random start (the
    middle if no rng). A clip too short for the stride uses the largest stride that fits; a clip shorter than
    ``frames`` repeats its last frame."""
    step = max(1, min(stride, (n - 1) // max(frames - 1, 1)))
    span = step * (frames - 1) + 1
    slack = max(0, n - span)
    start = rng.randint(0, slack) if rng is not None else slack // 2
    return [min(n - 1, start + k * step) for k in range(frames)]


def _square(frame: av.VideoFrame, size: int) -> np.ndarray:
    """One decoded frame, centre-cropped to a square and resized to ``size`` (area interpolation), RGB uint8."""
    h, w = frame.height, frame.width
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    rgb = frame.to_ndarray(format="rgb24")[y0 : y0 + side, x0 : x0 + side]
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)


def _decode_frames(mp4: bytes) -> list[av.VideoFrame]:
    with av.open(io.BytesIO(mp4)) as container:
        decoded = list(container.decode(video=0))  # H.264 needs every frame decoded
    if not decoded:
        raise ValueError("clip has no frames")
    return decoded


def decode_all(mp4: bytes, size: int) -> np.ndarray:
    """``(n, size, size, 3)`` uint8 RGB: every frame of the clip, centre-cropped and resized (for caching)."""
    return np.stack([_square(f, size) for f in _decode_frames(mp4)])


def decode_clip(mp4: bytes, frames: int, size: int, stride: int, rng: random.Random | None) -> np.ndarray:
    """``(frames, size, size, 3)`` uint8 RGB: every ``stride``-th frame from a random start (middle if no rng);
    see :func:`window_indices`. Only the picked frames are converted."""
    decoded = _decode_frames(mp4)
    idx = window_indices(len(decoded), frames, stride, rng)
    converted: dict[int, np.ndarray] = {}
    out = np.empty((frames, size, size, 3), np.uint8)
    for k, i in enumerate(idx):
        if i not in converted:
            converted[i] = _square(decoded[i], size)
        out[k] = converted[i]
    return out


def to_tensor(clip: np.ndarray) -> torch.Tensor:
    """``(T, H, W, 3)`` uint8 -> ``(3, T, H, W)`` float32 in [-1, 1]."""
    return torch.from_numpy(clip).permute(3, 0, 1, 2).float().div(127.5).sub(1.0)


def to_uint8(video: torch.Tensor) -> np.ndarray:
    """``(3, T, H, W)`` in [-1, 1] -> ``(T, H, W, 3)`` uint8."""
    arr = ((video.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().byte()
    return arr.permute(1, 2, 3, 0).cpu().numpy()


def read_tag_lists(urls: Sequence[str]) -> dict[str, list[str]]:
    """``{key: ["field=value", ...]}`` from the ``tags.json`` members of the shards (other members skipped)."""
    out: dict[str, list[str]] = {}
    for url in urls:
        with tarfile.open(url) as tar:
            for info in tar:
                if info.name.endswith(".tags.json"):
                    f = tar.extractfile(info)
                    if f is not None:
                        out[info.name[: -len(".tags.json")]] = list(json.loads(f.read())["tags"])
    return out


def _repeat_by_weight(
    src: Iterator[dict[str, Any]], mode: str, computed: dict[str, float], seed: int
) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed * 7919 + wds.utils.pytorch_worker_seed())
    for sample in src:
        if mode == "none":
            yield sample
            continue
        if mode == "tags":
            weight = computed.get(sample["__key__"], 1.0)
        else:
            weight = json.loads(sample["json"]).get("weight")
            weight = 1.0 if weight is None else float(weight)
        copies = int(weight) + (1 if rng.random() < weight - int(weight) else 0)
        for _ in range(copies):
            yield sample


@dataclass
class Sample:
    """One decoded training sample (before batching)."""

    key: str
    video: torch.Tensor  # (3, T, H, W) in [-1, 1]
    tag_ids: list[int]
    field_ids: list[int]
    tags: list[str]
    text: str


class SampleDecoder:
    """Turns a raw WebDataset sample dict into a :class:`Sample` (picklable, for DataLoader workers)."""

    def __init__(self, cfg: DataConfig, id_of: dict[str, tuple[int, int]] | None = None, train: bool = True):
        self.cfg = cfg
        self.id_of = id_of or {}
        self.train = train
        self._rng: random.Random | None = None
        self._frames: dict[str, np.ndarray] = {}

    def rng(self) -> random.Random:
        if self._rng is None:
            # distinct per Ray/DDP rank and DataLoader worker, identical across reruns
            self._rng = random.Random(self.cfg.seed * 7919 + wds.utils.pytorch_worker_seed())
        return self._rng

    def __call__(self, raw: dict[str, Any]) -> Sample:
        rng = self.rng() if self.train else None
        c = self.cfg
        if c.cache_decoded:
            every = self._frames.get(raw["__key__"])
            if every is None:
                every = self._frames[raw["__key__"]] = decode_all(raw["mp4"], c.size)
            clip = every[window_indices(len(every), c.frames, c.frame_stride, rng)]
        else:
            clip = decode_clip(raw["mp4"], c.frames, c.size, c.frame_stride, rng)
        meta = json.loads(raw["tags.json"])
        tags = list(meta["tags"])
        tag_ids, field_ids = list(meta["tag_ids"]), list(meta["field_ids"])
        if c.tag_fields:
            keep = [k for k, tag in enumerate(tags) if tag.split("=", 1)[0] in c.tag_fields]
            tags, tag_ids, field_ids = (
                [tags[k] for k in keep],
                [tag_ids[k] for k in keep],
                [field_ids[k] for k in keep],
            )
        text = raw.get("txt", b"").decode("utf-8") if isinstance(raw.get("txt"), bytes) else ""
        if self.cfg.hflip and rng is not None and rng.random() < 0.5:
            clip = clip[:, :, ::-1].copy()
            text = mirror_text(text)
            swaps = {**HFLIP_SWAPS, **{b: a for a, b in HFLIP_SWAPS.items()}}
            for k, tag in enumerate(tags):
                if tag in swaps:
                    if swaps[tag] not in self.id_of:
                        raise KeyError(f"hflip needs the id of {swaps[tag]}; pass the vocab id map")
                    tags[k] = swaps[tag]
                    tag_ids[k], field_ids[k] = self.id_of[swaps[tag]]
        return Sample(raw["__key__"], to_tensor(clip), tag_ids, field_ids, tags, text)


@dataclass
class Batch:
    """A training batch: videos, padded tag ids with a validity mask, and texts."""

    video: torch.Tensor  # (B, 3, T, H, W)
    tag_ids: torch.Tensor  # (B, L) long, 0 where padded
    field_ids: torch.Tensor  # (B, L) long, 0 where padded
    tag_mask: torch.Tensor  # (B, L) bool, True = a real tag
    texts: list[str]
    keys: list[str]


def pad_tags(
    tag_lists: Sequence[Sequence[int]], field_lists: Sequence[Sequence[int]], max_tags: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad id lists to ``(B, L)`` (``L`` = longest list, at most ``max_tags``; extra tags are cut) with a mask."""
    length = max(1, min(max_tags, max((len(t) for t in tag_lists), default=1)))
    ids = torch.zeros(len(tag_lists), length, dtype=torch.long)
    fields = torch.zeros_like(ids)
    mask = torch.zeros(len(tag_lists), length, dtype=torch.bool)
    for b, (t, f) in enumerate(zip(tag_lists, field_lists, strict=True)):
        n = min(len(t), length)
        ids[b, :n] = torch.tensor(list(t)[:n], dtype=torch.long)
        fields[b, :n] = torch.tensor(list(f)[:n], dtype=torch.long)
        mask[b, :n] = True
    return ids, fields, mask


def collate(samples: Sequence[Sample], max_tags: int = 16) -> Batch:
    ids, fields, mask = pad_tags([s.tag_ids for s in samples], [s.field_ids for s in samples], max_tags)
    return Batch(
        video=torch.stack([s.video for s in samples]),
        tag_ids=ids,
        field_ids=fields,
        tag_mask=mask,
        texts=[s.text for s in samples],
        keys=[s.key for s in samples],
    )


class _Collate:
    def __init__(self, max_tags: int) -> None:
        self.max_tags = max_tags

    def __call__(self, samples: Sequence[Sample]) -> Batch:
        return collate(samples, self.max_tags)


def make_pipeline(
    shards: str | Sequence[str],
    cfg: DataConfig,
    id_of: dict[str, tuple[int, int]] | None = None,
    train: bool = True,
    epoch_seed: int = 0,
) -> wds.DataPipeline:
    """The WebDataset pipeline yielding :class:`Batch` objects.

    Training resamples shards forever (split by node and worker, so Ray/DDP ranks and DataLoader workers read
    different shards); evaluation reads each shard once. ``epoch_seed`` reseeds the shard order, the shuffle
    buffer and the crops (the trainer passes the step it resumes from).
    """
    urls = expand_shards(shards)
    seed = cfg.seed * 1_000_003 + epoch_seed
    computed: dict[str, float] = {}
    if cfg.rebalance == "tags":
        tag_lists = read_tag_lists(urls)
        computed = dict(zip(tag_lists, rebalance_weights(list(tag_lists.values())), strict=True))
    stages: list[Any]
    if train:  # ResampledShards seeds itself per rank and worker
        stages = [wds.ResampledShards(urls, seed=seed, deterministic=True)]
    else:
        stages = [wds.SimpleShardList(urls), wds.split_by_node, wds.split_by_worker]
    stages += [
        wds.tarfile_to_samples(),
        wds.pipelinefilter(_repeat_by_weight)(cfg.rebalance if train else "none", computed, seed),
    ]
    if train:
        stages.append(wds.shuffle(cfg.shuffle_buffer, initial=cfg.shuffle_buffer, seed=seed))
    decoder = SampleDecoder(DataConfig(**{**cfg.__dict__, "seed": seed}), id_of, train)
    stages += [
        wds.map(decoder),
        wds.batched(cfg.batch_size, collation_fn=_Collate(cfg.max_tags), partial=not train),
    ]
    return wds.DataPipeline(*stages)


def make_loader(
    shards: str | Sequence[str],
    cfg: DataConfig,
    id_of: dict[str, tuple[int, int]] | None = None,
    train: bool = True,
    epoch_seed: int = 0,
) -> Iterator[Batch]:
    """Batches from :func:`make_pipeline`, through a ``WebLoader`` with ``cfg.workers`` worker processes."""
    pipeline = make_pipeline(shards, cfg, id_of, train, epoch_seed)
    if cfg.workers <= 0:
        return iter(pipeline)
    loader = wds.WebLoader(pipeline, batch_size=None, num_workers=cfg.workers, persistent_workers=False)
    return iter(loader)
