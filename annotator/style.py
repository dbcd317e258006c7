"""The style expert: style.medium = 2d_cel from what cel painting leaves (flat fills inside hard edges), and
3dcg from what a whole video of renders shows (no cel picture anywhere, soft edges, a new picture every frame).

Cel animation paints each region in one flat colour (plus one or two hard-edged shadow tones) inside inked
outlines. A 3D renderer shades every surface continuously, textures it and blurs it with depth and motion, so
hardly any part of a 3DCG picture is flat -- except fog, snow and sky, which are flat but have no hard edge
around them; painted anime backgrounds are soft too. So the expert looks for the two *together*, locally.

Per shot it reads ``SOURCE_SAMPLES`` pictures back from the source file (at 1/4, 1/2 and 3/4 of the shot,
active picture, scaled to ``SOURCE_WIDTH`` px: :func:`annotator.source_frames.read_source_frames`; the 128 px
thumbs blur fills and gradients alike) and, after a 3x3 median against grain and only on lit pixels
(``LIT_LUMA`` .. ``CLIP_LUMA``: crushed shadows and blown-out highlights are flat in any medium), cuts each
picture into ``TILE`` px tiles. A *cel tile* holds hard edges (Sobel luma gradient >= ``HARD_EDGE`` on at
least ``TILE_EDGES`` of it) and its region interior (pixels away from any edge) is mostly flat (gradient below
``STILL_FLAT_GRADIENT`` on at least ``TILE_FLAT`` of it). The shot is voted ``2d_cel`` when the median share
of cel tiles among the measurable tiles is >= ``CEL_TILES``; otherwise the expert abstains with the values.

Measured on the 74 labelled shots of the development clips (issue #5; ``anicurate eval caption`` and
``tests/corpus/test_picture_experts_corpus.py``): the 14 measurable 3DCG shots reach a cel-tile share of 0.06
(the other 7 are title cards and black); 24 of the 45 JP cel shots reach 0.14-0.96 and are voted, the other
21 measure 0-0.11 -- Vinland's dithered GIF, the dark and detailed Gojo clips, Blast Burn's glow and blur
shots -- and look like 3DCG on this and every other per-shot statistic tried (whole-picture flat share,
uniform neighbourhoods, gradient-band shares, colour counts, ink-ridge density, block plane fits; and on the
128 px analysis frames: frame-to-frame change, dense-flow warp residuals and how much of the change the flow
explains, flow smoothness, thumb texture, the timing cadence -- Gojo and Blast Burn's effects are on ones
too). So a *shot* is never voted ``3dcg`` from its own evidence: missing cel evidence is shared by 3DCG and
busy cel.

The **video-level 3DCG rule** (:func:`video_medium_stats`, computed once per video): ``VIDEO_SAMPLES`` source
pictures spread over the whole video; the video is 3DCG-like when none of them is a cel picture (every
cel-tile share < ``CEL_TILES``), their median hard-edge share is < ``VIDEO_3D_EDGES`` (renders shade and
blur their contours; line art and dithering are hard) and fewer than ``VIDEO_3D_HELD`` of its frame pairs
repeat the picture (3DCG renders every frame; limited animation holds drawings). In a 3DCG-like video every
shot without cel evidence of its own is voted ``3dcg`` at ``VIDEO_3D_CONFIDENCE``, plain, dark and untiled
ones (title cards, black) at ``PLAIN_3D_CONFIDENCE``: the medium is the video's. Each condition alone is
met by some cel video; all three only by Sintel: measured (8 pictures per video, the 28 labelled clips)
Sintel 0.05 / 0.034 / 0.22 (re-encoded at crf 38, 240 or 960 px wide: edge share 0.023-0.038, still
voted); the cel videos without a cel picture have edge shares 0.130 (Gojo), 0.152 (Vinland), 0.185 (Gojo
sub-clip), 0.236 (We Bare Bears) and kept >= 0.12 when re-encoded the same ways; the softest cel videos
(Anohana 0.052, Sakura Quest 0.075, the calm Pokemon clips 0.053-0.070) show cel pictures (max share >= 0.17)
and hold 0.39-1.0 of their pairs. Big Buck Bunny (0.136, fur and hard contours) and the Pokemon 3D set
(0.279, held 0.92) are not 3DCG-like and abstain. A *mixed* video keeps both media possible: a cel shot in
a 3DCG-like video keeps its own 2d_cel vote (the shot rule runs first), and a 2D show with 3DCG shots (mecha,
crowds) has cel pictures, so it is not 3DCG-like and its 3DCG shots abstain rather than being called cel
(hybrid_2d_3d is never voted). The rule rests on one 3DCG video of the corpus: it is a prior, not
a detector, and its thresholds sit where the measured margins are widest. Western 2D cartoons and flat
motion graphics are flat-filled inside hard edges too and are voted ``2d_cel`` (South Park 2 of 3 shots, Mars
Express 1 of 5): tradition and technique are beyond these statistics. On synthetic footage (painted
backgrounds, soft-shaded characters) about half the shots are voted, all correctly.

The median needs two of the three pictures to show cel tiles, so a focus pull or a momentary effect does not
decide a shot (Charmander's blur-to-sharp shot: 0.0, 0.67, 0.65, voted). Mixed media inside one shot (a 3D
set or vehicle under cel characters, ``hybrid_2d_3d``) cannot be told apart, because nothing here detects 3D
positively: such a shot is voted ``2d_cel`` when its cel part fills enough tiles. Re-encoding does not move
the margin much (measured on re-encodes of the development clips): Sintel at crf 35 reaches 0.09, upscaled to
960 px 0.06; the cel clips re-encoded at 360-1440 px and crf 28-38 keep their votes except one shot (0.14 ->
0.06 at crf 36).

Without a readable source file (no ``ShotInput.video_path``) the expert falls back to the thumbs and the
decode's stills: per shot, the thumb flat share inside ``[CEL_MIN, CEL_MAX]``; per video, the stills' interior
flat share >= ``VIDEO_CEL_MIN`` (a weaker vote: it assumes one medium per video).

This expert reads source pixels: ``SOURCE_SAMPLES`` frames per shot and ``VIDEO_SAMPLES`` more once per video
(a window of a long video, where the curate job decodes in windows) when a shot has no cel vote. It takes them
from ``ShotInput.pictures`` when the caller holds them (the curate job passes the clip frames of its one
decode), otherwise it decodes them from ``ShotInput.video_path`` (about one more decode of the video where
shots are short or keyframes sparse).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from annotator.base import ExpertOutput, ShotInput

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
#: The cel rule: the shot's median cel-tile share (source pictures) >= CEL_TILES (measured margins in the
#: module docstring); the vote's confidence rises from CEL_CONFIDENCE at the threshold to
#: MAX_CEL_CONFIDENCE at SURE_CEL_TILES.
CEL_TILES = 0.12
SURE_CEL_TILES = 0.4
CEL_CONFIDENCE = 0.65
MAX_CEL_CONFIDENCE = 0.85
#: The video-level 3DCG rule (:func:`video_medium_stats`): ``VIDEO_SAMPLES`` source pictures evenly spaced
#: over the video; it is 3DCG-like when none of them is a cel picture (cel-tile share < ``CEL_TILES``), their
#: median hard-edge share is below ``VIDEO_3D_EDGES`` and fewer than ``VIDEO_3D_HELD`` of the video's frame
#: pairs repeat the picture (thumb mean |difference| < ``HELD_DIFF`` levels; plain frames and cuts --
#: differences >= ``CUT_DIFF`` -- left out). Its shots without cel evidence of their own are voted 3dcg at
#: ``VIDEO_3D_CONFIDENCE`` (``PLAIN_3D_CONFIDENCE`` for plain, dark or untiled shots: title cards, black).
VIDEO_SAMPLES = 8
VIDEO_3D_EDGES = 0.06
VIDEO_3D_HELD = 0.5
HELD_DIFF = 0.5
CUT_DIFF = 30.0
VIDEO_3D_CONFIDENCE = 0.6
PLAIN_3D_CONFIDENCE = 0.55
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


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


@dataclass(frozen=True)
class SourceStats:
    """The medians of :class:`PictureStats` over a shot's usable source pictures, and how many there were."""

    cel_tiles: float
    fill: float
    edges: float
    pictures: int
    #: Pictures read back from the file (usable or not: plain, dark or without measurable tiles).
    read: int

    @property
    def is_cel(self) -> bool:
        """The cel rule: enough of the picture is flat fill bounded by hard edges."""
        return self.cel_tiles >= CEL_TILES


