"""The optimised pair analysis of :mod:`pipeline.scores.motion` gives the same floats as a plain reference.

The reference below is the pair analysis as it was written before it was made cheaper (four shifted copies
for the envelope, every per-frame value recomputed for every pair, the flow of every drawing change computed
before the flashes were dropped); the optimised code must match it on every field of ``PairMotion`` -- the
booleans and the block changes exactly. ``subject`` is compared to float rounding: its magnitude uses
glibc's float32 hypot identity (double sqrt of the squares), which another C library need not share.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.scores import motion as mo

H, W = 72, 128


# ---------------------------------------------------------------- the plain reference (earlier code)


def _ref_block_means(diff: np.ndarray) -> np.ndarray:
    h, w = diff.shape
    hb, wb = h // mo.BLOCK, w // mo.BLOCK
    crop = np.ascontiguousarray(diff[: hb * mo.BLOCK, : wb * mo.BLOCK], dtype=np.float32)
    return cv2.resize(crop, (wb, hb), interpolation=cv2.INTER_AREA)


def _ref_block_change(diff: np.ndarray) -> float:
    h, w = diff.shape
    if h // mo.BLOCK == 0 or w // mo.BLOCK == 0:
        return float(diff.mean()) if diff.size else 0.0
    return float(_ref_block_means(diff).max())


def _ref_mean_displacement(warp: np.ndarray, h: int, w: int) -> float:
    ys, xs = np.mgrid[0:h:8, 0:w:8]
    pts = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)], axis=0).astype(np.float64)
    src = warp.astype(np.float64) @ pts
    return float(np.hypot(src[0] - pts[0], src[1] - pts[1]).mean())


def _ref_shift_envelope(img: np.ndarray, half: float) -> tuple[np.ndarray, np.ndarray]:
    neighbours = (
        np.concatenate([img[:, :1], img[:, :-1]], axis=1),
        np.concatenate([img[:, 1:], img[:, -1:]], axis=1),
        np.concatenate([img[:1], img[:-1]], axis=0),
        np.concatenate([img[1:], img[-1:]], axis=0),
    )
    lo = hi = img
    for nb in neighbours:
        shifted = (1.0 - half) * img + half * nb
        lo, hi = np.minimum(lo, shifted), np.maximum(hi, shifted)
    return lo, hi


def _ref_envelope(img: np.ndarray, warp: np.ndarray | None, half: float) -> tuple[np.ndarray, ...]:
    if warp is None:
        return (img, *_ref_shift_envelope(img, half))
    h, w = img.shape
    base = lo = hi = None
    for ox, oy in ((0.0, 0.0), (half, 0.0), (-half, 0.0), (0.0, half), (0.0, -half)):
        m = warp.copy()
        m[0, 2] += ox
        m[1, 2] += oy
        warped = cv2.warpAffine(
            img, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
        )
        if base is None:
            base = lo = hi = warped
        else:
            lo, hi = np.minimum(lo, warped), np.maximum(hi, warped)
    return base, lo, hi


def _ref_tolerant_diff(cur: np.ndarray, prev: np.ndarray, warp: np.ndarray | None) -> np.ndarray:
    prev_w, lo_p, hi_p = _ref_envelope(prev, warp, 0.5)
    _, lo_c, hi_c = _ref_envelope(cur, None, 0.5)
    forward = np.maximum(0.0, np.maximum(cur - hi_p, lo_p - cur))
    backward = np.maximum(0.0, np.maximum(prev_w - hi_c, lo_c - prev_w))
    return np.minimum(forward, backward)


def _ref_normalise(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    mp, mc = float(prev.mean()), float(cur.mean())
    if abs(mp - mc) < 1.5:
        return prev
    sp, sc = float(prev.std()), float(cur.std())
    gain = sc / sp if sp > 1.0 and sc > 1.0 else 1.0
    return (prev - mp) * gain + mc


def _ref_compare(prev: np.ndarray, cur: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray | None]:
    floor, min_shift = mo.NOISE_FLOOR, mo.MIN_SHIFT
    h, w = cur.shape
    inner = (slice(mo.MARGIN, h - mo.MARGIN), slice(mo.MARGIN, w - mo.MARGIN))
    prev = _ref_normalise(prev, cur)
    raw_diff = np.abs(cur - prev)
    raw = _ref_block_change(raw_diff[inner])
    if raw < floor:
        return raw, raw, mo._IDENTITY.copy(), None
    (dx, dy), _ = cv2.phaseCorrelate(prev.copy(), cur.copy(), cv2.createHanningWindow((w, h), cv2.CV_32F))
    warp = np.array([[1.0, 0.0, -dx], [0.0, 1.0, -dy]], np.float32)
    comp = raw_diff
    if abs(dx) >= min_shift or abs(dy) >= min_shift:
        comp = np.minimum(raw_diff, _ref_tolerant_diff(cur, prev, warp))
    residual = _ref_block_change(comp[inner])
    if floor <= residual < mo.ECC_MAX * floor and (
        comp is not raw_diff or float((_ref_block_means(raw_diff[inner]) >= floor).mean()) >= mo.ECC_MIN_AREA
    ):
        try:
            _, refined = cv2.findTransformECC(
                cur, prev, warp.copy(), cv2.MOTION_AFFINE, mo._ECC_CRITERIA, None, 1
            )
        except cv2.error:
            refined = None
        if refined is not None:
            disp = _ref_mean_displacement(refined, h, w)
            if min_shift <= disp < 0.25 * w:
                comp_r = np.minimum(raw_diff, _ref_tolerant_diff(cur, prev, refined))
                residual_r = _ref_block_change(comp_r[inner])
                if residual_r < residual:
                    comp, warp, residual = comp_r, refined, residual_r
    if _ref_mean_displacement(warp, h, w) < min_shift or residual > mo.CAMERA_GAIN * raw:
        return raw, raw, mo._IDENTITY.copy(), raw_diff[inner]
    return raw, residual / mo.MOVING_FLOOR_FACTOR, warp, comp[inner] / mo.MOVING_FLOOR_FACTOR


def _ref_analyse(gray: np.ndarray) -> dict[str, np.ndarray]:
    floor, min_shift = mo.NOISE_FLOOR, mo.MIN_SHIFT
    n, h, w = gray.shape
    m = n - 1
    raw, residual = np.zeros(m, np.float32), np.zeros(m, np.float32)
    warps = np.repeat(mo._IDENTITY[None], m, axis=0)
    camera, subject, area = np.zeros(m, np.float32), np.zeros(m, np.float32), np.zeros(m, np.float32)
    changed, flash = np.zeros(m, bool), np.zeros(m, bool)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    inner = (slice(mo.MARGIN, h - mo.MARGIN), slice(mo.MARGIN, w - mo.MARGIN))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    for k in range(m):
        prev, cur = gray[k], gray[k + 1]
        raw[k], residual[k], warp, comp = _ref_compare(prev, cur)
        if comp is None:
            continue
        warps[k] = warp
        camera[k] = _ref_mean_displacement(warp, h, w)
        changed[k] = residual[k] >= floor
        if changed[k]:
            area[k] = float((_ref_block_means(comp) >= floor).mean())
            a8 = np.clip(_ref_normalise(prev, cur), 0, 255).astype(np.uint8)
            b8 = np.clip(cur, 0, 255).astype(np.uint8)
            fl = dis.calc(a8, b8, None)
            gx = xs - (warp[0, 0] * xs + warp[0, 1] * ys + warp[0, 2])
            gy = ys - (warp[1, 0] * xs + warp[1, 1] * ys + warp[1, 2])
            subject[k] = float(np.hypot(fl[..., 0] - gx, fl[..., 1] - gy)[inner].mean())
    k = 0
    while k < m:
        if not changed[k] or area[k] < mo.FLASH_AREA:
            k += 1
            continue
        for length in range(1, mo.FLASH_MAX + 1):
            back = k + length
            if back >= m:
                break
            if not changed[back]:
                continue
            if _ref_compare(gray[k], gray[k + length + 1])[1] < floor:
                changed[k : back + 1] = False
                flash[k : back + 1] = True
                k = back
                break
        k += 1
    subject[flash] = 0.0
    return {
        "raw": raw,
        "residual": residual,
        "warp": warps,
        "camera": camera,
        "moved": camera >= min_shift,
        "changed": changed,
        "flash": flash,
        "subject": subject,
        "changed_area": area,
    }


# ---------------------------------------------------------------- synthetic shots


def _scene(seed: int, size: tuple[int, int]) -> np.ndarray:
    """A cel-like luma picture: a smooth painted background and flat shapes with dark outlines."""
    rng = np.random.default_rng(seed)
    h, w = size
    bg = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 6)
    bg = (bg - bg.min()) / (np.ptp(bg) + 1e-6) * 140 + 50
    for _ in range(12):
        cx, cy, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(4, max(5, h // 5)))
        cv2.circle(bg, (cx, cy), r, float(rng.uniform(20, 235)), -1, lineType=cv2.LINE_AA)
        cv2.circle(bg, (cx, cy), r, 15.0, 1, lineType=cv2.LINE_AA)
    return bg.astype(np.float32)


def _warped(scene: np.ndarray, m: np.ndarray) -> np.ndarray:
    return cv2.warpAffine(scene, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _shot(kind: str) -> np.ndarray:
    """(n, H, W) float32 gray frames of one kind of shot."""
    rng = np.random.default_rng(7)
    big = _scene(1, (H * 2, W * 2))
    still = big[H // 2 : H // 2 + H, W // 2 : W // 2 + W].copy()
    frames = []
    for i in range(10):
        if kind == "pan":
            m = np.float32([[1, 0, -(W // 2) - 1.37 * i], [0, 1, -(H // 2) - 0.41 * i]])
            f = _warped(big, m)
        elif kind == "zoom":
            s = 1.0 + 0.012 * i
            m = cv2.getRotationMatrix2D((W, H), 0.0, s).astype(np.float32)
            m[:, 2] -= [W // 2, H // 2]
            f = _warped(big, m)
        elif kind == "hold":
            f = still.copy()
        elif kind == "drawing":  # a character redrawn on twos over a still background
            f = still.copy()
            x = 20 + 9 * (i // 2)
            cv2.ellipse(f, (x, 40), (10, 16), 0, 0, 360, 230.0, -1, lineType=cv2.LINE_AA)
            cv2.ellipse(f, (x, 40), (10, 16), 0, 0, 360, 10.0, 1, lineType=cv2.LINE_AA)
        elif kind == "flash":  # held drawing with a one-frame white flash
            f = np.full_like(still, 250.0) if i == 5 else still.copy()
        else:
            raise ValueError(kind)
        frames.append(f + rng.normal(0, 0.6, f.shape).astype(np.float32))  # grain below the floor
    return np.clip(np.stack(frames), 0, 255).astype(np.float32)


KINDS = ("pan", "zoom", "hold", "drawing", "flash")


@pytest.mark.parametrize("kind", KINDS)
def test_analyse_pairs_equals_the_reference(kind):
    gray = _shot(kind)
    got = mo.analyse_pairs(gray)
    ref = _ref_analyse(gray)
    for name, want in ref.items():
        have = getattr(got, name)
        assert have.dtype == want.dtype and have.shape == want.shape, name
        if name == "subject":
            np.testing.assert_allclose(have, want, rtol=1e-6, atol=0, err_msg=name)
        else:
            np.testing.assert_array_equal(have, want, err_msg=f"{kind}: {name}")
    # each shot exercises the path it is named after
    if kind == "pan":
        assert got.moved.all() and not got.changed.any()
    elif kind == "zoom":
        assert got.moved.any() and (np.abs(got.warp[:, :, :2] - mo._IDENTITY[:, :2]) > 1e-3).any()
    elif kind == "hold":
        assert not got.changed.any() and not got.moved.any()
    elif kind == "drawing":
        assert got.changed.any() and (got.subject[got.changed] > 0).all()
    elif kind == "flash":
        assert got.flash.any() and not got.changed.any() and not got.subject.any()


@pytest.mark.parametrize("kind", KINDS)
def test_compare_frames_and_tolerant_diff_equal_the_reference(kind):
    gray = _shot(kind)
    for k in (0, 4, 5):
        prev, cur = gray[k], gray[k + 1]
        got, want = mo.compare_frames(prev, cur), _ref_compare(prev, cur)
        assert got[:2] == want[:2]
        np.testing.assert_array_equal(got[2], want[2])
        assert (got[3] is None) == (want[3] is None)
        if want[3] is not None:
            np.testing.assert_array_equal(got[3], want[3])
        # the public tolerant difference (used by the timing scorer) on the identity, a translation, an affine
        for warp in (
            mo._IDENTITY,
            np.float32([[1, 0, 0.8], [0, 1, -0.3]]),
            np.float32([[1.01, 0.01, -1], [0, 0.99, 1]]),
        ):
            ref_warp = None if warp is mo._IDENTITY else warp
            np.testing.assert_array_equal(
                mo._tolerant_diff(cur, prev, warp), _ref_tolerant_diff(cur, prev, ref_warp)
            )


def test_shift_envelope_equals_four_shifted_copies():
    rng = np.random.default_rng(3)
    for h, w in ((1, 1), (1, 7), (5, 1), (3, 4), (72, 128), (69, 128)):
        for scale in (1.0, 255.0):
            img = (rng.random((h, w)) * scale).astype(np.float32)
            for half in (0.5, 0.25, 0.3):
                _, lo, hi = mo._shift_envelope(img, half)
                ref_lo, ref_hi = _ref_shift_envelope(img, half)
                np.testing.assert_array_equal(lo, ref_lo)
                np.testing.assert_array_equal(hi, ref_hi)


def test_hypot_matches_numpy():
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((40, 60)) * 7).astype(np.float32)
    y = (rng.standard_normal((40, 60)) * 0.3).astype(np.float32)
    got = mo._hypot(x, y, np.empty_like(x))
    np.testing.assert_allclose(got, np.hypot(x, y), rtol=1e-7, atol=0)
