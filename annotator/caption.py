"""AniCaption: runs the configured experts on a shot, fuses their votes and writes the directive.

:meth:`AniCaption.annotate` works on one :class:`~annotator.base.ShotInput`; :meth:`AniCaption.annotate_video`
decodes a video's analysis frames once, splits it into shots with the configured detector (the default
``transnet``) unless the shots are given, and annotates every shot from those same frames. The time each
expert takes is kept (:attr:`AniCaption.expert_seconds`) so its frames per second can be set beside decoding.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from annotator.base import Abstention, Expert, ExpertOutput, FieldVote, ShotInput
from annotator.directive import Describer, build_directive
from annotator.fusion import Directive, FusionConfig, ShotAnnotation, fuse
from annotator.registry import DESCRIBERS, CaptionConfig, build_experts, load_config, resolve
from annotator.source_frames import PictureRequest
from taxonomy import Taxonomy, load_taxonomy


class ExpertContractError(RuntimeError):
    """An expert voted or abstained on a field it does not declare."""


def _ask(expert: Expert, shot: ShotInput) -> tuple[ExpertOutput, str | None]:
    """The expert's output, and its description when it is a describing expert: one whose ``run(shot)``
    returns an answer with ``output`` and ``description`` (:class:`annotator.vlm_backend.VlmExpert`), so the
    model is asked once for both."""
    run = getattr(expert, "run", None)
    if callable(run):
        answer = run(shot)
        if hasattr(answer, "output") and hasattr(answer, "description"):
            return answer.output, answer.description
    return expert.annotate(shot), None


@dataclass
class CaptionedShot:
    """One shot of a video with its annotation: frames ``start``..``end`` (inclusive) and their times."""

    start: int
    end: int
    start_s: float
    end_s: float
    annotation: ShotAnnotation

    def to_json(self) -> dict:
        ann = self.annotation
        return {
            "span": [self.start, self.end],
            "start_s": round(self.start_s, 4),
            "end_s": round(self.end_s, 4),
            "tags": {k: list(v) for k, v in ann.tags.items()},
            "confidences": ann.confidences,
            "sources": ann.sources,
            "missing": ann.missing,
            "directive": ann.directive.text() if ann.directive else None,
        }


@dataclass
class VideoCaption:
    """Every annotated shot of one video, with what the run measured."""

    path: str
    frames: int
    fps: float
    shots: list[CaptionedShot]
    detector: str
    decode_seconds: float
    detect_seconds: float
    expert_seconds: dict[str, float] = field(default_factory=dict)
    skipped_experts: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "video": self.path,
            "frames": self.frames,
            "fps": round(self.fps, 6),
            "detector": self.detector,
            "skipped_experts": self.skipped_experts,
            "timing": {
                "decode_s": round(self.decode_seconds, 3),
                "detect_s": round(self.detect_seconds, 3),
                "experts_s": {k: round(v, 3) for k, v in self.expert_seconds.items()},
            },
            "shots": [s.to_json() for s in self.shots],
        }


class AniCaption:
    """The AniCaption orchestrator: experts -> fusion (with priorities) -> directive."""

    def __init__(
        self,
        experts: Sequence[Expert],
        fusion: FusionConfig | None = None,
        taxonomy: Taxonomy | None = None,
        detector: str = "transnet",
        describer: Describer | None = None,
        skipped: dict[str, str] | None = None,
    ) -> None:
        if not experts:
            raise ValueError("AniCaption needs at least one expert")
        self.experts = list(experts)
        self.fusion = fusion or FusionConfig()
        self.taxonomy = taxonomy or load_taxonomy()
        self.detector = detector
        self.describer = describer
        #: ``{expert: reason}`` for configured experts that could not be built (e.g. not landed yet).
        self.skipped = dict(skipped or {})
        #: Seconds spent in each expert's ``annotate`` since construction.
        self.expert_seconds: dict[str, float] = {e.name: 0.0 for e in self.experts}
        for expert in self.experts:
            for fid in expert.fields:
                self.taxonomy.field(fid)  # an expert covering an unknown field fails here, by name

    @classmethod
    def from_config(cls, config: str | Path | CaptionConfig | None = None) -> AniCaption:
        """From a named configuration (``None``: the default), a YAML file, or a :class:`CaptionConfig`."""
        cfg = config if isinstance(config, CaptionConfig) else load_config(config)
        experts, skipped = build_experts(cfg)
        taxonomy = load_taxonomy()
        describer = resolve(cfg.describer, DESCRIBERS)()
        return cls(experts, cfg.fusion, taxonomy, cfg.detector, describer, skipped)

    @property
    def priorities(self) -> dict[str, int]:
        return {e.name: int(e.priority) for e in self.experts}

    def run_experts(self, shot: ShotInput) -> tuple[list[FieldVote], list[Abstention], str | None]:
        """Every expert's votes and abstentions on ``shot``, and the description a describing expert (a VLM)
        wrote, if any."""
        votes: list[FieldVote] = []
        abstentions: list[Abstention] = []
        description: str | None = None
        for expert in self.experts:
            t0 = time.perf_counter()
            out, said = _ask(expert, shot)
            self.expert_seconds[expert.name] = self.expert_seconds.get(expert.name, 0.0) + (
                time.perf_counter() - t0
            )
            description = description or said
            declared = set(expert.fields)
            for item in [*out.votes, *out.abstentions]:
                if item.field not in declared:
                    raise ExpertContractError(
                        f"expert {expert.name!r} answered on {item.field}, which it does not declare "
                        f"(fields: {', '.join(expert.fields)})"
                    )
            votes += out.votes
            abstentions += out.abstentions
        return votes, abstentions, description

    def annotate(self, shot: ShotInput) -> ShotAnnotation:
        """Run every expert on ``shot``, fuse the votes with the experts' priorities, build the directive (its
        description is a VLM expert's when one wrote it, otherwise the template's)."""
        votes, abstentions, description = self.run_experts(shot)
        ann = fuse(votes, abstentions, self.priorities, self.taxonomy, self.fusion)
        directive = build_directive(ann, self.describer, self.taxonomy)
        if description:
            directive = Directive(directive.tags, directive.summary, " ".join(description.split()))
        ann.directive = directive
        return ann

    def pictures_wanted(self, shot: ShotInput) -> list[PictureRequest]:
        """The larger source pictures the experts may read for ``shot`` (experts that read none say nothing)."""
        by_width: dict[int, set[int]] = {}
        for expert in self.experts:
            ask = getattr(expert, "pictures_wanted", None)
            if callable(ask):
                for request in ask(shot):
                    by_width.setdefault(request.width, set()).update(request.pts)
        # experts share pictures (the style and timing experts both read the video-level ones): one request
        # per width, each picture once
        return [PictureRequest(width, tuple(sorted(pts))) for width, pts in by_width.items()]

    def annotate_with_embedding(self, shot: ShotInput) -> tuple[ShotAnnotation, np.ndarray | None]:
        """:meth:`annotate`, plus the shot embedding of the first expert that has one (the CLIP expert caches
        the embedding it voted with; the curate job stores it as the sample's ``emb.npy``)."""
        ann = self.annotate(shot)
        for expert in self.experts:
            if hasattr(expert, "embed_shot") and expert.unavailable_reason() is None:
                return ann, np.asarray(expert.embed_shot(shot), dtype=np.float32)
        return ann, None

    def annotate_video(
        self, path: str | Path, shots: Iterable[tuple[int, int]] | None = None
    ) -> VideoCaption:
        """Decode ``path``'s analysis frames once, split shots (unless given as inclusive ``(start, end)``
        frame pairs) and annotate each shot."""
        from pipeline.frames import decode_analysis_frames
        from pipeline.scores.registry import ScoreContext
        from pipeline.scores.text import STILLS
        from pipeline.shots.registry import get_detector

        t0 = time.perf_counter()
        # the larger stills serve the text expert's static-mark search, as in ``anicurate scores``
        frames = decode_analysis_frames(path, stills=STILLS)
        decode_s = time.perf_counter() - t0
        n = len(frames)
        detect_s = 0.0
        detector = "given"
        if shots is None:
            t0 = time.perf_counter()
            boundaries = get_detector(self.detector).detect(frames)
            detect_s = time.perf_counter() - t0
            spans = [(s.start, s.end) for s in boundaries.shots()]
            detector = self.detector
        else:
            spans = [(int(a), int(b)) for a, b in shots]
            bad = [(a, b) for a, b in spans if not 0 <= a <= b < n]
            if bad:
                raise ValueError(f"shot span(s) {bad} are not inside the {n} frames of {path}")
        ctx = ScoreContext(source_path=str(path))
        before = dict(self.expert_seconds)
        out: list[CaptionedShot] = []
        for a, b in spans:
            shot = ShotInput(frames, a, b, ctx, video_path=Path(path))
            out.append(
                CaptionedShot(
                    a, b, float(frames.seconds(a)), float(frames.end_seconds(b)), self.annotate(shot)
                )
            )
        spent = {k: v - before.get(k, 0.0) for k, v in self.expert_seconds.items()}
        return VideoCaption(
            path=str(path),
            frames=n,
            fps=float(frames.fps) if frames.fps else 0.0,
            shots=out,
            detector=detector,
            decode_seconds=decode_s,
            detect_seconds=detect_s,
            expert_seconds=spent,
            skipped_experts=dict(self.skipped),
        )
