"""The style expert: style.medium = 2d_cel or 3dcg, from what cel painting leaves (flat fills inside hard
edges) in a shot's own pictures and, for the shots those do not decide, in pictures spread over its video.

Cel animation paints each region in one flat colour (plus one or two hard-edged shadow tones) inside inked
outlines. A 3D renderer shades every surface continuously, textures it and blurs it with depth and motion, so
hardly any part of a 3DCG picture is flat -- except fog, snow and sky, which are flat but have no hard edge
around them; painted anime backgrounds are soft too. So the expert looks for the two *together*, locally.

**Shot rule.** Per shot it reads ``SOURCE_SAMPLES`` pictures back from the source file (at 1/4, 1/2 and
3/4 of the shot, active picture, scaled to ``SOURCE_WIDTH`` px:
:func:`annotator.source_frames.read_source_frames`; the 128 px thumbs blur fills and gradients alike) and,
after a 3x3 median against grain and only on lit pixels (``LIT_LUMA`` .. ``CLIP_LUMA``: crushed shadows and
blown-out highlights are flat in any medium), cuts each picture into ``TILE`` px tiles. A *cel tile* holds
hard edges (Sobel luma gradient >= ``HARD_EDGE`` on at least ``TILE_EDGES`` of it) and its region interior
(pixels away from any edge) is mostly flat (gradient below ``STILL_FLAT_GRADIENT`` on at least ``TILE_FLAT``
of it). The shot is voted ``2d_cel`` when the median share
of cel tiles among the measurable tiles is >= ``CEL_TILES``. Measured on the 74 labelled shots of the
development clips: the 3DCG shots reach 0.06 at most, 24 of the 45 JP cel shots 0.14-0.96; the other 21 cel
shots (Vinland's dithered GIF, the dark and detailed Gojo clips, Blast Burn's glow and blur shots) measure
0-0.11 like 3DCG on this and every other per-shot statistic tried, so a shot is never voted from a *lack* of
cel evidence in its own pictures.

**Video rules** (:func:`video_medium_stats`, once per video, or per analysis window of a long video):
``VIDEO_SAMPLES`` source pictures spread over the video. Their *soft cel tiles* are cel tiles after denoising
(a Gaussian of ``SOFT_SIGMA`` px, flat below ``SOFT_FLAT``): a GIF dither, film grain and the gentle
gradients of digital cel shading go, rendered texture (fur, grass, rock, a 3D set's detail) and shading stay.
The upper quartile of their shares over the video's usable pictures decides:

* **3DCG-like** when no picture passes the strict cel rule (every cel-tile share < ``CEL_TILES``) and either
  its median hard-edge share is >= ``VIDEO_3D_EDGES`` while the soft cel tiles stay below ``VIDEO_3D_SOFT``
  (hard contours with nothing flat between them: textured, shaded surfaces), or its edges are soft (below
  ``VIDEO_3D_EDGES``: renders blur their contours, but fog, sky and painted stills are soft too) and fewer
  than ``VIDEO_3D_HELD`` of its frame pairs repeat the picture (3DCG renders every frame; limited animation
  holds).
* **cel-like** when it is not 3DCG-like and the soft cel tiles reach ``VIDEO_CEL_SOFT``.
* otherwise, or with fewer than ``VIDEO_MIN_PICTURES`` usable pictures, **undecided**: its shots abstain.

A shot without a cel vote of its own takes its video's medium (``3dcg`` at ``VIDEO_3D_CONFIDENCE``, ``2d_cel``
at ``VIDEO_CEL_CONFIDENCE``; plain, dark or untiled shots such as title cards and black a little lower), the
vote marked with the evidence :data:`annotator.fusion.VIDEO_LEVEL` so fusion records its source as
``style(video)``. Shot-level evidence against a cel video's medium: a shot *textured like a render* (median
share of lit pixels still flat after denoising, :attr:`PictureStats.smooth`, below ``SHOT_TEXTURED``) abstains
instead of inheriting 2d_cel, so a 3DCG shot in a cel show is not called cel. A cel shot in a 3DCG-like video
keeps its own 2d_cel vote (the shot rule runs first).

Measured on the 28 labelled clips (16 pictures per video; ``tests/corpus/test_caption_corpus.py``,
``anicurate eval caption``): soft cel tiles (upper quartile) 0.06 (the Pokemon 3D set), 0.10 (Big Buck Bunny),
0.14 (Sintel) for the 3DCG videos against 0.38 (Sakura Quest), 0.48 (I choose you), 0.49 (Blast Burn) ...
0.96 for the cel videos, Vinland 0.68 and Gojo 0.61 / 0.66 among them (no strict cel picture); every other
measured 2D video (Western cartoons, motion graphics) >= 0.66. The thresholds sit inside that gap (2.6x wide);
refitting them at the gap's geometric middle with each video left out classifies the left-out video right for
all 28. Hard-edge shares: the Pokemon 3D set 0.279 and Big Buck Bunny 0.137 take the textured route, Sintel
(0.020, held pairs 0.22) both. Re-encoded (crf 36; half size at crf 28; double size at crf 30): Sintel's soft
cel tiles 0.10 / 0.18 / 0.20 (at the threshold when upscaled: still 3DCG-like by its soft edges), Big Buck
Bunny 0.09-0.11, the 3D set 0.05-0.06; the nearest cel videos Sakura Quest 0.37-0.38, I choose you
0.46-0.51, Blast Burn 0.46-0.53, Gojo 0.55-0.57, Vinland 0.59-0.65, all still cel-like. The shot guard
(median smooth share of a shot's pictures): the 3D set's shot 0.053, Big Buck Bunny 0.113, Sintel 0.115 and
up, against 0.163 for the lowest cel shot (Gojo in a dark, textured rock cave) and 0.175 next (painted trees);
no cel shot of the corpus is held back by it, and it decides nothing here (every 3DCG shot is in a 3DCG-like
video): it guards hybrid videos, of which the corpus has none. With the shot rule: 2d_cel on all 45 JP cel
shots (24 from their own pictures), 3dcg on all 21 3DCG shots, every shot answered.
Western cartoons and flat motion graphics are flat-filled inside hard edges too and are voted ``2d_cel``
(South Park's 2 shots and 1 of Mars Express's from their own pictures, We Bare Bears' shot and Mars
Express's other 4 from their videos): wrong under the taxonomy, but tradition and technique are beyond these
statistics (one motion-graphics and two Western videos, and no statistic measured separates them from cel
anime). Toon-shaded 3DCG (inked outlines, flat or gently shaded
fills) would read as cel at both levels for the same reason; ``hybrid_2d_3d`` is never voted.

Without a readable source file (no ``ShotInput.video_path``) the expert falls back to the thumbs and the
decode's stills: per shot, the thumb flat share inside ``[CEL_MIN, CEL_MAX]``; per video, the stills' interior
flat share >= ``VIDEO_CEL_MIN`` (a weaker vote: it assumes one medium per video).

This expert reads source pixels: ``SOURCE_SAMPLES`` frames per shot and ``VIDEO_SAMPLES`` more once per video
(a window of a long video, where the curate job decodes in windows) when a shot has no cel vote. It takes them
from ``ShotInput.pictures`` when the caller holds them (the curate job passes the clip frames of its one
decode), otherwise it decodes them from ``ShotInput.video_path`` (about one more decode of the video where
shots are short or keyframes sparse). The timing expert reads the same video-level medium
(:func:`video_medium`, shared through the context's per-video cache).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from annotator.base import ExpertOutput, ShotInput
from annotator.fusion import VIDEO_LEVEL

if TYPE_CHECKING:
    from annotator.source_frames import PictureRequest, SourceFrame
    from pipeline.frames import AnalysisFrames
    from pipeline.scores.layout import Layout

#: Gradient (luma levels per pixel, Sobel / 8) below which a thumb pixel is flat: above compression noise,
#: below the rendered shading of a lit surface at thumb scale.
FLAT_GRADIENT = 1.0
#: Per-shot flat-share band voted 2d_cel (thumbs, the fallback without a source file).
CEL_MIN = 0.35
CEL_MAX = 0.6
#: Frames sampled per shot, and the luma std below which a frame is plain (no style to measure).
SAMPLES = 8
PLAIN_STD = 8.0
#: Only lit pixels count; a picture less than ``MIN_LIT`` lit is too dark to judge.
LIT_LUMA = 40.0
CLIP_LUMA = 235.0
MIN_LIT = 0.3
#: Stills: an edge is a gradient >= STILL_EDGE (dilated 5x5, excluded); a flat interior pixel has a gradient
#: below STILL_FLAT_GRADIENT; a still needs MIN_INTERIOR of its picture inside regions, a video MIN_STILLS
#: such stills.
STILL_EDGE = 8.0
STILL_FLAT_GRADIENT = 0.5
MIN_INTERIOR = 0.05
MIN_STILLS = 4
#: Per-video (stills) flat share from which every shot of the video is voted 2d_cel, and that vote's
#: confidence (below a shot-level vote's: the video may mix media).
VIDEO_CEL_MIN = 0.33
VIDEO_CONFIDENCE = 0.6
#: Source pictures per shot (at 1/4, 1/2, 3/4 of it) and their working width in px.
SOURCE_SAMPLES = 3
SOURCE_WIDTH = 480
#: A hard edge (line art, cel shadow boundary): Sobel luma gradient >= HARD_EDGE levels per pixel.
HARD_EDGE = 12.0
#: Tiles of TILE px (a tenth of the working width). A tile is measurable when at least TILE_LIT of it is lit
#: and TILE_INTERIOR of it is region interior; it is a *cel tile* when TILE_EDGES of it is hard edge and
#: TILE_FLAT of its interior is flat. A picture needs MIN_TILES measurable tiles.
TILE = 48
TILE_LIT = 0.5
TILE_INTERIOR = 0.15
TILE_EDGES = 0.02
TILE_FLAT = 0.5
MIN_TILES = 4
#: *Soft cel tiles* (the same test after denoising): the luma blurred with a Gaussian of ``SOFT_SIGMA`` px
#: (dither, grain and the gentle gradients of digital cel shading go; rendered texture and shading stay), its
#: region interiors away (5x5) from blurred gradients >= ``SOFT_EDGE`` and flat below ``SOFT_FLAT``; the hard
#: edges and tile shares as above.
SOFT_SIGMA = 1.5
SOFT_EDGE = 4.0
SOFT_FLAT = 0.8
#: The cel rule: the shot's median cel-tile share (source pictures) >= CEL_TILES (measured margins in the
#: module docstring); the vote's confidence rises from CEL_CONFIDENCE at the threshold to
#: MAX_CEL_CONFIDENCE at SURE_CEL_TILES.
CEL_TILES = 0.12
SURE_CEL_TILES = 0.4
CEL_CONFIDENCE = 0.65
MAX_CEL_CONFIDENCE = 0.85
#: The video rules (:func:`video_medium_stats`, module docstring): ``VIDEO_SAMPLES`` source pictures evenly
#: spaced over the video, at least ``VIDEO_MIN_PICTURES`` of them usable. 3DCG-like needs no cel picture
#: (cel-tile share < ``CEL_TILES``) and either a median hard-edge share >= ``VIDEO_3D_EDGES`` with soft cel
#: tiles below ``VIDEO_3D_SOFT``, or a softer one with fewer than ``VIDEO_3D_HELD`` of the video's frame pairs
#: repeating the picture (thumb mean |difference| < ``HELD_DIFF`` levels; plain frames and cuts --
#: differences >= ``CUT_DIFF`` -- left out). Its shots without cel evidence of their own are voted 3dcg at
#: ``VIDEO_3D_CONFIDENCE`` (``PLAIN_3D_CONFIDENCE`` for plain, dark or untiled shots: title cards, black).
VIDEO_SAMPLES = 16
VIDEO_MIN_PICTURES = 4
VIDEO_3D_EDGES = 0.06
VIDEO_3D_HELD = 0.5
HELD_DIFF = 0.5
CUT_DIFF = 30.0
VIDEO_3D_CONFIDENCE = 0.6
PLAIN_3D_CONFIDENCE = 0.55
#: The soft cel-tile rules (upper quartile over the video's pictures): 3DCG-like below ``VIDEO_3D_SOFT``
#: (with no cel picture and hard edges), cel-like from ``VIDEO_CEL_SOFT``; otherwise the video abstains.
#: A cel-like video's shots without cel evidence of their own are voted 2d_cel at ``VIDEO_CEL_CONFIDENCE``
#: (plain, dark or untiled ones at ``PLAIN_CEL_CONFIDENCE``) unless the shot is textured like a render:
#: median :attr:`PictureStats.smooth` below ``SHOT_TEXTURED``.
VIDEO_3D_SOFT = 0.2
VIDEO_CEL_SOFT = 0.3
VIDEO_CEL_CONFIDENCE = 0.6
PLAIN_CEL_CONFIDENCE = 0.55
SHOT_TEXTURED = 0.09
#: Key of the video-level medium in :meth:`pipeline.scores.registry.ScoreContext.video_cached`.
VIDEO_MEDIUM_KEY = "style.video_medium"
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_NEAR = np.ones((5, 5), np.uint8)
#: 1 for the lit luma levels (``LIT_LUMA`` .. ``CLIP_LUMA``), else 0.
_LIT_LEVELS = ((np.arange(256) >= LIT_LUMA) & (np.arange(256) <= CLIP_LUMA)).astype(np.uint8)


@dataclass(frozen=True)
class StyleStats:
    """The shot's picture statistics: median flat share and how many frames it rests on."""

    flat_share: float
    frames: int


