"""The AniMatrix-style video denoiser: a small pixel-space diffusion transformer with dual-channel conditioning.

Objective: **rectified flow (flow matching)**. ``x_t = (1 - t) x_0 + t eps`` on the straight line from the clip
(t = 0) to Gaussian noise (t = 1); the network predicts the constant velocity ``v = eps - x_0``; sampling
integrates ``dx/dt = v`` from t = 1 to 0 with Euler steps. Chosen over DDPM because the target has the same
scale at every t (no noise schedule or epsilon/x0/v parameterisation to tune for a tiny model), and straight paths give usable samples in 10-30 Euler steps, which matters when sampling on a CPU.

The network **predicts the clean clip x0** and the velocity is derived, ``v = (x_t - x0) / max(t, t_min)``,
with the loss still on v (x-prediction, v-loss, as in "Back to Basics: Let Denoising Generative Models
Denoise", Li & He 2025). A pixel patch (2x8x8x3 = 384 values) is wider than the small model's width; a v- or
eps-target is full-rank noise that cannot pass through that bottleneck (measured here: v-prediction trained to
a flat loss of 0.87 and sampled pure noise), while clean frames are low-dimensional and can.

Architecture (DiT with PixArt-style cross-attention), over ``(B, 3, T, H, W)`` clips in [-1, 1]:

- spatio-temporal patches (``patch_t`` x ``patch_s`` x ``patch_s``) embedded by a strided Conv3d, plus a
  fixed 3D sine-cosine position embedding (or a learned one);
- ``depth`` blocks of: AdaLN-modulated self-attention, cross-attention over the conditioning context,
  AdaLN-modulated MLP. The AdaLN scale/shift/gate come from ``c = time embedding + projected tag CLS``; the
  modulation projection is zero-initialised, so at init scale = 1 + 0 and shift = 0 (a modulated LayerNorm is a
  plain LayerNorm) and the gates are 0 (adaLN-Zero: each block starts as the identity, as in DiT);
- conditioning channel (a): :class:`TagEncoder`, each tag = field embedding + value embedding, ``[CLS] + tags``
  through a 3-layer pre-LN Transformer with a padding mask, giving per-tag tokens and a global CLS;
- conditioning channel (b): :class:`FrozenT5`, a frozen ``T5EncoderModel`` (hub id or local directory), or,
  when none is available offline, a tiny randomly-initialised frozen T5 over a byte-level tokenizer -- which is
  **not a pretrained T5** and is logged as such (``text_encoder: random-byt5-tiny``);
- the cross-attention context is ``[null ; text tokens ; tag tokens]``: projected text tokens and tag tokens,
  each plus a learnable type embedding, with key padding masks; the learned null token is always attended so
  a sample with both channels dropped still has a valid (unconditional) context.

Conditioning dropout (:class:`ConditionDropout`) per sample: hybrid 0.7 / tag-only 0.1 / text-only 0.1 /
none 0.1, then each remaining tag is dropped with probability 0.15, which trains the branches dual
classifier-free guidance needs (:func:`guided_velocity`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

#: ``ModelConfig.text_encoder`` value for the offline default: a tiny random frozen T5, not a pretrained one.
RANDOM_T5 = "random-byt5-tiny"


@dataclass
class TinyT5Config:
    """Shape of the random T5 used when no pretrained T5 is configured."""

    d_model: int = 64
    d_kv: int = 16
    num_heads: int = 4
    num_layers: int = 2
    d_ff: int = 128
    seed: int = 0


@dataclass
class ModelConfig:
    """Shapes of the denoiser and its conditioning encoders (saved in every checkpoint)."""

    num_tags: int
    num_fields: int
    frames: int = 8
    size: int = 32
    channels: int = 3
    patch_t: int = 2
    patch_s: int = 4
    dim: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    tag_dim: int = 64
    tag_layers: int = 3
    tag_heads: int = 4
    #: ``random-byt5-tiny`` (offline default, not pretrained), a transformers hub id or a local directory.
    text_encoder: str = RANDOM_T5
    text_max_tokens: int = 96
    #: "x": the network predicts the clean clip and returns ``v = (x_t - x0) / max(t, t_min)``; "v": it
    #: predicts the velocity directly (only sensible when the patch fits through the width; see module doc).
    prediction: str = "x"
    t_min: float = 0.05
    #: "sincos" (fixed; position is known from step 0, which the high-noise steps need) or "learned".
    pos_embedding: str = "sincos"
    #: Conditional relative-position bias in self-attention: every block maps the conditioning vector
    #: (timestep + tag CLS) to one additive attention bias per head and (dt, dy, dx) token offset,
    #: zero-initialised (see :class:`OffsetBias`).
    offset_bias: bool = False
    #: Channels of a per-frame pixel head (two 3x3 convolutions over the patch decoder's output, the noisy
    #: input and t, added as a zero-initialised residual); 0: none. Why: each 2x8x8x3 patch enters through one
    #: linear map to ``dim`` features and leaves through another, so at ``dim`` < 384 edges come out soft even
    #: when the input is nearly clean; the head sees the input's full-resolution pixels.
    refine_channels: int = 0
    #: Frames the pixel head's convolutions span (odd; 1: per frame). Above 1 the head can carry a picture
    #: from the neighbouring frames at a sub-patch shift, which the patch decoder draws per token.
    refine_frames: int = 1
    tiny_t5: TinyT5Config = field(default_factory=TinyT5Config)

    def __post_init__(self) -> None:
        if self.pos_embedding not in ("sincos", "learned"):
            raise ValueError(f"pos_embedding must be 'sincos' or 'learned', got {self.pos_embedding!r}")
        if self.prediction not in ("x", "v"):
            raise ValueError(f"prediction must be 'x' or 'v', got {self.prediction!r}")
        if isinstance(self.tiny_t5, dict):
            self.tiny_t5 = TinyT5Config(**self.tiny_t5)
        if self.frames % self.patch_t or self.size % self.patch_s:
            raise ValueError(
                f"frames ({self.frames}) must be a multiple of patch_t ({self.patch_t}) and size ({self.size}) "
                f"a multiple of patch_s ({self.patch_s})"
            )
        if self.refine_frames < 1 or self.refine_frames % 2 == 0:
            raise ValueError(f"refine_frames must be odd and >= 1, got {self.refine_frames}")
        if self.dim % self.heads or self.tag_dim % self.tag_heads:
            raise ValueError("dim must be divisible by heads and tag_dim by tag_heads")

    @property
    def grid(self) -> tuple[int, int, int]:
        return self.frames // self.patch_t, self.size // self.patch_s, self.size // self.patch_s

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------------ text channel


class FrozenT5(nn.Module):
    """A frozen T5 encoder and its tokenizer: texts -> ``(tokens (B, N, d), mask (B, N) bool)``."""

    def __init__(
        self, model: nn.Module, tokenizer: Any, max_tokens: int = 96, pretrained: bool = True
    ) -> None:
        super().__init__()
        self.t5 = model
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.pretrained = pretrained
        self.t5.requires_grad_(False)
        self.t5.eval()

    @property
    def width(self) -> int:
        return int(self.t5.config.d_model)

    def train(self, mode: bool = True) -> FrozenT5:  # frozen: never leave eval mode (no dropout)
        super().train(mode)
        self.t5.eval()
        return self

    @torch.no_grad()
    def forward(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.tokenizer(
            list(texts), padding="longest", truncation=True, max_length=self.max_tokens, return_tensors="pt"
        )
        device = next(self.t5.parameters()).device
        ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
        hidden = self.t5(input_ids=ids, attention_mask=mask).last_hidden_state
        return hidden.float(), mask.bool()


def build_text_encoder(cfg: ModelConfig) -> FrozenT5:
    """The configured text encoder: ``random-byt5-tiny`` or a T5 hub id / local directory (transformers)."""
    from transformers import AutoTokenizer, T5Config, T5EncoderModel

    if cfg.text_encoder == RANDOM_T5:
        from transformers import ByT5Tokenizer

        tiny = cfg.tiny_t5
        log.warning(
            "text encoder is NOT a pretrained T5: a tiny randomly-initialised frozen T5 (d_model %d, %d layers, "
            "seed %d) over a byte-level tokenizer. Set model.text_encoder to a T5 hub id or local directory "
            "for real text conditioning.",
            tiny.d_model,
            tiny.num_layers,
            tiny.seed,
        )
        tokenizer = ByT5Tokenizer()
        t5_cfg = T5Config(
            vocab_size=len(tokenizer),
            d_model=tiny.d_model,
            d_kv=tiny.d_kv,
            num_heads=tiny.num_heads,
            num_layers=tiny.num_layers,
            d_ff=tiny.d_ff,
            dropout_rate=0.0,
            decoder_start_token_id=0,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(tiny.seed)
            model = T5EncoderModel(t5_cfg)
        return FrozenT5(model, tokenizer, cfg.text_max_tokens, pretrained=False)
    try:
        tokenizer = AutoTokenizer.from_pretrained(cfg.text_encoder)
        model = T5EncoderModel.from_pretrained(cfg.text_encoder)
    except (OSError, ValueError) as exc:
        raise RuntimeError(
            f"could not load the T5 text encoder {cfg.text_encoder!r} (a transformers hub id or a local directory "
            f"with config.json, weights and tokenizer files): {exc}. Offline, use text_encoder: {RANDOM_T5} "
            "(not a pretrained T5)."
        ) from exc
    return FrozenT5(model, tokenizer, cfg.text_max_tokens, pretrained=True)


# ------------------------------------------------------------------------------------------- tag channel


class TagEncoder(nn.Module):
    """PKS tags -> per-tag tokens and a global CLS: tag = field embedding + value embedding, [CLS] + tags
    through a small pre-LN Transformer; padded (or dropped) tags are masked out of attention."""

    def __init__(self, num_tags: int, num_fields: int, dim: int, layers: int = 3, heads: int = 4) -> None:
        super().__init__()
        self.value = nn.Embedding(num_tags, dim)
        self.field = nn.Embedding(num_fields, dim)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            dim, heads, 4 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        nn.init.normal_(self.value.weight, std=0.02)
        nn.init.normal_(self.field.weight, std=0.02)

    def forward(
        self, tag_ids: torch.Tensor, field_ids: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, L)`` ids and mask (True = a tag) -> ``(tokens (B, L, dim), cls (B, dim))``."""
        x = self.value(tag_ids) + self.field(field_ids)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        pad = torch.cat([torch.zeros_like(mask[:, :1]), ~mask], dim=1)  # the CLS is never padding
        h = self.norm(self.encoder(x, src_key_padding_mask=pad))
        tokens = h[:, 1:] * mask.unsqueeze(-1).to(h.dtype)  # padded positions carry nothing
        return tokens, h[:, 0]


