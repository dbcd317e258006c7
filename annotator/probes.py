"""Linear probes: one small linear head per PKS field over a frozen shot embedding (e.g. a CLIP embedding).

:func:`train_probes` fits the heads from labelled embeddings: a single-valued field is a softmax classifier
over its values (cross-entropy), a multi-valued field one sigmoid per value (binary cross-entropy). A shot whose
label omits a field is "unknown" for that field and does not train it; an empty list in a multi-valued field is
an explicit "none of these" (all negatives). :func:`examples_from_shards` reads the training data from the
WebDataset shards the curate job writes (``emb.npy`` + the ``json`` / ``tags.json`` tags, see
:mod:`pipeline.shards`).

A :class:`ProbeSet` saves to a small ``torch.save`` checkpoint holding the state dict, the taxonomy version and
fingerprint, each field's value list and the embedding model's identity; :func:`load_probes` refuses a
checkpoint written for another taxonomy version, or whose values the taxonomy no longer has.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from taxonomy import Taxonomy, TaxonomyError, load_taxonomy

FORMAT = "anicurate-probes-1"


class ProbeError(ValueError):
    """A probe checkpoint or training set that cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class FieldProbe:
    """The linear head of one field: ``logits = embedding @ weight.T + bias`` over ``values``."""

    field: str
    values: tuple[str, ...]
    multi: bool
    weight: np.ndarray  # (K, D) float32
    bias: np.ndarray  # (K,) float32

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """(N, K) probabilities: softmax over the values (single) or one sigmoid per value (multi)."""
        x = np.atleast_2d(np.asarray(embeddings, np.float32))
        logits = x @ self.weight.T + self.bias
        if self.multi:
            return 1.0 / (1.0 + np.exp(-logits))
        logits = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class TrainReport:
    """Per field: how many labelled examples trained it and its accuracy on them (exact-set match for multi)."""

    examples: dict[str, int]
    train_accuracy: dict[str, float]
    #: ``{field: reason}`` for requested fields that got no head.
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProbeSet:
    """Linear heads for several fields over one embedding space."""

    taxonomy_version: str
    taxonomy_fingerprint: str
    embed_dim: int
    probes: dict[str, FieldProbe]
    #: Identity of the embedding model the heads were trained on (e.g. ``"ViT-B-32/laion2b_s34b_b79k"``).
    embedder: str = ""
    report: TrainReport | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.probes)

    def save(self, path: str | Path) -> Path:
        import torch

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            f"{fid}.weight": torch.from_numpy(np.ascontiguousarray(p.weight))
            for fid, p in self.probes.items()
        }
        state.update(
            {f"{fid}.bias": torch.from_numpy(np.ascontiguousarray(p.bias)) for fid, p in self.probes.items()}
        )
        payload = {
            "format": FORMAT,
            "taxonomy_version": self.taxonomy_version,
            "taxonomy_fingerprint": self.taxonomy_fingerprint,
            "embed_dim": self.embed_dim,
            "embedder": self.embedder,
            "fields": {fid: {"values": list(p.values), "multi": p.multi} for fid, p in self.probes.items()},
            "state_dict": state,
        }
        tmp = path.with_name(path.name + ".partial")
        torch.save(payload, tmp)
        tmp.replace(path)
        return path


