"""Long-tail rebalancing of a tagged corpus, as in AniMatrix: w = (1 / (n_s * n_m * n_c * n_v)) ** 0.7.

``n_a`` is how many clips of the corpus share the clip's value on axis ``a`` (style, motion, camera, vfx). An
axis has several fields, so a clip's *value on an axis* is the set of its tags on that axis (e.g. camera =
{movement=pan_left, speed=slow, layout=full}); a clip with no tag on an axis shares the "untagged" value with the
other untagged clips, so missing tags neither earn nor lose weight. Weights are normalised to mean 1, so they
can be used directly as sampling weights. :func:`gini` measures how unequal an axis's value distribution is,
before (clip counts) and after (summed weights) rebalancing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from taxonomy import AXES, Taxonomy, load_taxonomy

EXPONENT = 0.7
UNTAGGED = ("<untagged>",)


def axis_values(
    tags: Mapping[str, Sequence[str]], taxonomy: Taxonomy | None = None
) -> dict[str, tuple[str, ...]]:
    """The clip's value on each axis: its sorted ``field=value`` tags on that axis (``UNTAGGED`` when none)."""
    tax = taxonomy or load_taxonomy()
    out: dict[str, list[str]] = {a: [] for a in AXES}
    for field_id, values in tags.items():
        axis = tax.field(field_id).axis
        out[axis].extend(f"{field_id}={v}" for v in values)
    return {a: tuple(sorted(v)) if v else UNTAGGED for a, v in out.items()}


def rebalance_weights(
    tag_sets: Sequence[Mapping[str, Sequence[str]]],
    taxonomy: Taxonomy | None = None,
    exponent: float = EXPONENT,
) -> np.ndarray:
    """One weight per clip, mean 1 (empty input: an empty array)."""
    if not tag_sets:
        return np.zeros(0, dtype=np.float64)
    tax = taxonomy or load_taxonomy()
    per_clip = [axis_values(t, tax) for t in tag_sets]
    counts = {a: Counter(v[a] for v in per_clip) for a in AXES}
    raw = np.array(
        [np.prod([float(counts[a][v[a]]) for a in AXES]) ** -exponent for v in per_clip], dtype=np.float64
    )
    return raw / raw.mean()


def gini(amounts: Sequence[float]) -> float:
    """Gini coefficient of non-negative amounts (0 = all equal, towards 1 = concentrated in one)."""
    x = np.sort(np.asarray(amounts, dtype=np.float64))
    if x.size == 0 or x.sum() <= 0:
        return 0.0
    n = x.size
    cum = np.cumsum(x)
    return float((n + 1 - 2 * (cum / cum[-1]).sum()) / n)


def axis_gini(
    tag_sets: Sequence[Mapping[str, Sequence[str]]],
    weights: Sequence[float] | None = None,
    taxonomy: Taxonomy | None = None,
) -> dict[str, float]:
    """Per-axis Gini of the value distribution: clip counts, or summed ``weights`` when given."""
    tax = taxonomy or load_taxonomy()
    w = np.ones(len(tag_sets)) if weights is None else np.asarray(weights, dtype=np.float64)
    out = {}
    for a in AXES:
        mass: Counter[tuple[str, ...]] = Counter()
        for tags, wi in zip(tag_sets, w, strict=True):
            mass[axis_values(tags, tax)[a]] += float(wi)
        out[a] = gini(list(mass.values()))
    return out
