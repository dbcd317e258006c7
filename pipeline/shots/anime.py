"""The anime-aware shot detector (default backend ``transnet``): TransNetV2 plus cheap signals.

Stages (every threshold lives in :class:`AnimeShotConfig`, with the reason for its value):

1. **Cheap signals** over all frames (:mod:`pipeline.shots.signals`), on the active area inside static
   letterbox/pillarbox bars: colour-histogram distance and luma difference between consecutive frames,
   mean luma / contrast / white fraction per frame; on demand a shift-tolerant structural similarity.
2. **Candidates**: a boundary ``b`` (between frames ``b-1`` and ``b``) is a candidate when the colours
   change noticeably, the brightness jumps, or a frame turns flat. Nothing else can become a hard cut or a
   flash.
3. **Flat runs** (black, white, or one-colour frames) become fades, flash cuts, or in-shot flashes: the
   span grows backwards over the frames that approach the flat colour and forwards over those that leave
   it; if the picture after the span is the picture before it, it was an in-shot flash, otherwise one
   transition. A black leader (with its fade-in) belongs to the first shot; a hard cut into a black tail
   is a cut.
4. **Short excursions**: 1-``flash_max_frames`` frames that differ strongly from the frames around them
   while the frame after looks like the frame before (impact frames, inversions, colour flashes, strobes)
   are in-shot flashes, never cuts.
5. **Gradual transitions** through no flat frame (dissolves, wipes): a colour-novelty peak (one stable
   picture giving way to another), no single large step, and in-between frames explained by the two end
   pictures (a linear blend for a dissolve, a per-block choice for a wipe). Spans explained only loosely
   are kept if TransNet's many-hot output agrees. A wipe between two shots in one palette barely moves the
   colours: a weaker novelty peak is a *shape wipe* when, by layout, a region of the next picture grows
   over a large part of the previous one, each block switching once.
6. **Triage** of the remaining candidates by the cheap signals: a structural change between two pictures
   each held still longer than anime holds a drawing of continuous motion -> a jump cut; structure
   continues across the boundary -> same shot; a very large colour change with no structural continuity
   -> cut. Only the rest is uncertain.
7. **TransNetV2** runs only on the 100-frame windows holding uncertain candidates or loosely explained
   gradual spans -- the same window grid, 25-frame context and kept middle 50 predictions as a full-video
   run, so every probability read is exactly that of a full run (``gating=False`` runs every window and
   gives the same result) -- batched. A strong peak is a cut; a moderate one is a cut with a large colour
   change and little structural continuity.
8. Cuts within one frame of each other merge; boundaries that would leave a shot shorter than
   ``min_shot_frames`` are dropped (the weaker one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import ClassVar

import cv2
import numpy as np

from pipeline.frames import AnalysisFrames
from pipeline.shots.base import FrameSpan, ShotBoundaries
from pipeline.shots.signals import FrameSignals, compute_signals, hist_distance, on_forget_signals
from pipeline.shots.transnet import PRECISIONS, STEP, TransNetPredictions, TransNetV2Model, window_count

#: ``predictor(tiny, windows)``: TransNet predictions for the given 50-frame windows (``None`` = all).
WindowPredictor = Callable[[np.ndarray, "list[int] | None"], TransNetPredictions]


@dataclass(frozen=True)
class AnimeShotConfig:
    """Thresholds of :class:`AnimeShotDetector`. Histogram distances are half-L1 between 12x4x4 HSV
    histograms (0..1); similarities are shift-tolerant normalised correlations of 64x36 luma (-1..1); luma is
    0..255. "Labelled clips" are the 28 development clips of ``footage/labels``."""

    # --- candidates (and the TransNet gate) -------------------------------------------------------------
    #: Colour change that makes a boundary a candidate. Every labelled hard cut changes the histogram by
    #: >= 0.139 (the Vinland jump cuts are the lowest); in-shot drawing changes on twos/threes mostly stay
    #: below 0.1, so this keeps candidates (and TransNet windows) sparse.
    candidate_min_hist: float = 0.12
    #: Mean-luma jump that makes a boundary a candidate on its own (flashes can keep the colours' hue).
    candidate_min_luma_step: float = 20.0

    # --- hard cuts ---------------------------------------------------------------------------------------
    #: TransNet probability that is a cut on its own (the published operating point).
    strong_threshold: float = 0.5
    #: A weaker TransNet peak is a cut when the colours change a lot *and* the picture has no structural
    #: continuity. Blast Burn's labelled cuts 101 (p 0.17, similarity 0.16) and 121 (p 0.15, 0.18) drove
    #: this; its in-shot stepped pull-back (125: p 0.17, histogram 0.50, similarity 0.42) and flame bursts
    #: (60, 152: similarity >= 0.5) keep some structure across the step and are rejected.
    moderate_threshold: float = 0.12
    moderate_min_hist: float = 0.4
    moderate_max_similarity: float = 0.35
    #: ...plus this much per unit of TransNet probability above ``moderate_threshold``: a p = 0.46 peak
    #: between two similarly composed shots (similarity 0.47) is a cut; Blast Burn's 60 (p 0.26,
    #: similarity 0.51) and 152 (p 0.21, 0.60) stay in-shot.
    moderate_similarity_slope: float = 1.0
    #: A very large colour change without structural continuity between two lit, textured pictures is a
    #: cut without asking TransNet -- also where TransNet is blind (fast motion on both sides: Sintel 406,
    #: p 0.004, histogram 0.76, similarity 0.01). 17 of the labelled hard cuts pass this; no in-shot frame
    #: pair does except Flying Sunset 75, which TransNet calls a cut too (p 0.53).
    colour_cut_min_hist: float = 0.5
    colour_cut_max_similarity: float = 0.3
    #: Across a boundary whose pictures keep this much structure (shift-tolerant correlation) the shot
    #: continues -- motion or animation -- and TransNet is not asked. Labelled cuts TransNet has to decide
    #: stay <= 0.49 (Vinland 9; Sintel 573: 0.43); Vinland's jump cut 6 (0.60) is found before this test, as a
    #: held jump.
    continuity_min_similarity: float = 0.6
    #: A *held jump*: two pictures each held still for at least ``held_jump_min_seconds`` with different
    #: structure between them (similarity below ``held_jump_max_similarity``) are two shots -- a jump cut,
    #: even when the framing only steps (SCHEMA: "a jump in framing ... with nothing in between IS a cut").
    #: Anime draws continuous motion on ones, twos or threes (a drawing lasts at most 3 frames at 24 fps,
    #: 0.125 s), and a stepped camera move animated that way stays one shot (Cel Flamethrower's and Flying
    #: Sunset's pull-backs, Blast Burn 125); Vinland's 12.5 fps stepped pull-back holds each framing 0.16 s
    #: (its cuts 4, 6: similarity 0.41 / 0.60, TransNet 0.34 / 0.20). On the labelled clips no in-shot change
    #: between two pictures held that long has similarity below 0.8 (pose changes and mouth flaps on threes
    #: are 0.125 s holds).
    held_jump_min_seconds: float = 0.15
    held_jump_max_similarity: float = 0.7
    #: Similarity at which a frame still shows the same drawing as its neighbour (held; grain, dither and
    #: compression noise stay above it).
    held_min_similarity: float = 0.95
    #: Pictures darker or flatter than this are left to the fade logic (histograms of near-black frames are
    #: dominated by noise).
    colour_cut_min_luma: float = 20.0
    colour_cut_min_contrast: float = 8.0
    #: Shift (pixels of the 64x36 picture) the structural similarity tolerates: camera moves and shakes.
    similarity_radius: int = 3

    # --- flashes -----------------------------------------------------------------------------------------
    #: Longest in-shot flash / impact excursion (frames). Anime impact frames and flashes last 1-3 frames;
    #: a longer different picture is an insert shot.
    flash_max_frames: int = 4
    #: The frame after an excursion "returns" to the frame before it when their colours are this close...
    flash_return_max_hist: float = 0.25
    #: ...(and at most this fraction of the entry's colour change)...
    flash_return_ratio: float = 0.6
    #: ...and their structure matches this well -- or nearly as well as the shot's own frames the same
    #: distance apart (dissimilarity at most this ratio of theirs, similarity at least
    #: ``flash_return_min_relative``): a close-up animated on ones around a 2-frame impact has 0.49 across
    #: the flash and 0.48 over the 3 frames before it; randomly redrawn speed lines give 0.30 vs 0.46.
    flash_return_min_similarity: float = 0.5
    flash_return_dissimilarity_ratio: float = 1.5
    flash_return_min_relative: float = 0.2
    #: An excursion frame this similar to the colour negative of the frame before is an inversion.
    inversion_min_similarity: float = 0.6
    #: Brighter than the frame before by this much (and white-ish): a white flash rather than an impact.
    white_flash_min_luma_gain: float = 40.0
    #: Flashes closer than this (frames) merge into one strobe.
    strobe_max_gap: int = 3

    # --- flat frames, fades and flash cuts ----------------------------------------------------------------
    #: A frame whose luma std (outside static overlays) is below this is one flat colour. Sintel's title
    #: cards (small white text on black, std ~6) must stay pictures; fade bottoms are < 4.
    flat_max_contrast: float = 4.0
    #: A frame with this fraction of near-white pixels is a washed-out (white) frame even when a player bar
    #: or a subtitle keeps its std high (Blast Burn 107).
    washed_out_min_white: float = 0.85
    #: Flat colours darker than this are black, brighter (and unsaturated) are white (Sintel's white-out
    #: fades to flat grey 176).
    black_max_luma: float = 40.0
    white_min_luma: float = 150.0
    #: A fade ramp continues while each frame moves at least this fraction closer to the flat colour (one
    #: repeated frame in between is tolerated).
    fade_min_rel_step: float = 0.005
    #: ...while at least this share of each frame's change is a uniform scaling towards / away from the
    #: flat colour (a fade; a tilt that drifts brighter, a hard cut after unrelated frames are not).
    fade_min_scaling_share: float = 0.5
    #: Longest fade ramp on either side of the flat frames (seconds); Sintel's slowest ramps take ~2 s.
    fade_max_seconds: float = 3.0
    #: A white/colour transition no longer than this (frames), entered and left abruptly (ramps of at most
    #: ``flash_cut_max_ramp`` frames), is a flash cut; otherwise a fade.
    flash_cut_max_frames: int = 10
    flash_cut_max_ramp: int = 2
    #: Flat spans no longer than this whose two sides show the same picture are in-shot flashes.
    flat_flash_max_frames: int = 8

    # --- gradual transitions without flat frames (dissolves, wipes) ---------------------------------------
    #: Half-width (frames) of the before/after blocks compared by the novelty curve: ~0.7 s, as long as a
    #: typical anime dissolve or wipe (the labelled ones take 14-31 frames; longer ones still peak).
    gradual_half_width: int = 16
    #: Novelty (mean cross-block minus mean within-block histogram distance) of a gradual scene change. The
    #: labelled dissolves and wipes peak at 0.25-0.58 (Mars Express' iris wipe, within one palette, only
    #: at 0.11); steady pans and push-ins stay <= 0.16, drawn push-ins and big animation reach ~0.25.
    gradual_min_novelty: float = 0.2
    #: Largest single step relative to the whole change: above this the change is abrupt (a cut), not gradual.
    gradual_max_concentration: float = 0.5
    #: Colour change between the two ends of a gradual transition (labelled ones: 0.46-0.96).
    gradual_min_hist: float = 0.4
    #: Mean residual of the in-between frames explained by the two ends (blend or spatial split), relative
    #: to the ends' difference. Labelled dissolves/wipes: 0.14-0.30; animation and camera moves that pass
    #: the novelty test: >= 0.33 (Gojo's drawn push-in).
    gradual_max_residual: float = 0.3
    #: Up to this residual a span is still a dissolve when TransNet's many-hot output (P(frame inside a
    #: transition)) averages at least ``gradual_min_many_hot`` over it: dissolves whose two shots keep
    #: moving (synthetic pans: 0.30-0.32; many-hot 0.3-0.9) vs animation and camera moves (many-hot <= 0.1).
    gradual_max_residual_transnet: float = 0.45
    gradual_min_many_hot: float = 0.25
    #: Shape wipes (an iris, a sliding panel) are judged by *where* the pictures differ, not by their
    #: colours: between two shots in one palette (Mars Express' iris wipe: colour novelty 0.09-0.10, ends
    #: 0.16-0.18 apart) the colour tests above see nothing. Around a novelty peak of at least
    #: ``wipe_min_novelty`` that fails them, the span is where the share of blocks already showing the next
    #: picture climbs from 10% to 90%, and it is a wipe when a region of the next picture grows over the
    #: previous one: the in-between frames are a per-block choice of the two ends (residual at most
    #: ``wipe_max_residual``; Mars' iris 0.13; camera moves and animation at the labelled clips' weak peaks
    #: >= 0.16, mostly 0.2-0.3 -- so a wipe between two shots that both move fast, whose own motion adds to
    #: the residual, is missed), clearly not a blend of them (blend residual at least
    #: ``wipe_min_blend_margin`` higher), most changing blocks switch from the old picture to the new one
    #: once and stay (``wipe_min_monotonic``), and the new picture replaces at least
    #: ``wipe_min_changed_area`` of the frame (Mars' iris 0.45; the callout boxes that pop up inside its
    #: asteroid shot: 0.15-0.22).
    wipe_min_novelty: float = 0.08
    wipe_max_residual: float = 0.16
    wipe_min_blend_margin: float = 0.1
    wipe_min_monotonic: float = 0.85
    wipe_min_changed_area: float = 0.35

    # --- output --------------------------------------------------------------------------------------------
    #: Shortest shot kept (frames): a boundary that would leave a shorter shot is dropped (the weaker one).
    #: 2 keeps Vinland's 2-frame jump-cut steps at 12.5 fps and drops TransNet's peak at frame 0 of a clip.
    min_shot_frames: int = 2
    #: Run TransNet only on windows covering candidates (same result as everywhere, much cheaper).
    gating: bool = True
    device: str = "cpu"
    #: Windows per network call: batching saves no CPU time here (the convolutions run at GEMM speed either
    #: way) and each window holds ~65 MB of activations.
    batch_windows: int = 2
    #: TransNet arithmetic: "auto" runs its spatial convolutions in int8 on a CPU with VNNI (~1.25x faster
    #: windows than bf16), else its convolutions under bfloat16 autocast where the device has native bf16
    #: (AVX512-BF16 / AMX CPUs, recent GPUs; ~2x faster than fp32 on CPU), else fp32; "fp32" everywhere, so
    #: boundaries do not depend on the machine. Over 49 development and synthetic videos, bf16 moved
    #: TransNet's probabilities by <= 0.035 and int8 by <= 0.045 from fp32, and neither changed a boundary
    #: (docs/benchmarks.md, "Session 14").
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.min_shot_frames < 1:
            raise ValueError("min_shot_frames must be >= 1")
        if self.flash_max_frames < 1:
            raise ValueError("flash_max_frames must be >= 1")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r}: choose from {', '.join(PRECISIONS)}")


# ------------------------------------------------------------------------------------------- TransNet gate


# ----------------------------------------------------------------------------------------------- analysis


@dataclass
class _Event:
    """A boundary being assembled: a cut (start == end == first frame of the new shot) or a transition."""

    start: int
    end: int
    kind: str  # "cut" or a transition type
    strength: float

    @property
    def is_cut(self) -> bool:
        return self.kind == "cut"

    @property
    def last_of_previous(self) -> int:
        """Last frame of the shot before this boundary."""
        return self.start - 1

    @property
    def first_of_next(self) -> int:
        """First frame of the shot after this boundary."""
        return self.start if self.is_cut else self.end + 1


@dataclass(frozen=True, eq=False)
class FlashStages:
    """What the cheap flash stages (flat runs, then excursions) found on one signals object before any later
    stage: the in-shot flashes in order (the first ``flat_runs`` of them from flat runs) and the boundaries
    claimed so far. The vfx expert reads the same stages; :meth:`AnimeShotDetector.flash_stages` hands it the
    detector's last result when signals, config and fps are the same (the stages are deterministic)."""

    sig: FrameSignals
    config: AnimeShotConfig
    fps: float
    flashes: tuple[FrameSpan, ...]
    flat_runs: int
    claimed: np.ndarray  # (N+1,) bool, read-only