@dataclass(frozen=True)
class PictureStats:
    """Cel evidence of one source picture: the share of its measurable tiles that are cel tiles (hard edges
    around flat interiors), how many tiles were measurable, and picture-wide shares of the lit pixels that
    are flat interior (``fill``) and hard edge (``edges``)."""

    cel_tiles: float
    tiles: int
    fill: float
    edges: float
    #: Share of cel tiles after denoising (``SOFT_SIGMA``); 0.0 when too few tiles are measurable that way.
    soft_cel_tiles: float = 0.0
    #: Share of the lit pixels that are flat after denoising (what texture and rendered shading leave flat).
    smooth: float = 0.0


@dataclass(frozen=True)
class SourceStats:
    """The medians of :class:`PictureStats` over a shot's usable source pictures, and how many there were."""

    cel_tiles: float
    fill: float
    edges: float
    pictures: int
    #: Pictures read back from the file (usable or not: plain, dark or without measurable tiles).
    read: int
    #: Median :attr:`PictureStats.smooth` (1.0 without usable pictures: no evidence of texture).
    smooth: float = 1.0

    @property
    def is_cel(self) -> bool:
        """The cel rule: enough of the picture is flat fill bounded by hard edges."""
        return self.cel_tiles >= CEL_TILES

    @property
    def is_textured(self) -> bool:
        """Shot-level evidence against a video's 2d_cel: even denoised, hardly any of the picture is flat
        (rendered texture and shading everywhere; a cel shot's fills survive the blur)."""
        return self.pictures > 0 and self.smooth < SHOT_TEXTURED


