"""Tag accuracy of an annotator against labelled footage (``anicurate eval caption``).

For every labelled shot -- spans taken from the labels, so shot detection errors do not contaminate the tag
scores -- an *annotate function* ``(frames, start, end) -> ShotAnnotation`` tags the shot, and its tags are
compared with the label values mapped to PKS tags through the taxonomy's ``label_map``:

* single-valued fields (camera.movement, motion.timing, camera.shot_size, camera.layout, style, vfx.text_overlay):
  accuracy over the shots the annotator answered, *coverage* (answered / labelled) beside it, the accuracy over
  all labelled shots (an abstention counts as wrong) and a confusion matrix ``truth -> answer`` in which
  ``(abstain)`` is a column. Labels that mean unknown (``label_map`` null) are skipped; camera labels
  ``complex`` and ``tracking`` are skipped too (combinations a single-movement tagger cannot be held to).
  Layout and style are clip labels: every shot of the clip carries them. A style label maps to the field its
  tag names (``jp_cel_tv`` -> style.rendering=tv_anime, ``3dcg`` -> style.medium=3dcg); the row
  ``style.medium`` also scores the medium the 2D anime styles imply (:data:`IMPLIED_MEDIUM`); the row
  ``style.medium.2d_vs_3dcg`` is the same field over the shots whose medium is 2d_cel or 3dcg only (the
  2D-vs-3DCG target: Western cartoons and motion graphics left out).
* vfx.effects: per-value precision / recall over all labelled shots (a shot without a vfx.effects tag predicts
  no effect). A shot's truth is its ``vfx`` labels (mapped) plus the clip's in-shot ``flashes`` that overlap it
  (white / colour flash and strobe -> flash, impact_frame -> impact_frame, inversion -> colour_inversion).
  Coverage is the share of shots that got any vfx.effects tag (the vfx expert abstains when it sees nothing).

Frames are decoded once per clip (:func:`pipeline.frames.decode_analysis_frames`); decode and annotation time
are measured separately so the report can say how the annotator's frames/s compare with decoding.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from annotator.base import Expert, ShotInput
from annotator.fusion import ShotAnnotation, fuse
from pipeline.footage import find_videos, label_path_for
from pipeline.footage_labels import FootageLabel, ShotLabel, load_label
from pipeline.frames import AnalysisFrames, decode_analysis_frames
from pipeline.scores.registry import ScoreContext
from taxonomy import Taxonomy, load_taxonomy

log = logging.getLogger(__name__)

ABSTAIN = "(abstain)"
#: Camera labels that name no single movement: skipped when scoring camera.movement.
CAMERA_SKIP = ("complex", "tracking", "unknown")
#: In-shot flash types of the label schema -> vfx.effects values.
FLASH_EFFECT = {
    "white_flash": "flash",
    "colour_flash": "flash",
    "strobe": "flash",
    "impact_frame": "impact_frame",
    "inversion": "colour_inversion",
}
#: The production medium the style labels that name a rendering tier imply (hand-drawn TV and film anime).
IMPLIED_MEDIUM = {"jp_cel_tv": "2d_cel", "jp_cel_film": "2d_cel"}
#: The media the ``style.medium.2d_vs_3dcg`` row scores.
TWO_D_VS_3D = ("2d_cel", "3dcg")
#: Report rows of the single-valued fields, in print order: (row name, label source).
FIELD_ROWS = (
    ("camera.movement", "camera"),
    ("motion.timing", "timing"),
    ("camera.shot_size", "shot_size"),
    ("camera.layout", "layout"),
    ("style", "style"),
    ("style.medium", "style_medium"),
    ("style.medium.2d_vs_3dcg", "style_2d_3d"),
    ("vfx.text_overlay", "text_overlay"),
)
#: The experts tried by :func:`load_experts`, as (module, class); one that cannot be imported or built is skipped.
EXPERT_SPECS: tuple[tuple[str, str], ...] = (
    ("annotator.camera", "CameraExpert"),
    ("annotator.timing", "TimingExpert"),
    ("annotator.framing", "FramingExpert"),
    ("annotator.style", "StyleExpert"),
    ("annotator.text", "TextExpert"),
    ("annotator.vfx", "VfxExpert"),
)


class AnnotateFn(Protocol):
    """Tags frames ``start``..``end`` (inclusive) of one clip's analysis frames."""

    def __call__(self, frames: AnalysisFrames, start: int, end: int) -> ShotAnnotation: ...


@dataclass
class LoadedExperts:
    experts: list[Expert]
    #: ``{"module.Class": reason}`` for experts that could not be loaded.
    skipped: dict[str, str] = field(default_factory=dict)


