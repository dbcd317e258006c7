"""TransNetV2's spatial convolutions in int8, for CPUs with VNNI (precision ``"int8"``).

Two thirds of a TransNetV2 window's CPU time go to the ``(1, 3, 3)`` spatial convolutions, which run at the
core's bfloat16 peak in :class:`~pipeline.shots.transnet.FoldedTransNetV2`. On a CPU with VNNI (AVX512-VNNI,
AVX-VNNI or AMX-INT8) oneDNN's uint8 x int8 convolution does the same arithmetic about 2x faster.
:class:`Int8TransNetV2` runs them that way:

* weights: int8, one scale per output channel (symmetric, absolute maximum -> 127), packed once at load;
* activations: uint8 with one scale per window, taken from the window's own maximum when it is computed
  (every input of a spatial convolution is non-negative: pixels, or the output of a ReLU), so no calibration
  data is needed and a window's values never depend on which other windows are computed or batched with it;
* the first layer reads the uint8 pixels as they are (scale 1/255, exact);
* the int32 sums come back as floats; the temporal convolutions, the frame-similarity and colour-histogram
  layers and the classifier run in bfloat16 where the CPU has it natively (fp32 elsewhere).

Activations stay channels-last throughout, so a window needs no layout conversion between the layers.

On the 49 development and synthetic videos of ``docs/benchmarks.md`` ("Session 14") TransNet's probabilities
move by at most 0.045 from fp32 (bf16: 0.035), and no boundary of the shot detector changed, gated or run on
every window; a window costs ~0.16 s of CPU instead of ~0.20 s (bf16) or ~0.39 s (fp32).

The convolution is oneDNN's ``qconv2d_pointwise`` (the op PyTorch's own x86 int8 inference lowers to).
:func:`build_int8` checks it against an fp32 convolution before use; if the op is missing or disagrees, it
raises :class:`Int8Unavailable` and the caller falls back to bf16 / fp32.
"""

from __future__ import annotations

import contextlib
import functools

import torch
import torch.nn.functional as F
from torch import nn

#: CPU flags of an int8 dot-product instruction set (x86).
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


class Int8Unavailable(RuntimeError):
    """The int8 convolution cannot be used here (missing op, or its results disagree with fp32)."""


def cpu_flags_have_vnni(cpuinfo: str) -> bool:
    """Whether a ``/proc/cpuinfo`` text lists an int8 dot-product instruction set."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return bool(flags & VNNI_FLAGS)


@functools.lru_cache(maxsize=1)
def int8_ops_available() -> bool:
    """Whether this PyTorch has oneDNN and its int8 convolution ops."""
    try:
        ops = torch.ops.onednn
        return bool(torch.backends.mkldnn.is_available()) and all(
            hasattr(ops, name) for name in ("qconv_prepack", "qconv2d_pointwise")
        )
    except (AttributeError, RuntimeError):
        return False


@functools.lru_cache(maxsize=1)
def native_int8() -> bool:
    """Whether this machine's CPU computes int8 dot products natively and PyTorch can use them."""
    try:
        with open("/proc/cpuinfo") as fh:
            vnni = cpu_flags_have_vnni(fh.read())
    except OSError:
        return False
    return vnni and int8_ops_available()


#: Stride, padding, dilation and groups of a 3x3 "same" convolution, as oneDNN's int8 ops take them.
_SAME_3X3 = ([1, 1], [1, 1], [1, 1], 1)


class _Int8SpatialConv:
    """A 3x3 convolution (no bias) with int8 weights packed for oneDNN, applied to uint8 activations."""

    def __init__(self, weight: torch.Tensor, out_dtype: torch.dtype) -> None:
        weight = weight.detach().float()
        scales = (weight.abs().amax((1, 2, 3)).clamp_min(1e-12) / 127).double()
        q = torch.round(weight / scales.float()[:, None, None, None]).clamp(-127, 127).to(torch.int8)
        self.scales = scales
        self.zero_points = torch.zeros(weight.shape[0], dtype=torch.long)
        self.out_dtype = out_dtype
        try:
            self.packed = torch.ops.onednn.qconv_prepack(q, scales, 1 / 255, 0, *_SAME_3X3, None)
        except (AttributeError, RuntimeError) as exc:
            raise Int8Unavailable(f"oneDNN int8 convolution unavailable: {exc}") from exc

    def __call__(self, x: torch.Tensor, scale: float) -> torch.Tensor:
        """``x``: (N, C, H, W) uint8 (channels-last), ``x * scale`` the real values -> (N, O, H, W) floats."""
        return torch.ops.onednn.qconv2d_pointwise(
            x, scale, 0, self.packed, self.scales, self.zero_points, None, *_SAME_3X3,
            1.0, 0, self.out_dtype, "none", [], "",
        )  # fmt: skip