_LAST_FLASH_STAGES: list[FlashStages] = []  # the last detect()'s stages (at most one)


def forget_flash_stages() -> None:
    """Drop the remembered flash stages (and the signals they hold on to), e.g. when a video is done."""
    _LAST_FLASH_STAGES.clear()


on_forget_signals(forget_flash_stages)


@dataclass
class _State:
    sig: FrameSignals
    cfg: AnimeShotConfig
    fps: float
    claimed: np.ndarray  # (N+1,) bool: boundary b already explained (inside a fade, flash, ...)
    events: list[_Event] = field(default_factory=list)
    flashes: list[FrameSpan] = field(default_factory=list)
    #: In-shot flashes the gradual stage hides behind the frame before each (see :meth:`clean_blocks`).
    hidden_flashes: tuple[FrameSpan, ...] = ()
    _clean_blocks: np.ndarray | None = None
    _sim: dict[tuple[int, int], float] = field(default_factory=dict)

    def sim(self, i: int, j: int) -> float:
        key = (i, j)
        if key not in self._sim:
            self._sim[key] = self.sig.similarity(i, j, self.cfg.similarity_radius)
        return self._sim[key]

    def hist(self, i: int, j: int) -> float:
        return float(hist_distance(self.sig.hist[i], self.sig.hist[j]))

    def clean_blocks(self) -> np.ndarray:
        """(N, 9, 16, 3) float32 :func:`_all_blocks` of the small frames, the ``hidden_flashes`` replaced by the
        frame before each (computed once, on first use)."""
        if self._clean_blocks is None:
            blocks = _all_blocks(self.sig.small)
            for f in self.hidden_flashes:
                if f.start > 0:
                    blocks[f.start : f.end + 1] = blocks[f.start - 1]
            self._clean_blocks = blocks
        return self._clean_blocks

    def claim(self, first: int, last: int) -> None:
        """Mark boundaries ``first .. last`` (inclusive) as explained."""
        self.claimed[max(0, first) : max(0, last + 1)] = True


