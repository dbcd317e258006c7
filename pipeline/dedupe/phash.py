"""Per-frame perceptual hashes of the shared analysis thumbs: 64 luma bits + 64 chroma bits per view.

For each view (the picture area, a centred zoom or crop, or the mirrored picture: :mod:`pipeline.dedupe.picture`)
the frame is
area-resampled to 32x32 and its 2-D DCT is taken; both steps are folded into two small matrices per view
(``A @ X @ B`` with ``A = DCT·Ry`` of shape 10 x h and ``B = Rx·DCTᵀ`` of shape w x 10), so one batched matmul
gives the 10x10 lowest frequencies of every frame straight from the thumb, with fractional box edges resampled
exactly (no second decode, no per-frame resize).

* luma: the 63 AC coefficients of the 8x8 lowest frequencies of Y plus (0, 8), each compared with their median (a pHash: invariant
  to brightness and contrast, robust to re-encoding and rescaling, and to aspect squashing since every view is
  resampled to a square). Bit ``16*b + k`` holds zig-zag coefficient ``4*k + b``, so each 16-bit band mixes
  low and high frequencies.
* chroma: the 32 lowest AC coefficients (zig-zag) of Cr and of Cb, each against its own median (32 + 32 bits). It tells
  apart pictures with the same luma layout but different colours (a sepia desert and a blue sky) -- the
  commonest near-miss of a luma-only hash.
* ``weak``: per frame, the 12 luma bit positions whose coefficient is closest to the median -- the bits that
  flip first under re-encoding or a slightly redrawn cel. The index probes them (query-adaptive multi-probe).
* ``luma_std`` / ``chroma_std``: the standard deviation of the low-passed 32x32 picture (from the AC energy of
  the 10x10 block); low values mark near-uniform frames (black, white, fades) that every hash confuses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.blas_threads import one_blas_thread
from pipeline.dedupe.bits import pack_bits
from pipeline.dedupe.picture import View

HASH_SIZE = 32  # side of the resampled picture
DCT_SIZE = 10  # lowest frequencies kept per axis
WEAK_BITS = 12
#: Frames hashed per matmul batch (bounds the float32 working set to a few tens of MB).
CHUNK = 256

# BT.601 full-range RGB -> (Y, Cb, Cr)
_YCC = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=np.float32
)


def _dct_matrix(n: int, k: int) -> np.ndarray:
    x = np.arange(n)[None, :]
    u = np.arange(k)[:, None]
    m = np.cos(np.pi * (2 * x + 1) * u / (2 * n)) * np.sqrt(2 / n)
    m[0] /= np.sqrt(2)
    return m.astype(np.float32)  # (k, n) orthonormal rows


_DCT = _dct_matrix(HASH_SIZE, DCT_SIZE)
_ZIGZAG = sorted(
    ((u, v) for u in range(DCT_SIZE) for v in range(DCT_SIZE) if (u, v) != (0, 0)),
    key=lambda t: (t[0] + t[1], t[0] if (t[0] + t[1]) % 2 else t[1]),
)
_ZZ_FLAT = np.array([u * DCT_SIZE + v for u, v in _ZIGZAG])
#: The 63 AC coefficients of the 8x8 lowest frequencies (the classic pHash block) plus (0, 8), in zig-zag
#: order; flat 10x10 index of the coefficient behind luma bit p (bit 16*b + k <- coefficient 4*k + b).
_LUMA_ZZ = [z for z in _ZZ_FLAT if z // DCT_SIZE < 8 and z % DCT_SIZE < 8] + [8]
LUMA_COEFFS = np.array([_LUMA_ZZ[4 * (p % 16) + p // 16] for p in range(64)])
CHROMA_COEFFS = _ZZ_FLAT[:32]
#: Mirroring a picture left-right negates the DCT coefficients of odd horizontal frequency: a mirrored view
#: costs no resampling.
_MIRROR = np.array([(-1.0) ** (k % DCT_SIZE) for k in range(DCT_SIZE * DCT_SIZE)], dtype=np.float32)


def _area_matrix(start: float, length: float, size: int, cells: int = HASH_SIZE) -> np.ndarray:
    """(cells, size) weights averaging source pixels [start, start+length) into ``cells`` equal cells."""
    edges = start + length * np.arange(cells + 1) / cells
    lo, hi = edges[:-1, None], edges[1:, None]
    px = np.arange(size)[None, :]
    overlap = np.clip(np.minimum(hi, px + 1) - np.maximum(lo, px), 0, None)
    return (overlap / (length / cells)).astype(np.float32)


@dataclass(frozen=True)
class ViewOperator:
    """Folded resample + DCT of one view: ``coeffs = A @ channel @ B`` gives the 10x10 block."""

    left: np.ndarray  # (10, h)
    right: np.ndarray  # (w, 10)

    @classmethod
    def for_box(cls, box: tuple[float, float, float, float], width: int, height: int) -> ViewOperator:
        x, y, w, h = box
        ry = _area_matrix(y, h, height)  # (32, H)
        rx = _area_matrix(x, w, width)  # (32, W)
        return cls(left=_DCT @ ry, right=rx.T @ _DCT.T)


@dataclass
class HashBatch:
    """Hashes of N frames in V views (``None`` views are zero and flagged absent)."""

    luma: np.ndarray  # (N, V) uint64
    chroma: np.ndarray  # (N, V) uint64
    weak: np.ndarray  # (N, V, 12) uint8 luma bit positions, least reliable first
    luma_std: np.ndarray  # (N, V) float32
    chroma_std: np.ndarray  # (N, V) float32


def _bits_from_coeffs(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hash bits packed, |coefficient - median|) of coefficient rows ``(n, k)``."""
    med = np.median(c, axis=1, keepdims=True)
    return pack_bits(c > med), np.abs(c - med)


