"""The VFX expert: vfx.effects that the pixels show plainly -- flashes, impact frames, colour inversions.

Flashes are found by the shot detector's own in-shot flash stages (:mod:`pipeline.shots.anime`), run once per
video on the shared analysis frames and cached in the :class:`~pipeline.scores.registry.ScoreContext`: flat
white / coloured runs whose two sides show the same picture, and 1-4 frame excursions (stark two-tone frames,
colour negatives, washed-out frames) after which the shot continues (when the detector has just run on the
same frames, as in the curate job, its own result of these stages is reused). Only the cheap signal stages
run, never TransNet: the detector's flash list is exactly the union of these two stages, so the expert and
the detector agree frame for frame. The detector's types map to tags as

* ``white_flash`` / ``colour_flash`` -> ``flash``
* ``impact_frame`` -> ``impact_frame``
* ``inversion`` -> ``impact_frame`` and ``colour_inversion`` (an inverted frame at a hit is an impact frame
  drawn as a colour negative; the footage labels record it as ``impact_frame``)

An excursion the detector types ``impact_frame`` only by elimination (not flat, two-tone, inverted or brighter)
is not taken as an effect -- a blink or a quick gesture passes that test too; such frames, and the rest, are
instead checked by :func:`luma_excursions` (a 1-2 frame run much darker or brighter than both neighbours,
which show the same picture), which also finds hit frames the detector's return test rejects (Blast Burn's
darkened impact frame at 79). A flash counts for the shot that holds its first frame.

Measured per labelled shot (flash / impact_frame tags; a shot's truth is its ``vfx`` list plus the types of the
labelled flashes inside it): development clips 1 of 1 found, no false tag on the other 73 shots; synthetic
footage (13 videos, 3 seeds; the seed-11 set was not looked at while tuning) 19 of 19, no false tag.

Every other effect (fire, glow, speed lines, ...) is beyond what these measurements can tell, so when no flash
is found the expert abstains on ``vfx.effects`` instead of claiming the shot has no effects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from annotator.base import ExpertOutput, ShotInput
from pipeline.shots.base import FrameSpan

if TYPE_CHECKING:
    from pipeline.frames import AnalysisFrames
    from pipeline.shots.anime import AnimeShotConfig
    from pipeline.shots.signals import FrameSignals

#: Detector flash type -> vfx.effects values.
FLASH_EFFECTS: dict[str, tuple[str, ...]] = {
    "white_flash": ("flash",),
    "colour_flash": ("flash",),
    "impact_frame": ("impact_frame",),
    "inversion": ("impact_frame", "colour_inversion"),
}
#: Confidence of a flash vote whose type the picture shows directly: a flat / washed-out run, a stark two-tone
#: frame, a colour negative of the frame before, or a much brighter frame -- each one the shot returns from.
DIRECT_CONFIDENCE = 0.9
#: The detector types an excursion ``impact_frame`` also by elimination (neither flat, two-tone, inverted nor
#: brighter): for shot detection any such excursion is "not a cut", but a blink or a quick gesture passes
#: too. As an effect it counts only when the excursion frame is also much darker or brighter than *both*
#: neighbours (``LUMA_EXCURSION``; the detector's own luma-step candidate threshold) -- a hit frame drawn in
#: shadow or light -- and with a lower confidence.
LUMA_EXCURSION = 20.0
#: The two neighbours must agree with each other to this share of the excursion (the shot returns).
LUMA_RETURN_SHARE = 0.35
#: A luma excursion also needs the same picture on both sides (structure, as the detector's return test).
LUMA_RETURN_MIN_SIMILARITY = 0.4
LUMA_RETURN_MAX_HIST = 0.25
LUMA_MAX_FRAMES = 2
INDIRECT_CONFIDENCE = 0.7


@dataclass(frozen=True)
class FlashEvent:
    """An in-shot flash of the video: its span, the detector's type (or ``luma_excursion``), the effects it
    stands for, the confidence of that reading, and the measurement it rests on."""

    span: FrameSpan
    effects: tuple[str, ...]
    confidence: float
    evidence: str


@dataclass(frozen=True)
class VideoFlashes:
    """The in-shot flashes of one video (before strobe merging, so each keeps its own type)."""

    events: tuple[FlashEvent, ...] = field(default_factory=tuple)

    def in_shot(self, start: int, end: int) -> list[FlashEvent]:
        return [e for e in self.events if start <= e.span.start <= end]


def luma_excursions(sig: FrameSignals, taken: np.ndarray) -> list[FlashEvent]:
    """1-``LUMA_MAX_FRAMES`` frame runs much darker (-> impact_frame) or brighter (-> flash) than both
    neighbours, which agree with each other, show the same picture, and are not part of a found flash."""
    n = len(sig)
    luma = sig.luma
    out: list[FlashEvent] = []
    for length in range(1, LUMA_MAX_FRAMES + 1):
        for s in range(1, n - length):
            e = s + length - 1
            if taken[s - 1 : e + 2].any():
                continue
            inner = luma[s : e + 1]
            before, after = float(luma[s - 1]), float(luma[e + 1])
            dark = min(before, after) - float(inner.max())
            bright = float(inner.min()) - max(before, after)
            dev = max(dark, bright)
            if dev < LUMA_EXCURSION or abs(before - after) > LUMA_RETURN_SHARE * dev:
                continue
            if sig.hist_between(s - 1, e + 1) > LUMA_RETURN_MAX_HIST:
                continue
            if sig.similarity(s - 1, e + 1) < LUMA_RETURN_MIN_SIMILARITY:
                continue
            effect = "impact_frame" if dark > bright else "flash"
            out.append(FlashEvent(FrameSpan(s, e, "luma_excursion"), (effect,), INDIRECT_CONFIDENCE, "luma"))
            taken[s : e + 1] = True
    return out


def find_video_flashes(frames: AnalysisFrames, config: AnimeShotConfig | None = None) -> VideoFlashes:
    """The shot detector's flat-run and excursion stages over the whole video (no TransNet), read as effects,
    plus :func:`luma_excursions` among the frames they leave."""
    from pipeline.shots.anime import AnimeShotDetector, _two_tone
    from pipeline.shots.signals import compute_signals

    n = len(frames)
    if n < 3:
        return VideoFlashes()
    detector = AnimeShotDetector(config)
    sig = compute_signals(frames.thumb)  # the detector's own signals object when it just ran on these frames
    fps = float(frames.fps) if frames.fps else 24.0
    # the detector's result of these stages when it ran on the same signals (the curate job), else run here
    stages = detector.flash_stages(sig, fps)
    flat_runs = set(stages.flashes[: stages.flat_runs])
    events: list[FlashEvent] = []
    taken = stages.claimed[:n].copy()  # boundaries inside fades, flash cuts and flashes found so far
    for span in stages.flashes:
        taken[span.start : span.end + 1] = True
        two_tone = any(_two_tone(sig.small[t]) for t in range(span.start, span.end + 1))
        if span in flat_runs:
            evidence = "flat"
        elif span.type != "impact_frame" or two_tone:
            evidence = "two_tone" if two_tone else span.type
        else:
            continue  # typed by elimination: left to the luma test below
        events.append(FlashEvent(span, FLASH_EFFECTS[span.type], DIRECT_CONFIDENCE, evidence))
    for span in stages.flashes:
        if span.type == "impact_frame" and not any(e.span == span for e in events):
            # the detector claimed the boundaries into and out of it (start .. end + 1)
            taken[span.start : span.end + 2] = False
    events += luma_excursions(sig, taken)
    return VideoFlashes(tuple(sorted(events, key=lambda e: e.span.start)))


class VfxExpert:
    """Votes vfx.effects = flash / impact_frame / colour_inversion from the detector's in-shot flash stages."""

    name = "vfx"
    fields = ("vfx.effects",)

    def __init__(self, priority: int = 1, config: AnimeShotConfig | None = None) -> None:
        self.priority = priority
        self.config = config

    def flashes(self, shot: ShotInput) -> list[FlashEvent]:
        found = shot.ctx.video_cached(
            shot.frames, "vfx.flashes", lambda: find_video_flashes(shot.frames, self.config)
        )
        return found.in_shot(shot.start, shot.end)

    def annotate(self, shot: ShotInput) -> ExpertOutput:
        out = ExpertOutput()
        events = self.flashes(shot)
        if not events:
            out.abstain(
                "vfx.effects",
                self.name,
                "no flash, impact frame or inversion in the shot; other effects are not judged from pixels",
            )
            return out
        best: dict[str, float] = {}
        frames: dict[str, int] = {}
        for ev in events:
            for value in ev.effects:
                best[value] = max(best.get(value, 0.0), ev.confidence)
                frames[value] = frames.get(value, 0) + ev.span.end - ev.span.start + 1
        for value, conf in best.items():
            out.vote("vfx.effects", value, conf, self.name, frames=frames[value], events=len(events))
        return out
