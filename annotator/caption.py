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
from annotator.source_frames import PictureRequest, SourceFrame
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
    #: Seconds spent reading the shots' own source pictures ahead of the experts (one pass per run of shots;
    #: the video-level pictures are read when an expert first asks, in that expert's time).
    picture_seconds: float = 0.0

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
                "pictures_s": round(self.picture_seconds, 3),
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
        shots_in = [ShotInput(frames, a, b, ctx, video_path=Path(path)) for a, b in spans]
        picture_s = 0.0
        chunks = picture_chunks(self, shots_in)
        for chunk in chunks:
            t0 = time.perf_counter()
            chunk.prefetch(with_common=len(chunks) == 1)
            picture_s += time.perf_counter() - t0
            for shot in chunk.shots:
                shot.pictures = chunk
                out.append(
                    CaptionedShot(
                        shot.start,
                        shot.end,
                        float(frames.seconds(shot.start)),
                        float(frames.end_seconds(shot.end)),
                        self.annotate(shot),
                    )
                )
            chunk.release()
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
            picture_seconds=picture_s,
        )


#: Most source pictures of shots held at once by :meth:`AniCaption.annotate_video` (480 px pictures: about
#: 0.3 MB each).
PICTURE_CHUNK = 192


class ChunkPictures:
    """The source pictures the experts want for a run of consecutive shots of one video, read in one pass
    (:class:`~annotator.source_frames.PictureSource`).

    Each shot's own pictures are read ahead for the run (:meth:`prefetch`: one forward pass instead of a
    seek and decode per shot); the pictures every shot of the video asks for (the video-level ones) are read
    once and shared by every run: in the same pass when one run holds the whole video, otherwise when an
    expert first asks for them. Pictures it does not hold are left to
    the expert, which then reads the file itself."""

    def __init__(
        self,
        shots: list[ShotInput],
        own: dict[int, set[int]],
        common: dict[int, tuple[int, ...]],
        shared: dict[tuple[int, int], np.ndarray],
        box: tuple[int, int, int, int] | None,
    ) -> None:
        self.shots = shots
        self.own = own
        self.common = common
        #: the video-level pictures, shared by the runs of one video (filled on first use)
        self.shared = shared
        self.box = box
        self.held: dict[tuple[int, int], np.ndarray] = {}

    def _read(self, width: int, pts: Sequence[int]) -> dict[tuple[int, int], np.ndarray]:
        from annotator.source_frames import read_source_frames
        from pipeline.decode import VideoError

        path = self.shots[0].video_path
        try:
            return {(width, f.pts): f.image for f in read_source_frames(path, pts, width, self.box)}
        except VideoError:
            return {}  # the expert reads the file itself and reports the error as it would without us

    def prefetch(self, with_common: bool = False) -> None:
        """Read the run's own pictures; ``with_common``: the video-level ones too, in the same pass (the
        pass crosses the whole video anyway when one run holds all its shots)."""
        widths = set(self.own) | (set(self.common) if with_common else set())
        for width in widths:
            pts = set(self.own.get(width, ()))
            if with_common:
                pts |= set(self.common.get(width, ()))
            got = self._read(width, sorted(pts))
            for key, image in got.items():
                (self.shared if with_common and key[1] in self.common.get(width, ()) else self.held)[key] = (
                    image
                )

    def release(self) -> None:
        self.held = {}

    def read(self, pts: Sequence[int], width: int) -> list[SourceFrame] | None:
        from annotator.source_frames import SourceFrame

        keys = [(width, int(p)) for p in pts]
        missing = {p for w, p in keys if (w, p) not in self.held and (w, p) not in self.shared}
        if missing:
            common = self.common.get(width, ())
            loaded = any((width, p) in self.shared for p in common)
            if loaded or not missing <= set(common):
                return None
            # read in the asking expert's time, as it would read them itself
            self.shared.update(self._read(width, common))
            if any(k not in self.held and k not in self.shared for k in keys):
                return None
        return [SourceFrame(p, self.held.get((w, p), self.shared.get((w, p)))) for w, p in keys]


def picture_chunks(captioner: AniCaption, shots: list[ShotInput]) -> list[ChunkPictures]:
    """:class:`ChunkPictures` for consecutive runs of ``shots`` of one video, each run holding at most
    :data:`PICTURE_CHUNK` of the shots' own pictures (the pictures all shots want are the video's, read once
    on demand)."""
    if not shots:
        return []
    wanted: list[dict[int, set[int]]] = []
    for shot in shots:
        by_width: dict[int, set[int]] = {}
        for request in captioner.pictures_wanted(shot):
            by_width.setdefault(request.width, set()).update(int(p) for p in request.pts)
        wanted.append(by_width)
    widths = set().union(*(w.keys() for w in wanted))
    common = {
        width: tuple(sorted(set.intersection(*(w.get(width, set()) for w in wanted)))) for width in widths
    }
    if not widths or shots[0].video_path is None:
        return [ChunkPictures(shots, {}, {}, {}, None)]
    layout = shots[0].view.layout
    box = layout.source_box if layout.thumb_size[0] and layout.thumb_size[1] else None
    shared: dict[tuple[int, int], np.ndarray] = {}
    chunks: list[ChunkPictures] = []
    run: list[ShotInput] = []
    own: dict[int, set[int]] = {}
    for shot, by_width in zip(shots, wanted, strict=True):
        mine = {w: pts - set(common.get(w, ())) for w, pts in by_width.items()}
        if run and sum(map(len, own.values())) + sum(map(len, mine.values())) > PICTURE_CHUNK:
            chunks.append(ChunkPictures(run, own, common, shared, box))
            run, own = [], {}
        run.append(shot)
        for w, pts in mine.items():
            own.setdefault(w, set()).update(pts)
    chunks.append(ChunkPictures(run, own, common, shared, box))
    return chunks
