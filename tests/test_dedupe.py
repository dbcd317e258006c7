"""Dedupe: exact, near-duplicate and semantic, on videos written here (synthetic footage with a reused
opening, and hand-made copies of one of its videos: remux, lossless sub-clip, re-encode, rescale, crop, trim,
time shift)."""

from __future__ import annotations

import dataclasses
import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from pipeline.clips import ClipEncoding, ClipSpan, extract_clips
from pipeline.dedupe import (
    DedupeConfig,
    DedupeIndex,
    KeepPolicy,
    build_fingerprint,
    find_duplicates,
    fingerprint_items,
    mark_clips,
    rejection_records,
    run_eval_dedupe,
    semantic_matches,
)
from pipeline.dedupe.bits import (
    auto_band_bits,
    band_layout,
    hamming,
    pack_bits,
    popcount,
    probe_masks,
    unpack_bits,
)
from pipeline.dedupe.fingerprint import Fingerprint
from pipeline.dedupe.picture import picture_box, view_boxes
from pipeline.dedupe.registry import CopyRegistry
from pipeline.dedupe.simulate import random_fingerprints
from pipeline.frames import AnalysisFrames, decode_analysis_frames
from pipeline.records import ClipRecord
from pipeline.synthetic import SynthConfig, generate_footage
from pipeline.synthetic.encode import write_h264

CFG = SynthConfig(
    width=320, height=180, seconds=6.0, min_shot_seconds=0.75, max_shot_seconds=2.0, opening_seconds=2.0
)
FPS = Fraction(24000, 1001)


