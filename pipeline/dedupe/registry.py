"""``CopyRegistry``: the clips fingerprinted so far in one run, so that a video task can tell, before it encodes
a clip, that the run already holds a better copy of it.

Anime repeats itself across episodes: every episode of a season carries the same opening and ending, recaps
replay earlier scenes. The reduce's dedupe (:func:`~pipeline.dedupe.decide.find_duplicates`) drops every copy
but the best, but by then each task has encoded its copy. Dedupe's rule makes an earlier answer safe: an item is
a duplicate as soon as a *better-ranked* item (by the :class:`~pipeline.dedupe.policy.KeepPolicy`) covers
``cover_fraction`` of its informative frames, whatever else is in the run. So when a registered clip ranked
before the new one covers it, the reduce will drop the new one, and its task need not encode it.

The registry matches as the reduce does (identical digests; near matches verified by the same alignment; no
semantic ones), so a clip it names as a copy is a duplicate in the reduce too, unless the better copy is lost
(its video fails later, its encode fails) or the reduce's own index does not retrieve the pair. Then the reduce
encodes the deferred clip itself: the registry decides how much work is done, never what the output is.

Lookups use the logarithmic method: indexes of 1, 2, 4, ... items, two of the same size merged into one, so
each clip is indexed O(log n) times and a lookup queries O(log n) indexes.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence

from pipeline.dedupe.config import DedupeConfig
from pipeline.dedupe.decide import coverage_table
from pipeline.dedupe.fingerprint import Fingerprint
from pipeline.dedupe.index import DedupeIndex
from pipeline.dedupe.policy import KeepPolicy


class CopyRegistry:
    """Fingerprints registered by :meth:`better_copy`, one run's worth."""

    def __init__(self, policy: KeepPolicy | None = None, config: DedupeConfig | None = None) -> None:
        self.policy = policy or KeepPolicy()
        self.config = config or DedupeConfig()
        self._levels: list[DedupeIndex] = []  # sizes strictly decreasing
        self._identical: dict[bytes, list[Fingerprint]] = defaultdict(list)
        self._by_id: dict[str, Fingerprint] = {}
        #: Lookups answered with a better copy, and all lookups.
        self.copies = 0
        self.lookups = 0

    def __len__(self) -> int:
        return len(self._by_id)

    def better_copy(self, fp: Fingerprint) -> str | None:
        """The id of a registered clip ranked before ``fp`` that covers at least ``cover_fraction`` of ``fp``'s
        informative frames (so the reduce's dedupe drops ``fp``), or None; then registers ``fp``. When several
        do, which one is named depends on the registration order (the reduce names the best-ranked)."""
        self.lookups += 1
        found = self._find(fp)
        self._add(fp)
        self.copies += found is not None
        return found

    def better_copies(self, fps: Sequence[Fingerprint]) -> list[str | None]:
        """:meth:`better_copy` of each of ``fps`` in turn (a later one may be named a copy of an earlier one)."""
        return [self.better_copy(fp) for fp in fps]

    def register(self, fps: Iterable[Fingerprint]) -> None:
        """Add ``fps`` without a lookup (clips staged by an earlier run of a resumed job)."""
        for fp in fps:
            self._add(fp)

    def _before(self, other: Fingerprint, fp: Fingerprint) -> bool:
        return other.item_id != fp.item_id and self.policy.sort_key(other) < self.policy.sort_key(fp)

    def _find(self, fp: Fingerprint) -> str | None:
        """The first covering clip ranked before ``fp`` (identical decodes first, then each index verifying
        only the clips ranked before ``fp``: any one of them is enough for the reduce to drop ``fp``)."""
        key = _digest_key(fp)
        if key is not None:
            for other in self._identical.get(key, ()):
                if self._before(other, fp):
                    return other.item_id

        def ranked_before(other: Fingerprint) -> bool:
            return self._before(other, fp)

        for level in self._levels:
            matches = level.query(fp, ranked_before)
            if not matches:
                continue
            targets = {fp.item_id: fp, **{m.b: self._by_id[m.b] for m in matches}}
            covered = coverage_table(list(targets.values()), matches).get(fp.item_id, {})
            for other_id, (cov, _) in sorted(covered.items()):
                if cov >= self.config.cover_fraction:
                    return other_id
        return None

    def _add(self, fp: Fingerprint) -> None:
        if fp.item_id in self._by_id:
            return
        self._by_id[fp.item_id] = fp
        key = _digest_key(fp)
        if key is not None:
            self._identical[key].append(fp)
        level = DedupeIndex(self.config)
        level.add(fp)
        while self._levels and len(self._levels[-1]) <= len(level):
            merged = DedupeIndex(self.config)
            merged.extend(self._levels.pop().fingerprints)
            merged.extend(level.fingerprints)
            level = merged
        level.build()
        self._levels.append(level)


def _digest_key(fp: Fingerprint) -> bytes | None:
    """The key under which identical decoded sequences meet (as in :func:`~pipeline.dedupe.exact.exact_matches`)."""
    if fp.digests is None or len(fp.digests) == 0:
        return None
    return hashlib.sha1(fp.digests.tobytes()).digest()
