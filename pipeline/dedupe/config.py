"""Tunable thresholds of the dedupe stage, in one frozen record (written into reports as is)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: Bits of the per-frame hash: 64 luma bits + 64 chroma bits; distances are on this 128-bit scale.
HASH_BITS = 128


@dataclass(frozen=True)
class DedupeConfig:
    # --- per-frame hashes (pipeline.dedupe.phash)
    #: Centred crops of these aspect ratios (w/h) are hashed too, so a crop to a standard aspect (16:9 cut to
    #: 4:3, or to 2.39 scope) of another item is found. A view within 6 % of the picture's own aspect is skipped.
    crop_aspects: tuple[float, ...] = (4 / 3, 16 / 9, 2.39)
    #: Centred zooms hashed too (the middle 90 % / 80 % of each side): a copy cropped by 5-25 % on every
    #: side. (The hash itself tolerates about 5 %.)
    crop_zooms: tuple[float, ...] = (0.9, 0.8)
    #: Hash the picture mirrored left-right too (free: a sign flip of DCT coefficients), for flipped copies.
    mirror: bool = True
    #: A frame whose 32x32 luma (0-255) has a lower standard deviation is "low information" (black, white,
    #: fades, flat colour): it is never indexed and never counts as matching evidence.
    min_luma_std: float = 6.0
    #: Chroma bits only count when both frames have at least this much chroma structure (else the 64 luma
    #: bits count twice, plus a penalty: see pipeline.dedupe.distance); greyscale pictures have no colour.
    min_chroma_std: float = 2.5
    # --- sampling (pipeline.dedupe.fingerprint)
    #: A new keyframe starts when the luma hash has moved this many bits away from the last keyframe ...
    key_distance: int = 8
    #: ... or after this many frames (so a slow pan still gets a keyframe every half second).
    max_key_gap: int = 12
    # --- retrieval (pipeline.dedupe.index)
    #: Band width in bits; None = about log2(index entries): 16, 21 or 32 (see bits.auto_band_bits).
    band_bits: int | None = None
    #: Weak bits flipped per band when probing, in every combination (3 -> 8 probes per band).
    probe_bits: int = 3
    # --- verification (pipeline.dedupe.align)
    #: Two frames match when their distance (of 128 bits) is at most this.
    max_frame_distance: int = 24
    #: A match needs this mean similarity (1 - distance/128, weighted by matched frames) ...
    min_similarity: float = 0.82
    #: ... or this one when the offset drifts (dropped/doubled frames): no dense run backs such a match.
    min_drift_similarity: float = 0.9
    #: ... and this many matched frames on both sides (or every informative frame of the shorter item).
    min_match_frames: int = 12
    #: Consecutive matched keyframes may be at most this many frames apart on either side (temporal
    #: consistency: a chain of matches must run forward in both items without long jumps).
    max_gap_frames: int = 48
    #: At most this many separate matches between one pair of items (e.g. a reused opening and ending).
    max_matches_per_pair: int = 4
    # --- decisions (pipeline.dedupe.decide)
    #: An item is a duplicate when at least this fraction of its informative frames is matched in an item
    #: that is kept (a shared opening inside two different episodes is reported, not deduped).
    cover_fraction: float = 0.8
    # --- semantic (pipeline.dedupe.semantic)
    #: Two embedding rows (e.g. CLIP image embeddings of sampled frames) match at this cosine or above.
    semantic_threshold: float = 0.95
    #: Seed of the random hyperplanes of the embedding SimHash.
    semantic_seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.max_frame_distance <= HASH_BITS:
            raise ValueError("max_frame_distance must be in 0..128")
        if not 0.0 < self.cover_fraction <= 1.0:
            raise ValueError("cover_fraction must be in (0, 1]")
        if self.probe_bits < 0 or self.probe_bits > 4:
            raise ValueError("probe_bits must be in 0..4")
        if self.min_match_frames < 1 or self.max_key_gap < 1 or self.max_gap_frames < 1:
            raise ValueError("frame counts must be >= 1")

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["crop_aspects"] = [round(a, 4) for a in self.crop_aspects]
        out["crop_zooms"] = list(self.crop_zooms)
        return out
