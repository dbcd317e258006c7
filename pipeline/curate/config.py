"""The curate job's configuration: one YAML file, every section optional, unknown keys refused."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml

_X264_PARAMS = re.compile(r"[a-z0-9-]+=[^:=]+(:[a-z0-9-]+=[^:=]+)*")


class CurateConfigError(ValueError):
    """A curate config that cannot be used; the message names the file and the key."""


#: ``pipeline.shots.transnet.PRECISIONS``, spelled out so that reading a config does not import torch.
DETECTOR_PRECISIONS = ("auto", "fp32", "bf16", "int8")


@dataclass(frozen=True)
class DetectorSection:
    #: Shot detector backend (``anicurate shots --help`` lists them).
    backend: str = "transnet"
    #: Shots shorter than this many frames are not shots of their own (they are dropped with a reason).
    min_shot_frames: int = 1
    #: TransNet's arithmetic (backend ``transnet``): "auto" is int8 spatial convolutions on a CPU with VNNI
    #: (~1.25x faster TransNet windows than bf16), else bfloat16 where the CPU or GPU computes it natively
    #: (~2x faster than fp32), else fp32; "fp32" everywhere, so boundaries do not depend on the machine;
    #: "bf16" / "int8" force those.
    precision: str = "auto"
    #: Where TransNet runs: "cpu", or "cuda" / "cuda:N" for a GPU (on Ray the video tasks then need
    #: ``ray.gpus_per_video`` > 0, e.g. 0.25 to share one GPU between four tasks).
    device: str = "cpu"


@dataclass(frozen=True)
class AnalysisSection:
    #: Width of the shared analysis thumbnails.
    thumb_width: int = 128
    #: Frames held in memory per analysis window (a 2-hour film is analysed in windows of this many frames;
    #: a shot crossing a window edge is carried into the next window, so windows never cut a shot).
    window_frames: int = 6000
    #: Content digests of every decoded frame (exact dedupe); about 0.4 ms per 1080p frame (XXH3-64).
    digests: bool = True
    #: Decoder threads per video: 0 lets FFmpeg choose (frame threads over every core: the local runner); a Ray
    #: task with 0 decodes on as many threads as it asked CPUs for (``ray.cpus_per_video``). One thread costs
    #: ~20 % less CPU per frame than frame threading, and a one-CPU task has no second core to spare for it.
    decode_threads: int = 0


#: See ``ClipSection.x264_params``.
X264_FAST_PARAMS = "me=dia:subme=1:partitions=i8x8,i4x4"


@dataclass(frozen=True)
class ClipSection:
    #: Longer shots are split into windows of at most this many seconds.
    max_seconds: float = 8.0
    #: Clips shorter than this are not written (the shot keeps a rejection row).
    min_frames: int = 16
    #: Short side of the re-encoded clip in pixels (aspect kept; smaller sources are not upscaled); null keeps the
    #: source size.
    short_side: int | None = 360
    #: Output frame rate as a fraction string ("24000/1001"); null keeps every source frame.
    fps: str | None = None
    crf: int = 20
    preset: str = "veryfast"
    #: x264 options over the preset (``key=value:...``; null: the preset alone). The default trims veryfast's
    #: costliest searches (diamond motion search, subpixel refinement 1, no p8x8/b8x8 partitions) while keeping
    #: its lookahead and macroblock tree: encoding ~1.9x faster for ~10 % more bytes at the same PSNR
    #: (docs/benchmarks.md, "Curate job").
    x264_params: str | None = X264_FAST_PARAMS
    #: Thumbnail (jpg member) short side in pixels.
    thumb_short_side: int = 256
    #: Memory (MB) for decoded frames held until their shot is final, so clips are encoded from the analysis
    #: decode; a clip whose frames did not fit is cut by a second decode of the source (same bytes, slower).
    #: Frames wait at source size until the crop is known or guessed (at most 1 GiB), then at clip size, and
    #: never beyond one analysis window (~2 GB for 6000 frames at 360p). null: 40 % of this machine's memory
    #: per CPU, times the CPUs the task may use.
    buffer_mb: float | None = None
    #: Clips encoded at once per video (each one single-threaded x264, so bytes never depend on it); 0: the
    #: CPUs the process may use (the Ray runner sets it to ``ray.cpus_per_video``).
    encode_threads: int = 0


@dataclass(frozen=True)
class CaptionSection:
    enabled: bool = True
    #: AniCaption config file (null: the bundled default experts).
    config: str | None = None


@dataclass(frozen=True)
class DedupeSection:
    enabled: bool = True
    #: Keep order of a duplicate group, best first: resolution, frames, score.
    policy: str = "resolution,frames,score"
    #: Skip encoding a clip when the run has already fingerprinted a better copy of it (an opening or ending
    #: seen in an earlier episode): the reduce's dedupe drops such a clip, and encodes it itself in the rare
    #: case it keeps it after all, so the output is the same either way (pipeline/dedupe/registry.py).
    defer_copies: bool = True


@dataclass(frozen=True)
class ShardSection:
    prefix: str = "shard"
    target_mb: float = 256.0


@dataclass(frozen=True)
class LimitSection:
    #: Inputs with more pixels per frame are rejected ("absurd_size") before decoding.
    max_pixels: int = 8192 * 4320
    #: Inputs smaller than this on either side are rejected ("too_small").
    min_side: int = 16
    #: Decoding stops after this many frames (the rest of the file is reported, not silently dropped).
    max_frames: int = 24 * 60 * 60 * 6
    #: Seconds one video may take before it is stopped and rejected ("timeout"); Ray runner only.
    timeout_s: float = 4 * 3600.0
    #: Times a video whose worker crashed is retried before it is quarantined.
    max_retries: int = 2


@dataclass(frozen=True)
class RaySection:
    #: CPUs each video task asks for (decode + detection + scoring + the CPU experts run inside it). When the
    #: job has fewer videos than the cluster has such slots, each task asks for an equal share of the CPUs
    #: instead (whole CPUs, at most ``max_cpus_per_video`` and one node's), so a job of a few long episodes
    #: still uses every core: its decoder and clip encoders run on that many threads.
    cpus_per_video: float = 1.0
    #: The most CPUs a task asks for when the videos are fewer than the slots (1: never more than above).
    max_cpus_per_video: int = 4
    #: Let a task encode a clip on a CPU of its node that no video task holds (the last videos of a job, once
    #: the other workers are done; see :mod:`pipeline.spare_cpus`). Only this job's tasks are counted: set
    #: false on nodes shared with other work.
    borrow_idle_cpus: bool = True
    #: GPUs each video task asks for when learned experts (CLIP, VLM) run on a GPU cluster; fractions share a
    #: GPU between tasks (0.25: four videos per GPU). 0 on CPU-only machines.
    gpus_per_video: float = 0.0
    #: Videos in flight per available CPU slot (bounded, so a million-file input list is not submitted at once).
    #: With caption actors it is 1: a task waiting on its actor lends its CPU to Ray, which would start a
    #: queued video on it in an extra, cold worker.
    inflight_per_slot: int = 2
    #: AniCaption as a pool of this many Ray actors (each loads the experts' models once and may hold GPUs);
    #: video tasks send their shots to it. 0 runs AniCaption inside each video task instead (the default: the
    #: default experts are cheap CPU code, and on one node that avoids shipping shots between processes).
    caption_actors: int = 0
    #: CPUs each caption actor asks for. 0 by default: the video task waits while the actor works on its
    #: shot, so the task's CPU is the one in use (asking for more can starve the actors on a small node).
    caption_cpus: float = 0.0
    #: GPUs each caption actor asks for (fractions share a GPU), for learned experts (CLIP, a VLM).
    caption_gpus: float = 0.0


#: Config keys (section, key; None: the whole section) that say how the work is spread over threads and
#: machines, never what it outputs (shards are byte for byte the same): left out of the run fingerprint.
EXECUTION_KEYS: tuple[tuple[str, str | None], ...] = (
    ("analysis", "decode_threads"),
    ("clips", "encode_threads"),
    ("clips", "buffer_mb"),
    ("dedupe", "defer_copies"),
    ("ray", None),
)


@dataclass(frozen=True)
class CurateConfig:
    version: int = 1
    detector: DetectorSection = field(default_factory=DetectorSection)
    analysis: AnalysisSection = field(default_factory=AnalysisSection)
    #: Filter / tier config file (null: the bundled pipeline/filters_default.yaml).
    filters: str | None = None
    #: "filter" or "score-only" (null: the filter config's own mode).
    mode: str | None = None
    clips: ClipSection = field(default_factory=ClipSection)
    caption: CaptionSection = field(default_factory=CaptionSection)
    dedupe: DedupeSection = field(default_factory=DedupeSection)
    shards: ShardSection = field(default_factory=ShardSection)
    limits: LimitSection = field(default_factory=LimitSection)
    ray: RaySection = field(default_factory=RaySection)

    @classmethod
    def load(cls, path: str | Path | None) -> CurateConfig:
        if path is None:
            return cls()
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            raise CurateConfigError(f"{path}: cannot read: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise CurateConfigError(f"{path}: not valid YAML: {exc}") from exc
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw: Any, source: str = "<config>") -> CurateConfig:
        cfg = _build(cls, raw, source, "")
        _check(cfg, source)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fingerprint(self, extra: dict[str, Any] | None = None) -> str:
        """Hash of everything that changes the output (this config without :data:`EXECUTION_KEYS`, the filter
        config's text, ``extra``): a run resumed with other thread counts or Ray resources is the same run."""
        body = self.to_dict()
        for section, key in EXECUTION_KEYS:
            if key is None:
                body.pop(section, None)
            else:
                body[section].pop(key, None)
        payload: dict[str, Any] = {"config": body, **(extra or {})}
        if self.filters:
            payload["filters_text"] = Path(self.filters).read_text()
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _build(cls: type, raw: Any, source: str, where: str) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise CurateConfigError(
            f"{source}: {where or 'top level'}: expected a mapping, got {type(raw).__name__}"
        )
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise CurateConfigError(
            f"{source}: {where or 'top level'}: unknown key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(known)}"
        )
    values = {}
    defaults = cls()
    for name, value in raw.items():
        here = f"{where}.{name}" if where else name
        default = getattr(defaults, name)
        if is_dataclass(default):
            values[name] = _build(type(default), value, source, here)
            continue
        values[name] = _coerce(value, default, source, here)
    return cls(**values)


def _coerce(value: Any, default: Any, source: str, where: str) -> Any:
    if value is None:
        return None
    expected = type(default) if default is not None else None
    if expected is bool and not isinstance(value, bool):
        raise CurateConfigError(f"{source}: {where}: expected true/false, got {value!r}")
    if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise CurateConfigError(f"{source}: {where}: expected an integer, got {value!r}")
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CurateConfigError(f"{source}: {where}: expected a number, got {value!r}")
        return float(value)
    if expected is str and not isinstance(value, str):
        raise CurateConfigError(f"{source}: {where}: expected a string, got {value!r}")
    return value


def _check(cfg: CurateConfig, source: str) -> None:
    from pipeline.shots.registry import DETECTORS

    def bad(where: str, msg: str) -> CurateConfigError:
        return CurateConfigError(f"{source}: {where}: {msg}")

    if cfg.version != 1:
        raise bad("version", f"{cfg.version} is not supported (this AniCurate reads version 1)")
    if cfg.detector.backend not in DETECTORS:
        raise bad("detector.backend", f"{cfg.detector.backend!r}; choose from {', '.join(DETECTORS)}")
    if cfg.detector.precision not in DETECTOR_PRECISIONS:
        choices = ", ".join(DETECTOR_PRECISIONS)
        raise bad("detector.precision", f"{cfg.detector.precision!r}; choose from {choices}")
    if not re.fullmatch(r"cpu|cuda(:\d+)?", cfg.detector.device):
        raise bad("detector.device", f"{cfg.detector.device!r}; choose cpu, cuda or cuda:N")
    if cfg.detector.device != "cpu" and cfg.detector.precision == "int8":
        raise bad("detector.precision", "int8 runs on the CPU only; use auto, bf16 or fp32 on a GPU")
    if cfg.mode not in (None, "filter", "score-only"):
        raise bad("mode", f"{cfg.mode!r}; choose filter or score-only")
    if cfg.analysis.window_frames < 64:
        raise bad("analysis.window_frames", "must be at least 64")
    if cfg.clips.max_seconds <= 0 or cfg.clips.min_frames < 1:
        raise bad("clips", "max_seconds must be > 0 and min_frames >= 1")
    if cfg.clips.buffer_mb is not None and cfg.clips.buffer_mb < 0:
        raise bad("clips.buffer_mb", "must be >= 0 (0: every clip is cut by a second decode)")
    if cfg.analysis.decode_threads < 0:
        raise bad("analysis.decode_threads", "must be >= 0 (0: FFmpeg's choice, or the task's CPUs on Ray)")
    if cfg.clips.encode_threads < 0:
        raise bad("clips.encode_threads", "must be >= 0 (0: one per CPU the process may use)")
    if cfg.clips.short_side is not None and (
        not isinstance(cfg.clips.short_side, int) or cfg.clips.short_side < 16
    ):
        raise bad("clips.short_side", "must be an integer >= 16 or null")
    if cfg.clips.x264_params is not None and not _X264_PARAMS.fullmatch(cfg.clips.x264_params):
        raise bad(
            "clips.x264_params",
            f"{cfg.clips.x264_params!r}: write x264 options as key=value pairs joined by ':' "
            f"(e.g. {X264_FAST_PARAMS!r}), or null for none",
        )
    if cfg.clips.fps is not None:
        from fractions import Fraction

        try:
            if Fraction(cfg.clips.fps) <= 0:
                raise ValueError
        except (ValueError, ZeroDivisionError) as exc:
            raise bad(
                "clips.fps", f"{cfg.clips.fps!r} is not a positive rate like '24' or '24000/1001'"
            ) from exc
    if cfg.ray.cpus_per_video <= 0 or cfg.ray.gpus_per_video < 0 or cfg.ray.inflight_per_slot < 1:
        raise bad("ray", "cpus_per_video must be > 0, gpus_per_video >= 0, inflight_per_slot >= 1")
    if cfg.ray.max_cpus_per_video < 1:
        raise bad(
            "ray.max_cpus_per_video", "must be >= 1 (1: a task never asks for more than cpus_per_video)"
        )
    if cfg.ray.caption_actors < 0 or cfg.ray.caption_cpus < 0 or cfg.ray.caption_gpus < 0:
        raise bad("ray", "caption_actors, caption_cpus and caption_gpus must be >= 0")
    if cfg.shards.target_mb <= 0:
        raise bad("shards.target_mb", "must be > 0")
    if not cfg.shards.prefix.replace("-", "").replace("_", "").isalnum():
        raise bad("shards.prefix", f"{cfg.shards.prefix!r}: use letters, digits, '-' and '_' only")
    if cfg.filters is not None and not Path(cfg.filters).is_file():
        raise bad("filters", f"{cfg.filters}: no such file")
    from pipeline.dedupe.policy import KeepPolicy

    try:
        KeepPolicy.parse(cfg.dedupe.policy)
    except ValueError as exc:
        raise bad("dedupe.policy", str(exc)) from exc