def decode_rgb(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def remux(src: Path, dst: Path) -> Path:
    """Copy the packets into another container: new file bytes, identical decoded frames."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = inp.streams.video[0]
        ostream = out.add_stream_from_template(stream)
        for packet in inp.demux(stream):
            if packet.dts is None:
                continue
            packet.stream = ostream
            out.mux(packet)
    return dst


def fingerprint(path: Path, item_id: str | None = None, score: float | None = None) -> Fingerprint:
    frames = decode_analysis_frames(path, digests=True)
    return build_fingerprint(frames, 0, len(frames) - 1, item_id or path.name, path.name, score)


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    return generate_footage(tmp_path_factory.mktemp("synth"), videos=4, seed=11, config=CFG)


@pytest.fixture(scope="module")
def copies(footage, tmp_path_factory) -> dict[str, Path]:
    """Copies of one full-frame synthetic video, written with other encoders / geometry / timing."""
    out = tmp_path_factory.mktemp("copies")
    full = [v for v in footage.videos if v.layout == "full"]
    source, other = full[0], next(v for v in footage.videos if v.name != full[0].name)
    frames = decode_rgb(source.path)
    other_frames = decode_rgb(other.path)
    w, h = source.width, source.height
    paths = {"source": source.path, "other": other.path}

    def write(name: str, images: list[np.ndarray], crf: int = 20) -> None:
        ih, iw = images[0].shape[:2]
        paths[name] = out / f"{name}.mp4"
        write_h264(paths[name], images, iw, ih, FPS, crf=crf, preset="ultrafast")

    paths["remux"] = remux(source.path, out / "remux.mkv")
    extract_clips(source.path, [ClipSpan(0, 40, 99)], [out / "lossless_sub.mp4"], ClipEncoding(crf=0))
    paths["lossless_sub"] = out / "lossless_sub.mp4"
    write("reencode", frames, crf=34)
    write("rescale", [cv2.resize(f, (192, 108), interpolation=cv2.INTER_AREA) for f in frames])
    write("crop43", [np.ascontiguousarray(f[:, 40 : w - 40]) for f in frames])  # 240x180: pan-and-scan
    bar = (h - round(w / 2.39)) // 2 // 2 * 2
    write("crop239", [np.ascontiguousarray(f[bar : h - bar]) for f in frames])  # 320x134: scope
    write("trim", frames[30:110])
    write("shift", other_frames[100:136] + frames[:90])  # 36 frames of another video first
    return paths


@pytest.fixture(scope="module")
def prints(copies) -> dict[str, Fingerprint]:
    return {name: fingerprint(path, name) for name, path in copies.items()}


# ------------------------------------------------------------------------------------------------ bits


def test_bit_helpers():
    rng = np.random.default_rng(0)
    bits = rng.random((5, 64)) > 0.5
    h = pack_bits(bits)
    assert np.array_equal(unpack_bits(h), bits)
    assert np.array_equal(popcount(h), bits.sum(1))
    assert int(hamming(h[0], h[0])) == 0
    assert band_layout(16) == [(0, 16), (16, 16), (32, 16), (48, 16)]
    assert band_layout(21) == [(0, 21), (21, 22), (43, 21)]
    assert band_layout(22) == band_layout(21) and band_layout(32) == [(0, 32), (32, 32)]
    assert auto_band_bits(1000) == 16 and auto_band_bits(4_000_000) == 21
    # probes flip every combination of the first two weak bits inside the band
    masks = probe_masks(np.array([[3, 40, 5, 9]]), 0, 16, 2)
    assert sorted(masks[0].tolist()) == [0, 1 << 3, 1 << 5, (1 << 3) | (1 << 5)]


# ------------------------------------------------------------------------------------------ picture / hashes


def _frames(thumb: np.ndarray) -> AnalysisFrames:
    n = len(thumb)
    tiny = np.zeros((n, 27, 48, 3), np.uint8)
    return AnalysisFrames(
        "mem", FPS, 1 / FPS, (thumb.shape[2] * 10, thumb.shape[1] * 10), np.arange(n), thumb, tiny
    )


def test_bars_are_removed_and_crop_views_placed():
    rng = np.random.default_rng(1)
    thumb = np.zeros((10, 72, 128, 3), np.uint8)
    thumb[:, 9:63] = rng.integers(40, 255, (10, 54, 128, 3))  # letterboxed picture
    assert picture_box(thumb) == (0, 10, 128, 52)  # one blended row left out beside each bar
    views = view_boxes((0, 0, 128, 72), (4 / 3, 16 / 9, 2.39))
    assert views[2] is None  # 16:9 view of a 16:9 picture is the picture itself
    assert views[1] == pytest.approx((16.0, 0.0, 96.0, 72.0))
    assert views[3][3] == pytest.approx(128 / 2.39)


def test_low_information_frames_are_never_keyframes():
    rng = np.random.default_rng(2)
    black = rng.integers(0, 6, (40, 72, 128, 3)).astype(np.uint8)  # black with encoder-like noise
    fade = np.stack([np.full((72, 128, 3), v, np.uint8) for v in np.linspace(0, 255, 40)])
    a = build_fingerprint(_frames(black), 0, 39, "black")
    b = build_fingerprint(_frames(fade), 0, 39, "fade")
    assert len(a.keyframes) == 0 and len(b.keyframes) == 0
    result = find_duplicates([a, b])
    assert result.matches == [] and all(d.status == "kept" for d in result.decisions)


# ------------------------------------------------------------------------------------------------ exact


def test_remux_is_an_exact_duplicate(prints):
    result = find_duplicates([prints["source"], prints["remux"]])
    m = result.between("remux", "source")[0]
    assert m.kind == "exact" and m.similarity == 1.0
    assert m.a_frames == m.b_frames == (0, prints["source"].frames - 1)
    # same resolution and length: the tie goes to the smaller id, the other points to it
    assert result.decision("source").status == "duplicate"
    assert result.decision("source").duplicate_of == "remux"


def test_lossless_subclip_is_an_exact_containment(prints):
    result = find_duplicates([prints["source"], prints["lossless_sub"]])
    m = result.between("lossless_sub", "source")[0]
    assert m.kind == "exact"
    assert m.a_frames == (0, 59) and m.b_frames == (40, 99) and m.offset == 40
    d = result.decision("lossless_sub")
    assert d.is_duplicate and d.duplicate_of == "source" and d.kind == "exact"
    assert result.decision("source").status == "kept"  # the longer item is not covered by the sub-clip


# ------------------------------------------------------------------------------------------------- near

# copy -> (copy frames, source frames, offset, view of the source that matched the copy, copy is a duplicate)
NEAR = {
    "reencode": ((0, 143), (0, 143), 0, "full", True),
    "rescale": ((0, 143), (0, 143), 0, "full", True),
    "crop43": ((0, 143), (0, 143), 0, "4:3", True),
    "crop239": ((0, 143), (0, 143), 0, "2.39:1", True),
    "trim": ((0, 79), (30, 109), 30, "full", True),
    # 36 of its 126 frames are other content: the match is reported, the copy is not a duplicate
    "shift": ((36, 125), (0, 89), -36, "full", False),
}


@pytest.mark.parametrize("copy", sorted(NEAR))
def test_near_duplicate_found_at_the_right_frames(prints, copy):
    a_frames, b_frames, offset, view, duplicate = NEAR[copy]
    result = find_duplicates([prints["source"], prints[copy]])
    found = result.between(copy, "source")
    assert found, f"{copy} not matched with its source"
    m = found[0]
    assert m.kind == "near"
    assert (
        max(abs(x - y) for x, y in zip((*m.a_frames, *m.b_frames), (*a_frames, *b_frames), strict=True)) <= 1
    ), m
    assert m.offset is not None and abs(m.offset - offset) <= 1
    assert m.similarity >= 0.85
    # the crop matched through the source's centred crop of the same aspect
    assert m.view == view and (view == "full" or m.oriented("source").view_side == "a")
    assert (result.decision(copy).is_duplicate or result.decision("source").is_duplicate) == duplicate


def test_distinct_videos_and_the_reused_opening(footage):
    """Same-series look-alikes (one generator, shared palettes and characters) are not flagged; the reused
    opening is found at the frames of duplicates.json (±1), and the videos sharing it are all kept."""
    report = run_eval_dedupe(footage.out_dir, footage.duplicates_path, labels=None)
    listed = json.loads(footage.duplicates_path.read_text())["pairs"]
    assert listed and len(report.pairs) == len(listed)
    for p in report.pairs:
        assert p.found and p.span_error is not None and p.span_error <= 1, p.to_json_dict()
    assert report.false_positives == [] and report.passed
    assert all(d.status == "kept" for d in report.decisions)  # 2 s of a 6 s video is not a duplicate video
    data = report.to_json_dict()
    assert data["passed"] and data["pairs_found"] == len(listed)
    assert data["margin"]["closest_non_duplicate"]["distance"] > data["config"]["max_frame_distance"]


def test_shots_of_the_reused_opening_are_duplicates(footage):
    """At shot granularity the opening's shots in one video are duplicates of the same shots in another."""
    opening = {v.name: v.opening for v in footage.videos if v.opening}
    items = []
    for v in footage.videos:
        frames = decode_analysis_frames(v.path)
        label = json.loads(v.label_path.read_text())
        spans = [(s["start"], s["end"]) for s in label["shots"]]
        items += fingerprint_items(frames, spans, [f"{v.name}:{a}-{b}" for a, b in spans], v.name)
    result = find_duplicates(items)
    dups = result.duplicates
    assert dups
    for d in dups:
        video, span = d.item_id.split(":")
        a, b = map(int, span.split("-"))
        kept_video = d.duplicate_of.split(":")[0]
        assert video in opening and kept_video in opening and kept_video != video
        assert opening[video][0] <= a and b <= opening[video][1]


# ------------------------------------------------------------------------------------------------ policy


def test_keep_policy_order_is_honoured(copies):
    re = fingerprint(copies["reencode"], "reencode", score=0.9)
    small = fingerprint(copies["rescale"], "rescale", score=0.95)
    source = fingerprint(copies["source"], "source", score=0.5)
    assert small.resolution == (192, 108) and source.resolution == (320, 180)
    # resolution first: the two full-size copies tie, then frames tie, then the score picks the re-encode
    r = find_duplicates([source, re, small], KeepPolicy(("resolution", "frames", "score")))
    assert r.decision("reencode").status == "kept"
    assert r.decision("source").duplicate_of == "reencode"
    assert r.decision("rescale").duplicate_of == "reencode"
    # score first: the small copy is kept, every other copy points to it
    r = find_duplicates([source, re, small], KeepPolicy.parse("best_score,highest_resolution"))
    assert r.decision("rescale").status == "kept"
    assert {r.decision("source").duplicate_of, r.decision("reencode").duplicate_of} == {"rescale"}


def test_contained_item_never_removes_the_longer_one(copies):
    """A trimmed copy with the best score is kept, but so is its source: the source has frames the trim
    lacks, so it is not covered and must not be deduped against it."""
    trim = fingerprint(copies["trim"], "trim", score=1.0)
    source = fingerprint(copies["source"], "source", score=0.0)
    r = find_duplicates([source, trim], KeepPolicy(("score",)))
    assert r.decision("trim").status == "kept" and r.decision("source").status == "kept"
    assert r.between("trim", "source")  # the match is still reported
    r = find_duplicates([source, trim], KeepPolicy(("frames",)))
    assert r.decision("trim").duplicate_of == "source"


def test_decisions_go_into_clip_and_rejection_rows(prints):
    result = find_duplicates([prints["source"], prints["reencode"]])
    dup = result.duplicates[0]
    clips = [
        ClipRecord(
            clip_id=i,
            shot_id="s",
            video_id="v",
            start_frame=0,
            end_frame=143,
            start_s=0.0,
            end_s=6.0,
            width=320,
            height=180,
            fps="24000/1001",
        )  # fmt: skip
        for i in ("source", "reencode")
    ]
    marked = {c.clip_id: c for c in mark_clips(clips, result.decisions)}
    assert marked[dup.item_id].status == "duplicate" and marked[dup.item_id].duplicate_of == dup.duplicate_of
    kept = next(c for c in marked.values() if c.clip_id != dup.item_id)
    assert kept.status == "kept" and kept.duplicate_of is None
    rows = rejection_records(result.decisions, {dup.item_id: "x.mp4"})
    assert len(rows) == 1 and rows[0].stage == "dedupe" and rows[0].rule == "duplicate_near"
    assert rows[0].subject_id == dup.item_id and dup.duplicate_of in rows[0].reason


# ------------------------------------------------------------------------------------------------- index


def test_index_examines_far_fewer_than_all_pairs():
    n, k, planted = 4000, 6, 40
    fps, pairs = random_fingerprints(n, keyframes=k, planted=planted, seed=3)
    index = DedupeIndex(DedupeConfig(min_match_frames=3))
    index.extend(fps)
    triples = index.candidates()
    matches = index.verify(triples)
    found = {frozenset((m.a, m.b)) for m in matches}
    assert found == {frozenset((fps[a].item_id, fps[b].item_id)) for a, b in pairs}
    all_pairs = (n * k) ** 2  # keyframe comparisons of a brute-force all-pairs search
    assert index.stats.join.candidates < 0.005 * all_pairs
    assert len(triples) <= 2 * planted  # item pairs sent to verification, against n² / 2 = 8e6
    # a single query finds the source of a planted copy and nothing else
    src, copy = pairs[0]
    got = index.query(fps[copy])
    assert [m.b for m in got] == [fps[src].item_id]


def test_query_of_an_item_outside_the_index(prints):
    index = DedupeIndex()
    for name in ("source", "other", "crop239"):
        index.add(prints[name])
    got = index.query(prints["rescale"])
    assert {m.b for m in got} >= {"source", "crop239"}
    best = next(m for m in got if m.b == "source")
    assert best.a_frames == (0, 143) and best.b_frames == (0, 143) and best.offset == 0


# ---------------------------------------------------------------------------------------------- semantic


def test_semantic_duplicates_from_embeddings():
    rng = np.random.default_rng(5)
    d = 512
    base = rng.standard_normal((8, d))
    other = rng.standard_normal((8, d))
    emb = {
        "a": base,
        "a_noisy": base + 0.12 * rng.standard_normal((8, d)),  # cosine about 0.99 row by row
        "half": np.concatenate([base[:4] + 0.1 * rng.standard_normal((4, d)), other[:4]]),
        "unrelated": other[4:] + rng.standard_normal((4, d)),
    }
    matches = {frozenset((m.a, m.b)): m for m in semantic_matches(emb)}
    assert set(matches) == {
        frozenset(("a", "a_noisy")),
        frozenset(("a", "half")),
        frozenset(("a_noisy", "half")),
    }
    m = matches[frozenset(("a", "a_noisy"))]
    assert m.kind == "semantic" and m.similarity > 0.97 and m.a_coverage == m.b_coverage == 1.0
    half = matches[frozenset(("a", "half"))].oriented("half")
    assert half.a_coverage == 0.5 and half.b_coverage == 0.5
    # as decisions (items without perceptual hashes): the noisy copy is a duplicate, the half-match is not
    fps = {f.item_id: f for f in random_fingerprints(4, keyframes=2, seed=9)[0]}
    items = []
    for (name, _), fp in zip(emb.items(), fps.values(), strict=True):
        fp.item_id = name
        items.append(fp)
    items[0].score, items[1].score = 1.0, 0.5
    r = find_duplicates(items, KeepPolicy(("score",)), embeddings=emb)
    assert r.decision("a").status == "kept"
    assert r.decision("a_noisy").duplicate_of == "a" and r.decision("a_noisy").kind == "semantic"
    assert r.decision("half").status == "kept" and r.decision("unrelated").status == "kept"


def test_hashes_do_not_depend_on_the_blas_thread_count() -> None:
    """OpenBLAS splits large products over its threads and the split changes their rounding: on 2 threads these
    letterboxed frames got other weak bits and stds than on one (and the local runner inherits one BLAS thread
    per core where Ray workers use one). hash_views pins one thread, so the count around it does not matter."""
    from threadpoolctl import ThreadpoolController

    from pipeline.dedupe.phash import hash_views
    from pipeline.dedupe.picture import picture_box, picture_views

    thumb = np.random.default_rng(3).integers(0, 256, (153, 72, 128, 3), dtype=np.uint8)
    thumb[:, :9] = 0
    thumb[:, -9:] = 0
    cfg = DedupeConfig()
    views = picture_views(picture_box(thumb), cfg.crop_aspects, cfg.crop_zooms, cfg.mirror)
    controller = ThreadpoolController()
    with controller.limit(limits=1, user_api="blas"):
        one = hash_views(thumb, views)
    with controller.limit(limits=2, user_api="blas"):
        two = hash_views(thumb, views)
    for name in ("luma", "chroma", "weak", "luma_std", "chroma_std"):
        assert getattr(one, name).tobytes() == getattr(two, name).tobytes(), name


# ---------------------------------------------------------------------------------------------- registry


def _named_copies_are_reduce_duplicates(items: list[Fingerprint], policy: KeepPolicy | None = None) -> int:
    """Register ``items`` in order; every clip the registry names as a copy must be a duplicate in the reduce's
    decision over all items, and the copy it names must rank before it. Returns how many were named."""
    policy = policy or KeepPolicy()
    registry = CopyRegistry(policy)
    named = {fp.item_id: registry.better_copy(fp) for fp in items}
    decided = find_duplicates(items, policy)
    rank = {fp.item_id: policy.sort_key(fp) for fp in items}
    for item, copy in named.items():
        if copy is not None:
            assert decided.decision(item).is_duplicate, item
            assert rank[copy] < rank[item]
    assert registry.lookups == len(items) and len(registry) == len({fp.item_id for fp in items})
    return sum(c is not None for c in named.values())


def test_registry_names_a_better_copy_registered_earlier(prints):
    source = dataclasses.replace(prints["source"], score=0.5)
    reencode = dataclasses.replace(prints["reencode"], score=0.9)
    policy = KeepPolicy(("score",))
    registry = CopyRegistry(policy)
    assert registry.better_copy(reencode) is None  # nothing registered yet
    assert registry.better_copy(source) == "reencode"  # the better copy came first: the reduce drops source
    registry = CopyRegistry(policy)
    assert registry.better_copy(source) is None
    assert registry.better_copy(reencode) is None  # the worse copy came first: both are encoded
    # ties on frames go to the smaller id: the remux (identical decode) ranks before the source, so it is
    # encoded; the trimmed copy is covered by both and the best-ranked of them is named; the source itself is
    # not covered by the trim
    registry = CopyRegistry(KeepPolicy(("frames",)))
    assert registry.better_copy(prints["source"]) is None
    assert registry.better_copy(prints["remux"]) is None
    assert registry.better_copy(prints["trim"]) == "remux"
    assert registry.better_copy(prints["other"]) is None
    registry = CopyRegistry(KeepPolicy(("frames",)))
    assert [registry.better_copy(prints[k]) for k in ("trim", "source")] == [None, None]


@pytest.mark.parametrize("order", ["forward", "reversed", "shuffled"])
def test_registry_names_only_clips_the_reduce_drops(prints, order):
    items = [prints[k] for k in sorted(prints)]
    if order == "reversed":
        items.reverse()
    elif order == "shuffled":
        items = [items[k] for k in np.random.default_rng(5).permutation(len(items))]
    named = _named_copies_are_reduce_duplicates(items)
    named_by_score = _named_copies_are_reduce_duplicates(
        [dataclasses.replace(fp, score=float(k)) for k, fp in enumerate(items)], KeepPolicy(("score",))
    )
    assert named + named_by_score > 0


def test_registry_on_the_shots_of_a_reused_opening(footage):
    items = []
    for v in footage.videos:
        frames = decode_analysis_frames(v.path, digests=True)
        label = json.loads(v.label_path.read_text())
        spans = [(s["start"], s["end"]) for s in label["shots"]]
        items += fingerprint_items(frames, spans, [f"{v.name}:{a}-{b}" for a, b in spans], v.name)
    assert _named_copies_are_reduce_duplicates(items) > 0


def test_registry_levels_stay_logarithmic():
    fps, pairs = random_fingerprints(300, keyframes=4, planted=30, seed=7)
    registry = CopyRegistry(KeepPolicy(("frames",)))
    named = {fp.item_id: registry.better_copy(fp) for fp in fps}
    sizes = [len(level) for level in registry._levels]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == 300 and len(sizes) <= 9
    # every planted copy comes after its source and ties on frames: the smaller id (the source) ranks first
    for src, copy in pairs:
        assert named[fps[copy].item_id] == fps[src].item_id
    assert registry.copies == len(pairs)