def quantize_activation(x: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Non-negative activations -> (uint8 tensor, scale) with ``uint8 * scale ~= x``: the scale maps the
    tensor's own maximum to 255, values round to nearest. Keeps the memory format (channels-last)."""
    top = float(x.max())
    if top <= 0:
        return torch.zeros_like(x, dtype=torch.uint8), 1.0
    y = x.float() if x.dtype != torch.float32 else x.clone()
    # x >= 0, so truncating x * 255 / top + 0.5 rounds to nearest and stays within 0..255
    return y.mul_(255.0 / top).add_(0.5).to(torch.uint8), top / 255.0


class _Int8Block:
    """One folded DilatedDCNNV2 block: the four branches' spatial convolutions as one int8 convolution, then
    the four temporal (dilated 3x1) convolutions on channels-last views of its output."""

    def __init__(self, block: nn.Module, dtype: torch.dtype) -> None:
        self.filters = block.filters
        self.dilations = block.dilations
        self.relu = block.relu
        self.spatial = _Int8SpatialConv(block.spatial, dtype)
        self.temporal = [
            (w.detach().to(dtype).contiguous(memory_format=torch.channels_last), b.detach().to(dtype))
            for w, b in zip(block.temporal_weight, block.temporal_bias, strict=True)
        ]

    def __call__(self, x: torch.Tensor, scale: float) -> torch.Tensor:
        """(T, C, H, W) uint8 channels-last -> (T, 4f, H, W) channels-last activations."""
        t, _, h, w = x.shape
        f = self.filters
        y = self.spatial(x, scale)  # (T, 8f, H, W), channels-last
        # the same memory as (1, 8f, T, H*W) channels-last: time becomes the convolved "height"
        y = y.permute(1, 0, 2, 3).reshape(8 * f, t, h * w).unsqueeze(0)
        out = torch.cat(
            [
                F.conv2d(y[:, 2 * f * k : 2 * f * (k + 1)], weight, bias, padding=(d, 0), dilation=(d, 1))
                for k, ((weight, bias), d) in enumerate(zip(self.temporal, self.dilations, strict=True))
            ],
            1,
        )  # (1, 4f, T, H*W)
        out = out[0].reshape(4 * f, t, h, w).permute(1, 0, 2, 3)
        return out.relu_() if self.relu else out


class Int8TransNetV2(nn.Module):
    """:class:`~pipeline.shots.transnet.FoldedTransNetV2` with int8 spatial convolutions (module doc).
    ``forward`` takes the same ``(B, T, 27, 48, 3)`` uint8 windows and returns the same
    ``(single logits, {"many_hot": logits})``; each window is computed on its own."""

    def __init__(self, folded: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.dtype = dtype
        self.stacks = [[_Int8Block(b, dtype) for b in stack] for stack in folded.stacks]
        self.frame_sim_layer = folded.frame_sim_layer
        self.color_hist_layer = folded.color_hist_layer
        self.fc1 = folded.fc1
        self.cls_layer1 = folded.cls_layer1
        self.cls_layer2 = folded.cls_layer2

    def _autocast(self) -> contextlib.AbstractContextManager[None]:
        if self.dtype == torch.bfloat16:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _window(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x_q, scale = frames.permute(0, 3, 1, 2), 1 / 255  # (T, 3, H, W): the pixels, channels-last
        features = []
        for s, stack in enumerate(self.stacks):
            shortcut = None
            for b, block in enumerate(stack):
                x = block(x_q, scale)
                if shortcut is None:
                    shortcut = x
                if b < len(stack) - 1:
                    x_q, scale = quantize_activation(x)
            x = F.avg_pool2d((torch.relu(x) + shortcut).float(), 2)
            features.append(x.unsqueeze(0).permute(0, 2, 1, 3, 4))  # (1, C, T, H, W)
            if s < len(self.stacks) - 1:
                x_q, scale = quantize_activation(x)
        t = x.shape[0]
        x = x.permute(0, 2, 3, 1).reshape(1, t, -1)  # per frame: (H, W, C) order, as the packaged model
        with self._autocast():
            x = torch.cat([self.color_hist_layer(frames[None]), self.frame_sim_layer(features), x], 2)
            x = torch.relu(self.fc1(x))
            return self.cls_layer1(x).float(), self.cls_layer2(x).float()

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        single, many = zip(*(self._window(window) for window in inputs), strict=True)
        return torch.cat(single), {"many_hot": torch.cat(many)}


def build_int8(folded: nn.Module, dtype: torch.dtype) -> Int8TransNetV2:
    """:class:`Int8TransNetV2` from a folded network, after checking that oneDNN's int8 convolution computes
    what it should here (Int8Unavailable when it does not)."""
    if not int8_ops_available():
        raise Int8Unavailable(
            "this PyTorch has no oneDNN int8 convolution (torch.ops.onednn.qconv2d_pointwise)"
        )
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(32, 16, 3, 3, generator=gen) * 0.1
    x = torch.rand(4, 16, 9, 12, generator=gen).contiguous(memory_format=torch.channels_last)
    try:
        x_q, scale = quantize_activation(x)
        got = _Int8SpatialConv(weight, torch.float32)(x_q, scale)
    except (AttributeError, RuntimeError) as exc:
        raise Int8Unavailable(f"oneDNN int8 convolution failed: {exc}") from exc
    want = F.conv2d(x, weight, padding=1)
    error = float((got.float() - want).abs().max() / want.abs().max())
    if got.shape != want.shape or not error < 0.02:
        raise Int8Unavailable(f"oneDNN int8 convolution disagrees with fp32 (relative error {error:.3g})")
    return Int8TransNetV2(folded, dtype).eval()
