"""CPU cost and output identity of the motion scorer's pair analysis (``motion.analyse_pairs``).

The gray analysis thumbs of every labelled shot (and of every labelled transition, with one frame of context
on each side: fades and dissolves exercise the photometric normalisation) of one or more footage folders are
built exactly as the scorers see them (:func:`pipeline.frames.decode_analysis_frames` at the curate job's
thumb width, then :attr:`pipeline.scores.registry.ShotView.gray`) and cached per clip as ``.npz`` under
``--cache``, so that later runs skip the decode. Then:

* ``--dump FILE``: every :class:`~pipeline.scores.motion.PairMotion` field of every cached shot to ``FILE``;
* ``--compare FILE``: the current outputs against such a dump (max abs difference per field; booleans and
  shapes must be identical; exit status 1 otherwise);
* ``--baseline PY``: thread-CPU seconds of ``analyse_pairs`` of the current module beside the one in the file
  ``PY`` (a saved copy of an earlier ``motion.py``) in one run, one OpenCV thread, alternating shot by shot;
  each shot counts with its fastest of ``--repeat`` runs.

Without ``--footage``: 3 synthetic 10 s videos (seed 0) in a temporary folder, the current code timed alone.

Example::

    python bench/bench_motion.py --footage /tmp/mo/syn0 --cache /tmp/mo/cache --dump /tmp/mo/base_syn0.npz
    python bench/bench_motion.py --footage /tmp/mo/syn0 --cache /tmp/mo/cache \
        --compare /tmp/mo/base_syn0.npz --baseline /tmp/mo/motion_base.py
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pipeline.scores.registry as registry  # noqa: E402
from pipeline.footage import find_videos, label_path_for  # noqa: E402
from pipeline.footage_labels import load_label  # noqa: E402
from pipeline.frames import decode_analysis_frames  # noqa: E402
from pipeline.scores import motion  # noqa: E402

THUMB_WIDTH = 128  # CurateConfig().analysis.thumb_width

Shots = dict[str, np.ndarray]


def shot_spans(label_path: Path, n_frames: int) -> list[tuple[int, int]]:
    """Labelled shots, then labelled transitions with one frame of context on each side (inclusive spans)."""
    label = load_label(label_path)
    spans = [(s.start, s.end) for s in label.shots]
    spans += [(max(0, t.start - 1), min(n_frames - 1, t.end + 1)) for t in label.transitions]
    return [(a, b) for a, b in spans if 0 <= a <= b < n_frames]


def clip_shots(video: Path, cache: Path) -> Shots:
    """``{"<start>_<end>": gray}`` of every span of ``video``'s label (cached, or decoded and cached)."""
    out = cache / f"{video.parent.name}__{video.stem}.npz"
    if out.is_file():
        with np.load(out) as z:
            return {k: z[k] for k in z.files}
    frames = decode_analysis_frames(video, thumb_width=THUMB_WIDTH)
    ctx = registry.ScoreContext(video_id=video.stem)
    shots = {
        f"{a}_{b}": registry.ShotView(frames, a, b, ctx).gray
        for a, b in shot_spans(label_path_for(video), len(frames))
    }
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(out, **shots)
    return shots


def load_shots(folders: list[Path], cache: Path) -> dict[str, np.ndarray]:
    """``{"<folder>/<clip>/<start>_<end>": gray}`` of every labelled clip of ``folders``."""
    shots: dict[str, np.ndarray] = {}
    for folder in folders:
        for video in find_videos(folder):
            if not label_path_for(video).is_file():
                continue
            for key, gray in clip_shots(video, cache).items():
                shots[f"{folder.name}/{video.stem}/{key}"] = gray
    return shots