def hash_views(thumb: np.ndarray, views: list[View]) -> HashBatch:
    """Hash every frame of ``thumb`` ``(N, h, w, 3)`` uint8 RGB in every view (BLAS on one thread: the matrix
    products' rounding, and so some hash bits, would otherwise depend on the machine's core count)."""
    with one_blas_thread():
        return _hash_views(thumb, views)


def _hash_views(thumb: np.ndarray, views: list[View]) -> HashBatch:
    n, height, width = thumb.shape[:3]
    v = len(views)
    out = HashBatch(
        luma=np.zeros((n, v), np.uint64),
        chroma=np.zeros((n, v), np.uint64),
        weak=np.zeros((n, v, WEAK_BITS), np.uint8),
        luma_std=np.zeros((n, v), np.float32),
        chroma_std=np.zeros((n, v), np.float32),
    )
    # one operator per distinct box; a mirrored view reuses its box's coefficients
    boxes: list[tuple[float, float, float, float]] = []
    source: dict[int, int] = {}
    for k, view in enumerate(views):
        if view.box is None:
            continue
        if view.box not in boxes:
            boxes.append(view.box)
        source[k] = boxes.index(view.box)
    ops = [ViewOperator.for_box(b, width, height) for b in boxes]
    if not ops:
        return out
    # one BLAS call for the right factor of every box (much faster than one call per box)
    right = np.concatenate([op.right for op in ops], axis=1)  # (w, 10 * boxes)
    for s in range(0, n, CHUNK):
        c = min(CHUNK, n - s)
        # (c*3*h, w) float32 planes; the colour transform is linear, so it is applied to the DCT coefficients.
        # order="C": converted straight into the planes' layout (the default keeps the transposed layout,
        # and the reshape then copies it once more)
        chunk = thumb[s : s + c].transpose(0, 3, 1, 2)
        planes = chunk.astype(np.float32, order="C").reshape(c * 3 * height, width)
        halves = (planes @ right).reshape(c * 3, height, -1)
        per_box = []
        for j, op in enumerate(ops):
            half = halves[:, :, j * DCT_SIZE : (j + 1) * DCT_SIZE]
            rgb = (op.left @ half).reshape(c, 3, DCT_SIZE * DCT_SIZE)  # (c, RGB, 100)
            per_box.append(_YCC @ rgb)  # (c, YCbCr, 100)
        sl = slice(s, s + c)
        for k, j in source.items():
            coeffs = per_box[j] * _MIRROR if views[k].mirror else per_box[j]
            ac = coeffs.copy()
            ac[:, :, 0] = 0
            std = (
                np.sqrt(np.einsum("cij,cij->ci", ac, ac)) / HASH_SIZE
            )  # (c, 3) std of the low-passed picture
            lum, margin = _bits_from_coeffs(coeffs[:, 0, LUMA_COEFFS])
            cb, _ = _bits_from_coeffs(coeffs[:, 1, CHROMA_COEFFS])
            cr, _ = _bits_from_coeffs(coeffs[:, 2, CHROMA_COEFFS])
            out.luma[sl, k] = lum
            out.chroma[sl, k] = cr | (cb << np.uint64(32))
            out.weak[sl, k] = np.argsort(margin, axis=1, kind="stable")[:, :WEAK_BITS].astype(np.uint8)
            out.luma_std[sl, k] = std[:, 0]
            out.chroma_std[sl, k] = np.minimum(std[:, 1], std[:, 2])
    return out
