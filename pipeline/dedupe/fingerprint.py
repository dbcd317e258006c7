"""Video fingerprints: per-frame perceptual hashes of an item (a whole video or a shot/clip span of one), plus
the sampled keyframes that go into the index.

Frames inside a shot are highly redundant (held drawings on twos and threes, stills, slow pans), so only
*keyframes* are indexed and queried: the first informative frame, then every frame whose luma hash has moved
more than ``key_distance`` bits from the last keyframe (a new drawing, a cut, camera drift), and at least one
every ``max_key_gap`` frames while the picture drifts (a held still keeps its single keyframe). Every frame's hashes are kept (16 bytes per view) so that verification can
place span ends to the frame. Low-information frames (black, white, flat fades) are never keyframes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.dedupe.config import DedupeConfig
from pipeline.dedupe.phash import HashBatch, hash_views
from pipeline.dedupe.picture import picture_box, picture_views
from pipeline.frames import AnalysisFrames

#: ``info`` byte: bit 0 = enough luma structure to hash; bit 1 = enough colour structure for the chroma bits
#: to count; bits 4-7 = a coarse log-scale level of the colour structure (``chroma_level``), so that a grey
#: picture and a colourful one are told apart even when neither hash can say it.
LUMA_OK = 1
CHROMA_OK = 2
LEVEL_SHIFT = 4


def chroma_level(chroma_std: np.ndarray) -> np.ndarray:
    """0..15, three steps per doubling of (1 + chroma std): re-encodes move it by at most one."""
    return np.clip(np.floor(3 * np.log2(1 + np.maximum(chroma_std, 0))), 0, 15).astype(np.uint8)


@dataclass(eq=False)
class Fingerprint:
    """The perceptual fingerprint of one item. Frame numbers inside the arrays are item-relative
    (0 = ``start_frame`` of the source video); :attr:`frame_index` gives source frame numbers."""

    item_id: str
    video_id: str
    start_frame: int
    frames: int
    resolution: tuple[int, int]  # (width, height) of the picture area in source pixels (bars excluded)
    hashes: np.ndarray  # (frames, V) uint64 luma hash of every frame in every view; view 0 = picture area
    colour: np.ndarray  # (frames, V) uint64 chroma hash
    info: np.ndarray  # (frames, V) uint8: LUMA_OK | CHROMA_OK | chroma level << 4
    keyframes: np.ndarray  # (K,) int32 item-relative indices of the sampled frames
    weak: np.ndarray  # (K, V, 12) uint8 least reliable luma bits of each keyframe hash
    views: tuple[bool, ...]  # which views exist for this item (crop views equal to the picture are absent)
    view_names: tuple[str, ...] = ("full",)
    score: float | None = None  # quality score for the keep policy (higher is better), if any
    digests: np.ndarray | None = None  # (frames,) uint64 content hashes of the full-resolution decoded frames
    _segment_end: np.ndarray | None = field(default=None, repr=False)

    @property
    def frame_index(self) -> np.ndarray:
        """Source frame numbers of the keyframes."""
        return self.start_frame + self.keyframes

    @property
    def end_frame(self) -> int:
        return self.start_frame + self.frames - 1

    @property
    def pixels(self) -> int:
        return int(self.resolution[0]) * int(self.resolution[1])

    @property
    def segment_end(self) -> np.ndarray:
        """Item-relative last frame represented by each keyframe (before the next keyframe or the next
        low-information frame)."""
        if self._segment_end is None:
            self._segment_end = segment_ends(self.keyframes, self.info[:, 0] & LUMA_OK > 0)
        return self._segment_end

    def informative(self, view: int = 0) -> np.ndarray:
        return self.info[:, view] & LUMA_OK > 0

    def informative_count(self) -> int:
        return int(self.informative(0).sum())

    @property
    def nbytes(self) -> int:
        arrays = [self.hashes, self.colour, self.info, self.keyframes, self.weak]
        if self.digests is not None:
            arrays.append(self.digests)
        return sum(a.nbytes for a in arrays)


#: Within this many bits of the last keyframe a frame is the same still (encoder noise): no gap keyframe.
STILL_DISTANCE = 2


def select_keyframes(
    luma: np.ndarray, informative: np.ndarray, key_distance: int, max_key_gap: int
) -> np.ndarray:
    """Item-relative keyframe indices (see the module doc). A held still gets one keyframe however long."""
    keys: list[int] = []
    last: int | None = None
    last_t = 0
    for t, (h, ok) in enumerate(zip(luma.tolist(), informative.tolist(), strict=True)):
        if not ok:
            last = None
            continue
        moved = -1 if last is None else (h ^ last).bit_count()
        if moved < 0 or moved > key_distance or (t - last_t >= max_key_gap and moved > STILL_DISTANCE):
            keys.append(t)
            last, last_t = h, t
    return np.asarray(keys, dtype=np.int32)


def segment_ends(keyframes: np.ndarray, informative: np.ndarray) -> np.ndarray:
    n = len(informative)
    if len(keyframes) == 0:
        return np.zeros(0, np.int32)
    nxt = np.append(keyframes[1:], n).astype(np.int64)
    # first low-information frame after each keyframe
    bad = np.flatnonzero(~informative)
    pos = np.searchsorted(bad, keyframes, side="right")
    first_bad = np.where(pos < len(bad), bad[np.minimum(pos, max(len(bad) - 1, 0))] if len(bad) else n, n)
    return (np.minimum(nxt, first_bad) - 1).astype(np.int32)


@dataclass
class VideoHashes:
    """Every frame of one decoded video hashed once, in the views of its picture area; fingerprints of any
    number of items (shots, clips) of the video are slices of it."""

    path: str
    box: tuple[int, int, int, int]  # picture area in thumb pixels
    resolution: tuple[int, int]  # picture area in source pixels
    views: tuple[bool, ...]
    view_names: tuple[str, ...]
    batch: HashBatch
    digests: np.ndarray | None

    @property
    def frames(self) -> int:
        return int(self.batch.luma.shape[0])


def _resolution(
    box: tuple[int, int, int, int], thumb_shape: tuple[int, ...], source: tuple[int, int]
) -> tuple[int, int]:
    th, tw = thumb_shape[1], thumb_shape[2]
    return round(box[2] * source[0] / tw), round(box[3] * source[1] / th)


def hash_video(
    frames: AnalysisFrames, config: DedupeConfig | None = None, start: int = 0, end: int | None = None
) -> VideoHashes:
    """Hash frames ``start..end`` (inclusive; default all) of ``frames``; the picture area is found over them."""
    cfg = config or DedupeConfig()
    end = len(frames) - 1 if end is None else end
    thumb = frames.thumb[start : end + 1]
    box = picture_box(thumb)
    views = picture_views(box, cfg.crop_aspects, cfg.crop_zooms, cfg.mirror)
    batch = hash_views(thumb, views)
    digests = None if frames.digests is None else frames.digests[start : end + 1]
    return VideoHashes(
        path=frames.path,
        box=box,
        resolution=_resolution(box, frames.thumb.shape, frames.source_size),
        views=tuple(v.box is not None for v in views),
        view_names=tuple(v.name for v in views),
        batch=batch,
        digests=digests,
    )


def fingerprint_from_hashes(
    hashed: VideoHashes,
    start: int,
    end: int,
    item_id: str,
    video_id: str | None = None,
    score: float | None = None,
    config: DedupeConfig | None = None,
    offset: int = 0,
) -> Fingerprint:
    """The fingerprint of frames ``start..end`` (inclusive, indices into ``hashed``) of a hashed video;
    ``offset`` is the source frame number of ``hashed``'s first frame."""
    cfg = config or DedupeConfig()
    if not 0 <= start <= end < hashed.frames:
        raise ValueError(f"{item_id}: span {start}..{end} outside 0..{hashed.frames - 1}")
    b = hashed.batch
    sl = slice(start, end + 1)
    views = np.asarray(hashed.views)
    info = (
        np.where(b.luma_std[sl] >= cfg.min_luma_std, LUMA_OK, 0)
        | np.where(b.chroma_std[sl] >= cfg.min_chroma_std, CHROMA_OK, 0)
        | (chroma_level(b.chroma_std[sl]).astype(np.int64) << LEVEL_SHIFT)
    )
    info = (info * views[None, :]).astype(np.uint8)
    luma = b.luma[sl]
    keys = select_keyframes(luma[:, 0], info[:, 0] & LUMA_OK > 0, cfg.key_distance, cfg.max_key_gap)
    return Fingerprint(
        item_id=item_id,
        video_id=video_id if video_id is not None else Path(hashed.path).name,
        start_frame=offset + start,
        frames=end - start + 1,
        resolution=hashed.resolution,
        hashes=np.ascontiguousarray(luma),
        colour=np.ascontiguousarray(b.chroma[sl]),
        info=info,
        keyframes=keys,
        weak=np.ascontiguousarray(b.weak[sl][keys]),
        views=tuple(bool(v) for v in views),
        view_names=hashed.view_names,
        score=score,
        digests=None if hashed.digests is None else np.ascontiguousarray(hashed.digests[sl]),
    )


