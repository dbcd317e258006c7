"""Dedupe across episodes and series: exact, near-duplicate (perceptual video fingerprint) and semantic.

Modules, one concern each:

* :mod:`~pipeline.dedupe.picture`: the picture area (bars removed) and the centred crop views hashed in it;
* :mod:`~pipeline.dedupe.phash`: per-frame 64-bit luma DCT hash + 64-bit chroma hash from the shared thumbs;
* :mod:`~pipeline.dedupe.fingerprint`: :class:`Fingerprint` of an item (video or shot span), keyframe sampling;
* :mod:`~pipeline.dedupe.distance`: the 128-bit frame distance used everywhere;
* :mod:`~pipeline.dedupe.index`: :class:`DedupeIndex`, banded multi-probe retrieval (no N² comparisons);
* :mod:`~pipeline.dedupe.align`: verification by temporal alignment, frame-exact spans;
* :mod:`~pipeline.dedupe.exact`: identical / contained items from decoded-frame digests;
* :mod:`~pipeline.dedupe.semantic`: embedding cosine with a SimHash index;
* :mod:`~pipeline.dedupe.policy` / :mod:`~pipeline.dedupe.decide`: which copy is kept, one decision per item;
* :mod:`~pipeline.dedupe.records`: decisions into ``clips`` / ``rejections`` rows;
* :mod:`~pipeline.dedupe.evaluate`: ``eval dedupe`` against a ``duplicates.json``.
"""

from pipeline.dedupe.align import align
from pipeline.dedupe.config import DedupeConfig
from pipeline.dedupe.decide import DedupeResult, find_duplicates
from pipeline.dedupe.evaluate import DedupeEvalReport, run_eval_dedupe
from pipeline.dedupe.exact import exact_matches
from pipeline.dedupe.fingerprint import (
    Fingerprint,
    VideoHashes,
    build_fingerprint,
    fingerprint_from_hashes,
    fingerprint_items,
    hash_video,
)
from pipeline.dedupe.index import DedupeIndex
from pipeline.dedupe.match import DedupeDecision, Match
from pipeline.dedupe.policy import KeepPolicy
from pipeline.dedupe.records import mark_clips, rejection_records
from pipeline.dedupe.semantic import semantic_matches

__all__ = [
    "DedupeConfig",
    "DedupeDecision",
    "DedupeEvalReport",
    "DedupeIndex",
    "DedupeResult",
    "Fingerprint",
    "KeepPolicy",
    "Match",
    "VideoHashes",
    "align",
    "build_fingerprint",
    "exact_matches",
    "find_duplicates",
    "fingerprint_from_hashes",
    "fingerprint_items",
    "hash_video",
    "mark_clips",
    "rejection_records",
    "run_eval_dedupe",
    "semantic_matches",
]
