"""Long-tail rebalancing of a tagged corpus, as in AniMatrix: w = (1 / (n_s * n_m * n_c * n_v)) ** 0.7.

One implementation, used by the curate job (the ``weight`` of every sample), the audit and the trainer's sampler.

``n_a`` is the corpus frequency of the clip's value on axis ``a`` (style, motion, camera, vfx). A clip may carry
several tags on one axis (``motion.timing`` and ``motion.action`` are both motion), so its value on the axis is
its **rarest** tag there: ``n_a = min(count(tag))`` over the clip's tags on that axis, counted over clips (a tag
counts once per clip). This keeps the rule meaningful with many fields per axis, where whole tag combinations
would be almost all unique. A clip with no tag on an axis belongs to that axis's "untagged" group, so missing
tags neither earn nor lose weight. Counts are relative frequencies; the exponent 0.7 < 1 flattens the
distribution without letting one rare clip dominate. Weights are normalised to mean 1 ("repeat a clip ``w``
times on average" keeps the epoch length). :func:`gini` / :func:`axis_gini` measure how unequal each axis's
value distribution is before (clip counts) and after (summed weights) rebalancing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from taxonomy.model import AXES

#: The exponent of the AniMatrix rebalancing rule.
EXPONENT = 0.7
UNTAGGED = "<untagged>"

TagSet = Mapping[str, Sequence[str]] | Sequence[str]


def tag_axis(tag: str) -> str:
    """The axis of a ``"field=value"`` tag (``"camera.movement=pan_left"`` -> ``"camera"``)."""
    field_id, sep, _ = tag.partition("=")
    axis = field_id.partition(".")[0]
    if not sep or axis not in AXES:
        raise ValueError(
            f"expected a tag '<axis>.<field>=<value>' with axis in {', '.join(AXES)}, got {tag!r}"
        )
    return axis


def tag_strings(tags: TagSet) -> list[str]:
    """``{"field": [values]}`` or ``["field=value", ...]`` as a list of ``"field=value"`` strings."""
    if isinstance(tags, Mapping):
        return [f"{f}={v}" for f, values in tags.items() for v in values]
    return list(tags)


def tag_frequencies(tag_lists: Iterable[Sequence[str]]) -> tuple[Counter[str], Counter[str], int]:
    """``(tag counts, untagged counts per axis, clips)``; each tag counts once per clip."""
    counts: Counter[str] = Counter()
    untagged: Counter[str] = Counter()
    clips = 0
    for tags in tag_lists:
        clips += 1
        unique = set(tags)
        counts.update(unique)
        present = {tag_axis(t) for t in unique}
        untagged.update(a for a in AXES if a not in present)
    return counts, untagged, clips


def axis_values(tag_lists: Sequence[Sequence[str]]) -> list[dict[str, str]]:
    """Each clip's value on each axis: its rarest tag there, or ``UNTAGGED``."""
    counts, _, _ = tag_frequencies(tag_lists)
    out = []
    for tags in tag_lists:
        per: dict[str, str] = {}
        for axis in AXES:
            on_axis = sorted((counts[t], t) for t in set(tags) if tag_axis(t) == axis)
            per[axis] = on_axis[0][1] if on_axis else UNTAGGED
        out.append(per)
    return out


def rebalance_weights(
    tag_sets: Sequence[TagSet], exponent: float = EXPONENT, normalise: bool = True
) -> np.ndarray:
    """One weight per clip by the rule in the module doc (empty input: an empty array)."""
    if exponent < 0:
        raise ValueError(f"exponent must be >= 0, got {exponent}")
    lists = [tag_strings(t) for t in tag_sets]
    if not lists:
        return np.zeros(0, dtype=np.float64)
    counts, untagged, clips = tag_frequencies(lists)
    weights = np.empty(len(lists), dtype=np.float64)
    for k, tags in enumerate(lists):
        product = 1.0
        for axis in AXES:
            on_axis = [counts[t] for t in set(tags) if tag_axis(t) == axis]
            product *= (min(on_axis) if on_axis else untagged[axis]) / clips
        weights[k] = (1.0 / product) ** exponent
    return weights / weights.mean() if normalise else weights


def gini(amounts: Sequence[float]) -> float:
    """Gini coefficient of non-negative amounts (0 = all equal, towards 1 = concentrated in one)."""
    x = np.sort(np.asarray(amounts, dtype=np.float64))
    if x.size == 0 or x.sum() <= 0:
        return 0.0
    n = x.size
    cum = np.cumsum(x)
    return float((n + 1 - 2 * (cum / cum[-1]).sum()) / n)


def axis_gini(tag_sets: Sequence[TagSet], weights: Sequence[float] | None = None) -> dict[str, float]:
    """Per-axis Gini of the clips' axis values (:func:`axis_values`): clip counts, or summed ``weights``."""
    lists = [tag_strings(t) for t in tag_sets]
    w = np.ones(len(lists)) if weights is None else np.asarray(weights, dtype=np.float64)
    values = axis_values(lists)
    out = {}
    for a in AXES:
        mass: Counter[str] = Counter()
        for v, wi in zip(values, w, strict=True):
            mass[v[a]] += float(wi)
        out[a] = gini(list(mass.values()))
    return out
