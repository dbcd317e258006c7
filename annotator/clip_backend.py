"""The CLIP expert: PKS votes from an open_clip image embedding of the shot, zero-shot and/or with linear probes.

A shot's embedding is the mean of the L2-normalised image embeddings of a few evenly spaced frames: by default
the shared 128 px analysis thumbs cropped to the active picture (no second decode), or higher-resolution frames
the caller supplies (:meth:`ClipExpert.embed_shot` with ``images=``). The curate job stores the same vector as
the shard's ``emb.npy``, so probes trained on shards (:mod:`annotator.probes`) see what the expert sees.

* **Zero-shot**: every value of a covered field has ``prompts`` in the taxonomy; their text embeddings are
  averaged into one prototype per value. The cosine similarities of the shot to a field's prototypes, divided
  by ``temperature``, go through a softmax. A single-valued field gets a vote for the top value (confidence =
  its probability) unless it leads the runner-up by less than ``min_margin`` (then the expert abstains, naming
  both); a multi-valued field gets a vote for every value with probability >= ``multi_min_prob``.
* **Probes**: a checkpoint of linear heads (``probes:``) trained on labelled embeddings of the same model; a
  field with a probe is decided by it instead of zero-shot, with the same margin rule (multi-valued: sigmoid
  >= 0.5 per value).

Configuration (:class:`ClipExpertConfig`, the ``clip:`` block; the registry builds the expert with
``ClipExpert.from_config(dict)``): the weights as in :class:`pipeline.clip_model.ClipSpec` (``model``,
``pretrained``, ``checkpoint``, ``model_config``, ``cache_dir``, ``device``) plus the expert's own keys. With no
weights configured, or weights that cannot be loaded, the expert abstains on every field it covers with the
reason, logged once; it never votes from a randomly initialised model.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotator.base import ExpertOutput, ShotInput
from annotator.probes import ProbeError, ProbeSet, load_probes
from pipeline.clip_model import ClipLoadError, ClipSpec, LoadedClip, load_clip
from pipeline.config_keys import field_ids, known_keys
from taxonomy import Taxonomy, load_taxonomy

log = logging.getLogger(__name__)
_said: set[str] = set()

#: Fields a still image can show; motion and camera movement need time and are left to other experts.
DEFAULT_ZERO_SHOT_FIELDS: tuple[str, ...] = (
    "style.medium",
    "style.rendering",
    "style.palette",
    "camera.shot_size",
    "camera.angle",
    "vfx.effects",
)


def _log_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        log.warning(message)


class ClipExpertError(ValueError):
    """A ``clip:`` configuration that cannot be used; the message names the key."""


@dataclass(frozen=True)
class ClipExpertConfig(ClipSpec):
    """The ``clip:`` block: the weight keys of :class:`~pipeline.clip_model.ClipSpec`, then the expert's own."""

    name: str = "clip"
    priority: int = 0
    #: Fields decided zero-shot; None = :data:`DEFAULT_ZERO_SHOT_FIELDS`, an empty list turns zero-shot off.
    fields: tuple[str, ...] | None = None
    #: A probe checkpoint (:mod:`annotator.probes`); its fields are decided by the probes.
    probes: str | None = None
    #: Softmax temperature over cosine similarities (CLIP's own logit scale is 100, i.e. 0.01).
    temperature: float = 0.01
    #: A single-valued field needs its top value to lead the runner-up by this much probability.
    min_margin: float = 0.1
    #: Zero-shot, multi-valued fields: values with at least this softmax probability get a vote.
    multi_min_prob: float = 0.3
    #: Frames sampled per shot (evenly spaced).
    frames: int = 4

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None, where: str = "clip") -> ClipExpertConfig:
        raw = known_keys(cls, raw, where, ClipExpertError)
        field_ids(raw, where, ClipExpertError)
        cfg = cls(**raw)
        if cfg.temperature <= 0:
            raise ClipExpertError(f"{where}.temperature: must be > 0, got {cfg.temperature}")
        if not 0 <= cfg.min_margin < 1 or not 0 < cfg.multi_min_prob <= 1:
            raise ClipExpertError(f"{where}: min_margin must be in [0, 1) and multi_min_prob in (0, 1]")
        if cfg.frames < 1:
            raise ClipExpertError(f"{where}.frames: must be >= 1, got {cfg.frames}")
        return cfg

    @property
    def spec(self) -> ClipSpec:
        """The weights part alone (what probes record and what the model cache is keyed by)."""
        return ClipSpec(**{k: getattr(self, k) for k in ClipSpec.field_names()})


def mean_embedding(rows: np.ndarray) -> np.ndarray:
    """(D,) mean of the L2-normalised rows of a (k, D) array (rows already unit length stay as they are)."""
    rows = np.asarray(rows, np.float32)
    rows = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    return rows.mean(axis=0).astype(np.float32)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