def load_probes(path: str | Path, taxonomy: Taxonomy | None = None) -> ProbeSet:
    """Read a probe checkpoint, refusing one written for another taxonomy version or with unknown values."""
    import torch

    tax = taxonomy or load_taxonomy()
    path = Path(path)
    if not path.is_file():
        raise ProbeError(f"probe checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ProbeError(f"{path} is not a readable probe checkpoint: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ProbeError(f"{path} is not a probe checkpoint (format {FORMAT!r})")
    if payload["taxonomy_version"] != tax.version:
        raise ProbeError(
            f"{path} was trained for taxonomy {payload['taxonomy_version']}, but the taxonomy in use is "
            f"{tax.version} ({tax.source}); retrain the probes on data tagged with {tax.version}"
        )
    state = payload["state_dict"]
    probes: dict[str, FieldProbe] = {}
    for fid, meta in payload["fields"].items():
        try:
            fld = tax.field(fid)
            for v in meta["values"]:
                tax.value(fid, v)
        except TaxonomyError as exc:
            raise ProbeError(f"{path}: {exc}; the taxonomy changed without a version bump, retrain") from exc
        if bool(meta["multi"]) != fld.multi:
            raise ProbeError(f"{path}: {fid} cardinality differs from the taxonomy's ({fld.cardinality})")
        weight = state[f"{fid}.weight"].float().numpy()
        bias = state[f"{fid}.bias"].float().numpy()
        if weight.shape != (len(meta["values"]), int(payload["embed_dim"])) or bias.shape != (
            weight.shape[0],
        ):
            raise ProbeError(
                f"{path}: {fid} head has shape {tuple(weight.shape)}, inconsistent with its values"
            )
        probes[fid] = FieldProbe(fid, tuple(meta["values"]), fld.multi, weight, bias)
    return ProbeSet(
        payload["taxonomy_version"],
        payload["taxonomy_fingerprint"],
        int(payload["embed_dim"]),
        probes,
        embedder=str(payload.get("embedder", "")),
    )


@dataclass(frozen=True)
class ProbeTrainConfig:
    epochs: int = 300
    lr: float = 0.05
    weight_decay: float = 1e-4
    seed: int = 0
    #: Fields with fewer labelled examples than this get no head (reported in ``TrainReport.skipped``).
    min_examples: int = 4


def _labelled(
    labels: Sequence[Mapping[str, str | Sequence[str]]], fid: str
) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    rows, vals = [], []
    for i, lab in enumerate(labels):
        if fid in lab:
            raw = lab[fid]
            rows.append(i)
            vals.append((raw,) if isinstance(raw, str) else tuple(raw))
    return np.asarray(rows, dtype=np.int64), vals


def train_probes(
    embeddings: np.ndarray,
    labels: Sequence[Mapping[str, str | Sequence[str]]],
    fields: Iterable[str] | None = None,
    taxonomy: Taxonomy | None = None,
    config: ProbeTrainConfig | None = None,
    embedder: str = "",
) -> ProbeSet:
    """Fit one linear head per field on ``embeddings`` (N, D) and ``labels`` (one ``{field: value(s)}`` per row,
    validated against the taxonomy). ``fields`` defaults to every field some label mentions. Full-batch AdamW
    on CPU in one thread (the heads are tiny; more threads only contend); thousands of examples train in
    seconds."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(embeddings, labels, fields, taxonomy, config, embedder)
    finally:
        torch.set_num_threads(threads)


def _train(
    embeddings: np.ndarray,
    labels: Sequence[Mapping[str, str | Sequence[str]]],
    fields: Iterable[str] | None,
    taxonomy: Taxonomy | None,
    config: ProbeTrainConfig | None,
    embedder: str,
) -> ProbeSet:
    import torch

    tax = taxonomy or load_taxonomy()
    cfg = config or ProbeTrainConfig()
    x_all = np.asarray(embeddings, np.float32)
    if x_all.ndim != 2 or len(x_all) != len(labels):
        raise ProbeError(
            f"embeddings must be (N, D) with one row per label; got {x_all.shape} for {len(labels)}"
        )
    checked = []
    for i, lab in enumerate(labels):
        try:
            checked.append(tax.validate(lab))
        except TaxonomyError as exc:
            raise ProbeError(f"label {i}: {exc}") from exc
    wanted = (
        list(fields) if fields is not None else [f.id for f in tax.fields if any(f.id in c for c in checked)]
    )
    probes: dict[str, FieldProbe] = {}
    examples: dict[str, int] = {}
    accuracy: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for fid in wanted:
        fld = tax.field(fid)
        values = tuple(v.id for v in fld.active_values)
        index = {v: k for k, v in enumerate(values)}
        rows, vals = _labelled(checked, fid)
        if len(rows) < cfg.min_examples:
            skipped[fid] = f"{len(rows)} labelled example(s) < min_examples {cfg.min_examples}"
            continue
        x = torch.from_numpy(x_all[rows])
        torch.manual_seed(cfg.seed)
        head = torch.nn.Linear(x.shape[1], len(values))
        opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        if fld.multi:
            target = torch.zeros(len(rows), len(values))
            for r, vs in enumerate(vals):
                for v in vs:
                    target[r, index[v]] = 1.0
            loss_fn = torch.nn.BCEWithLogitsLoss()
        else:
            target = torch.tensor([index[vs[0]] for vs in vals])
            loss_fn = torch.nn.CrossEntropyLoss()
        for _ in range(cfg.epochs):
            opt.zero_grad()
            loss = loss_fn(head(x), target)
            loss.backward()
            opt.step()
        with torch.no_grad():
            logits = head(x)
            if fld.multi:
                acc = float(((logits > 0).float() == target).all(dim=1).float().mean())
            else:
                acc = float((logits.argmax(dim=1) == target).float().mean())
        probes[fid] = FieldProbe(
            fid,
            values,
            fld.multi,
            head.weight.detach().numpy().astype(np.float32).copy(),
            head.bias.detach().numpy().astype(np.float32).copy(),
        )
        examples[fid] = len(rows)
        accuracy[fid] = round(acc, 4)
    if not probes:
        raise ProbeError(
            f"no field had enough labelled examples to train: {skipped or 'no fields requested'}"
        )
    return ProbeSet(
        tax.version,
        tax.fingerprint(),
        int(x_all.shape[1]),
        probes,
        embedder=embedder,
        report=TrainReport(examples, accuracy, skipped),
    )


def _sample_tags(sample: Mapping[str, bytes]) -> tuple[str, dict[str, list[str]]]:
    """(taxonomy version, ``{field: [values]}``) of a shard sample; the ``json`` member keeps explicit empty lists."""
    if "json" in sample:
        meta = json.loads(sample["json"])
        return str(meta.get("taxonomy_version", "")), {
            k: list(v) for k, v in (meta.get("tags") or {}).items()
        }
    tags = json.loads(sample["tags.json"])
    grouped: dict[str, list[str]] = {}
    for tag in tags.get("tags", []):
        fid, _, value = tag.partition("=")
        grouped.setdefault(fid, []).append(value)
    return str(tags.get("taxonomy_version", "")), grouped


def shot_vector(emb: np.ndarray) -> np.ndarray:
    """One vector per shot from a stored ``emb.npy``: a (D,) embedding as is, (k, D) frame rows averaged after
    L2-normalising each row (the same reduction as :func:`annotator.clip_backend.mean_embedding`)."""
    emb = np.asarray(emb, np.float32)
    if emb.ndim == 1:
        return emb
    rows = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    return rows.mean(axis=0)


def examples_from_shards(
    shards: Iterable[str | Path], taxonomy: Taxonomy | None = None
) -> tuple[np.ndarray, list[dict[str, list[str]]], list[str]]:
    """(embeddings (N, D), labels, sample keys) of every shard sample that has an ``emb.npy``; samples tagged
    with another taxonomy version are refused with the shard named."""
    import io

    from pipeline.shards import iter_shard

    tax = taxonomy or load_taxonomy()
    embs: list[np.ndarray] = []
    labels: list[dict[str, list[str]]] = []
    keys: list[str] = []
    for shard in shards:
        for sample in iter_shard(shard):
            if "emb.npy" not in sample:
                continue
            version, tags = _sample_tags(sample)
            if version != tax.version:
                raise ProbeError(
                    f"{shard}: sample {sample['__key__']} is tagged with taxonomy {version!r}, not {tax.version}"
                )
            embs.append(shot_vector(np.load(io.BytesIO(sample["emb.npy"]), allow_pickle=False)))
            labels.append(tags)
            keys.append(str(sample["__key__"]))
    if not embs:
        return np.zeros((0, 0), np.float32), [], []
    dims = {e.shape[0] for e in embs}
    if len(dims) != 1:
        raise ProbeError(
            f"shard embeddings have different dimensions {sorted(dims)}: mixed embedding models?"
        )
    return np.stack(embs).astype(np.float32), labels, keys


def evaluate_probes(
    probes: ProbeSet, embeddings: np.ndarray, labels: Sequence[Mapping[str, str | Sequence[str]]]
) -> dict[str, tuple[float, int]]:
    """``{field: (accuracy, examples)}`` on labelled embeddings: top-1 for single fields, the exact value set
    (sigmoid >= 0.5) for multi fields; shots whose label omits a field do not count for it."""
    x_all = np.asarray(embeddings, np.float32)
    out: dict[str, tuple[float, int]] = {}
    for fid, probe in probes.probes.items():
        rows, vals = _labelled(labels, fid)
        if not len(rows):
            out[fid] = (float("nan"), 0)
            continue
        probs = probe.probabilities(x_all[rows])
        if probe.multi:
            hits = [
                {probe.values[k] for k in np.flatnonzero(p >= 0.5)} == set(v)
                for p, v in zip(probs, vals, strict=True)
            ]
        else:
            hits = [probe.values[int(p.argmax())] == v[0] for p, v in zip(probs, vals, strict=True)]
        out[fid] = (float(np.mean(hits)), len(rows))
    return out
