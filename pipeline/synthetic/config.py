"""Configuration and result records of the synthetic footage generator."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from pipeline.timebase import fraction_to_json, to_fraction

#: Bumped whenever the same seed and config would produce different pictures or labels.
GENERATOR_VERSION = "1"

#: The reused "opening" is always rendered from this seed, whatever the video seed is.
OPENING_SEED = 20240917

LAYOUT_ASPECTS = {"letterbox": 2.35, "pillarbox": 4 / 3}

#: The camera moves the generator can plan.
CAMERA_MOVES = ("static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "shake")

#: The looks a synthetic set can have (:attr:`SynthConfig.look`).
LOOKS = ("cel", "collage")


@dataclass(frozen=True)
class SynthConfig:
    """How to render a synthetic footage set. Every field takes part in the output (and in ``synth.json``)."""

    width: int = 640
    height: int = 360
    seconds: float = 10.0
    fps: Fraction = Fraction(24000, 1001)
    crf: int = 18
    preset: str = "superfast"
    #: x264 threads, pinned so the bytes do not depend on the machine's core count.
    encoder_threads: int = 1
    #: Put one shared "opening" segment (identical frames) into several videos.
    reuse: bool = True
    opening_seconds: float = 2.5
    min_shot_seconds: float = 1.0
    max_shot_seconds: float = 4.0
    #: Probability that a shot carries a burnt-in subtitle (videos with a watermark never do). Between 0 and 1
    #: exclusive, at least one shot has one and one has none.
    subtitle_rate: float = 0.45
    #: Probability of an extra in-shot flash in a shot (one of each flash type is always planned).
    flash_rate: float = 0.1
    #: Probability of speed lines on an eligible shot (one shot always gets them).
    speed_line_rate: float = 0.2
    #: Give one letterboxed/pillarboxed video a corner watermark.
    watermark: bool = True
    #: What the shots show: "cel" (painted scenes with cel characters) or "collage" (flat-colour shapes on a
    #: flat ground, and flat discs for the characters: pictures a CPU-sized video model can learn quickly).
    look: str = "cel"
    #: Plan only these camera moves, equally often (empty: every move, at the generator's usual rates). The
    #: reused opening (a pan_right and a static shot) is left out unless both are among them.
    cameras: tuple[str, ...] = ()
    #: Pan and tilt speed in px per frame at 640 px frame width (scaled with the width like the random
    #: speeds); None: each shot draws its own (1.5-6 for pans, 1.5-4 for tilts).
    camera_speed: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "fps", to_fraction(self.fps))
        if self.width < 64 or self.height < 64 or self.width % 2 or self.height % 2:
            raise ValueError(f"width and height must be even and >= 64, got {self.width}x{self.height}")
        if self.fps <= 0 or self.seconds <= 0:
            raise ValueError("fps and seconds must be positive")
        if not 0 < self.min_shot_seconds <= self.max_shot_seconds:
            raise ValueError("need 0 < min_shot_seconds <= max_shot_seconds")
        if self.opening_seconds <= 0:
            raise ValueError("opening_seconds must be positive")
        if self.encoder_threads < 1:
            raise ValueError("encoder_threads must be >= 1")
        object.__setattr__(self, "cameras", tuple(self.cameras))
        unknown = set(self.cameras) - set(CAMERA_MOVES)
        if unknown:
            raise ValueError(
                f"cameras: unknown move(s) {sorted(unknown)}; choose from {', '.join(CAMERA_MOVES)}"
            )
        if self.camera_speed is not None and self.camera_speed <= 0:
            raise ValueError(f"camera_speed must be positive (or None), got {self.camera_speed}")
        if self.look not in LOOKS:
            raise ValueError(f"look must be one of {', '.join(LOOKS)}, got {self.look!r}")

    @property
    def frames(self) -> int:
        """Frames per video: ``round(seconds * fps)``."""
        return max(1, round(Fraction(self.seconds).limit_denominator(1_000_000) * self.fps))

    def seconds_to_frames(self, seconds: float) -> int:
        return max(1, round(Fraction(seconds).limit_denominator(1_000_000) * self.fps))

    def to_json(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "seconds": self.seconds,
            "fps": fraction_to_json(self.fps),
            "crf": self.crf,
            "preset": self.preset,
            "encoder_threads": self.encoder_threads,
            "reuse": self.reuse,
            "opening_seconds": self.opening_seconds,
            "min_shot_seconds": self.min_shot_seconds,
            "max_shot_seconds": self.max_shot_seconds,
            "subtitle_rate": self.subtitle_rate,
            "flash_rate": self.flash_rate,
            "speed_line_rate": self.speed_line_rate,
            "watermark": self.watermark,
            "look": self.look,
            "cameras": list(self.cameras),
            **({"camera_speed": self.camera_speed} if self.camera_speed is not None else {}),
        }


def active_box(layout: str, width: int, height: int) -> tuple[int, int, int, int]:
    """``(x, y, w, h)`` of the picture inside the frame; the rest is black bars. Bars are multiples of 2 px."""
    if layout == "letterbox":
        bar = max(2, 2 * round((height - width / LAYOUT_ASPECTS["letterbox"]) / 4))
        return 0, bar, width, height - 2 * bar
    if layout == "pillarbox":
        bar = max(2, 2 * round((width - height * LAYOUT_ASPECTS["pillarbox"]) / 4))
        return bar, 0, width - 2 * bar, height
    if layout == "full":
        return 0, 0, width, height
    raise ValueError(f"unsupported layout {layout!r}")


@dataclass(frozen=True)
class SynthVideo:
    """One written video and its ground truth."""

    name: str
    path: Path
    label_path: Path
    frames: int
    fps: Fraction
    width: int
    height: int
    layout: str
    #: ``(x, y, w, h)`` of the picture area (the whole frame for layout "full").
    active_box: tuple[int, int, int, int]
    watermark: bool
    #: Inclusive frame span of the reused opening in this video, if it has one.
    opening: tuple[int, int] | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


@dataclass(frozen=True)
class ReusedSegment:
    """A segment whose frames appear identically in several videos."""

    name: str
    frames: int
    #: ``(video name, first frame, last frame)`` for every placement.
    placements: tuple[tuple[str, int, int], ...]


@dataclass
class SynthManifest:
    out_dir: Path
    seed: int
    config: SynthConfig
    videos: list[SynthVideo]
    reused: list[ReusedSegment]
    duplicates_path: Path
    synth_path: Path
    #: Label values present over the whole set (``camera``, ``timing``, ``transition``, ``flash`` ...).
    coverage: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0