def _gradient(g: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of a float32 (or uint8) image, in luma levels per pixel."""
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    return cv2.magnitude(gx, gy)  # float32 throughout: several times faster than np.hypot


def flat_share(gray: np.ndarray) -> float | None:
    """Share of the lit pixels (``LIT_LUMA`` <= luma <= ``CLIP_LUMA``) of one (h, w) luma thumb whose Sobel
    gradient is below ``FLAT_GRADIENT``; ``None`` when less than ``MIN_LIT`` of the picture is lit."""
    g = np.ascontiguousarray(gray, np.float32)
    mag = _gradient(g)[1:-1, 1:-1]
    core = g[1:-1, 1:-1]
    lit = (core >= LIT_LUMA) & (core <= CLIP_LUMA)
    if not mag.size or float(lit.mean()) < MIN_LIT:
        return None
    return float((mag[lit] < FLAT_GRADIENT).mean())


def interior_flat_share(still: np.ndarray, prefiltered: bool = False) -> float | None:
    """Share of the lit region-interior pixels of one (H, W) uint8 luma still that are flat (see the module
    docstring); ``None`` for a plain still or one with too little interior. ``prefiltered``: the still is
    already 3x3-median filtered."""
    if float(still.std()) < PLAIN_STD:
        return None
    g = np.ascontiguousarray(still, np.uint8)
    g = (g if prefiltered else cv2.medianBlur(g, 3)).astype(np.float32)
    mag = _gradient(g)
    edge = cv2.dilate((mag >= STILL_EDGE).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    interior = ~edge & (g >= LIT_LUMA) & (g <= CLIP_LUMA)
    if float(interior.mean()) < MIN_INTERIOR:
        return None
    return float((mag[interior] < STILL_FLAT_GRADIENT).mean())


def _luma_levels(rgb: np.ndarray) -> np.ndarray:
    """(h, w) uint8 luma of an (h, w, 3) uint8 RGB picture, truncated to whole levels."""
    return (rgb.astype(np.float32) @ _LUMA).astype(np.uint8)


def _std(levels: np.ndarray) -> float:
    """Standard deviation of a uint8 picture, as ``float(levels.astype(np.float32).std())`` would compare
    against thresholds: OpenCV's (double precision) unless within float32 rounding of ``PLAIN_STD``."""
    std = float(cv2.meanStdDev(levels)[1][0, 0])
    if abs(std - PLAIN_STD) < 0.01:
        return float(levels.astype(np.float32).std())
    return std


def _interior(mag: np.ndarray, edge: float, lit: np.ndarray) -> np.ndarray:
    """The lit pixels further than 2 px (5x5) from any gradient ``mag`` >= ``edge``: region interiors."""
    near_edge = cv2.dilate((mag >= edge).view(np.uint8), _NEAR)
    return lit.view(np.uint8) > near_edge  # lit and not near an edge: both masks are 0/1


def _tile_counts(mask: np.ndarray, ny: int, nx: int) -> np.ndarray:
    """(ny, nx) float64 counts of the true pixels of a bool ``mask`` per ``TILE`` px tile."""
    tiles = mask[: ny * TILE, : nx * TILE].view(np.uint8).reshape(ny, TILE, nx * TILE)
    columns = tiles.sum(axis=1, dtype=np.uint8)  # at most TILE (< 256) per tile column
    return columns.reshape(ny, nx, TILE).sum(axis=2, dtype=np.uint16).astype(np.float64)


def picture_stats(rgb: np.ndarray) -> PictureStats | None:
    """:class:`PictureStats` of one (h, w, 3) uint8 RGB source picture (about ``SOURCE_WIDTH`` px wide);
    ``None`` for a plain picture, one less than ``MIN_LIT`` lit, or one with fewer than ``MIN_TILES``
    measurable tiles."""
    img = cv2.medianBlur(np.ascontiguousarray(rgb, np.uint8), 3)
    luma8 = _luma_levels(img)
    if _std(luma8) < PLAIN_STD:
        return None
    lit = cv2.LUT(luma8, _LIT_LEVELS).view(bool)
    n_lit = int(np.count_nonzero(lit))
    if n_lit / lit.size < MIN_LIT:
        return None
    h, w = luma8.shape
    ny, nx = h // TILE, w // TILE
    if ny == 0 or nx == 0:
        return None
    # the same values as from float32 levels: the scaled Sobel sums of whole levels are exact in float32
    mag = _gradient(luma8)
    interior = _interior(mag, STILL_EDGE, lit)
    flat = interior & (mag < STILL_FLAT_GRADIENT)
    hard = (mag >= HARD_EDGE) & lit
    area = float(TILE * TILE)
    t_interior, t_flat, t_hard, t_lit = (_tile_counts(m, ny, nx) for m in (interior, flat, hard, lit))
    measurable = (t_interior >= TILE_INTERIOR * area) & (t_lit >= TILE_LIT * area)
    count = int(measurable.sum())
    if count < MIN_TILES:
        return None
    cel = measurable & (t_hard >= TILE_EDGES * area) & (t_flat >= TILE_FLAT * np.maximum(t_interior, 1.0))
    # the same test on the denoised picture: soft cel tiles
    soft = _gradient(cv2.GaussianBlur(luma8.astype(np.float32), (0, 0), SOFT_SIGMA))
    soft_interior = _interior(soft, SOFT_EDGE, lit)
    soft_flat = soft < SOFT_FLAT
    s_interior, s_flat = _tile_counts(soft_interior, ny, nx), _tile_counts(soft_interior & soft_flat, ny, nx)
    soft_measurable = (s_interior >= TILE_INTERIOR * area) & (t_lit >= TILE_LIT * area)
    soft_cel = (
        soft_measurable & (t_hard >= TILE_EDGES * area) & (s_flat >= TILE_FLAT * np.maximum(s_interior, 1))
    )
    soft_count = int(soft_measurable.sum())
    n_lit = max(n_lit, 1)
    return PictureStats(
        cel_tiles=float(cel.sum()) / count,
        tiles=count,
        fill=int(np.count_nonzero(flat)) / max(int(np.count_nonzero(interior)), 1),
        edges=int(np.count_nonzero(hard)) / n_lit,
        soft_cel_tiles=float(soft_cel.sum()) / soft_count if soft_count >= MIN_TILES else 0.0,
        smooth=int(np.count_nonzero(lit & soft_flat)) / n_lit,
    )


def source_pts(shot: ShotInput, count: int = SOURCE_SAMPLES) -> list[int]:
    """Presentation timestamps of ``count`` frames spread over the shot (at i / (count + 1) of it)."""
    n = shot.end - shot.start + 1
    local = np.unique(np.linspace(0, n - 1, count + 2)[1:-1].round().astype(int)) if n > 2 else np.arange(n)
    return [int(shot.frames.pts[shot.start + i]) for i in local]


def source_pictures(
    shot: ShotInput, pts: list[int], box: tuple[int, int, int, int] | None
) -> list[SourceFrame] | None:
    """``SOURCE_WIDTH``-px active pictures at ``pts``: from the pictures the caller holds when it holds them
    all (they are already cropped to the active picture), else decoded from ``shot.video_path``; ``None``
    with neither. Raises :class:`pipeline.decode.VideoError` when the file cannot be read."""
    if shot.pictures is not None:
        held = shot.pictures.read(pts, SOURCE_WIDTH)
        if held is not None:
            return held
    if shot.video_path is None:
        return None
    from annotator.source_frames import read_source_frames

    return read_source_frames(shot.video_path, pts, SOURCE_WIDTH, box)


def source_style_stats(shot: ShotInput) -> SourceStats | None:
    """:class:`SourceStats` of the shot's source pictures; ``None`` without a source file. Raises
    :class:`pipeline.decode.VideoError` when the file cannot be read."""
    layout = shot.view.layout
    box = layout.source_box if layout.thumb_size[0] and layout.thumb_size[1] else None
    pictures = source_pictures(shot, source_pts(shot), box)
    if pictures is None:
        return None
    stats = [s for s in (picture_stats(p.image) for p in pictures) if s is not None]
    if not stats:
        return SourceStats(0.0, 0.0, 0.0, 0, len(pictures))
    return SourceStats(
        cel_tiles=float(np.median([s.cel_tiles for s in stats])),
        fill=float(np.median([s.fill for s in stats])),
        edges=float(np.median([s.edges for s in stats])),
        pictures=len(stats),
        read=len(pictures),
        smooth=float(np.median([s.smooth for s in stats])),
    )


@dataclass(frozen=True)
class VideoMediumStats:
    """Video-level medium evidence from ``read`` source pictures spread over the video, of which
    ``pictures`` were usable: their largest cel-tile share, median hard-edge share and upper-quartile soft
    cel-tile share, and the share of the video's frame pairs that repeat the picture (held; ``None`` without
    comparable pairs)."""

    max_cel_tiles: float
    edges: float
    held_share: float | None
    pictures: int
    read: int
    soft_cel_tiles: float

    @property
    def is_3dcg(self) -> bool:
        """The video-level 3DCG rule (module docstring): no cel picture, and either hard edges without soft
        cel tiles (textured throughout) or soft edges with few holds."""
        if self.pictures < VIDEO_MIN_PICTURES or self.max_cel_tiles >= CEL_TILES:
            return False
        if self.edges >= VIDEO_3D_EDGES:
            # hard contours without flat fills between them, even denoised: textured, shaded surfaces
            return self.soft_cel_tiles < VIDEO_3D_SOFT
        # soft edges: renders, but also fog, sky or painted stills, so it must move on every frame
        return self.held_share is not None and self.held_share < VIDEO_3D_HELD

    @property
    def is_cel(self) -> bool:
        """The video-level 2d_cel rule: not 3DCG-like, and its pictures keep cel tiles once denoised."""
        return (
            self.pictures >= VIDEO_MIN_PICTURES and not self.is_3dcg and self.soft_cel_tiles >= VIDEO_CEL_SOFT
        )

    @property
    def medium(self) -> str | None:
        """``3dcg``, ``2d_cel`` or ``None`` (ambiguous, or too few usable pictures: the video abstains)."""
        return "3dcg" if self.is_3dcg else "2d_cel" if self.is_cel else None


class _LumaFrames:
    """(N, h, w) float32 luma of (N, h, w, 3) RGB thumbs, converted a slice at a time."""

    def __init__(self, rgb: np.ndarray) -> None:
        self.rgb = rgb

    def __len__(self) -> int:
        return len(self.rgb)

    def __getitem__(self, index: slice) -> np.ndarray:
        return self.rgb[index].astype(np.float32) @ _LUMA


def held_pair_share(gray: np.ndarray) -> float | None:
    """Share of the consecutive pairs of (N, h, w) luma thumbs whose mean absolute difference is below
    ``HELD_DIFF`` (the picture repeats), among pairs of non-plain frames that are not cuts (difference below
    ``CUT_DIFF``); ``None`` without such pairs."""
    if len(gray) < 2:
        return None
    diff = np.empty(len(gray) - 1, np.float64)
    plain = np.empty(len(gray), bool)
    for lo in range(0, len(gray), 256):  # in chunks: a long video's float thumbs would not fit at once
        g = np.asarray(gray[lo : lo + 257], np.float32)
        diff[lo : lo + len(g) - 1] = np.abs(np.diff(g, axis=0)).mean(axis=(1, 2))
        plain[lo : lo + len(g)] = g.reshape(len(g), -1).std(axis=1) < PLAIN_STD
    usable = ~plain[1:] & ~plain[:-1] & (diff < CUT_DIFF)
    if not usable.any():
        return None
    return float((diff[usable] < HELD_DIFF).mean())


def video_pts(frames: AnalysisFrames, count: int = VIDEO_SAMPLES) -> list[int]:
    """Presentation timestamps of ``count`` frames spread over the video (the analysis frames)."""
    n = len(frames)
    local = np.unique(np.linspace(0, n - 1, count + 2)[1:-1].round().astype(int))
    return [int(frames.pts[i]) for i in local]


def video_medium_stats(shot: ShotInput) -> VideoMediumStats | None:
    """:class:`VideoMediumStats` of the video (the analysis frames) ``shot`` belongs to; ``None`` without a
    source file. Raises :class:`pipeline.decode.VideoError` when the file cannot be read."""
    frames, layout = shot.frames, shot.view.layout
    box = layout.source_box if layout.thumb_size[0] and layout.thumb_size[1] else None
    pictures = source_pictures(shot, video_pts(frames), box)
    if pictures is None:
        return None
    stats = [s for s in (picture_stats(p.image) for p in pictures) if s is not None]
    held = held_pair_share(_LumaFrames(layout.crop(frames.thumb)))
    return VideoMediumStats(
        max_cel_tiles=max((s.cel_tiles for s in stats), default=0.0),
        edges=float(np.median([s.edges for s in stats])) if stats else 0.0,
        held_share=held,
        pictures=len(stats),
        read=len(pictures),
        soft_cel_tiles=float(np.quantile([s.soft_cel_tiles for s in stats], 0.75)) if stats else 0.0,
    )


def video_medium(shot: ShotInput) -> VideoMediumStats | None:
    """The :func:`video_medium_stats` of ``shot``'s video, computed once per video (``shot.ctx``'s video
    cache, shared by the experts that use it); ``None`` without a readable source."""
    return shot.ctx.video_cached(shot.frames, VIDEO_MEDIUM_KEY, lambda: _video_medium(shot))


def style_stats(shot: ShotInput) -> StyleStats | None:
    """Flat share of the shot's non-plain, lit sampled thumbs; ``None`` when no sampled frame qualifies."""
    view = shot.view
    gray = view.gray
    shares = [flat_share(gray[i]) for i in view.sample(SAMPLES) if float(gray[i].std()) >= PLAIN_STD]
    shares = [s for s in shares if s is not None]
    if not shares:
        return None
    return StyleStats(float(np.median(shares)), len(shares))


def video_style_stats(frames: AnalysisFrames, layout: Layout) -> StyleStats | None:
    """Flat share of the video's stills (active picture); ``None`` without stills or with too few usable."""
    if frames.stills is None or len(frames.stills) == 0:
        return None
    from pipeline.scores.text import still_picture

    shares = [interior_flat_share(s) for s in still_picture(frames.stills, layout)]
    shares = [s for s in shares if s is not None]
    if len(shares) < MIN_STILLS:
        return None
    return StyleStats(float(np.median(shares)), len(shares))


class StyleExpert:
    """Votes style.medium = 2d_cel on pictures of flat fills bounded by hard edges (source pictures; thumbs
    and stills without a source file), and the video's medium (2d_cel or 3dcg) on shots that show no cel
    evidence of their own; abstains, with the measured values, where neither decides."""

    name = "style"
    fields = ("style.medium",)

    def __init__(self, priority: int = 0) -> None:
        self.priority = priority

    def pictures_wanted(self, shot: ShotInput) -> list[PictureRequest]:
        """The source pictures :meth:`annotate` may read for ``shot`` (the shot's and the video's)."""
        from annotator.source_frames import PictureRequest

        return [PictureRequest(SOURCE_WIDTH, tuple(sorted({*source_pts(shot), *video_pts(shot.frames)})))]

    def annotate(self, shot: ShotInput) -> ExpertOutput:
        from pipeline.decode import VideoError

        try:
            source = source_style_stats(shot)
        except VideoError as exc:
            return self.annotate_measured(shot, None, f"source pictures unreadable ({exc.reason}); ")
        video = None
        if source is not None and not (source.pictures and source.is_cel):
            video = video_medium(shot)
        return self.annotate_measured(shot, source, video=video)

    def annotate_measured(
        self,
        shot: ShotInput,
        source: SourceStats | None,
        fallback_note: str = "no source file; ",
        video: VideoMediumStats | None = None,
    ) -> ExpertOutput:
        """The vote for ``shot`` given its already measured :func:`source_style_stats` (``None``: decide from
        the thumbs and stills, with ``fallback_note`` heading the abstention reason) and, optionally, its
        video's :func:`video_medium_stats` (the video-level 3DCG rule for shots without cel evidence)."""
        out = ExpertOutput()
        if source is None:
            self._from_thumbs(shot, out, fallback_note)
        else:
            self._from_source(source, out, video)
        return out

    def _vote_video(self, video: VideoMediumStats, out: ExpertOutput, medium: str, confidence: float) -> None:
        out.vote(
            "style.medium",
            medium,
            confidence,
            self.name,
            **{VIDEO_LEVEL: 1.0},
            video_max_cel_tiles=video.max_cel_tiles,
            video_soft_cel_tiles=video.soft_cel_tiles,
            video_edge_share=video.edges,
            video_held_share=video.held_share if video.held_share is not None else -1.0,
            video_pictures=video.pictures,
        )

    def _from_source(self, source: SourceStats, out: ExpertOutput, video: VideoMediumStats | None) -> None:
        medium = video.medium if video is not None else None
        if source.pictures == 0:
            if video is not None and medium is not None:
                plain = PLAIN_3D_CONFIDENCE if medium == "3dcg" else PLAIN_CEL_CONFIDENCE
                self._vote_video(video, out, medium, plain)
                return
            out.abstain(
                "style.medium",
                self.name,
                f"all {source.read} source pictures are plain, dark or without measurable tiles"
                + ("" if video is None else f"; video medium undecided ({_video_note(video)})"),
            )
            return
        if source.is_cel:
            sure = min(1.0, (source.cel_tiles - CEL_TILES) / (SURE_CEL_TILES - CEL_TILES))
            out.vote(
                "style.medium",
                "2d_cel",
                CEL_CONFIDENCE + (MAX_CEL_CONFIDENCE - CEL_CONFIDENCE) * sure,
                self.name,
                cel_tiles=source.cel_tiles,
                fill_share=source.fill,
                edge_share=source.edges,
                pictures=source.pictures,
            )
            return
        if video is not None and medium == "3dcg":
            self._vote_video(video, out, medium, VIDEO_3D_CONFIDENCE)
            return
        if video is not None and medium == "2d_cel" and not source.is_textured:
            self._vote_video(video, out, medium, VIDEO_CEL_CONFIDENCE)
            return
        shot_note = (
            f"cel tiles {source.cel_tiles:.2f} < {CEL_TILES} (fill share {source.fill:.2f}, hard-edge share "
            f"{source.edges:.3f}): 3DCG and detailed, dark or effects-heavy cel both look like this"
        )
        if video is None:
            video_note = ""
        elif medium == "2d_cel":
            video_note = (
                f"; the video is cel-like, but this shot is textured like a render (smooth share "
                f"{source.smooth:.3f} < {SHOT_TEXTURED})"
            )
        else:
            video_note = f"; video medium undecided ({_video_note(video)})"
        out.abstain("style.medium", self.name, shot_note + video_note)

    def _from_thumbs(self, shot: ShotInput, out: ExpertOutput, prefix: str) -> None:
        stats = style_stats(shot)
        video = shot.ctx.video_cached(
            shot.frames, "style.video", lambda: video_style_stats(shot.frames, shot.view.layout)
        )
        reasons: list[str] = []
        if stats is None:
            reasons.append("every sampled frame is plain or dark")
        elif stats.flat_share < CEL_MIN:
            reasons.append(
                f"flat share {stats.flat_share:.2f} < {CEL_MIN}: detailed cel and 3DCG both look like this"
            )
        elif stats.flat_share > CEL_MAX:
            reasons.append(
                f"flat share {stats.flat_share:.2f} > {CEL_MAX}: cel, motion graphics or flat design"
            )
        else:
            # surer the further inside the band (0.6 at an edge, 0.9 at the centre)
            centre, half = (CEL_MIN + CEL_MAX) / 2, (CEL_MAX - CEL_MIN) / 2
            conf = 0.9 - 0.3 * abs(stats.flat_share - centre) / half
            out.vote(
                "style.medium", "2d_cel", conf, self.name, flat_share=stats.flat_share, frames=stats.frames
            )
            return
        if video is not None and video.flat_share >= VIDEO_CEL_MIN:
            out.vote(
                "style.medium",
                "2d_cel",
                VIDEO_CONFIDENCE,
                self.name,
                video_flat_share=video.flat_share,
                stills=video.frames,
            )
            return
        if video is None:
            reasons.append("no stills to measure the video's fills")
        else:
            reasons.append(f"video fills flat share {video.flat_share:.2f} < {VIDEO_CEL_MIN}")
        out.abstain("style.medium", self.name, prefix + "; ".join(reasons))


def _video_medium(shot: ShotInput) -> VideoMediumStats | None:
    """:func:`video_medium_stats`, ``None`` when the file cannot be read (the shot then only lacks the video
    rule)."""
    from pipeline.decode import VideoError

    try:
        return video_medium_stats(shot)
    except VideoError:
        return None


def _video_note(video: VideoMediumStats) -> str:
    held = "n/a" if video.held_share is None else f"{video.held_share:.2f}"
    return (
        f"{video.pictures} usable pictures (needs {VIDEO_MIN_PICTURES}), max cel tiles "
        f"{video.max_cel_tiles:.2f}, soft cel tiles {video.soft_cel_tiles:.2f}, "
        f"edge share {video.edges:.3f}, "
        f"held pairs {held}; 3DCG needs max cel tiles < {CEL_TILES} and soft cel tiles < {VIDEO_3D_SOFT} (or "
        f"edge share < {VIDEO_3D_EDGES} with held pairs < {VIDEO_3D_HELD}), cel needs soft cel tiles >= "
        f"{VIDEO_CEL_SOFT}"
    )