def _gradient(g: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    return np.hypot(gx, gy)


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


def picture_stats(rgb: np.ndarray) -> PictureStats | None:
    """:class:`PictureStats` of one (h, w, 3) uint8 RGB source picture (about ``SOURCE_WIDTH`` px wide);
    ``None`` for a plain picture, one less than ``MIN_LIT`` lit, or one with fewer than ``MIN_TILES``
    measurable tiles."""
    img = cv2.medianBlur(np.ascontiguousarray(rgb, np.uint8), 3)
    g = (img.astype(np.float32) @ _LUMA).astype(np.uint8).astype(np.float32)
    if float(g.std()) < PLAIN_STD:
        return None
    lit = (g >= LIT_LUMA) & (g <= CLIP_LUMA)
    if float(lit.mean()) < MIN_LIT:
        return None
    mag = _gradient(g)
    near_edge = cv2.dilate((mag >= STILL_EDGE).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    interior = ~near_edge & lit
    flat = interior & (mag < STILL_FLAT_GRADIENT)
    hard = (mag >= HARD_EDGE) & lit
    h, w = g.shape
    ny, nx = h // TILE, w // TILE
    if ny == 0 or nx == 0:
        return None

    def per_tile(mask: np.ndarray) -> np.ndarray:
        return mask[: ny * TILE, : nx * TILE].reshape(ny, TILE, nx, TILE).sum(axis=(1, 3)).astype(np.float64)

    area = float(TILE * TILE)
    t_interior, t_flat, t_hard, t_lit = per_tile(interior), per_tile(flat), per_tile(hard), per_tile(lit)
    measurable = (t_interior >= TILE_INTERIOR * area) & (t_lit >= TILE_LIT * area)
    count = int(measurable.sum())
    if count < MIN_TILES:
        return None
    cel = measurable & (t_hard >= TILE_EDGES * area) & (t_flat >= TILE_FLAT * np.maximum(t_interior, 1.0))
    n_interior = int(interior.sum())
    return PictureStats(
        cel_tiles=float(cel.sum()) / count,
        tiles=count,
        fill=float(flat.sum()) / max(n_interior, 1),
        edges=float(hard.sum()) / max(int(lit.sum()), 1),
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
    )


@dataclass(frozen=True)
class VideoMediumStats:
    """Video-level medium evidence: the largest cel-tile share and the median hard-edge share of the usable
    ones among ``read`` source pictures spread over the video, and the share of its frame pairs that repeat
    the picture (held; ``None`` without comparable pairs)."""

    max_cel_tiles: float
    edges: float
    held_share: float | None
    pictures: int
    read: int

    @property
    def is_3dcg(self) -> bool:
        """The video-level 3DCG rule (see the module docstring): no cel picture, soft edges, few holds."""
        return (
            self.pictures >= VIDEO_SAMPLES // 2
            and self.max_cel_tiles < CEL_TILES
            and self.edges < VIDEO_3D_EDGES
            and self.held_share is not None
            and self.held_share < VIDEO_3D_HELD
        )


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
    )


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
    and stills without a source file); abstains, with the measured values, wherever that does not hold."""

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
            video = shot.ctx.video_cached(shot.frames, "style.video_medium", lambda: _video_medium(shot))
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

    def _vote_video_3dcg(self, video: VideoMediumStats, out: ExpertOutput, confidence: float) -> None:
        out.vote(
            "style.medium",
            "3dcg",
            confidence,
            self.name,
            video_max_cel_tiles=video.max_cel_tiles,
            video_edge_share=video.edges,
            video_held_share=video.held_share if video.held_share is not None else -1.0,
            video_pictures=video.pictures,
        )

    def _from_source(self, source: SourceStats, out: ExpertOutput, video: VideoMediumStats | None) -> None:
        if source.pictures == 0:
            if video is not None and video.is_3dcg:
                self._vote_video_3dcg(video, out, PLAIN_3D_CONFIDENCE)
                return
            out.abstain(
                "style.medium",
                self.name,
                f"all {source.read} source pictures are plain, dark or without measurable tiles",
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
        if video is not None and video.is_3dcg:
            self._vote_video_3dcg(video, out, VIDEO_3D_CONFIDENCE)
            return
        out.abstain(
            "style.medium",
            self.name,
            f"cel tiles {source.cel_tiles:.2f} < {CEL_TILES} (fill share {source.fill:.2f}, hard-edge share "
            f"{source.edges:.3f}): 3DCG and detailed, dark or effects-heavy cel both look like this"
            + ("" if video is None else f"; video not 3DCG-like ({_video_note(video)})"),
        )

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
        f"max cel tiles {video.max_cel_tiles:.2f} of {video.pictures} pictures, edge share {video.edges:.3f}, "
        f"held pairs {held}; 3DCG needs < {CEL_TILES}, < {VIDEO_3D_EDGES}, < {VIDEO_3D_HELD}"
    )