@dataclass(frozen=True)
class Prototypes:
    """Per zero-shot field: the value ids and their unit prompt-prototype rows (K, D)."""

    values: dict[str, tuple[str, ...]]
    rows: dict[str, np.ndarray]


def build_prototypes(clip: LoadedClip, field_ids: Sequence[str], taxonomy: Taxonomy) -> Prototypes:
    """Average the normalised text embeddings of each value's prompts (deprecated values and values without
    prompts are left out) and renormalise."""
    values: dict[str, tuple[str, ...]] = {}
    rows: dict[str, np.ndarray] = {}
    for fid in field_ids:
        fld = taxonomy.field(fid)
        usable = [v for v in fld.active_values if v.prompts]
        if len(usable) < 2:
            continue
        texts = [p for v in usable for p in v.prompts]
        emb = clip.encode_texts(texts)
        owner = np.repeat(np.arange(len(usable)), [len(v.prompts) for v in usable])
        proto = np.stack([emb[owner == k].mean(axis=0) for k in range(len(usable))])
        proto /= np.maximum(np.linalg.norm(proto, axis=1, keepdims=True), 1e-12)
        values[fid] = tuple(v.id for v in usable)
        rows[fid] = proto.astype(np.float32)
    return Prototypes(values, rows)


class ClipExpert:
    """AniCaption expert over an open_clip embedding (see the module docstring). ``clip`` passes an already
    loaded model (e.g. one shared with another stage) instead of loading the configured one."""

    def __init__(
        self,
        config: ClipExpertConfig | None = None,
        taxonomy: Taxonomy | None = None,
        clip: LoadedClip | None = None,
    ):
        self.config = config or ClipExpertConfig()
        self.taxonomy = taxonomy or load_taxonomy()
        self.name = self.config.name
        self.priority = self.config.priority
        zero_shot = DEFAULT_ZERO_SHOT_FIELDS if self.config.fields is None else self.config.fields
        for fid in zero_shot:
            self.taxonomy.field(fid)  # unknown field: the taxonomy's precise error, at construction
        self.probes: ProbeSet | None = None
        self._probe_error: str | None = None
        if self.config.probes:
            try:
                self.probes = load_probes(self.config.probes, self.taxonomy)
            except ProbeError as exc:
                self._probe_error = f"probes not usable: {exc}"
                _log_once(f"{self.name}: {self._probe_error}")
        probe_fields = self.probes.fields if self.probes else ()
        self._probe_fields = probe_fields
        self.zero_shot_fields = tuple(f for f in zero_shot if f not in probe_fields)
        self.fields: tuple[str, ...] = tuple(dict.fromkeys((*self.zero_shot_fields, *probe_fields)))
        self._clip = clip
        self._checked = False
        self._load_error: str | None = None
        self._prototypes: Prototypes | None = None
        #: (frames, start, end, embedding) of the last embedded shot; the frames are compared by identity.
        self._last: tuple[Any, int, int, np.ndarray] | None = None

    @classmethod
    def from_config(
        cls, raw: Mapping[str, Any] | None = None, taxonomy: Taxonomy | None = None
    ) -> ClipExpert:
        """The expert from a ``clip:`` config block (a plain mapping, e.g. parsed YAML)."""
        return cls(ClipExpertConfig.from_dict(raw), taxonomy)

    # ------------------------------------------------------------------------------------------- the model

    def unavailable_reason(self) -> str | None:
        """Why the expert cannot embed (no weights configured, load failure), or None when the model is loaded."""
        self._ensure_loaded()
        return self._load_error

    def _ensure_loaded(self) -> None:
        if self._checked or self._load_error is not None:
            return
        if self._clip is None:
            try:
                self._clip = load_clip(self.config.spec, require_weights=True, config_prefix="clip")
            except ClipLoadError as exc:
                self._load_error = str(exc)
                _log_once(f"{self.name} expert abstains on {', '.join(self.fields)}: {exc}")
                return
        self._checked = True
        if self.probes is not None:
            problem = None
            identity = self._clip.spec.describe()
            if self.probes.embed_dim != self._clip.embed_dim:
                problem = f"probes expect {self.probes.embed_dim}-d embeddings, the model embeds {self._clip.embed_dim}-d"
            elif self.probes.embedder and self.probes.embedder != identity:
                problem = f"probes were trained on {self.probes.embedder} embeddings, the expert embeds with {identity}"
            if problem:
                self._probe_error = f"probes not usable: {problem}; retrain them on this model's embeddings"
                _log_once(f"{self.name}: {self._probe_error}")
                self.probes = None

    @property
    def clip(self) -> LoadedClip:
        self._ensure_loaded()
        if self._clip is None:
            raise ClipLoadError(self._load_error or "CLIP model not loaded")
        return self._clip

    def prototypes(self) -> Prototypes:
        if self._prototypes is None:
            self._prototypes = build_prototypes(self.clip, self.zero_shot_fields, self.taxonomy)
        return self._prototypes

    # -------------------------------------------------------------------------------------------- embedding

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(k, D) unit image embeddings of RGB uint8 frames (any resolution)."""
        return self.clip.encode_images(images, normalize=True)

    def embed_shot(
        self, shot: ShotInput | None = None, images: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        """The shot's (D,) float32 embedding: the mean of the unit embeddings of ``images`` when given (e.g.
        higher-resolution frames the caller decoded), else of ``frames`` evenly spaced analysis thumbs of
        ``shot`` cropped to the active picture. Raises :class:`ClipLoadError` when no model is available."""
        if images is not None:
            if not len(images):
                raise ValueError("embed_shot: images is empty")
            return mean_embedding(self.embed_images(images))
        if shot is None:
            raise ValueError("embed_shot needs a shot or images")
        last = self._last
        if last is not None and last[0] is shot.frames and last[1:3] == (shot.start, shot.end):
            return last[3]
        view = shot.view
        picture = view.picture
        emb = mean_embedding(self.embed_images([picture[i] for i in view.sample(self.config.frames)]))
        self._last = (shot.frames, shot.start, shot.end, emb)
        return emb

    # ------------------------------------------------------------------------------------------------ votes

    def annotate(self, shot: ShotInput) -> ExpertOutput:
        reason = self.unavailable_reason()
        if reason is not None:
            return self._abstain_all(reason)
        return self.annotate_embedding(self.embed_shot(shot))

    def _abstain_all(self, reason: str) -> ExpertOutput:
        out = ExpertOutput()
        for fid in self.fields:
            out.abstain(fid, self.name, reason)
        return out

    def annotate_embedding(self, embedding: np.ndarray) -> ExpertOutput:
        """Votes from an already computed shot embedding (e.g. the one stored as ``emb.npy``)."""
        reason = self.unavailable_reason()
        if reason is not None:
            return self._abstain_all(reason)
        emb = np.asarray(embedding, np.float32).reshape(-1)
        if emb.shape[0] != self.clip.embed_dim:
            raise ValueError(f"embedding has {emb.shape[0]} dims, the model embeds {self.clip.embed_dim}")
        out = ExpertOutput()
        unit = emb / max(float(np.linalg.norm(emb)), 1e-12)
        protos = self.prototypes()
        for fid in self.zero_shot_fields:
            if fid not in protos.rows:
                out.abstain(fid, self.name, "fewer than two values with prompts: nothing to choose between")
                continue
            sims = protos.rows[fid] @ unit
            probs = _softmax(sims / self.config.temperature)
            self._decide(out, fid, protos.values[fid], probs, "zero-shot", sims)
        if self.probes is not None:
            for fid, probe in self.probes.probes.items():
                self._decide(out, fid, probe.values, probe.probabilities(emb)[0], "probe", None)
        else:  # probes rejected once the model was known: their fields stay covered, with the reason
            for fid in self._probe_fields:
                out.abstain(fid, self.name, self._probe_error or "probes not loaded")
        return out

    def _decide(
        self,
        out: ExpertOutput,
        fid: str,
        values: tuple[str, ...],
        probs: np.ndarray,
        how: str,
        sims: np.ndarray | None,
    ) -> None:
        order = np.argsort(-probs)
        top = int(order[0])
        if self.taxonomy.field(fid).multi:
            threshold = 0.5 if how == "probe" else self.config.multi_min_prob
            picked = [int(k) for k in order if probs[k] >= threshold]
            if not picked:
                out.abstain(
                    fid,
                    self.name,
                    f"{how}: no value reached {threshold:.2f} (best {values[top]} at {probs[top]:.2f})",
                )
                return
            for k in picked:
                out.vote(fid, values[k], float(probs[k]), self.name, probability=float(probs[k]))
            return
        second = int(order[1]) if len(order) > 1 else top
        margin = float(probs[top] - probs[second]) if second != top else float(probs[top])
        if margin < self.config.min_margin:
            out.abstain(
                fid,
                self.name,
                f"{how}: ambiguous, {values[top]} {probs[top]:.2f} vs {values[second]} {probs[second]:.2f} "
                f"(margin {margin:.2f} < {self.config.min_margin:.2f})",
            )
            return
        evidence = {"margin": margin}
        if sims is not None:
            evidence["cosine"] = float(sims[top])
        out.vote(fid, values[top], float(probs[top]), self.name, **evidence)