def load_experts(specs: Iterable[tuple[str, str]] = EXPERT_SPECS) -> LoadedExperts:
    """Instantiate every expert of ``specs`` that imports and builds with default arguments."""
    out = LoadedExperts([])
    for module, cls in specs:
        key = f"{module}.{cls}"
        try:
            expert = getattr(importlib.import_module(module), cls)()
        except Exception as exc:  # noqa: BLE001 -- any failure means "not available", with the reason
            out.skipped[key] = f"{type(exc).__name__}: {exc}"
            log.info("expert %s skipped: %s", key, out.skipped[key])
            continue
        out.experts.append(expert)
    return out


class ExpertsAnnotator:
    """An :class:`AnnotateFn` that runs a list of experts on a shot and fuses their votes."""

    def __init__(self, experts: Sequence[Expert], taxonomy: Taxonomy | None = None) -> None:
        self.experts = list(experts)
        self.taxonomy = taxonomy or load_taxonomy()
        self.ctx = ScoreContext()
        self.priorities = {e.name: int(getattr(e, "priority", 0)) for e in self.experts}

    def __call__(self, frames: AnalysisFrames, start: int, end: int) -> ShotAnnotation:
        shot = ShotInput(frames=frames, start=start, end=end, ctx=self.ctx, video_path=Path(frames.path))
        votes, abstentions = [], []
        for expert in self.experts:
            out = expert.annotate(shot)
            votes.extend(out.votes)
            abstentions.extend(out.abstentions)
        return fuse(votes, abstentions, self.priorities, self.taxonomy)


class CaptionAnnotator:
    """An :class:`AnnotateFn` over the AniCaption orchestrator (:class:`annotator.caption.AniCaption`).

    Told a video's shots first (:meth:`begin_video`), it reads the experts' source pictures of those shots in
    one pass, as :meth:`annotator.caption.AniCaption.annotate_video` does, instead of one read per shot."""

    def __init__(self, caption: Any) -> None:
        self.caption = caption
        self.ctx = ScoreContext()
        self._prepared: dict[tuple[int, int], tuple[ShotInput, Any]] = {}
        self._frames: AnalysisFrames | None = None
        self._single = False
        self._current: Any = None

    def begin_video(self, frames: AnalysisFrames, spans: Sequence[tuple[int, int]]) -> None:
        """The shots of ``frames`` about to be annotated (inclusive ``(start, end)`` pairs)."""
        from annotator.caption import picture_chunks

        self.end_video()
        shots = [ShotInput(frames, a, b, self.ctx, video_path=Path(frames.path)) for a, b in spans]
        chunks = picture_chunks(self.caption, shots)
        self._prepared = {(s.start, s.end): (s, c) for c in chunks for s in c.shots}
        self._frames, self._single = frames, len(chunks) == 1

    def end_video(self) -> None:
        if self._current is not None:
            self._current.release()
        self._prepared, self._frames, self._current = {}, None, None

    def __call__(self, frames: AnalysisFrames, start: int, end: int) -> ShotAnnotation:
        prepared = self._prepared.get((start, end)) if frames is self._frames else None
        if prepared is None:
            shot = ShotInput(frames=frames, start=start, end=end, ctx=self.ctx, video_path=Path(frames.path))
            return self.caption.annotate(shot)
        shot, chunk = prepared
        if chunk is not self._current:
            if self._current is not None:
                self._current.release()
            chunk.prefetch(with_common=self._single)
            self._current = chunk
        shot.pictures = chunk
        return self.caption.annotate(shot)


def default_annotator(config: str | Path | None = None) -> tuple[AnnotateFn, str]:
    """The AniCaption orchestrator built from ``config`` (a named configuration or a YAML file; None: its
    default); when :mod:`annotator.caption` cannot be imported, every expert of :data:`EXPERT_SPECS` that loads,
    fused. Returns the annotate function and a one-line description of it."""
    try:
        from annotator.caption import AniCaption
    except ImportError as exc:
        if config is not None:
            raise ValueError(
                f"a caption config was given but annotator.caption cannot be imported: {exc}"
            ) from exc
        loaded = load_experts()
        names = ", ".join(e.name for e in loaded.experts) or "none"
        return ExpertsAnnotator(loaded.experts), f"experts fused: {names}"
    caption = AniCaption.from_config(config)
    names = ", ".join(e.name for e in caption.experts)
    skipped = f"; skipped: {', '.join(caption.skipped)}" if caption.skipped else ""
    return CaptionAnnotator(caption), f"AniCaption ({names}{skipped})"


