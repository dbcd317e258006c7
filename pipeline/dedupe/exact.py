"""Exact duplicates from the content digests of decoded frames (not file bytes).

``AnalysisFrames.digests`` hashes every full-resolution decoded picture, so a remux, a different container or
different metadata give the same digests; any re-encode does not. Two kinds of exact match:

* identical items: the same digest sequence;
* containment: one item's digest sequence is a contiguous run inside another's (a trimmed copy).

Retrieval is by sorting all frame digests once: each item is looked up by its *rarest* digest (a black or
flat frame has the same digest everywhere, a drawn frame is unique), and every occurrence is checked by
comparing the whole sequence. Partial overlaps that are not containments (a shared opening re-muxed into two
episodes) are found by the perceptual path, which upgrades such a match to "exact" when the digests of both
spans agree (:mod:`pipeline.dedupe.align`).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

import numpy as np

from pipeline.dedupe.fingerprint import Fingerprint
from pipeline.dedupe.match import Match

#: Occurrences of an item's rarest digest checked at most (an all-black item has no distinctive frame).
MAX_OCCURRENCES = 64


def _coverage(fp: Fingerprint, a: int, b: int) -> float:
    total = fp.informative_count()
    if total == 0:
        return (b - a + 1) / max(fp.frames, 1)
    return int(fp.informative(0)[a : b + 1].sum()) / total


def exact_matches(fingerprints: list[Fingerprint]) -> list[Match]:
    """Identical and contained items among those with digests. Identical groups are reported as pairs with
    the group's first item (the others are implied)."""
    fps = [fp for fp in fingerprints if fp.digests is not None and len(fp.digests) > 0]
    out: list[Match] = []
    # --- identical sequences
    groups: dict[bytes, list[int]] = defaultdict(list)
    for k, fp in enumerate(fps):
        assert fp.digests is not None
        groups[hashlib.sha1(fp.digests.tobytes()).digest()].append(k)
    identical: set[tuple[int, int]] = set()
    for members in groups.values():
        head = fps[members[0]]
        for k in members[1:]:
            fp = fps[k]
            identical.add((min(members[0], k), max(members[0], k)))
            out.append(
                Match(
                    a=fp.item_id, b=head.item_id, kind="exact", similarity=1.0,
                    a_frames=(fp.start_frame, fp.end_frame), b_frames=(head.start_frame, head.end_frame),
                    a_coverage=1.0, b_coverage=1.0, offset=head.start_frame - fp.start_frame,
                )
            )  # fmt: skip
    # --- containment: each item's rarest digest looked up in all others
    if len(fps) < 2:
        return out
    digests = np.concatenate([fp.digests for fp in fps])  # type: ignore[misc]
    owner = np.repeat(np.arange(len(fps)), [fp.frames for fp in fps])
    position = np.concatenate([np.arange(fp.frames) for fp in fps])
    order = np.argsort(digests, kind="stable")
    sorted_d = digests[order]
    lo_all = np.searchsorted(sorted_d, digests, side="left")
    hi_all = np.searchsorted(sorted_d, digests, side="right")
    counts = hi_all - lo_all
    start = 0
    for k, fp in enumerate(fps):
        n = fp.frames
        c = counts[start : start + n]
        start += n
        if c.min() < 2:
            continue  # some frame of this item occurs nowhere else: it is not inside another item
        pos = int(np.argmin(c))
        g = start - n + pos
        hits = order[lo_all[g] : hi_all[g]][:MAX_OCCURRENCES]
        seen: set[int] = set()
        for h in hits:
            other = int(owner[h])
            if other == k or other in seen:
                continue
            host = fps[other]
            off = int(position[h]) - pos  # host frame of this item's frame 0
            if off < 0 or off + n > host.frames or (n == host.frames and off == 0):
                continue  # does not fit, or identical (reported above)
            assert host.digests is not None and fp.digests is not None
            if np.array_equal(host.digests[off : off + n], fp.digests):
                seen.add(other)
                out.append(
                    Match(
                        a=fp.item_id, b=host.item_id, kind="exact", similarity=1.0,
                        a_frames=(fp.start_frame, fp.end_frame),
                        b_frames=(host.start_frame + off, host.start_frame + off + n - 1),
                        a_coverage=1.0, b_coverage=_coverage(host, off, off + n - 1),
                        offset=host.start_frame + off - fp.start_frame,
                    )
                )  # fmt: skip
    return out