def load_module(path: Path) -> ModuleType:
    """A saved copy of ``motion.py`` as a separate module (its scorer is not registered a second time)."""
    spec = importlib.util.spec_from_file_location(f"motion_baseline_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    real = registry.register
    registry.register = lambda *_a, **_k: lambda f: f  # type: ignore[assignment]
    try:
        spec.loader.exec_module(module)
    finally:
        registry.register = real
    return module


def dump(
    shots: dict[str, np.ndarray], analyse: Callable[[np.ndarray], motion.PairMotion]
) -> dict[str, np.ndarray]:
    """Every PairMotion field of every shot, flattened to ``"<shot>/<field>"`` arrays."""
    out: dict[str, np.ndarray] = {}
    for key, gray in shots.items():
        pm = analyse(gray)
        for f in fields(pm):
            out[f"{key}/{f.name}"] = np.asarray(getattr(pm, f.name))
    return out


def compare(cur: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> tuple[dict[str, float], list[str]]:
    """``(max abs difference per float field, problems)``; a problem is a missing key, a shape or dtype change
    or any difference in an integer / boolean field."""
    worst: dict[str, float] = {}
    problems = [f"missing {k}" for k in ref if k not in cur] + [f"extra {k}" for k in cur if k not in ref]
    for k in sorted(set(ref) & set(cur)):
        a, b = cur[k], ref[k]
        name = k.rsplit("/", 1)[1]
        if a.shape != b.shape or a.dtype != b.dtype:
            problems.append(f"{k}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}")
            continue
        if a.dtype.kind in "biu":
            if not np.array_equal(a, b):
                problems.append(f"{k}: differs at {np.flatnonzero((a != b).ravel())[:10].tolist()}")
            continue
        d = float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) if a.size else 0.0
        worst[name] = max(worst.get(name, 0.0), d)
    return worst, problems


def cpu_seconds(
    shots: dict[str, np.ndarray], impls: dict[str, Callable[[np.ndarray], motion.PairMotion]], repeat: int
) -> dict[str, float]:
    """Thread-CPU seconds of each of ``impls`` over every shot: the implementations alternate shot by shot
    (so that both see the same machine load), and each shot counts with its fastest of ``repeat`` runs."""
    best = {name: np.full(len(shots), np.inf) for name in impls}
    for r in range(repeat):
        for i, gray in enumerate(shots.values()):
            order = list(impls.items()) if (r + i) % 2 == 0 else list(impls.items())[::-1]
            for name, analyse in order:
                t0 = time.thread_time()
                analyse(gray)
                best[name][i] = min(best[name][i], time.thread_time() - t0)
    return {name: float(t.sum()) for name, t in best.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--footage", type=Path, action="append", help="labelled footage folder (repeatable)")
    p.add_argument("--cache", type=Path, help="where the per-clip gray thumbs are cached (.npz)")
    p.add_argument("--dump", type=Path, help="write every PairMotion field of every shot here (.npz)")
    p.add_argument("--compare", type=Path, help="compare the current outputs with this dump")
    p.add_argument("--baseline", type=Path, help="a saved motion.py to time beside the current one")
    p.add_argument("--repeat", type=int, default=3, help="timed passes of each implementation")
    args = p.parse_args(argv)
    cv2.setNumThreads(1)

    with tempfile.TemporaryDirectory(prefix="bench_motion_") as tmp:
        folders = args.footage
        if not folders:
            from pipeline.synthetic import generate_footage

            folders = [Path(tmp) / "syn"]
            generate_footage(folders[0], videos=3, seed=0)
        shots = load_shots(folders, args.cache or Path(tmp) / "cache")
    pairs = sum(max(0, len(g) - 1) for g in shots.values())
    sizes = sorted({g.shape[1:] for g in shots.values()})
    print(f"{len(shots)} shots, {pairs} pairs, thumb sizes {sizes}")

    status = 0
    if args.dump:
        out = dump(shots, motion.analyse_pairs)
        np.savez(args.dump, **out)
        print(f"dumped {len(out)} arrays to {args.dump}")
    if args.compare:
        with np.load(args.compare) as z:
            ref = {k: z[k] for k in z.files}
        worst, problems = compare(dump(shots, motion.analyse_pairs), ref)
        print("max abs difference per field: " + ", ".join(f"{k} {v:.3g}" for k, v in sorted(worst.items())))
        for line in problems[:20]:
            print("  PROBLEM", line)
        verdict = (
            "bit-identical" if not any(worst.values()) else "identical booleans, floats within the above"
        )
        print(f"compare: {verdict if not problems else f'{len(problems)} PROBLEMS'}")
        status = 1 if problems else 0

    if args.repeat >= 1:
        impls = {"current": motion.analyse_pairs}
        if args.baseline:
            impls = {"baseline": load_module(args.baseline).analyse_pairs, **impls}
        best = cpu_seconds(shots, impls, args.repeat)
        for name, sec in best.items():
            print(
                f"{name:>9}: analyse_pairs {sec:.3f} thread-CPU s ({1000 * sec / max(pairs, 1):.3f} ms/pair)"
            )
        if "baseline" in best:
            print(f"baseline / current CPU: {best['baseline'] / best['current']:.2f}x")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
