"""``ShotScores``: one row of the ``scores`` table (one per shot), its Arrow schema derived by
:func:`pipeline.records.arrow_schema`.

Every score is computed from the shared low-resolution analysis frames (``AnalysisFrames.thumb``, 128 px wide)
of the shot's active picture (bars cropped) -- there is no second decode. Pixel-level measures are therefore
*thumb-scale proxies* and say so in their doc. Units are independent of the thumb size and frame rate where
that matters (motion in picture widths per second).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from pipeline.schema import col


@dataclass(frozen=True)
class ShotScores:
    # --- identity
    shot_id: str = col("'<video_id[:16]>:<start_frame>-<end_frame>' (as in the shots table)")
    video_id: str = col("source video (sha256 of the file bytes)")
    source_path: str = col("input file the shot came from")
    start_frame: int = col("first frame of the shot (0-based decoded index)")
    end_frame: int = col("last frame of the shot, inclusive")
    start_s: float = col("presentation time of the first frame, seconds")
    end_s: float = col("presentation time just after the last frame, seconds")
    # --- duration, resolution, layout (scorers 'quality' and 'layout')
    frames: int = col("number of frames in the shot", pa.int32(), default=0)
    duration_s: float = col("shot duration in seconds (end_s - start_s)", default=0.0)
    fps: float = col("average frame rate of the source", pa.float32(), default=0.0)
    width: int = col("decoded width of the source in pixels", pa.int32(), default=0)
    height: int = col("decoded height of the source in pixels", pa.int32(), default=0)
    layout: str = col(
        "bars: 'full', 'letterbox', 'pillarbox' or 'windowbox' (found once per video)", default="full"
    )
    active_x: int = col(
        "left edge of the active picture inside the bars, source pixels", pa.int32(), default=0
    )
    active_y: int = col(
        "top edge of the active picture inside the bars, source pixels", pa.int32(), default=0
    )
    active_width: int = col(
        "width of the active picture, source pixels (thumb-row accuracy)", pa.int32(), default=0
    )
    active_height: int = col("height of the active picture, source pixels", pa.int32(), default=0)
    active_fraction: float = col("active picture area / frame area", pa.float32(), default=1.0)
    short_side_px: int = col(
        "resolution: the shorter side of the active picture in source pixels", pa.int32(), default=0
    )
    # --- picture quality (scorer 'quality')
    sharpness: float | None = col(
        "variance of the Laplacian of the 128 px luma thumb, median over sampled frames. A thumb-scale "
        "proxy: it ranks detail and focus blur at thumb scale, not source-resolution softness",
        pa.float32(),
        default=None,
    )
    blockiness: float | None = col(
        "8x8-grid edge energy ratio (1 = no blocking), measured only when the source's 8 px coding grid is "
        ">= 4 thumb px (sources <= 256 px wide); null otherwise: not measurable from thumbs, and a full-"
        "resolution sample would be a second decode",
        pa.float32(),
        default=None,
    )
    brightness: float | None = col("mean luma 0-255 of the active picture", pa.float32(), default=None)
    contrast: float | None = col(
        "RMS contrast: spatial std of luma 0-255, mean over sampled frames", pa.float32(), default=None
    )
    colourfulness: float | None = col(
        "Hasler-Suesstrunk colourfulness M (0 = grey; ~15 slightly, ~60 highly colourful)",
        pa.float32(),
        default=None,
    )
    black_share: float | None = col(
        "share of frames that are black (mean luma < 16, near-uniform)", pa.float32(), default=None
    )
    blank_share: float | None = col(
        "share of frames that are blank: near-uniform in any colour (luma std < 6), black and white flashes included",
        pa.float32(),
        default=None,
    )
    # --- motion (scorer 'motion')
    camera_motion: float | None = col(
        "global (camera) motion: median over frame pairs of the mean displacement of the fitted translation/zoom/rotation, picture widths per second",
        pa.float32(),
        default=None,
    )
    subject_motion: float | None = col(
        "subject motion: mean |optical flow - camera motion| on drawing changes (0 on held frames), picture widths per second",
        pa.float32(),
        default=None,
    )
    camera_moving_share: float | None = col(
        "share of frame pairs where the camera moves", pa.float32(), default=None
    )
    # --- animation timing (scorer 'timing')
    held_share: float | None = col(
        "share of frames (after the first) that repeat the previous drawing once the camera move is compensated",
        pa.float32(),
        default=None,
    )
    still_share: float | None = col(
        "share of frames identical to the previous one up to noise: no drawing change and no camera move",
        pa.float32(),
        default=None,
    )
    drawing_changes: int | None = col(
        "number of new drawings after the first frame", pa.int32(), default=None
    )
    drawing_rate: float | None = col("new drawings per second", pa.float32(), default=None)
    cadence: str = col(
        "animation timing: 'ones', 'twos', 'threes' (drawing held 1/2/3 frames), 'held' (one drawing, camera may "
        "move), 'mixed' (no cadence dominates, or long holds beside animation) or 'unknown' (too short)",
        default="unknown",
    )
    cadence_share: float | None = col(
        "share of the animated frames whose drawing is held for the dominant cadence",
        pa.float32(),
        default=None,
    )
    still_image: bool = col(
        "the whole shot is one still picture (no drawing change, no camera move)", default=False
    )
    slideshow: bool = col(
        "a few still pictures replacing each other whole (long static holds, every change repaints the picture)",
        default=False,
    )
    # --- burnt-in text (scorer 'text')
    text_area: float | None = col(
        "fraction of the active picture covered by burnt-in text boxes, mean over the frames that show text",
        pa.float32(),
        default=None,
    )
    text_share: float | None = col(
        "share of sampled frames showing burnt-in text", pa.float32(), default=None
    )
    text_position: str = col(
        "where the text is: 'none', 'bottom', 'top', 'corner', 'center' or 'full'", default="none"
    )
    text_kind: str = col(
        "best guess: 'none', 'subtitle' (bottom band, changes), 'watermark' (small static corner mark; logo bugs "
        "included), 'title_card' (large text on a plain picture) or 'credits' (many text lines)",
        default="none",
    )
    overlay_area: float | None = col(
        "fraction of the picture covered by a static overlay (pixels that never change while the picture does)",
        pa.float32(),
        default=None,
    )
    # --- learned aesthetic score (scorer 'aesthetic')
    aesthetic: float | None = col(
        "CLIP image embedding + MLP head score (e.g. LAION aesthetic 1-10) on the shot's thumbs; null when no CLIP "
        "weights are configured (the log says why)",
        pa.float32(),
        default=None,
    )


#: Columns that are identity / bookkeeping, not scores a filter should use.
ID_COLUMNS = ("shot_id", "video_id", "source_path", "start_frame", "end_frame", "start_s", "end_s")