def build_fingerprint(
    frames: AnalysisFrames,
    start: int,
    end: int,
    item_id: str,
    video_id: str | None = None,
    score: float | None = None,
    config: DedupeConfig | None = None,
) -> Fingerprint:
    """Fingerprint of source frames ``start..end`` (inclusive) of one decoded video, as a standalone item
    (its picture area is found from its own frames). For many items of one video, hash the video once with
    :func:`hash_video` and slice it with :func:`fingerprint_from_hashes` (see :func:`fingerprint_items`)."""
    hashed = hash_video(frames, config, start, end)
    return fingerprint_from_hashes(hashed, 0, end - start, item_id, video_id, score, config, offset=start)


def fingerprint_items(
    frames: AnalysisFrames,
    spans: list[tuple[int, int]] | None = None,
    item_ids: list[str] | None = None,
    video_id: str | None = None,
    scores: list[float | None] | None = None,
    config: DedupeConfig | None = None,
) -> list[Fingerprint]:
    """Fingerprints of several spans (default: the whole video) of one video, hashing its frames once."""
    if len(frames) == 0:
        return []
    hashed = hash_video(frames, config)
    spans = spans if spans is not None else [(0, len(frames) - 1)]
    vid = video_id if video_id is not None else Path(frames.path).name
    ids = item_ids if item_ids is not None else [f"{vid}:{a}-{b}" for a, b in spans]
    scores = scores if scores is not None else [None] * len(spans)
    return [
        fingerprint_from_hashes(hashed, a, b, i, vid, s, config)
        for (a, b), i, s in zip(spans, ids, scores, strict=True)
    ]