# --------------------------------------------------------------------------------------------- the report


@dataclass
class FieldScore:
    """Accuracy of one single-valued field over the labelled shots."""

    field: str
    labelled: int = 0
    answered: int = 0
    correct: int = 0
    #: ``{truth: {answer or "(abstain)": shots}}``
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def accuracy(self) -> float | None:
        """Correct / answered (None when nothing was answered)."""
        return self.correct / self.answered if self.answered else None

    @property
    def coverage(self) -> float | None:
        return self.answered / self.labelled if self.labelled else None

    @property
    def accuracy_all(self) -> float | None:
        """Correct / labelled: an abstention counts as wrong."""
        return self.correct / self.labelled if self.labelled else None

    def add(self, truth: str, answer: str | None) -> None:
        self.labelled += 1
        row = self.confusion.setdefault(truth, {})
        key = answer if answer is not None else ABSTAIN
        row[key] = row.get(key, 0) + 1
        if answer is not None:
            self.answered += 1
            self.correct += answer == truth

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "labelled": self.labelled,
            "answered": self.answered,
            "correct": self.correct,
            "accuracy": _r(self.accuracy),
            "coverage": _r(self.coverage),
            "accuracy_all": _r(self.accuracy_all),
            "confusion": self.confusion,
        }


@dataclass
class EffectScore:
    """Precision / recall of one vfx.effects value over the labelled shots."""

    value: str
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": _r(self.precision),
            "recall": _r(self.recall),
        }


@dataclass
class ShotResult:
    clip: str
    start: int
    end: int
    #: ``{row: truth value}`` for the rows this shot is scored on, and the vfx truth set.
    truth: dict[str, str]
    answer: dict[str, str | None]
    vfx_truth: tuple[str, ...]
    vfx_answer: tuple[str, ...]
    missing: dict[str, str]

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "clip": self.clip,
            "start": self.start,
            "end": self.end,
            "truth": self.truth,
            "answer": self.answer,
            "vfx_truth": list(self.vfx_truth),
            "vfx_answer": list(self.vfx_answer),
            "missing": self.missing,
        }


@dataclass
class CaptionEvalReport:
    footage: str
    annotator: str
    fields: dict[str, FieldScore]
    effects: dict[str, EffectScore]
    vfx_shots: int = 0
    vfx_answered: int = 0
    clips: int = 0
    frames: int = 0
    decode_s: float = 0.0
    annotate_s: float = 0.0
    shots: list[ShotResult] = field(default_factory=list)

    @property
    def decode_fps(self) -> float | None:
        return self.frames / self.decode_s if self.decode_s > 0 else None

    @property
    def annotate_fps(self) -> float | None:
        """Shot frames annotated per second (frames outside labelled shots are not annotated)."""
        annotated = sum(s.end - s.start + 1 for s in self.shots)
        return annotated / self.annotate_s if self.annotate_s > 0 else None

    @property
    def vfx_coverage(self) -> float | None:
        return self.vfx_answered / self.vfx_shots if self.vfx_shots else None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "footage": self.footage,
            "annotator": self.annotator,
            "clips": self.clips,
            "shots": len(self.shots),
            "frames": self.frames,
            "decode_s": round(self.decode_s, 3),
            "annotate_s": round(self.annotate_s, 3),
            "decode_fps": _r(self.decode_fps, 1),
            "annotate_fps": _r(self.annotate_fps, 1),
            "fields": {k: v.to_json_dict() for k, v in self.fields.items()},
            "vfx": {
                "shots": self.vfx_shots,
                "answered": self.vfx_answered,
                "coverage": _r(self.vfx_coverage),
                "effects": {k: v.to_json_dict() for k, v in sorted(self.effects.items())},
            },
            "per_shot": [s.to_json_dict() for s in self.shots],
        }


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


# ------------------------------------------------------------------------------------------------ scoring