# ------------------------------------------------------------------------------------------- conditioning


@dataclass
class Condition:
    """Encoded conditioning of a batch; masks say which tokens a sample attends to (True = attend)."""

    tag_ids: torch.Tensor  # (B, L)
    field_ids: torch.Tensor  # (B, L)
    tag_mask: torch.Tensor  # (B, L) bool
    text_tokens: torch.Tensor  # (B, N, d_text)
    text_mask: torch.Tensor  # (B, N) bool

    def drop(self, keep_text: torch.Tensor, tag_mask: torch.Tensor) -> Condition:
        """The same condition with text dropped where ``keep_text`` is False and the given tag mask."""
        return replace(self, text_mask=self.text_mask & keep_text[:, None], tag_mask=tag_mask)

    def repeat(self, n: int) -> Condition:
        return Condition(*(t.repeat(n, *([1] * (t.dim() - 1))) for t in self.tensors()))

    def tensors(self) -> tuple[torch.Tensor, ...]:
        return (self.tag_ids, self.field_ids, self.tag_mask, self.text_tokens, self.text_mask)


MODES = ("hybrid", "tag_only", "text_only", "none")


@dataclass
class ConditionDropout:
    """Per-sample conditioning dropout: a mode per sample, then independent partial tag drop."""

    p_hybrid: float = 0.7
    p_tag_only: float = 0.1
    p_text_only: float = 0.1
    p_none: float = 0.1
    p_tag_drop: float = 0.15

    def __post_init__(self) -> None:
        total = self.p_hybrid + self.p_tag_only + self.p_text_only + self.p_none
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"conditioning mode probabilities must sum to 1, got {total}")
        if not 0 <= self.p_tag_drop < 1:
            raise ValueError(f"p_tag_drop must be in [0, 1), got {self.p_tag_drop}")

    def sample(
        self, tag_mask: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(mode index per sample (see MODES), keep_text (B,), new tag mask (B, L))``."""
        b = tag_mask.shape[0]
        probs = torch.tensor([self.p_hybrid, self.p_tag_only, self.p_text_only, self.p_none])
        mode = torch.multinomial(probs, b, replacement=True, generator=generator)
        keep_text = (mode == 0) | (mode == 2)
        keep_tags = (mode == 0) | (mode == 1)
        partial = torch.rand(tag_mask.shape, generator=generator) >= self.p_tag_drop
        return (
            mode,
            keep_text.to(tag_mask.device),
            tag_mask & keep_tags[:, None].to(tag_mask.device) & partial.to(tag_mask.device),
        )


# ---------------------------------------------------------------------------------------------- the DiT


def sincos_3d(grid: tuple[int, int, int], dim: int) -> torch.Tensor:
    """``(1, T*H*W, dim)`` fixed sine-cosine position embedding over a (t, h, w) token grid: a third of the
    channels per axis (the remainder zero)."""
    per = (dim // 3) // 2 * 2
    parts = []
    coords = torch.meshgrid(*(torch.arange(n, dtype=torch.float32) for n in grid), indexing="ij")
    for axis in coords:
        freqs = 1.0 / (100.0 ** (torch.arange(per // 2, dtype=torch.float32) / max(per // 2, 1)))
        args = axis.reshape(-1, 1) * freqs[None]
        parts += [torch.sin(args), torch.cos(args)]
    emb = torch.cat(parts, dim=1)
    return F.pad(emb, (0, dim - emb.shape[1]))[None]


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of ``t`` in [0, 1] (scaled by 1000 as in DiT)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = 1000.0 * t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class Attention(nn.Module):
    """Multi-head attention; ``kv`` None means self-attention; ``mask`` (B, N_kv) True = attend."""

    def __init__(self, dim: int, heads: int, kv_dim: int | None = None) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(kv_dim or dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(
        self,
        x: torch.Tensor,
        kv: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``bias`` (B, heads, N, N_kv): added to the attention logits."""
        b, n, d = x.shape
        src = x if kv is None else kv
        q = self.q(x).view(b, n, self.heads, d // self.heads).transpose(1, 2)
        k, v = self.kv(src).view(b, src.shape[1], 2, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attn_mask = None if mask is None else mask[:, None, None, :]
        if bias is not None:
            attn_mask = bias if attn_mask is None else bias.masked_fill(~attn_mask, float("-inf"))
        h = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.out(h.transpose(1, 2).reshape(b, n, d))


class OffsetBias(nn.Module):
    """Attention bias per head for every (dt, dy, dx) offset between two tokens of the patch grid, computed
    from the conditioning vector ``c``: ``bias[b, h, i, j] = W c_b [h, offset(i, j)]``, zero-initialised.

    Why: a camera move is a relation between tokens -- content at ``p`` in one time slice is at ``p - v dt``
    in the next -- and the direction ``v`` comes from a tag. AdaLN scales and shifts every token alike and
    cannot express "attend to the token one step to the left"; with absolute sine-cosine positions that needs
    the tag to rotate positional phases, which a small model learns very slowly (measured here: camera tags
    left the motion of samples at chance). This gives the tag a direct, linear path to the offsets a move
    implies (as Swin's relative position bias, made conditional)."""

    def __init__(self, grid: tuple[int, int, int], dim: int, heads: int) -> None:
        super().__init__()
        gt, gh, gw = grid
        coords = torch.stack(
            torch.meshgrid(torch.arange(gt), torch.arange(gh), torch.arange(gw), indexing="ij")
        ).flatten(1)  # (3, N)
        rel = coords[:, :, None] - coords[:, None, :]  # (3, N, N)
        index = ((rel[0] + gt - 1) * (2 * gh - 1) + rel[1] + gh - 1) * (2 * gw - 1) + rel[2] + gw - 1
        self.register_buffer("index", index, persistent=False)
        self.heads = heads
        self.offsets = (2 * gt - 1) * (2 * gh - 1) * (2 * gw - 1)
        self.proj = nn.Sequential(nn.SiLU(), nn.Linear(dim, heads * self.offsets))
        nn.init.zeros_(self.proj[1].weight)
        nn.init.zeros_(self.proj[1].bias)

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        """``(B, dim)`` -> ``(B, heads, N, N)`` additive logits."""
        table = self.proj(c).view(c.shape[0], self.heads, self.offsets)
        n = self.index.shape[0]
        return table[:, :, self.index.flatten()].view(c.shape[0], self.heads, n, n)


class DiTBlock(nn.Module):
    """AdaLN self-attention, cross-attention over the context, AdaLN MLP."""

    def __init__(
        self, dim: int, heads: int, mlp_ratio: float = 4.0, grid: tuple[int, int, int] | None = None
    ) -> None:
        super().__init__()
        self.offset_bias = OffsetBias(grid, dim, heads) if grid is not None else None
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm_cross = nn.LayerNorm(dim, eps=1e-6)
        self.cross = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        nn.init.zeros_(self.ada[1].weight)  # identity modulation at init: scale = 1 + 0, shift = 0, gate = 0
        nn.init.zeros_(self.ada[1].bias)

    def modulation(self, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(shift1, scale1, gate1, shift2, scale2, gate2)``, each ``(B, dim)``."""
        return tuple(self.ada(c).chunk(6, dim=-1))

    def modulated_norm1(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.modulation(c)[:2]
        return modulate(self.norm1(x), shift, scale)

    def forward(
        self, x: torch.Tensor, c: torch.Tensor, ctx: torch.Tensor, ctx_mask: torch.Tensor
    ) -> torch.Tensor:
        s1, sc1, g1, s2, sc2, g2 = self.modulation(c)
        bias = self.offset_bias(c).to(x.dtype) if self.offset_bias is not None else None
        x = x + g1.unsqueeze(1) * self.attn(modulate(self.norm1(x), s1, sc1), bias=bias)
        x = x + self.cross(self.norm_cross(x), ctx, ctx_mask)
        return x + g2.unsqueeze(1) * self.mlp(modulate(self.norm2(x), s2, sc2))


class AniMatrix(nn.Module):
    """The denoiser: ``forward(x_t, t, condition) -> velocity``; see the module doc."""

    def __init__(self, cfg: ModelConfig, text_encoder: FrozenT5 | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.dim
        self.text = text_encoder if text_encoder is not None else build_text_encoder(cfg)
        self.tags = TagEncoder(cfg.num_tags, cfg.num_fields, cfg.tag_dim, cfg.tag_layers, cfg.tag_heads)
        patch = (cfg.patch_t, cfg.patch_s, cfg.patch_s)
        self.patch = nn.Conv3d(cfg.channels, d, kernel_size=patch, stride=patch)
        if cfg.pos_embedding == "sincos":
            self.register_buffer("pos", sincos_3d(cfg.grid, d), persistent=False)
        else:
            self.pos = nn.Parameter(torch.randn(1, math.prod(cfg.grid), d) * 0.02)
        self.time = nn.Sequential(nn.Linear(256, d), nn.SiLU(), nn.Linear(d, d))
        self.cls_proj = nn.Linear(cfg.tag_dim, d)
        self.text_proj = nn.Linear(self.text.width, d)
        self.tag_proj = nn.Linear(cfg.tag_dim, d)
        self.type_emb = nn.Parameter(torch.randn(2, d) * 0.02)  # 0: text token, 1: tag token
        self.null = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        grid = cfg.grid if cfg.offset_bias else None
        self.blocks = nn.ModuleList(DiTBlock(d, cfg.heads, cfg.mlp_ratio, grid) for _ in range(cfg.depth))
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.final = nn.Linear(d, cfg.channels * math.prod(patch))
        for layer in (self.final_ada[1], self.final):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.refine: nn.Sequential | None = None
        if cfg.refine_channels > 0:
            k, pad = (cfg.refine_frames, 3, 3), (cfg.refine_frames // 2, 1, 1)
            self.refine = nn.Sequential(
                nn.Conv3d(2 * cfg.channels + 1, cfg.refine_channels, k, padding=pad),
                nn.GELU(),
                nn.Conv3d(cfg.refine_channels, cfg.channels, k, padding=pad),
            )
            nn.init.zeros_(self.refine[2].weight)
            nn.init.zeros_(self.refine[2].bias)

    # --------------------------------------------------------------------------------------- conditioning

    def encode(
        self, texts: list[str], tag_ids: torch.Tensor, field_ids: torch.Tensor, tag_mask: torch.Tensor
    ) -> Condition:
        """Run the frozen text encoder once; tags are encoded inside :meth:`forward` (they are trained)."""
        tokens, mask = self.text(texts)
        # an empty text is "no text" (the tokenizer would still give an end-of-sequence token)
        has_text = torch.tensor([bool(s.strip()) for s in texts], device=mask.device)
        return Condition(tag_ids, field_ids, tag_mask, tokens, mask & has_text[:, None])

    def context(self, cond: Condition) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(context (B, 1 + N + L, dim), context mask, tag CLS (B, tag_dim))``."""
        tag_tokens, cls = self.tags(cond.tag_ids, cond.field_ids, cond.tag_mask)
        text = self.text_proj(cond.text_tokens) + self.type_emb[0]
        tags = self.tag_proj(tag_tokens) + self.type_emb[1]
        b = text.shape[0]
        ctx = torch.cat([self.null.expand(b, -1, -1).to(text.dtype), text, tags], dim=1)
        always = torch.ones(b, 1, dtype=torch.bool, device=text.device)
        return ctx, torch.cat([always, cond.text_mask, cond.tag_mask], dim=1), cls

    # ------------------------------------------------------------------------------------------ denoising

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: Condition) -> torch.Tensor:
        """Velocity for ``x`` ``(B, C, T, H, W)`` at times ``t`` ``(B,)`` in [0, 1]."""
        cfg = self.cfg
        b = x.shape[0]
        h = self.patch(x).flatten(2).transpose(1, 2) + self.pos
        ctx, ctx_mask, cls = self.context(cond)
        c = self.time(timestep_embedding(t, 256)) + self.cls_proj(cls)
        for block in self.blocks:
            h = block(h, c, ctx, ctx_mask)
        shift, scale = self.final_ada(c).chunk(2, dim=-1)
        h = self.final(modulate(self.final_norm(h), shift, scale))
        gt, gh, gw = cfg.grid
        h = h.view(b, gt, gh, gw, cfg.channels, cfg.patch_t, cfg.patch_s, cfg.patch_s)
        out = h.permute(0, 4, 1, 5, 2, 6, 3, 7).reshape(b, cfg.channels, cfg.frames, cfg.size, cfg.size)
        if self.refine is not None:
            t_map = t.to(out.dtype).view(b, 1, 1, 1, 1).expand(b, 1, *out.shape[2:])
            out = out + self.refine(torch.cat([out, x, t_map], dim=1))
        if cfg.prediction == "v":
            return out
        # x-prediction: the network outputs the clean clip; v = (x_t - x0) / t on the straight path
        tt = t.to(out.dtype).clamp(min=cfg.t_min).view(b, 1, 1, 1, 1)
        return (x - out) / tt

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """The state to checkpoint: everything except a pretrained T5 (reloaded from its hub id / directory)."""
        skip = "text.t5." if self.text.pretrained else None
        return {k: v for k, v in self.state_dict().items() if skip is None or not k.startswith(skip)}

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = [k for k in missing if not (self.text.pretrained and k.startswith("text.t5."))]
        if missing or unexpected:
            raise RuntimeError(
                f"checkpoint does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}"
            )


# ---------------------------------------------------------------------------------------- flow matching


T_SAMPLING = ("uniform", "logit_normal")


def shift_time(t: torch.Tensor, shift: float) -> torch.Tensor:
    """SD3's resolution time shift ``t' = shift t / (1 + (shift - 1) t)`` (``shift`` > 1 moves times towards
    t = 1, the noise levels where a clip's layout is decided)."""
    if shift <= 0:
        raise ValueError(f"time shift must be > 0, got {shift}")
    return shift * t / (1 + (shift - 1) * t)


def sample_t(
    b: int, how: str = "uniform", generator: torch.Generator | None = None, shift: float = 1.0
) -> torch.Tensor:
    """Training times in (0, 1): ``uniform``, or ``logit_normal`` (SD3; puts only ~1.4% of the samples above
    t = 0.9, where a pixel-space model decides the global layout of a sample -- measured here: logit-normal
    training denoised well but sampled patch-wise mosaics, hence the uniform default), then
    :func:`shift_time`.

    Why shift: a pixel patch averages its noise over many values (2x8x8x3 = 384), so at t = 0.9 a patch's
    mean colour is still visible locally and the model can lower the loss without ever relating patches to
    each other; sampling from pure noise then decides each patch from its own noise (mosaics). Training with
    ``shift`` > 1 (and sampling with the same shift) spends the steps where only the joint structure helps."""
    if how == "uniform":
        t = torch.rand(b, generator=generator).clamp(1e-4, 1 - 1e-4)
    elif how == "logit_normal":
        t = torch.sigmoid(torch.randn(b, generator=generator))
    else:
        raise ValueError(f"t sampling must be one of {', '.join(T_SAMPLING)}, got {how!r}")
    return shift_time(t, shift) if shift != 1.0 else t


LOSS_WEIGHTINGS = ("v", "x")


def flow_matching_loss(
    model: AniMatrix,
    x0: torch.Tensor,
    cond: Condition,
    generator: torch.Generator | None = None,
    t_sampling: str = "uniform",
    weighting: str = "v",
    t_shift: float = 1.0,
    temporal_weight: float = 0.0,
) -> torch.Tensor:
    """Rectified-flow loss: MSE between the predicted and the true velocity ``eps - x0``; times from
    :func:`sample_t` (``t_sampling``, ``t_shift``).

    ``temporal_weight`` adds that many times the MSE of the error's frame-to-frame differences (same
    weighting over t). An error shared by consecutive frames costs nothing there, an error redrawn on every
    frame about twice its MSE: it asks for clips whose frames agree with each other, as a camera move's do.

    ``weighting`` "v" is the plain velocity MSE. "x" multiplies each sample's velocity MSE by
    ``max(t, t_min)^2``, which for x-prediction is the MSE of the predicted clean clip: the velocity loss
    weights the error of x0 by ``1 / t^2``, so near-clean inputs (where a tiny model spends its width
    reproducing pixel detail through the patch bottleneck) dominate the gradient and the high-noise steps
    that lay out the clip and its motion get almost none (measured here: patch mosaics with the "v" weighting).
    """
    if weighting not in LOSS_WEIGHTINGS:
        raise ValueError(f"loss weighting must be one of {', '.join(LOSS_WEIGHTINGS)}, got {weighting!r}")
    if temporal_weight < 0:
        raise ValueError(f"temporal_weight must be >= 0, got {temporal_weight}")
    b = x0.shape[0]
    t = sample_t(b, t_sampling, generator, t_shift).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    tt = t.view(b, 1, 1, 1, 1)
    xt = (1 - tt) * x0 + tt * noise
    v = model(xt, t, cond)
    err = v.float() - (noise - x0).float()
    per_sample = err.pow(2).flatten(1).mean(1)
    if temporal_weight > 0 and err.shape[2] > 1:
        per_sample = per_sample + temporal_weight * (err[:, :, 1:] - err[:, :, :-1]).pow(2).flatten(1).mean(1)
    if weighting == "x":
        per_sample = per_sample * t.float().clamp(min=_t_min(model)) ** 2
    return per_sample.mean()


def _t_min(model: nn.Module) -> float:
    inner = getattr(model, "module", model)  # DDP wraps the model
    return float(inner.cfg.t_min)


def guided_velocity(
    model: AniMatrix, x: torch.Tensor, t: torch.Tensor, cond: Condition, w_text: float, w_tag: float
) -> torch.Tensor:
    """Dual classifier-free guidance on the velocity (as for eps):
    ``v = v0 + w_text (v_text - v0) + w_tag (v_tag+text - v_text)`` in one batched forward of 3B."""
    b = x.shape[0]
    no_text = torch.zeros(b, dtype=torch.bool, device=x.device)
    no_tags = torch.zeros_like(cond.tag_mask)
    uncond = cond.drop(no_text, no_tags)
    text_only = cond.drop(~no_text, no_tags)
    stacked = Condition(
        *(
            torch.cat(parts)
            for parts in zip(uncond.tensors(), text_only.tensors(), cond.tensors(), strict=True)
        )
    )
    v0, v_text, v_both = model(x.repeat(3, 1, 1, 1, 1), t.repeat(3), stacked).chunk(3)
    return v0 + w_text * (v_text - v0) + w_tag * (v_both - v_text)


SAMPLERS = ("euler", "heun")


def sample_times(steps: int, shift: float = 1.0, t_start: float = 1.0) -> torch.Tensor:
    """``steps + 1`` decreasing times from ``t_start`` to 0: uniform, then SD3's time shift
    ``t' = shift t / (1 + (shift - 1) t)`` (``shift`` > 1 spends more of the steps near t = 1)."""
    if steps < 1:
        raise ValueError(f"sampling needs at least one step, got {steps}")
    if not 0.0 < t_start <= 1.0:
        raise ValueError(f"t_start must be in (0, 1], got {t_start}")
    if shift <= 0:
        raise ValueError(f"time shift must be > 0, got {shift}")
    return shift_time(torch.linspace(1.0, 0.0, steps + 1), shift) * t_start


@torch.no_grad()
def sample(
    model: AniMatrix,
    cond: Condition,
    steps: int = 20,
    w_text: float = 5.0,
    w_tag: float = 2.0,
    generator: torch.Generator | None = None,
    shift: float = 1.0,
    method: str = "euler",
    t_start: float = 1.0,
    eta: float = 0.0,
) -> torch.Tensor:
    """Integrate the guided velocity from noise to a clip (t = 0): ``(B, C, T, H, W)``.

    The flow is ``x_t = (1 - t) x0 + t eps`` with ``v = eps - x0``, so a step from ``t`` down to ``t'`` is
    ``x += (t' - t) v``. ``method`` "euler" or "heun" (second order, one extra model call per step except the
    last); times from :func:`sample_times` (``shift``, ``t_start``: pure noise is taken as ``x_{t_start}``).

    ``eta`` (Euler only) makes the step stochastic: with the estimates ``x0^ = x - t v`` and
    ``eps^ = x + (1 - t) v`` the next state is ``(1 - t') x0^ + t' (sqrt(1 - eta^2) eps^ + eta z)`` with fresh
    noise ``z``; ``eta`` 0 is exactly the Euler step, 1 re-noises with fresh noise only (as DDPM's ancestral
    sampler does). Why: a deterministic path keeps the starting noise to the end, and a small model that has
    not learnt how patches relate turns each patch's share of it into a colour of its own (mosaics, measured
    here); fresh noise at every step averages those per-patch decisions out, so the clip's layout comes from
    what the model predicts jointly.
    """
    if method not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {method!r}")
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {eta}")
    if eta > 0 and method != "euler":
        raise ValueError(f"eta > 0 (stochastic steps) needs the euler sampler, got {method!r}")
    cfg = model.cfg
    b = cond.tag_ids.shape[0]
    x = torch.randn(b, cfg.channels, cfg.frames, cfg.size, cfg.size, generator=generator)
    ts = sample_times(steps, shift, t_start)
    for i in range(steps):
        t, t_next = ts[i], ts[i + 1]
        v = guided_velocity(model, x, t.expand(b), cond, w_text, w_tag)
        if eta > 0:
            x0_hat, eps_hat = x - t * v, x + (1 - t) * v
            fresh = torch.randn(x.shape, generator=generator)
            x = (1 - t_next) * x0_hat + t_next * (math.sqrt(1 - eta * eta) * eps_hat + eta * fresh)
            continue
        x_next = x + (t_next - t) * v
        if method == "heun" and t_next > 0:
            v_next = guided_velocity(model, x_next, t_next.expand(b), cond, w_text, w_tag)
            x_next = x + (t_next - t) * 0.5 * (v + v_next)
        x = x_next
    return x.clamp(-1, 1)
