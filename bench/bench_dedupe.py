"""Dedupe: fingerprinting frames/s beside decode frames/s, and the index at 1e5 / 1e6 synthetic fingerprints.

Part 1 decodes a few files (the shared development clips when present, else synthetic footage generated here)
into the shared 128 px analysis thumbs, with and without the per-frame content digests exact dedupe needs, and
fingerprints them (7 views per frame: picture, two zooms, three crop aspects, mirror).

Part 2 builds the index over random fingerprints (4 keyframes each; 1 % planted near-copies with 3 weak bits
flipped per keyframe and hash, like re-encoding noise, and 0.1 % hard copies with 10 random luma + 10 random
chroma bits flipped, 20/128 -- a redrawn cel, like the Pikachu pair of the development clips) at each size,
runs the batch self-join (every item against every other), verifies the candidates, and times single
queries; the last line gives the growth from the smallest to the largest size (10x more items: linear work
grows about 10x, all-pairs work 100x). The band width follows the index size (16 bits up to 2**19 entries,
then 21), so hard-copy recall drops at the larger size: that is the price of keeping the join linear.
"""

from __future__ import annotations

import argparse
import gc
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from pipeline.dedupe import DedupeConfig, DedupeIndex, fingerprint_from_hashes, hash_video
from pipeline.dedupe.simulate import random_fingerprints
from pipeline.frames import decode_analysis_frames
from pipeline.synthetic import SynthConfig, generate_footage

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "footage"
FILES = [
    "animescripter_jjk_gojo_test_1080p.mp4",
    "pokemon_calm-campfire.mp4",
    "w2xgui_mars_express_motion_graphics_480p.mp4",
    "sintel_trailer_480x204.mp4",
]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_fingerprint(files: list[Path]) -> None:
    cfg = DedupeConfig()
    print(f"   {'file':<46}{'frames':>7}{'size':>11}{'decode fr/s':>13}{'+digest fr/s':>14}"
          f"{'fingerprint fr/s':>18}{'fp/decode':>11}")  # fmt: skip
    tot = {"frames": 0, "dec": 0.0, "dig": 0.0, "fp": 0.0}
    for path in files:
        t0 = time.perf_counter()
        frames = decode_analysis_frames(path)
        t1 = time.perf_counter()
        decode_analysis_frames(path, digests=True)
        t2 = time.perf_counter()
        hashed = hash_video(frames, cfg)
        fingerprint_from_hashes(hashed, 0, hashed.frames - 1, path.name, config=cfg)
        t3 = time.perf_counter()
        n = len(frames)
        tot["frames"] += n
        tot["dec"] += t1 - t0
        tot["dig"] += t2 - t1
        tot["fp"] += t3 - t2
        size = f"{frames.source_size[0]}x{frames.source_size[1]}"
        print(f"   {path.name[:45]:<46}{n:>7}{size:>11}{n / (t1 - t0):>13.0f}{n / (t2 - t1):>14.0f}"
              f"{n / (t3 - t2):>18.0f}{(t1 - t0) / (t3 - t2):>10.1f}x")  # fmt: skip
    n = tot["frames"]
    print(f"   {'total':<46}{n:>7}{'':>11}{n / tot['dec']:>13.0f}{n / tot['dig']:>14.0f}"
          f"{n / tot['fp']:>18.0f}{tot['dec'] / tot['fp']:>10.1f}x")  # fmt: skip


def bench_index(sizes: list[int], keyframes: int, queries: int) -> None:
    cfg = DedupeConfig(min_match_frames=2)
    print(f"   {keyframes} keyframes per fingerprint, 1 % planted near-copies, bands of about log2(entries) bits, "
          f"{1 << cfg.probe_bits} probes per band")  # fmt: skip
    print(f"   {'items':>9}{'entries':>10}{'bands':>7}{'build s':>9}{'self-join s':>13}{'examined':>12}"
          f"{'per item':>10}{'verify s':>10}{'recall':>8}{'hard':>7}{'false':>7}{'query ms':>10}{'tables MB':>11}"
          f"{'RSS MB':>9}")  # fmt: skip
    rows = []
    for n in sizes:
        gc.collect()
        planted, hard = max(1, n // 100), max(1, n // 1000)
        fps, pairs = random_fingerprints(n, keyframes=keyframes, planted=planted, hard=hard, seed=1)
        index = DedupeIndex(cfg)
        index.extend(fps)
        t0 = time.perf_counter()
        index.build()
        t1 = time.perf_counter()
        triples = index.candidates()
        t2 = time.perf_counter()
        matches = index.verify(triples)
        t3 = time.perf_counter()
        found = {frozenset((m.a, m.b)) for m in matches}
        truth = {frozenset((fps[a].item_id, fps[b].item_id)) for a, b in pairs[:planted]}
        truth_hard = {frozenset((fps[a].item_id, fps[b].item_id)) for a, b in pairs[planted:]}
        rng = np.random.default_rng(2)
        picks = rng.choice(n, size=min(queries, n), replace=False)
        t4 = time.perf_counter()
        for k in picks:
            index.query(fps[int(k)])
        t5 = time.perf_counter()
        s = index.stats
        row = {
            "n": n, "build": t1 - t0, "join": t2 - t1, "verify": t3 - t2,
            "query": (t5 - t4) / len(picks) * 1000, "examined": s.join.candidates,
        }  # fmt: skip
        rows.append(row)
        print(f"   {n:>9}{s.entries:>10}{f'{s.bands}x{s.band_bits}':>7}{row['build']:>9.2f}{row['join']:>13.2f}"
              f"{s.join.candidates:>12}{s.join.candidates / n:>10.1f}{row['verify']:>10.2f}"
              f"{len(found & truth) / max(len(truth), 1):>8.3f}{len(found & truth_hard) / max(len(truth_hard), 1):>7.2f}"
              f"{len(found - truth - truth_hard):>7}{row['query']:>10.2f}"
              f"{s.table_bytes / 2**20:>11.0f}{_rss_mb():>9.0f}")  # fmt: skip
        del fps, index, matches
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        f = b["n"] / a["n"]
        print(f"   growth for {f:.0f}x items: build {b['build'] / a['build']:.1f}x, self-join {b['join'] / a['join']:.1f}x, "
              f"entries examined {b['examined'] / a['examined']:.1f}x, verify {b['verify'] / a['verify']:.1f}x, "
              f"single query {b['query'] / a['query']:.1f}x (all pairs: {f * f:.0f}x)")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--keyframes", type=int, default=4)
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args(argv or [])
    print("   fingerprinting beside decoding (128 px analysis thumbs)")
    if SHARED.is_dir():
        bench_fingerprint([SHARED / f for f in FILES if (SHARED / f).exists()])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            manifest = generate_footage(Path(tmp), videos=3, seed=1, config=SynthConfig())
            bench_fingerprint([v.path for v in manifest.videos])
    print("   index: build, self-join, verification and single queries over random fingerprints")
    bench_index(args.sizes, args.keyframes, args.queries)


if __name__ == "__main__":
    main()
