"""Candidate retrieval: a multi-index hash table over the keyframe hashes of many items.

The 64 luma bits of every indexed keyframe (whole picture) are cut into bands of ``band_bits`` bits; each
band is a sorted table of (band value -> entries). A query hash looks up its own band values *and* the
values with its least reliable bits flipped (``probe_bits`` per band, every combination: query-adaptive
multi-probe), so a near-identical hash is found when, in at least one band, it differs only in bits whose
DCT coefficient sat close to the threshold. Found entries are kept when their full 128-bit distance is
within ``max_frame_distance``; they are *seeds* for verification (:mod:`pipeline.dedupe.align`), which
alone decides.

Cost: a probe touches about ``entries / 2**band_bits`` random entries, so with ``band_bits`` about log2 of the
index size (the default) a query costs O(bands x probes) lookups, not O(N): N items cost O(N log N) to build
and O(N) to self-join, against O(N²) for all pairs. Queries use every view of an item (the centred crops
too); the index holds whole pictures only, so a crop of A finds A through A's crop view.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

import numpy as np

from pipeline.dedupe.align import align
from pipeline.dedupe.bits import auto_band_bits, band_key, band_layout, probe_masks
from pipeline.dedupe.config import DedupeConfig
from pipeline.dedupe.distance import frame_distance
from pipeline.dedupe.fingerprint import LUMA_OK, Fingerprint
from pipeline.dedupe.match import Match

#: Candidate entries materialised per step of a join (bounds memory).
JOIN_CHUNK = 1 << 22


@dataclass
class JoinStats:
    query_hashes: int = 0
    probes: int = 0
    candidates: int = 0  # entries examined (sum of bucket sizes over all probes)
    seeds: int = 0  # candidates within the distance limit, other items, distinct


#: Bands up to this width get a dense bucket-offset array (O(1) lookups); wider ones binary search.
DENSE_BUCKET_BITS = 24


@dataclass
class Tables:
    """Band tables over ``codes`` (uint64): per band, the entries sorted by band value, and where each
    band value's bucket starts (a dense offset array for narrow bands, else the sorted values to search)."""

    bands: list[tuple[int, int]]
    keys: list[np.ndarray | None]  # sorted band values (wide bands only)
    starts: list[np.ndarray | None]  # bucket start offsets, 2**width + 1 (narrow bands only)
    order: list[np.ndarray]  # entry number of each sorted position

    @classmethod
    def build(cls, codes: np.ndarray, band_bits: int) -> Tables:
        bands = band_layout(band_bits)
        keys: list[np.ndarray | None] = []
        starts: list[np.ndarray | None] = []
        order = []
        idx_type = np.int32 if len(codes) < 2**31 else np.int64
        for shift, width in bands:
            k = band_key(codes, shift, width)
            o = np.argsort(k, kind="stable").astype(idx_type)
            order.append(o)
            if width <= DENSE_BUCKET_BITS:
                counts = np.bincount(k, minlength=1 << width)
                starts.append(np.concatenate([[0], np.cumsum(counts)]).astype(idx_type))
                keys.append(None)
            else:
                starts.append(None)
                keys.append(k[o])
        return cls(bands, keys, starts, order)

    def bucket(self, band: int, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(first sorted position, count) of the bucket of each band value."""
        st = self.starts[band]
        if st is not None:
            lo = st[values].astype(np.int64)
            return lo, st[values + 1].astype(np.int64) - lo
        keys = self.keys[band]
        assert keys is not None
        lo = np.searchsorted(keys, values, side="left")
        return lo, np.searchsorted(keys, values, side="right") - lo

    @property
    def nbytes(self) -> int:
        arrays = [a for a in (*self.keys, *self.starts, *self.order) if a is not None]
        return sum(a.nbytes for a in arrays)


def banded_join(
    tables: Tables,
    query_codes: np.ndarray,
    query_weak: np.ndarray,
    probe_bits: int,
    accept: Callable[[np.ndarray, np.ndarray], np.ndarray],
    stats: JoinStats | None = None,
    query_chunk: int = 1 << 20,
) -> tuple[np.ndarray, np.ndarray]:
    """All (query row, entry) pairs that share a probed band value and pass ``accept(rows, entries) -> mask``.
    Returns two int64 arrays, distinct pairs, sorted by query row then entry."""
    stats = stats if stats is not None else JoinStats()
    nq = len(query_codes)
    stats.query_hashes += nq
    out_q: list[np.ndarray] = []
    out_e: list[np.ndarray] = []
    for s in range(0, nq, query_chunk):
        rows_all = np.arange(s, min(nq, s + query_chunk), dtype=np.int64)
        codes = query_codes[rows_all]
        weak = query_weak[rows_all]
        for band, ((shift, width), order) in enumerate(zip(tables.bands, tables.order, strict=True)):
            masks = probe_masks(weak, shift, width, probe_bits)  # (n, P)
            base = band_key(codes, shift, width)
            probes = base[:, None] ^ masks
            valid = np.ones_like(probes, dtype=bool)
            valid[:, 1:] = masks[:, 1:] != 0  # a repeated mask 0 (fewer weak bits in the band) is no probe
            owner = np.broadcast_to(rows_all[:, None], probes.shape)[valid]
            probes = probes[valid]
            stats.probes += len(probes)
            lo, cnt = tables.bucket(band, probes)
            hit = cnt > 0
            owner, lo, cnt = owner[hit], lo[hit], cnt[hit]
            stats.candidates += int(cnt.sum())
            # materialise in chunks of about JOIN_CHUNK candidates
            csum = np.cumsum(cnt)
            start = 0
            while start < len(cnt):
                limit = (csum[start - 1] if start else 0) + JOIN_CHUNK
                stop = max(start + 1, int(np.searchsorted(csum, limit, side="right")))
                c = cnt[start:stop]
                total = int(c.sum())
                q = np.repeat(owner[start:stop], c)
                first = np.repeat(lo[start:stop] - (np.cumsum(c) - c), c)
                entries = order[first + np.arange(total)].astype(np.int64)
                keep = accept(q, entries)
                out_q.append(q[keep])
                out_e.append(entries[keep])
                start = stop
    if not out_q:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    q = np.concatenate(out_q)
    e = np.concatenate(out_e)
    if len(q):
        width = int(e.max()) + 1
        pair = np.unique(q * width + e)
        q, e = pair // width, pair % width
    stats.seeds += len(q)
    return q, e


@dataclass
class IndexStats:
    items: int = 0
    entries: int = 0
    band_bits: int = 0
    bands: int = 0
    probes_per_band: int = 0
    table_bytes: int = 0
    build_seconds: float = 0.0
    join: JoinStats = field(default_factory=JoinStats)
    pairs_verified: int = 0
    matches: int = 0
    join_seconds: float = 0.0
    verify_seconds: float = 0.0

    def to_json_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Queries:
    item: np.ndarray  # owner item number (-1 for an outside query)
    view: np.ndarray
    luma: np.ndarray
    colour: np.ndarray
    info: np.ndarray
    weak: np.ndarray


def _gather(fps: list[Fingerprint]) -> tuple[np.ndarray, ...]:
    """Keyframe rows of every fingerprint, all views: item number, keyframe, luma, colour, info, weak and
    whether the view exists, as concatenated arrays ``(E, V)`` (V = the widest view count)."""
    if not fps:
        z = np.zeros((0, 1), np.uint64)
        return (np.zeros(0, np.int64), np.zeros(0, np.int32), z, z, np.zeros((0, 1), np.uint8),
                np.zeros((0, 1, 12), np.uint8), np.zeros((0, 1), bool))  # fmt: skip
    v = max(len(fp.views) for fp in fps)
    sizes = np.array([len(fp.keyframes) for fp in fps], dtype=np.int64)
    item = np.repeat(np.arange(len(fps), dtype=np.int64), sizes)
    keypos = np.concatenate([fp.keyframes for fp in fps]).astype(np.int32)

    def cat(get, dtype, tail=()):
        parts = []
        for fp in fps:
            a = get(fp)
            if a.shape[1] < v:
                pad = np.zeros((a.shape[0], v - a.shape[1], *tail), dtype)
                a = np.concatenate([a, pad], axis=1)
            parts.append(a)
        return np.concatenate(parts).astype(dtype, copy=False)

    luma = cat(lambda fp: fp.hashes[fp.keyframes], np.uint64)
    colour = cat(lambda fp: fp.colour[fp.keyframes], np.uint64)
    info = cat(lambda fp: fp.info[fp.keyframes], np.uint8)
    weak = cat(lambda fp: fp.weak, np.uint8, (12,))
    views = np.repeat(
        np.array([list(fp.views) + [False] * (v - len(fp.views)) for fp in fps], bool), sizes, axis=0
    )
    return item, keypos, luma, colour, info, weak, views


def _query_rows(item: np.ndarray, luma, colour, info, weak, views) -> _Queries:
    ok = views & ((info & LUMA_OK) > 0)
    rows, cols = np.nonzero(ok)
    return _Queries(item[rows], cols.astype(np.int8), luma[rows, cols], colour[rows, cols], info[rows, cols],
                    weak[rows, cols])  # fmt: skip


class DedupeIndex:
    """Keyframe hashes of many fingerprints, for candidate retrieval by banded multi-probe lookups.

    ``add`` fingerprints, then ``query(fp)`` (one item against the index) or ``candidates()`` (every item
    against every other, the batch self-join used by :func:`pipeline.dedupe.decide.find_duplicates`).
    The tables are (re)built lazily on the first lookup after an ``add``.
    """

    def __init__(self, config: DedupeConfig | None = None) -> None:
        self.config = config or DedupeConfig()
        self.fingerprints: list[Fingerprint] = []
        self._number: dict[int, int] = {}  # id(fingerprint) -> item number
        self._tables: Tables | None = None
        self.stats = IndexStats()

    def __len__(self) -> int:
        return len(self.fingerprints)

    def add(self, fp: Fingerprint) -> int:
        self._number[id(fp)] = len(self.fingerprints)
        self.fingerprints.append(fp)
        self._tables = None
        return len(self.fingerprints) - 1

    def extend(self, fps: Iterable[Fingerprint]) -> None:
        for fp in fps:
            self._number[id(fp)] = len(self.fingerprints)
            self.fingerprints.append(fp)
        self._tables = None

    def build(self) -> None:
        t0 = time.perf_counter()
        item, keypos, luma, colour, info, weak, views = _gather(self.fingerprints)
        self._rows = (item, luma, colour, info, weak, views)  # every view, for the self-join's queries
        self._item = item
        self._keypos = keypos
        self._luma = np.ascontiguousarray(luma[:, 0])
        self._colour = np.ascontiguousarray(colour[:, 0])
        self._info = np.ascontiguousarray(info[:, 0])
        bits = self.config.band_bits or auto_band_bits(len(self._luma))
        self._tables = Tables.build(self._luma, bits)
        self.stats.items = len(self.fingerprints)
        self.stats.entries = len(self._luma)
        self.stats.band_bits = bits
        self.stats.bands = len(self._tables.bands)
        self.stats.probes_per_band = 1 << self.config.probe_bits
        self.stats.table_bytes = (
            self._tables.nbytes
            + self._luma.nbytes
            + self._colour.nbytes
            + self._item.nbytes
            + self._info.nbytes
        )
        self.stats.build_seconds = time.perf_counter() - t0

    @property
    def tables(self) -> Tables:
        if self._tables is None:
            self.build()
        assert self._tables is not None
        return self._tables

    def _seeds(self, queries: _Queries) -> tuple[np.ndarray, np.ndarray]:
        limit = self.config.max_frame_distance
        tables = self.tables

        def accept(rows: np.ndarray, entries: np.ndarray) -> np.ndarray:
            other = self._item[entries] != queries.item[rows]
            d = frame_distance(
                queries.luma[rows], queries.colour[rows], queries.info[rows],
                self._luma[entries], self._colour[entries], self._info[entries],
            )  # fmt: skip
            return other & (d <= limit)

        return banded_join(
            tables, queries.luma, queries.weak, self.config.probe_bits, accept, self.stats.join
        )

    def candidates(self) -> dict[tuple[int, int, int], int]:
        """Every (query item, view, target item) with at least one seed, and its number of seeds, over
        all items against all others. A whole-picture pair is listed once (lower item number first), and
        is listed (with 0 seeds) whenever the pair was retrieved through any view."""
        t0 = time.perf_counter()
        self.tables  # noqa: B018  (builds when needed)
        queries = _query_rows(*self._rows)
        rows, entries = self._seeds(queries)
        qi, v, ti = queries.item[rows], queries.view[rows].astype(np.int64), self._item[entries]
        swap = (v == 0) & (qi > ti)
        qi, ti = np.where(swap, ti, qi), np.where(swap, qi, ti)
        n = max(len(self.fingerprints), 1)
        nv = int(self._rows[5].shape[1])
        code, counts = np.unique((qi * nv + v) * n + ti, return_counts=True)
        self.stats.join_seconds += time.perf_counter() - t0
        out = {
            (int(c // n // nv), int(c // n % nv), int(c % n)): int(k)
            for c, k in zip(code, counts, strict=True)
        }
        # a pair retrieved through a crop view is verified on the whole pictures too (retrieval of a far
        # pair can hinge on one view; verification is cheap)
        for qi_, v_, ti_ in list(out):
            if v_ != 0:
                out.setdefault((min(qi_, ti_), 0, max(qi_, ti_)), 0)
        return out

    def verify(self, triples: Iterable[tuple[int, int, int]]) -> list[Match]:
        t0 = time.perf_counter()
        out: list[Match] = []
        for qi, v, ti in triples:
            self.stats.pairs_verified += 1
            out.extend(align(self.fingerprints[qi], v, self.fingerprints[ti], self.config))
        self.stats.matches += len(out)
        self.stats.verify_seconds += time.perf_counter() - t0
        return out

    def query(self, fp: Fingerprint, only: Callable[[Fingerprint], bool] | None = None) -> list[Match]:
        """Verified matches of ``fp`` (an item inside or outside the index) with indexed items, best first.
        An indexed item is never matched with itself; ``only``: verify just the retrieved items it accepts."""
        t0 = time.perf_counter()
        own = self._number.get(id(fp), -1)
        item, _, luma, colour, info, weak, views = _gather([fp])
        queries = _query_rows(item + own if own >= 0 else item - 1, luma, colour, info, weak, views)
        rows, entries = self._seeds(queries)
        triples = sorted(
            {(int(queries.view[r]), int(self._item[e])) for r, e in zip(rows, entries, strict=True)}
        )
        self.stats.join_seconds += time.perf_counter() - t0
        t1 = time.perf_counter()
        if only is not None:
            triples = [(v, ti) for v, ti in triples if only(self.fingerprints[ti])]
        out: list[Match] = []
        for v, ti in triples:
            out.extend(align(fp, v, self.fingerprints[ti], self.config))
        self.stats.pairs_verified += len(triples)
        self.stats.verify_seconds += time.perf_counter() - t1
        return sorted(out, key=lambda m: (-m.similarity, m.b))