class AnimeShotDetector:
    """TransNetV2 (gated) + anime-aware post-processing: the default shot backend."""

    name: ClassVar[str] = "transnet"

    def __init__(
        self,
        config: AnimeShotConfig | None = None,
        predictor: WindowPredictor | None = None,
        **overrides: object,
    ) -> None:
        """``overrides`` replace single config fields (``AnimeShotDetector(min_shot_frames=6)``);
        ``predictor`` replaces the packaged network (tests, cached predictions)."""
        config = config if config is not None else AnimeShotConfig()
        self.config = replace(config, **overrides) if overrides else config
        self.model = TransNetV2Model(
            device=self.config.device,
            batch_windows=self.config.batch_windows,
            precision=self.config.precision,
        )
        self._predictor = predictor

    def predict(self, tiny: np.ndarray, windows: list[int] | None) -> TransNetPredictions:
        if self._predictor is not None:
            return self._predictor(tiny, windows)
        return self.model.predict(tiny, windows)

    # ------------------------------------------------------------------------------------------- detect

    def detect(self, frames: AnalysisFrames) -> ShotBoundaries:
        n = len(frames)
        cfg = self.config
        if n == 0:
            return ShotBoundaries(frames=0, detector=self.name)
        sig = compute_signals(frames.thumb)
        fps = float(frames.fps) if frames.fps else 24.0
        st = _State(sig=sig, cfg=cfg, fps=fps, claimed=np.zeros(n + 1, bool))

        candidates = self._candidates(sig)
        # The cheap stages first; TransNet only looks at the candidates they leave unexplained.
        _LAST_FLASH_STAGES[:] = [self._flash_stages(st, candidates)]
        pending = self._gradual(st)
        remaining = self._triage(st, candidates)
        windows = None
        if cfg.gating:
            frames_needed = {b - 1 for b in remaining}  # p_cut[b] is TransNet's output on frame b-1
            # pending spans: many-hot over the span, and single at its candidates if TransNet rejects it
            frames_needed.update(f for ev in pending for f in range(ev.start - 1, ev.end + 1))
            windows = sorted({f // STEP for f in frames_needed if 0 <= f < n})
        pred = self.predict(frames.tiny, windows)
        rejected = self._confirm_gradual(st, pending, pred.many)
        inside = [b for b in candidates if any(ev.start <= b <= ev.end + 1 for ev in rejected)]
        remaining = [b for b in remaining if not st.claimed[b]] + self._triage(st, inside)
        p_cut = np.zeros(n + 1, np.float32)  # p_cut[b]: TransNet P(boundary between b-1 and b)
        p_cut[1:n] = pred.single[: n - 1]
        self._hard_cuts(st, remaining, p_cut)
        events = self._finalise(st, n)

        cuts = tuple(e.start for e in events if e.is_cut)
        transitions = tuple(FrameSpan(e.start, e.end, e.kind) for e in events if not e.is_cut)
        flashes = tuple(_strobes(st.flashes, cfg.strobe_max_gap))
        extra: dict[str, object] = {
            "transnet_windows": len(windows) if windows is not None else window_count(n),
            "transnet_windows_total": window_count(n),
            "candidates": len(candidates),
            "active_area": (sig.area.top, sig.area.bottom, sig.area.left, sig.area.right),
        }
        return ShotBoundaries(
            frames=n, cuts=cuts, transitions=transitions, flashes=flashes, detector=self.name, extra=extra
        )

    def flash_stages(self, sig: FrameSignals, fps: float) -> FlashStages:
        """The flat-run and excursion stages alone (what :meth:`detect` runs first) on ``sig``; the last
        :meth:`detect`'s result when it ran on this very signals object with the same config and fps."""
        for last in tuple(_LAST_FLASH_STAGES):
            if last.sig is sig and last.config == self.config and last.fps == fps:
                return last
        st = _State(sig=sig, cfg=self.config, fps=fps, claimed=np.zeros(len(sig) + 1, bool))
        return self._flash_stages(st, self._candidates(sig))

    def _flash_stages(self, st: _State, candidates: list[int]) -> FlashStages:
        self._flat_runs(st)
        flat_runs = len(st.flashes)
        self._excursions(st, candidates)
        claimed = st.claimed.copy()
        claimed.flags.writeable = False
        return FlashStages(st.sig, self.config, st.fps, tuple(st.flashes), flat_runs, claimed)

    # --------------------------------------------------------------------------------------- candidates

    def _candidates(self, sig: FrameSignals) -> list[int]:
        cfg = self.config
        n = len(sig)
        if n < 2:
            return []
        flat = self._flat_mask(sig)
        b = np.arange(1, n)
        mask = (
            (sig.hist_dist[1:] >= cfg.candidate_min_hist)
            | (np.abs(np.diff(sig.luma)) >= cfg.candidate_min_luma_step)
            | (flat[1:] != flat[:-1])
        )
        return [int(x) for x in b[mask]]

    def _flat_mask(self, sig: FrameSignals) -> np.ndarray:
        cfg = self.config
        return (sig.contrast < cfg.flat_max_contrast) | (sig.white >= cfg.washed_out_min_white)

    # --------------------------------------------------------------------------------- flat runs, fades

    def _flat_runs(self, st: _State) -> None:
        cfg, sig = st.cfg, st.sig
        n = len(sig)
        flat = self._flat_mask(sig)
        max_ramp = max(2, int(round(cfg.fade_max_seconds * st.fps)))
        picture = ~sig.overlay.ravel()
        everywhere = bool(picture.all())

        def pixels(first: int, stop: int) -> np.ndarray:
            """(T, P, 3) RGB of the non-overlay pixels of frames ``first .. stop - 1``."""
            frames = sig.small[first:stop].reshape(stop - first, -1, 3)
            return frames if everywhere else frames[:, picture]

        runs: list[tuple[int, int]] = []
        i = 0
        while i < n:
            if not flat[i]:
                i += 1
                continue
            j = i
            while j + 1 < n and flat[j + 1] and np.abs(sig.colour[j + 1] - sig.colour[j]).max() < 40.0:
                j += 1
            runs.append((i, j))
            i = j + 1

        prev_end = -1
        for k, (a, b) in enumerate(runs):
            flattest = a + int(np.argmin(sig.contrast[a : b + 1]))
            colour = np.median(pixels(flattest, flattest + 1)[0], axis=0)

            lo = max(prev_end + 1, a - max_ramp)
            hi = min(runs[k + 1][0] - 1 if k + 1 < len(runs) else n - 1, b + max_ramp)
            # every frame in reach, at once: its distance from the flat colour, and how much of its change
            # from the frame before is a uniform scaling towards / away from that colour
            first = max(0, lo - 1)
            diffs = pixels(first, min(hi + 2, n)) - colour
            diffs = diffs.reshape(len(diffs), -1)
            devs = np.abs(diffs).mean(axis=1)
            s, e = _ramps(
                partial(_offset_lookup, devs, first),
                partial(_offset_lookup, _scaling_share(diffs, devs), first),
                a,
                b,
                lo=lo,
                hi=hi,
                step=cfg.fade_min_rel_step,
                min_share=cfg.fade_min_scaling_share,
            )
            prev_end = e
            st.claim(s, e + 1)
            luma = float(sig.colour[flattest] @ np.array([0.299, 0.587, 0.114], np.float32))
            chroma = float(np.ptp(colour))
            is_black = luma < cfg.black_max_luma
            is_white = luma >= cfg.white_min_luma and chroma < 60.0

            if s == 0:
                continue  # black leader / opening fade-in: part of the first shot
            if e >= n - 1:
                # Tail: a hard cut into a long flat tail is a cut; a fade into it ends the last shot.
                if s == a and n - a >= cfg.min_shot_frames:
                    st.events.append(_Event(a, a, "cut", 2.0))
                continue
            before, after = s - 1, e + 1
            length = e - s + 1
            same = (
                length <= cfg.flat_flash_max_frames
                and st.hist(before, after) <= cfg.flash_return_max_hist
                and self._returns(st, before, after)
            )
            if same:
                st.flashes.append(FrameSpan(s, e, "white_flash" if is_white else "colour_flash"))
                continue
            if is_black:
                kind = "fade_black"
            elif length <= cfg.flash_cut_max_frames and max(a - s, e - b) <= cfg.flash_cut_max_ramp:
                kind = "flash_cut"
            else:
                kind = "fade_white" if is_white else "other"
            st.events.append(_Event(s, e, kind, 3.0))

    # ------------------------------------------------------------------------------------ excursions

    def _excursions(self, st: _State, candidates: list[int]) -> None:
        cfg, sig = st.cfg, st.sig
        n = len(sig)
        found: list[FrameSpan] = []
        for b in candidates:
            if st.claimed[b] or b < 1:
                continue
            entry = st.hist(b - 1, b)
            if (
                entry < cfg.candidate_min_hist
                and abs(sig.luma[b] - sig.luma[b - 1]) < cfg.candidate_min_luma_step
            ):
                continue
            for length in range(1, cfg.flash_max_frames + 1):
                e = b + length - 1
                if e + 1 >= n:
                    break
                if any(st.claimed[t] for t in range(b + 1, e + 2)):
                    break
                back = st.hist(b - 1, e + 1)
                exit_h = st.hist(e, e + 1)
                if back > cfg.flash_return_max_hist or back > cfg.flash_return_ratio * min(entry, exit_h):
                    continue
                if not self._returns(st, b - 1, e + 1):
                    continue
                found.append(FrameSpan(b, e, self._flash_type(st, b, e)))
                st.claim(b, e + 1)
                break
        st.flashes.extend(found)

    def _returns(self, st: _State, before: int, after: int) -> bool:
        """Does frame ``after`` show the picture of frame ``before`` (the same shot continuing)? Their
        structure must match as well as the shot's own frames ``after - before`` apart do (a close-up
        animated on ones changes a lot in 3 frames), or at least ``flash_return_min_similarity``."""
        cfg = st.cfg
        sim = st.sim(before, after)
        if sim >= cfg.flash_return_min_similarity:
            return True
        gap = after - before
        n = len(st.sig)
        refs = []
        if before - gap >= 0:
            refs.append(st.sim(before - gap, before))
        if after + gap < n:
            refs.append(st.sim(after, after + gap))
        if not refs or sim < cfg.flash_return_min_relative:
            return False
        return 1.0 - sim <= cfg.flash_return_dissimilarity_ratio * (1.0 - float(np.mean(refs))) + 0.05

    def _flash_type(self, st: _State, b: int, e: int) -> str:
        cfg, sig = st.cfg, st.sig
        before = b - 1
        if any(_two_tone(sig.small[t]) for t in range(b, e + 1)):
            return "impact_frame"
        if sig.inverted_similarity(b, before, cfg.similarity_radius) >= max(
            cfg.inversion_min_similarity, st.sim(b, before) + 0.2
        ):
            return "inversion"
        luma = float(sig.luma[b : e + 1].mean())
        if luma >= sig.luma[before] + cfg.white_flash_min_luma_gain and luma >= cfg.white_min_luma:
            return "white_flash"
        colour = sig.colour[b : e + 1].mean(axis=0)
        if float(np.ptp(colour)) >= 60.0 and float(sig.contrast[b : e + 1].mean()) < 0.5 * float(
            sig.contrast[before]
        ):
            return "colour_flash"
        return "impact_frame"

    # ------------------------------------------------------------------------------ gradual transitions

    def _gradual(self, st: _State) -> list[_Event]:
        """Dissolves and wipes that pass through no flat frame (see the module docstring, stage 6).

        Spans explained by their two ends within ``gradual_max_residual`` are accepted at once; those within
        ``gradual_max_residual_transnet`` are returned as pending, to be confirmed by TransNet's many-hot
        output (:meth:`_confirm_gradual`). Both are claimed, so no cut is looked for inside them."""
        cfg, sig = st.cfg, st.sig
        n = len(sig)
        w = cfg.gradual_half_width
        if n < 2 * w + 2:
            return []
        # In-shot flashes found so far would look like tiny scene changes: hide them behind the frame before
        # (in the histograms here, in the small frames' blocks in st.clean_blocks()).
        st.hidden_flashes = tuple(st.flashes)
        hist = sig.hist.copy()
        for f in st.flashes:
            if f.start > 0:
                hist[f.start : f.end + 1] = hist[f.start - 1]
        nov = novelty_curve(hist, w)
        min_novelty = min(cfg.gradual_min_novelty, cfg.wipe_min_novelty)
        peaks = [
            t
            for t in range(1, n - 1)
            if nov[t] >= min_novelty and nov[t] >= nov[t - 1] and nov[t] > nov[t + 1]
        ]
        peaks.sort(key=lambda t: -nov[t])
        pending: list[_Event] = []
        # Flash frames may sit inside or next to a transition; other claims (fades, cuts) may not.
        blocked = st.claimed.copy()
        for f in st.flashes:
            blocked[f.start : f.end + 2] = False
        for t in peaks:
            span = _progress_span(hist, max(0, t - w), min(n - 1, t + w), t)
            if span is None:
                continue
            s, e = span
            if blocked[s : e + 2].any():
                continue
            ends = float(hist_distance(hist[s - 1], hist[e + 1]))
            colour_change = nov[t] >= cfg.gradual_min_novelty and ends >= cfg.gradual_min_hist
            blocks = st.clean_blocks()
            if _concentration(blocks, s, e) > cfg.gradual_max_concentration:
                continue  # one step carries most of the change: abrupt, left to the cut logic
            blend, select = _explained_by_ends(blocks, s, e)
            if not colour_change:
                wipe = self._shape_wipe(blocks, max(0, t - w), min(n - 1, t + w), t)
                if wipe is not None and not blocked[wipe[0] : wipe[1] + 2].any():
                    st.events.append(_Event(wipe[0], wipe[1], "wipe", 3.0))
                    st.claim(wipe[0], wipe[1] + 1)
                    blocked[wipe[0] : wipe[1] + 2] = True
                continue
            residual = min(blend, select)
            if residual > cfg.gradual_max_residual_transnet:
                continue
            kind = "dissolve" if blend <= select + 0.05 else "wipe"
            s, e = _trim_span(blocks, s, e)  # report only the frames really in between
            if residual <= cfg.gradual_max_residual:
                st.events.append(_Event(s, e, kind, 3.0))
            else:
                pending.append(_Event(s, e, "dissolve", 3.0))
            st.claim(s, e + 1)
            blocked[s : e + 2] = True
        return pending

    def _shape_wipe(self, blocks: np.ndarray, a: int, b: int, t: int) -> tuple[int, int] | None:
        """The span of a shape wipe around the novelty peak ``t`` between the pictures ``a`` and ``b`` -- a
        region of the next picture growing over the previous one -- or ``None``. The span is found from the
        layout (which blocks already show the next picture), not the colours, and must pass the
        ``wipe_*`` tests of :class:`AnimeShotConfig`; ``blocks``: the :func:`_all_blocks` of the small frames."""
        cfg = self.config
        span = _layout_span(blocks, a, b, t)
        if span is None:
            return None
        s, e = span
        if e - s < 2 or _concentration(blocks, s, e) > cfg.gradual_max_concentration:
            return None
        blend, select = _explained_by_ends(blocks, s, e)
        if select > cfg.wipe_max_residual or blend < select + cfg.wipe_min_blend_margin:
            return None
        monotonic, changed = _switch_once(blocks, s, e)
        if changed < cfg.wipe_min_changed_area or monotonic < cfg.wipe_min_monotonic:
            return None
        return s, e

    def _confirm_gradual(self, st: _State, pending: list[_Event], many: np.ndarray) -> list[_Event]:
        """Keep the pending gradual spans TransNet also sees as transitions (and return the others, whose
        candidates go back to the cut logic); merge neighbouring gradual spans."""
        cfg = st.cfg
        rejected: list[_Event] = []
        for ev in pending:
            if float(many[ev.start : ev.end + 1].mean()) >= cfg.gradual_min_many_hot:
                st.events.append(ev)
            else:
                st.claimed[ev.start : ev.end + 2] = False
                rejected.append(ev)
        # A long transition can peak twice (Sintel's 74-frame dissolve): neighbours that the two outer end
        # pictures still explain as one blend / split are one transition.
        gradual = sorted((e for e in st.events if e.kind in ("dissolve", "wipe")), key=lambda e: e.start)
        others = [e for e in st.events if e.kind not in ("dissolve", "wipe")]
        merged: list[_Event] = []
        for ev in gradual:
            if merged and ev.start - merged[-1].end - 1 <= cfg.gradual_half_width:
                last = merged[-1]
                blend, select = _explained_by_ends(st.clean_blocks(), last.start, ev.end)
                if min(blend, select) <= cfg.gradual_max_residual:
                    kind = "dissolve" if blend <= select + 0.05 else "wipe"
                    merged[-1] = _Event(last.start, ev.end, kind, 3.0)
                    st.claim(last.start, ev.end + 1)
                    continue
            merged.append(ev)
        st.events = others + merged
        return rejected

    # ---------------------------------------------------------------------------------------- hard cuts

    def _triage(self, st: _State, candidates: list[int]) -> list[int]:
        """Decide the candidates the cheap signals are sure about; return the rest, for TransNet.

        A structural change between two held pictures (``held_jump_*``) is a jump cut. A boundary across
        which the picture keeps its structure (shift-tolerant similarity at least
        ``continuity_min_similarity``) is motion or animation, not a cut. A boundary with a very large colour
        change and no structural continuity between two lit, textured pictures is a cut."""
        cfg, sig = st.cfg, st.sig
        uncertain: list[int] = []
        held = max(2, int(np.ceil(cfg.held_jump_min_seconds * st.fps - 1e-6)))
        for b in candidates:
            if st.claimed[b]:
                continue
            sim = st.sim(b - 1, b)
            h = float(sig.hist_dist[b])
            lit = min(sig.luma[b - 1], sig.luma[b]) >= cfg.colour_cut_min_luma
            textured = min(sig.contrast[b - 1], sig.contrast[b]) >= cfg.colour_cut_min_contrast
            if sim < cfg.held_jump_max_similarity and lit and textured and self._held_jump(st, b, held):
                st.events.append(_Event(b, b, "cut", 1.0 + h))
                continue
            if sim >= cfg.continuity_min_similarity:
                continue
            if h >= cfg.colour_cut_min_hist and sim < cfg.colour_cut_max_similarity and lit and textured:
                st.events.append(_Event(b, b, "cut", 1.0 + h))
                continue
            uncertain.append(b)
        return uncertain

    def _held_jump(self, st: _State, b: int, frames: int) -> bool:
        """Are frames ``b-frames .. b-1`` one held drawing, and ``b .. b+frames-1`` another?"""
        n = len(st.sig)
        if b - frames < 0 or b + frames > n:
            return False
        radius, floor = 1, st.cfg.held_min_similarity
        before = all(st.sig.similarity(b - 1, t, radius) >= floor for t in range(b - frames, b - 1))
        return before and all(st.sig.similarity(b, t, radius) >= floor for t in range(b + 1, b + frames))

    def _hard_cuts(self, st: _State, candidates: list[int], p_cut: np.ndarray) -> None:
        """TransNet's verdict on the uncertain candidates: a strong peak, or a moderate one with a large
        colour change and little structural continuity."""
        cfg, sig = st.cfg, st.sig
        for b in candidates:
            if st.claimed[b]:
                continue
            p = float(p_cut[b])
            h = float(sig.hist_dist[b])
            strength = 0.0
            if p >= cfg.strong_threshold:
                strength = p + h
            elif p >= cfg.moderate_threshold and h >= cfg.moderate_min_hist:
                # the surer TransNet is, the more structure the two pictures may share
                limit = cfg.moderate_max_similarity + cfg.moderate_similarity_slope * (
                    p - cfg.moderate_threshold
                )
                if st.sim(b - 1, b) < limit:
                    strength = p + h
            if strength > 0.0:
                st.events.append(_Event(b, b, "cut", strength))

    # ----------------------------------------------------------------------------------------- finalise

    def _finalise(self, st: _State, n: int) -> list[_Event]:
        cfg = st.cfg
        events = sorted(st.events, key=lambda e: (e.start, e.end))
        # A cut within one frame of another boundary is the same boundary: keep the stronger one.
        # Overlapping transitions become one span.
        merged: list[_Event] = []
        for ev in events:
            if merged:
                last = merged[-1]
                reach = last.start if last.is_cut else last.end
                if ev.start <= reach + 1 and (ev.is_cut or last.is_cut):
                    if ev.strength > last.strength:
                        merged[-1] = ev
                    continue
                if not ev.is_cut and not last.is_cut and ev.start <= last.end:
                    kind = last.kind if last.end - last.start >= ev.end - ev.start else ev.kind
                    merged[-1] = _Event(
                        last.start, max(last.end, ev.end), kind, max(last.strength, ev.strength)
                    )
                    continue
            merged.append(ev)
        # Minimum shot length: drop the weaker boundary of any too-short shot (at the clip's ends, the
        # boundary itself).
        while merged:
            first = 0  # first frame of the current shot
            drop = None
            for idx, ev in enumerate(merged):
                if ev.last_of_previous - first + 1 < cfg.min_shot_frames:
                    weaker_is_this = idx == 0 or ev.strength <= merged[idx - 1].strength
                    drop = idx if weaker_is_this else idx - 1
                    break
                first = ev.first_of_next
            if drop is None and n - merged[-1].first_of_next < cfg.min_shot_frames:
                drop = len(merged) - 1
            if drop is None:
                break
            del merged[drop]
        return merged


def _offset_lookup(values: np.ndarray, first: int, t: int) -> float:
    """``values[t - first]``: a per-frame array that starts at frame ``first``."""
    return float(values[t - first])


def _scaling_share(diffs: np.ndarray, devs: np.ndarray) -> np.ndarray:
    """For frames given as differences from a flat colour ``(T, P*3)`` (``devs``: the mean absolute value of
    each row): which share of each frame's change from the frame before (index 0: none) is a uniform scaling
    of that difference -- ~1 in a fade (the picture only moves towards or away from the colour), small for
    motion, animation or a new picture."""
    out = np.zeros(len(diffs), np.float32)
    if len(diffs) < 2:
        return out
    prev, cur = diffs[:-1], diffs[1:]
    # scale the fainter frame from the stronger one (a flat frame is ~0 times any picture); each frame's own
    # sums are computed once (a row's sum does not depend on the rows around it), and the cross term is
    # symmetric
    energy = (diffs * diffs).sum(axis=1)
    swap = energy[1:] > energy[:-1]
    gain = (cur * prev).sum(axis=1) / np.maximum(np.where(swap, energy[1:], energy[:-1]), 1e-6)
    scaled = np.abs(1.0 - gain) * np.where(swap, devs[1:], devs[:-1])
    change = np.abs(cur - prev).mean(axis=1)
    out[1:] = scaled / np.maximum(change, 1e-6)
    return out


def _ramps(
    dev: Callable[[int], float],
    share: Callable[[int], float],
    a: int,
    b: int,
    lo: int,
    hi: int,
    step: float,
    min_share: float,
) -> tuple[int, int]:
    """Grow the flat run ``a .. b`` over its fade ramps, within ``lo .. hi``: backwards while each frame is
    closer to the flat colour (``dev``) than the one before it by ``step`` (relative), forwards while each
    frame is further from it than the one before, and in both directions only while the change between
    consecutive frames is mostly a uniform scaling (``share(t)``, the change from ``t-1`` to ``t``, at least
    ``min_share``: a fade scales the picture; a camera move drifting brighter does not). One repeated frame
    may stall a slow fade (Sintel's logo fades out in 8-bit steps of ~1% per frame)."""

    def closer(t: int) -> bool:  # frame t is closer to the flat colour than frame t-1
        return dev(t) < dev(t - 1) * (1.0 - step)

    def further(t: int) -> bool:  # frame t+1 is further from the flat colour than frame t
        return dev(t + 1) > dev(t) * (1.0 + step)

    s = a
    while (
        s - 1 > lo
        and (closer(s - 1) or (dev(s - 1) <= dev(s - 2) and s - 2 > lo and closer(s - 2)))
        and share(s - 1) >= min_share
    ):
        s -= 1
    e = b
    while (
        e + 1 < hi
        and (further(e + 1) or (dev(e + 2) >= dev(e + 1) and e + 2 < hi and further(e + 2)))
        and share(e + 2) >= min_share
    ):
        e += 1
    return s, e


def _two_tone(image: np.ndarray) -> bool:
    """A stark black-and-white drawing (the classic impact frame): no colour, the full tonal range, and
    most pixels near the darkest or the lightest tone (at least half: the 64x36 downscale blends the
    edges of a detailed drawing)."""
    chroma = float((image.max(axis=-1) - image.min(axis=-1)).mean())
    gray = image.mean(axis=-1)
    lo, hi = np.percentile(gray, [2, 98])
    if chroma > 15.0 or hi - lo < 150.0:
        return False
    near = (gray <= lo + 0.2 * (hi - lo)) | (gray >= hi - 0.2 * (hi - lo))
    return float(near.mean()) >= 0.5


def _strobes(flashes: list[FrameSpan], max_gap: int) -> list[FrameSpan]:
    """Sort flashes; flashes in quick succession (at most ``max_gap`` frames apart) are one strobe."""
    out: list[FrameSpan] = []
    for f in sorted(flashes, key=lambda f: f.start):
        if out and f.start - out[-1].end - 1 <= max_gap:
            out[-1] = FrameSpan(out[-1].start, max(out[-1].end, f.end), "strobe")
        else:
            out.append(f)
    return out


# ------------------------------------------------------------------------------- gradual helper functions


def novelty_curve(hist: np.ndarray, w: int) -> np.ndarray:
    """Checkerboard novelty of the histogram self-distance matrix with blocks of ``w`` frames: for boundary
    ``t``, the mean distance between the ``w`` frames before and the ``w`` frames after, minus the mean
    distance within each side. High where one stable picture gives way to another; low inside a shot (small
    distances everywhere) and during steady motion (distances grow with time difference on both sides
    alike). Only the band ``|i - j| < 2w`` of the matrix is computed."""
    n = len(hist)
    out = np.zeros(n, np.float32)
    if n < 2:
        return out
    w = max(1, min(w, n // 2))
    t = np.arange(n)
    wt = np.minimum(np.minimum(t, n - t), w)  # block size, shrunk near the ends
    cross = np.zeros(n, np.float64)
    left = np.zeros(n, np.float64)
    right = np.zeros(n, np.float64)
    for k in range(1, 2 * w):
        dk = 0.5 * np.abs(hist[k:] - hist[:-k]).sum(axis=1)  # D(i, i + k), i = 0 .. n-k-1
        csum = np.concatenate([[0.0], np.cumsum(dk)])

        def rng_sum(lo: np.ndarray, hi: np.ndarray, csum: np.ndarray = csum, m: int = len(dk)) -> np.ndarray:
            # np.minimum / np.maximum: the clip of these int arrays without np.clip's per-call overhead
            lo = np.minimum(np.maximum(lo, 0), m)
            hi = np.minimum(np.maximum(hi, 0), m)
            return np.where(hi > lo, csum[hi] - csum[np.minimum(lo, hi)], 0.0)

        # cross pairs (i < t <= j, j - i = k, both within the blocks): i in [max(t-w, t-k), min(t-1, t+w-1-k)]
        cross += rng_sum(np.maximum(t - wt, t - k), np.minimum(t - 1, t + wt - 1 - k) + 1)
        # pairs inside the left block [t-w, t-1] and the right block [t, t+w-1]
        left += rng_sum(t - wt, t - k)
        right += rng_sum(t, t + wt - k)
    pairs_cross = wt.astype(np.float64) ** 2
    pairs_side = np.maximum(wt * (wt - 1) / 2.0, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        nov = cross / np.maximum(pairs_cross, 1.0) - 0.5 * (left + right) / pairs_side
    nov[wt < 2] = 0.0
    return nov.astype(np.float32)


def _progress_span(hist: np.ndarray, a: int, b: int, t: int) -> tuple[int, int] | None:
    """The transition around ``t`` between the pictures ``a`` and ``b``: progress from ``a`` to ``b`` (by
    histogram distance) climbs from at most 10% (the last such frame before ``t`` is still ``a``'s shot)
    to at least 90% (the first such frame from ``t`` on already shows ``b``'s shot). ``None`` if ``a``
    and ``b`` look alike."""
    d_a = 0.5 * np.abs(hist[a : b + 1] - hist[a]).sum(axis=1)
    d_b = 0.5 * np.abs(hist[a : b + 1] - hist[b]).sum(axis=1)
    if float(d_a[-1]) < 1e-3:
        return None
    progress = d_a / np.maximum(d_a + d_b, 1e-6)
    k = t - a
    before = np.flatnonzero(progress[:k] <= 0.1)
    after = np.flatnonzero(progress[k:] >= 0.9)
    s = a + (int(before[-1]) + 1 if before.size else 0)
    e = a + k + (int(after[0]) - 1 if after.size else len(progress) - 1 - k)
    s = max(s, 1)
    e = min(max(e, s), len(hist) - 2)
    return s, e


def _trim_span(blocks: np.ndarray, s: int, e: int) -> tuple[int, int]:
    """Tighten a transition span to the frames that are really in between its ends: drop leading frames
    that are still (nearly) the picture before (blend weight <= 0.1 towards the picture after) and
    trailing ones that already are the picture after (>= 0.9) -- the colour-progress estimate runs long
    when the next shot keeps moving. ``blocks``: the :func:`_all_blocks` of the small frames."""
    a_blk, b_blk = blocks[s - 1], blocks[e + 1]
    d = (b_blk - a_blk).ravel()
    dd = float(d @ d) + 1e-6

    def weight(j: int) -> float:
        return float((blocks[j] - a_blk).ravel() @ d) / dd

    while e > s and weight(e) >= 0.9:
        e -= 1
    while s < e and weight(s) <= 0.1:
        s += 1
    return s, e


def _all_blocks(small: np.ndarray) -> np.ndarray:
    """16x9 blocks of every 64x36 small frame ``(N, h, w, 3)``: colour layout, forgiving a few pixels of motion
    (each frame area-averaged to a quarter of its size)."""
    n, h, w = small.shape[:3]
    size = (max(1, w // 4), max(1, h // 4))
    if n and h % 4 == 0 and w % 4 == 0:
        # same values as one cv2.resize per frame: the frames stacked into one tall image split into whole
        # 4x4 cells, none of which straddles two frames
        tall = np.ascontiguousarray(small).reshape(n * h, w, -1)
        out = cv2.resize(tall, (size[0], n * size[1]), interpolation=cv2.INTER_AREA)
        return out.reshape(n, size[1], size[0], -1)
    if not n:
        return np.zeros((0, size[1], size[0], small.shape[3]), small.dtype)
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in small])


def _concentration(blocks: np.ndarray, s: int, e: int) -> float:
    """Largest frame-to-frame block difference over ``s-1 .. e+1`` relative to the difference between the
    two ends: ~1 when one step makes the whole change (a cut), ~1/length for a gradual transition. Pixels,
    not histograms: a 10% blend can push many pixels across a histogram bin edge at once."""
    span = blocks[s - 1 : e + 2]
    ends = float(np.abs(span[-1] - span[0]).mean()) + 1e-6
    steps = np.abs(np.diff(span, axis=0)).mean(axis=(1, 2, 3))
    return float(steps.max()) / ends


#: Mean absolute RGB difference (0..255) above which a 16x9 block differs between two pictures: well above
#: grain and compression noise, below any change of what is drawn there.
_BLOCK_CHANGE = 20.0


def _closer_to_b(frames: np.ndarray, a_blk: np.ndarray, b_blk: np.ndarray) -> np.ndarray:
    """(T, 9, 16) bool: which blocks of each of the block frames ``frames`` look more like ``b_blk``."""
    return np.abs(frames - a_blk).mean(axis=-1) > np.abs(frames - b_blk).mean(axis=-1)


def _layout_span(blocks: np.ndarray, a: int, b: int, t: int) -> tuple[int, int] | None:
    """Like :func:`_progress_span`, by layout: on 16x9 blocks, the share of the blocks that differ between
    pictures ``a`` and ``b`` that already look more like ``b`` climbs from at most 10% (the last such frame
    before ``t`` still belongs to ``a``'s shot) to at least 90% (the first such frame from ``t`` on already
    shows ``b``'s). ``None`` if the two pictures have the same layout."""
    a_blk, b_blk = blocks[a], blocks[b]
    changing = np.abs(a_blk - b_blk).mean(axis=-1) > _BLOCK_CHANGE
    if not changing.any():
        return None
    progress = _closer_to_b(blocks[a : b + 1], a_blk, b_blk)[:, changing].mean(axis=1).astype(np.float32)
    k = t - a
    before = np.flatnonzero(progress[:k] <= 0.1)
    after = np.flatnonzero(progress[k:] >= 0.9)
    if not before.size or not after.size:
        return None
    s, e = a + int(before[-1]) + 1, t + int(after[0]) - 1
    if s < 1 or e > len(blocks) - 2 or e < s:
        return None
    return s, e


def _switch_once(
    blocks: np.ndarray, s: int, e: int, min_change: float = _BLOCK_CHANGE
) -> tuple[float, float]:
    """For the frames ``s .. e`` between ``A = s-1`` and ``B = e+1``, on 16x9 blocks: the share of the
    blocks that differ between A and B (mean absolute RGB difference above ``min_change``) that switch
    from looking like A to looking like B exactly once (a wipe's edge passes each block once; motion and
    animation flicker back and forth), and that share of the frame itself (how much of the picture the
    new shot replaces)."""
    a_blk, b_blk = blocks[s - 1], blocks[e + 1]
    changing = np.abs(a_blk - b_blk).mean(axis=-1) > min_change
    if not changing.any():
        return 0.0, 0.0
    states = np.concatenate(
        [
            np.zeros((1, *changing.shape), bool),
            _closer_to_b(blocks[s : e + 1], a_blk, b_blk),
            np.ones((1, *changing.shape), bool),
        ]
    )
    switches = np.abs(np.diff(states.astype(np.int8), axis=0)).sum(axis=0)
    return float((switches[changing] == 1).mean()), float(changing.mean())


def _explained_by_ends(blocks: np.ndarray, s: int, e: int) -> tuple[float, float]:
    """How well the frames ``s .. e`` are explained by the frames around them, ``A = s-1`` and ``B = e+1``,
    on 16x9 blocks of the small frames (``blocks``, see :func:`_all_blocks`; coarse enough to forgive the few
    pixels both shots keep moving during a transition): mean residual, relative to the mean difference of A
    and B, of the best linear blend ``(1-a)A + aB`` per frame (a dissolve), and of picking per block
    whichever of A and B is closer (a wipe). Small for a dissolve / wipe; large for motion or animation,
    whose in-between frames show neither end."""
    a_blk, b_blk = blocks[s - 1], blocks[e + 1]
    diff = b_blk - a_blk
    scale = float(np.abs(diff).mean()) + 1e-6
    d = diff.ravel()
    dd = float(d @ d) + 1e-6
    frames = blocks[s : e + 1]
    x = (frames - a_blk).reshape(len(frames), -1)
    # one dot product per frame (a matrix-vector product may round differently)
    alpha = np.clip(np.array([row @ d for row in x], np.float32) / dd, 0.0, 1.0)
    blend = np.abs(x - alpha[:, None] * d).mean(axis=1).astype(np.float64) / scale
    err = np.minimum(np.abs(frames - a_blk).mean(axis=-1), np.abs(frames - b_blk).mean(axis=-1))
    select = err.reshape(len(frames), -1).mean(axis=1).astype(np.float64) / scale
    return float(np.mean(blend)), float(np.mean(select))
