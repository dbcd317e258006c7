"""Exact time: every conversion between frame indices, presentation timestamps and seconds lives here.

A frame's time is ``pts * time_base`` as a :class:`~fractions.Fraction`; frame rates are Fractions
(24000/1001 is the normal case in anime, not an edge case). Floats appear only at the edges (JSON, logs).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

#: Frame rates broadcast and web anime actually use; a measured rate within tolerance snaps to one of these.
COMMON_RATES: tuple[Fraction, ...] = (
    Fraction(24000, 1001),
    Fraction(24),
    Fraction(25),
    Fraction(30000, 1001),
    Fraction(30),
    Fraction(48),
    Fraction(50),
    Fraction(60000, 1001),
    Fraction(60),
    Fraction(12),
    Fraction(15),
)


@dataclass(frozen=True)
class FrameTime:
    """The exact presentation time of one decoded frame."""

    index: int
    pts: int
    time_base: Fraction

    @property
    def seconds(self) -> Fraction:
        return self.pts * self.time_base

    def __float__(self) -> float:
        return float(self.seconds)


def to_fraction(value: Fraction | float | int | str) -> Fraction:
    """Parse a rate or time given as a Fraction, number or ``"24000/1001"`` string."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, str):
        return Fraction(value.strip())
    return Fraction(value).limit_denominator(1_000_000)


def snap_rate(rate: Fraction | float, tolerance: float = 2e-4) -> Fraction:
    """The common rate closest to ``rate`` if within ``tolerance`` (relative), else ``rate`` unchanged.

    The tolerance is far below the 0.1% between 24 and 24000/1001, so those two never swap.
    """
    rate = to_fraction(rate)
    if rate <= 0:
        return rate
    closest = min(COMMON_RATES, key=lambda c: abs(float(rate) / float(c) - 1.0))
    return closest if abs(float(rate) / float(closest) - 1.0) <= tolerance else rate


def frame_to_seconds(index: int, fps: Fraction) -> Fraction:
    """Nominal start time of frame ``index`` in a constant-frame-rate stream."""
    return Fraction(index) / fps


def seconds_to_frame(seconds: Fraction | float, fps: Fraction) -> int:
    """Index of the constant-rate frame on screen at ``seconds`` (floor, exact for Fractions)."""
    return int(to_fraction(seconds) * fps)


def pts_for_frame(index: int, fps: Fraction, time_base: Fraction) -> int:
    """Integer pts of frame ``index`` for an encoder writing at ``fps`` with ``time_base``."""
    value = Fraction(index) / fps / time_base
    if value.denominator != 1:
        raise ValueError(f"time base {time_base} cannot represent frame {index} at {fps} fps exactly")
    return int(value)


def fraction_to_json(value: Fraction) -> str:
    """A lossless string for JSON/Parquet (``"24000/1001"``, ``"24"``)."""
    return str(value)