def shot_truth(
    label: FootageLabel, shot: ShotLabel, tax: Taxonomy
) -> tuple[dict[str, tuple[str, str]], set[str]]:
    """``({row: (field, value)}, vfx.effects truth)`` of one labelled shot (unknown labels left out)."""
    truth: dict[str, tuple[str, str]] = {}
    for row, source in FIELD_ROWS:
        if source in ("style_medium", "style_2d_3d"):
            medium = IMPLIED_MEDIUM.get(label.style)
            tag = tax.tags_from_label("style", label.style)
            if medium is None and tag is not None and tag.field == "style.medium":
                medium = tag.value
            if medium is not None and (source == "style_medium" or medium in TWO_D_VS_3D):
                truth[row] = ("style.medium", medium)
            continue
        raw = getattr(label, source) if source in ("layout", "style") else getattr(shot, source)
        if source == "camera" and raw in CAMERA_SKIP:
            continue
        tag = tax.tags_from_label(source, raw)
        if tag is not None:
            truth[row] = (tag.field, tag.value)
    effects: set[str] = set()
    for value in shot.vfx:
        tag = tax.tags_from_label("vfx", value)
        if tag is not None and tag.field == "vfx.effects":
            effects.add(tag.value)
    for fl in label.flashes:
        if fl.start <= shot.end and fl.end >= shot.start and fl.type in FLASH_EFFECT:
            effects.add(FLASH_EFFECT[fl.type])
    return truth, effects


def evaluate_caption(
    footage: str | Path,
    labels_dir: str | Path | None = None,
    annotate: AnnotateFn | None = None,
    annotator_name: str | None = None,
    config: str | Path | None = None,
    load_frames: Callable[[Path], AnalysisFrames] = decode_analysis_frames,
    clips: Sequence[str] | None = None,
    taxonomy: Taxonomy | None = None,
    progress: Callable[[str], None] | None = None,
) -> CaptionEvalReport:
    """Score ``annotate`` (default: :func:`default_annotator` of ``config``) on every labelled shot of a folder.

    ``clips`` limits the run to those clip file names; ``load_frames`` replaces the decode (tests pass a cache)."""
    tax = taxonomy or load_taxonomy()
    if annotate is None:
        annotate, described = default_annotator(config)
        annotator_name = annotator_name or described
    folder = Path(footage)
    labels = Path(labels_dir) if labels_dir is not None else None
    report = CaptionEvalReport(
        footage=str(folder),
        annotator=annotator_name or getattr(annotate, "__name__", type(annotate).__name__),
        fields={row: FieldScore(row) for row, _ in FIELD_ROWS},
        effects={},
    )
    wanted = set(clips) if clips is not None else None
    for video in find_videos(folder):
        path = label_path_for(video, labels)
        if not path.exists() or (wanted is not None and video.name not in wanted):
            continue
        label = load_label(path)
        if progress:
            progress(f"{video.name}: decoding")
        t0 = time.perf_counter()
        frames = load_frames(video)
        report.decode_s += time.perf_counter() - t0
        report.frames += len(frames)
        report.clips += 1
        if len(frames) != label.frames:
            log.warning("%s: %d decoded frames, label says %d", video.name, len(frames), label.frames)
        begin = getattr(annotate, "begin_video", None)
        if callable(begin):
            begin(frames, [(s.start, s.end) for s in label.shots if s.end < len(frames)])
        for shot in label.shots:
            if shot.end >= len(frames):
                log.warning(
                    "%s: shot %d..%d is past the decoded frames; skipped", video.name, shot.start, shot.end
                )
                continue
            if progress:
                progress(f"{video.name}: shot {shot.start}..{shot.end}")
            t0 = time.perf_counter()
            ann = annotate(frames, shot.start, shot.end)
            report.annotate_s += time.perf_counter() - t0
            report.shots.append(_score_shot(report, video.name, label, shot, ann, tax))
        end = getattr(annotate, "end_video", None)
        if callable(end):
            end()
    return report


def _score_shot(
    report: CaptionEvalReport,
    clip: str,
    label: FootageLabel,
    shot: ShotLabel,
    ann: ShotAnnotation,
    tax: Taxonomy,
) -> ShotResult:
    truth, effects = shot_truth(label, shot, tax)
    tags = ann.tags
    answers: dict[str, str | None] = {}
    for row, (fld, value) in truth.items():
        got = tags.get(fld)
        answer = got[0] if got else None
        answers[row] = answer
        report.fields[row].add(value, answer)
    report.vfx_shots += 1
    vfx_answer = tuple(tags.get("vfx.effects", ()))
    report.vfx_answered += bool(vfx_answer)
    for value in set(vfx_answer) | effects:
        score = report.effects.setdefault(value, EffectScore(value))
        if value in vfx_answer and value in effects:
            score.tp += 1
        elif value in vfx_answer:
            score.fp += 1
        else:
            score.fn += 1
    return ShotResult(
        clip=clip,
        start=shot.start,
        end=shot.end,
        truth={row: value for row, (_, value) in truth.items()},
        answer=answers,
        vfx_truth=tuple(sorted(effects)),
        vfx_answer=vfx_answer,
        missing=dict(ann.missing),
    )
