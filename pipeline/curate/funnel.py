"""The funnel: per stage, how many items and seconds came in, were kept, and were dropped (and why)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa

from pipeline.schema import col


@dataclass(frozen=True)
class FunnelRow:
    stage: str = col("pipeline stage, in order: input, probe, shots, filter, clips, dedupe, shards")
    unit: str = col("what is counted: 'video', 'shot' or 'clip'")
    items_in: int = col("items that reached the stage")
    kept: int = col("items the stage passed on")
    dropped: int = col("items the stage dropped (each has a rejections row)")
    seconds_in: float = col("source seconds that reached the stage", pa.float64())
    seconds_kept: float = col("source seconds the stage passed on", pa.float64())
    reasons: str = col("dropped items per rule, 'rule=count; ...'")


@dataclass
class FunnelStage:
    stage: str
    unit: str
    items_in: int = 0
    kept: int = 0
    seconds_in: float = 0.0
    seconds_kept: float = 0.0
    reasons: Counter[str] = field(default_factory=Counter)

    def row(self) -> FunnelRow:
        return FunnelRow(
            self.stage,
            self.unit,
            self.items_in,
            self.kept,
            self.items_in - self.kept,
            round(self.seconds_in, 3),
            round(self.seconds_kept, 3),
            "; ".join(f"{k}={v}" for k, v in sorted(self.reasons.items())),
        )


def reasons_of(rules: Iterable[str]) -> Counter[str]:
    return Counter(rules)
