"""Frame-by-frame footage labels: the schema of ``footage/SCHEMA.md`` as typed records.

The same records are written by the synthetic generator (its ground truth) and read for the real
development clips, so every evaluation compares like with like. Frame indices are 0-based decoded-frame
indices; ``end`` is inclusive everywhere.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CAMERA_VALUES = (
    "static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out",
    "shake", "rotate", "tracking", "complex", "unknown",
)  # fmt: skip
SHOT_SIZE_VALUES = ("extreme_close_up", "close_up", "medium", "full", "wide", "unknown")
TIMING_VALUES = ("ones", "twos", "threes", "held", "mixed", "unknown")
VFX_VALUES = (
    "speed_lines", "particles", "fire", "lightning", "energy_aura", "explosion", "smoke",
    "light_rays", "glow", "water", "rain", "snow", "impact_frame", "flash", "smear",
)  # fmt: skip
TEXT_OVERLAY_VALUES = ("none", "subtitle", "watermark", "logo", "credits", "title_card")
TRANSITION_TYPES = ("dissolve", "fade_black", "fade_white", "wipe", "flash_cut", "other")
FLASH_TYPES = ("white_flash", "colour_flash", "impact_frame", "inversion", "strobe")
LAYOUT_VALUES = ("full", "letterbox", "pillarbox", "windowbox")
STYLE_VALUES = ("jp_cel_tv", "jp_cel_film", "western_2d", "3dcg", "motion_graphics", "other")
CONFIDENCE_VALUES = ("high", "medium", "low")

#: Top-level keys of a label file, in the order they are written.
LABEL_KEYS = (
    "clip",
    "frames",
    "cuts",
    "transitions",
    "flashes",
    "shots",
    "layout",
    "style",
    "confidence",
    "notes",
)

#: The label fields whose values the PKS taxonomy must be able to express.
TAGGED_LABEL_FIELDS: dict[str, tuple[str, ...]] = {
    "camera": CAMERA_VALUES,
    "shot_size": SHOT_SIZE_VALUES,
    "timing": TIMING_VALUES,
    "vfx": VFX_VALUES,
}


class LabelError(ValueError):
    """A label file that does not follow the schema; the message names the file and the place."""


@dataclass(frozen=True)
class Span:
    """An inclusive frame span with a type (a transition or an in-shot flash)."""

    start: int
    end: int
    type: str

    @property
    def length(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True)
class ShotLabel:
    start: int
    end: int
    camera: str = "unknown"
    shot_size: str = "unknown"
    timing: str = "unknown"
    vfx: tuple[str, ...] = ()
    text_overlay: str = "none"
    notes: str = ""

    @property
    def length(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True)
class FootageLabel:
    clip: str
    frames: int
    cuts: tuple[int, ...]
    transitions: tuple[Span, ...]
    flashes: tuple[Span, ...]
    shots: tuple[ShotLabel, ...]
    layout: str
    style: str
    confidence: str = "high"
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def boundaries(self) -> list[int]:
        """First frame of every new shot after a hard cut (the ``cuts`` list, sorted)."""
        return sorted(self.cuts)

    def uncovered_frames(self) -> list[int]:
        """Frames in neither a shot nor a transition (the schema says there are none)."""
        covered = bytearray(self.frames)
        for span in (*self.shots, *self.transitions):
            covered[span.start : span.end + 1] = b"\x01" * (span.end - span.start + 1)
        return [i for i, c in enumerate(covered) if not c]

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        data["cuts"] = list(self.cuts)
        data["transitions"] = [asdict(t) for t in self.transitions]
        data["flashes"] = [asdict(f) for f in self.flashes]
        data["shots"] = [{**asdict(s), "vfx": list(s.vfx)} for s in self.shots]
        return {k: data[k] for k in LABEL_KEYS}


def _check(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise LabelError(f"{where}: {msg}")


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> str:
    _check(
        isinstance(value, str) and value in allowed, where, f"{value!r} is not one of {', '.join(allowed)}"
    )
    return value


def _int(value: Any, where: str) -> int:
    _check(
        isinstance(value, int) and not isinstance(value, bool) and value >= 0,
        where,
        f"{value!r} is not a frame index",
    )
    return value


def _span(raw: Any, types: tuple[str, ...], frames: int, where: str) -> Span:
    _check(isinstance(raw, dict), where, "expected an object with start, end, type")
    start, end = _int(raw.get("start"), f"{where}.start"), _int(raw.get("end"), f"{where}.end")
    _check(start <= end, where, f"start {start} is after end {end}")
    _check(end < frames, where, f"span {start}..{end} is not inside 0..{frames - 1}")
    return Span(start, end, _choice(raw.get("type"), types, f"{where}.type"))


def parse_label(raw: dict[str, Any], source: str = "<label>") -> FootageLabel:
    """Validate a decoded label JSON object and return it typed. Raises :class:`LabelError`."""
    _check(isinstance(raw, dict), source, "a label file must hold one JSON object")
    # layout and style are required: a default would put a tag on the clip that nobody observed.
    for key in ("clip", "frames", "cuts", "shots", "layout", "style"):
        _check(key in raw, source, f"missing required key {key!r}")
    frames = _int(raw["frames"], f"{source}: frames")
    _check(frames > 0, source, "frames must be positive")
    cuts = tuple(_int(c, f"{source}: cuts[{i}]") for i, c in enumerate(raw["cuts"]))
    for i, c in enumerate(cuts):
        _check(0 < c < frames, f"{source}: cuts[{i}]", f"cut {c} outside 1..{frames - 1}")
    transitions = tuple(
        _span(t, TRANSITION_TYPES, frames, f"{source}: transitions[{i}]")
        for i, t in enumerate(raw.get("transitions", []))
    )
    flashes = tuple(
        _span(f, FLASH_TYPES, frames, f"{source}: flashes[{i}]") for i, f in enumerate(raw.get("flashes", []))
    )
    shots = []
    for i, s in enumerate(raw["shots"]):
        where = f"{source}: shots[{i}]"
        _check(isinstance(s, dict), where, "expected an object")
        start, end = _int(s.get("start"), f"{where}.start"), _int(s.get("end"), f"{where}.end")
        _check(start <= end < frames, where, f"span {start}..{end} is not inside 0..{frames - 1}")
        vfx = s.get("vfx", [])
        _check(isinstance(vfx, list), f"{where}.vfx", "expected a list")
        shots.append(
            ShotLabel(
                start=start,
                end=end,
                camera=_choice(s.get("camera", "unknown"), CAMERA_VALUES, f"{where}.camera"),
                shot_size=_choice(s.get("shot_size", "unknown"), SHOT_SIZE_VALUES, f"{where}.shot_size"),
                timing=_choice(s.get("timing", "unknown"), TIMING_VALUES, f"{where}.timing"),
                vfx=tuple(_choice(v, VFX_VALUES, f"{where}.vfx[{j}]") for j, v in enumerate(vfx)),
                text_overlay=_choice(
                    s.get("text_overlay", "none"), TEXT_OVERLAY_VALUES, f"{where}.text_overlay"
                ),
                notes=str(s.get("notes", "")),
            )
        )
    for a, b in zip(shots, shots[1:], strict=False):
        _check(
            a.end < b.start,
            source,
            f"shots {a.start}..{a.end} and {b.start}..{b.end} overlap or are out of order",
        )
    return FootageLabel(
        clip=str(raw["clip"]),
        frames=frames,
        cuts=cuts,
        transitions=transitions,
        flashes=flashes,
        shots=tuple(shots),
        layout=_choice(raw["layout"], LAYOUT_VALUES, f"{source}: layout"),
        style=_choice(raw["style"], STYLE_VALUES, f"{source}: style"),
        confidence=_choice(raw.get("confidence", "high"), CONFIDENCE_VALUES, f"{source}: confidence"),
        notes=str(raw.get("notes", "")),
        extra={k: v for k, v in raw.items() if k not in LABEL_KEYS},
    )


def load_label(path: str | Path) -> FootageLabel:
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LabelError(f"{path}: not valid JSON ({exc})") from exc
    return parse_label(raw, str(path))


def write_label(label: FootageLabel, path: str | Path) -> None:
    Path(path).write_text(json.dumps(label.to_json_dict(), indent=1) + "\n", encoding="utf-8")


def load_label_dir(labels_dir: str | Path) -> dict[str, FootageLabel]:
    """All labels in a folder, keyed by clip file name."""
    return {lab.clip: lab for lab in (load_label(p) for p in sorted(Path(labels_dir).glob("*.json")))}
