"""Declarative shot filters and quality tiers over the ``scores`` table.

A filter config (YAML, see ``filters_default.yaml``) lists

* ``rules``: conditions a shot must meet to be *kept*, each on one score column::

      - {name: min_duration, score: duration_s, op: ">=", value: 1.0, stage: filter,
         reason: "too short to cut a training clip from", on_null: pass}

  ``op`` is one of ``>= > <= < == != in not_in``; ``on_null`` says what a null score does (``pass``, the
  default, or ``reject``). ``stage`` is written to the rejections table (default ``filter``).
* ``tiers``: ordered from best to worst (e.g. S, A, B); a shot gets the first tier whose ``when`` conditions
  all hold (``when: []`` always holds). A condition is ``{score, op, value[, on_null]}`` (``on_null`` defaults
  to ``fail`` in tiers) or ``{any: [conditions...]}``.
* ``aesthetic`` (optional): the CLIP + MLP head configuration of :mod:`pipeline.scores.aesthetic`.

:func:`apply_filters` runs in ``filter`` mode (failing shots are dropped, each with one
:class:`~pipeline.records.RejectionRecord` naming the first failed rule, its measured value and threshold,
and listing any other failed rules) or ``score-only`` mode (nothing is dropped; every shot gets its tier).
Unknown keys, unknown score names, bad operators and values of the wrong type are errors naming the file
and the place.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from pipeline.records import RejectionRecord
from pipeline.scores.record import ID_COLUMNS, ShotScores

DEFAULT_CONFIG = Path(__file__).with_name("filters_default.yaml")
MODES = ("filter", "score-only")
NUMERIC_OPS = (">=", ">", "<=", "<")
OPS = (*NUMERIC_OPS, "==", "!=", "in", "not_in")
_OP_WORDS = {">=": "at least", ">": "above", "<=": "at most", "<": "below", "==": "equal to", "!=": "not",
             "in": "one of", "not_in": "not one of"}  # fmt: skip


class FilterConfigError(ValueError):
    """A filter config that does not follow the format; the message names the file and the place."""


def score_types() -> dict[str, type]:
    """Score column -> Python type (``float``, ``int``, ``str`` or ``bool``) of every filterable column."""
    hints = typing.get_type_hints(ShotScores)
    out: dict[str, type] = {}
    for f in dataclasses.fields(ShotScores):
        if f.name in ID_COLUMNS[:3]:
            continue
        hint = hints[f.name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        out[f.name] = args[0] if args else hint
    return out


@dataclass(frozen=True)
class Condition:
    score: str
    op: str
    value: Any
    on_null: str = "fail"  # rules: 'pass' / 'reject'; tiers: 'pass' / 'fail'

    def holds(self, row: ShotScores) -> bool | None:
        """True / False, or None when the score is null."""
        return self.holds_for(getattr(row, self.score))

    def holds_for(self, v: Any) -> bool | None:
        """The condition on the score value ``v`` (None when ``v`` is null)."""
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        op, t = self.op, self.value
        if op == ">=":
            return v >= t
        if op == ">":
            return v > t
        if op == "<=":
            return v <= t
        if op == "<":
            return v < t
        if op == "==":
            return v == t
        if op == "!=":
            return v != t
        if op == "in":
            return v in t
        return v not in t

    @property
    def threshold(self) -> str:
        value = (
            "[" + ", ".join(str(x) for x in self.value) + "]"
            if isinstance(self.value, list)
            else str(self.value)
        )
        return f"{self.op} {value}"


@dataclass(frozen=True)
class AnyOf:
    conditions: tuple[Condition, ...]

    def holds(self, row: ShotScores) -> bool:
        return any(_tier_ok(c, row) for c in self.conditions)


@dataclass(frozen=True)
class Rule:
    name: str
    condition: Condition
    stage: str = "filter"
    reason: str = ""


@dataclass(frozen=True)
class Tier:
    name: str
    when: tuple[Condition | AnyOf, ...] = ()

    def matches(self, row: ShotScores) -> bool:
        return all(_tier_ok(c, row) for c in self.when)


def _tier_ok(cond: Condition | AnyOf, row: ShotScores) -> bool:
    if isinstance(cond, AnyOf):
        return cond.holds(row)
    ok = cond.holds(row)
    return (cond.on_null == "pass") if ok is None else bool(ok)


@dataclass(frozen=True)
class FilterConfig:
    rules: tuple[Rule, ...] = ()
    tiers: tuple[Tier, ...] = ()
    mode: str = "filter"
    aesthetic: dict[str, Any] | None = None
    source: str = "<config>"
    version: int = 1

    @classmethod
    def load(cls, path: str | Path | None = None) -> FilterConfig:
        """Load a YAML config (the bundled default when ``path`` is None)."""
        path = Path(path) if path is not None else DEFAULT_CONFIG
        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise FilterConfigError(f"{path}: not valid YAML: {exc}") from exc
        except OSError as exc:
            raise FilterConfigError(f"{path}: cannot read: {exc.strerror}") from exc
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw: Any, source: str = "<config>") -> FilterConfig:
        return _parse(raw, source)

    def rule_names(self) -> list[str]:
        return [r.name for r in self.rules]


# --- parsing ------------------------------------------------------------------------------------------------

_TOP_KEYS = {"version", "mode", "rules", "tiers", "aesthetic"}
_RULE_KEYS = {"name", "score", "op", "value", "stage", "reason", "on_null"}
_COND_KEYS = {"score", "op", "value", "on_null"}
_TIER_KEYS = {"name", "when"}


def _err(source: str, where: str, msg: str) -> FilterConfigError:
    return FilterConfigError(f"{source}: {where}: {msg}")


def _keys(raw: Any, allowed: set[str], source: str, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _err(source, where, f"expected a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise _err(
            source,
            where,
            f"unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(allowed))}",
        )
    return raw


def _condition(
    raw: Any, source: str, where: str, null_choices: tuple[str, ...], null_default: str
) -> Condition:
    raw = _keys(raw, _COND_KEYS | ({"name", "stage", "reason"} if "rules" in where else set()), source, where)
    types = score_types()
    for key in ("score", "op", "value"):
        if key not in raw:
            raise _err(source, where, f"missing {key!r}")
    score, op, value = raw["score"], raw["op"], raw["value"]
    if score not in types:
        raise _err(
            source, f"{where}.score", f"{score!r} is not a score column; known: {', '.join(sorted(types))}"
        )
    if op not in OPS:
        raise _err(source, f"{where}.op", f"{op!r} is not one of {', '.join(OPS)}")
    t = types[score]
    numeric = t in (int, float)

    def typed(v: Any, place: str) -> Any:
        if numeric:
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise _err(source, place, f"{v!r} is not a number (score {score} is numeric)")
            return float(v) if t is float else v
        if not isinstance(v, t) or (t is not bool and isinstance(v, bool)):
            raise _err(source, place, f"{v!r} is not a {t.__name__} (the type of score {score})")
        return v

    if op in NUMERIC_OPS:
        if not numeric:
            raise _err(source, f"{where}.op", f"{op!r} needs a numeric score; {score} is {t.__name__}")
        value = typed(value, f"{where}.value")
    elif op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise _err(source, f"{where}.value", f"{op!r} needs a non-empty list")
        value = [typed(v, f"{where}.value[{i}]") for i, v in enumerate(value)]
    else:
        value = typed(value, f"{where}.value")
    on_null = raw.get("on_null", null_default)
    if on_null not in null_choices:
        raise _err(source, f"{where}.on_null", f"{on_null!r} is not one of {', '.join(null_choices)}")
    return Condition(score, op, value, on_null)


def _parse(raw: Any, source: str) -> FilterConfig:
    raw = _keys(raw if raw is not None else {}, _TOP_KEYS, source, "top level")
    version = raw.get("version", 1)
    if version != 1:
        raise _err(source, "version", f"{version!r} is not a supported version (1)")
    mode = raw.get("mode", "filter")
    if mode not in MODES:
        raise _err(source, "mode", f"{mode!r} is not one of {', '.join(MODES)}")
    rules_raw = raw.get("rules") or []
    if not isinstance(rules_raw, list):
        raise _err(source, "rules", "expected a list")
    rules: list[Rule] = []
    for i, r in enumerate(rules_raw):
        where = f"rules[{i}]"
        r = _keys(r, _RULE_KEYS, source, where)
        cond = _condition(r, source, where, ("pass", "reject"), "pass")
        name = r.get("name") or f"{cond.score} {cond.threshold}"
        if not isinstance(name, str):
            raise _err(source, f"{where}.name", "expected a string")
        if name in {x.name for x in rules}:
            raise _err(source, f"{where}.name", f"duplicate rule name {name!r}")
        stage = r.get("stage", "filter")
        reason = r.get("reason", "")
        if not isinstance(stage, str) or not stage:
            raise _err(source, f"{where}.stage", "expected a non-empty string")
        if not isinstance(reason, str):
            raise _err(source, f"{where}.reason", "expected a string")
        rules.append(Rule(name, cond, stage, reason))
    tiers_raw = raw.get("tiers") or []
    if not isinstance(tiers_raw, list):
        raise _err(source, "tiers", "expected a list, best tier first")
    tiers: list[Tier] = []
    for i, t in enumerate(tiers_raw):
        where = f"tiers[{i}]"
        t = _keys(t, _TIER_KEYS, source, where)
        name = t.get("name")
        if not isinstance(name, str) or not name:
            raise _err(source, f"{where}.name", "required string")
        if name in {x.name for x in tiers}:
            raise _err(source, f"{where}.name", f"duplicate tier {name!r}")
        when_raw = t.get("when") or []
        if not isinstance(when_raw, list):
            raise _err(source, f"{where}.when", "expected a list of conditions")
        when: list[Condition | AnyOf] = []
        for j, c in enumerate(when_raw):
            cw = f"{where}.when[{j}]"
            if isinstance(c, dict) and "any" in c:
                _keys(c, {"any"}, source, cw)
                if not isinstance(c["any"], list) or not c["any"]:
                    raise _err(source, f"{cw}.any", "expected a non-empty list of conditions")
                when.append(
                    AnyOf(
                        tuple(
                            _condition(x, source, f"{cw}.any[{k}]", ("pass", "fail"), "fail")
                            for k, x in enumerate(c["any"])
                        )
                    )
                )
            else:
                when.append(_condition(c, source, cw, ("pass", "fail"), "fail"))
        tiers.append(Tier(name, tuple(when)))
    aesthetic = raw.get("aesthetic")
    if aesthetic is not None:
        from pipeline.scores.aesthetic import AestheticConfig, AestheticError

        try:
            AestheticConfig.from_dict(aesthetic)
        except AestheticError as exc:
            raise FilterConfigError(f"{source}: {exc}") from exc
    return FilterConfig(tuple(rules), tuple(tiers), mode, aesthetic, source, version)


# --- applying -----------------------------------------------------------------------------------------------


class FilterResult(NamedTuple):
    kept: list[ShotScores]
    rejections: list[RejectionRecord]
    tiers: dict[str, str | None]  # shot_id -> tier (kept shots; every shot in score-only mode)


def failed_rules(row: ShotScores, config: FilterConfig) -> list[Rule]:
    """The rules ``row`` fails, in config order."""
    out = []
    for rule in config.rules:
        ok = rule.condition.holds(row)
        if ok is None:
            if rule.condition.on_null == "reject":
                out.append(rule)
        elif not ok:
            out.append(rule)
    return out


def frame_size_caps(width: int, height: int) -> dict[str, int]:
    """The largest value each size score of a shot can take in a ``width`` x ``height`` video: the active
    picture lies inside the frame."""
    return {"short_side_px": min(width, height), "active_width": width, "active_height": height}


def rules_no_shot_can_pass(
    width: int, height: int, config: FilterConfig, mode: str | None = None
) -> list[Rule]:
    """The rules every shot of a ``width`` x ``height`` video fails whatever its content, in config order: a
    lower bound (``>=``, ``>``) on a size score that the frame size already keeps below it. A job can reject
    such a video before decoding it. Empty in score-only mode (``mode``, default the config's own, as in
    :func:`apply_filters`), where nothing is dropped."""
    if (mode or config.mode) != "filter":
        return []
    caps = frame_size_caps(width, height)
    return [
        rule
        for rule in config.rules
        if rule.condition.score in caps
        and rule.condition.op in (">=", ">")
        and rule.condition.holds_for(caps[rule.condition.score]) is False
    ]


def assign_tier(row: ShotScores, config: FilterConfig) -> str | None:
    for tier in config.tiers:
        if tier.matches(row):
            return tier.name
    return None


def _measured(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return None


def _failure_text(failed: Sequence[Rule], measured: str) -> str:
    """ "<why>: <measured> (keep when <threshold>)[; also fails <other rules>]" for the first failed rule."""
    first = failed[0]
    cond = first.condition
    what = first.reason or f"{cond.score} must be {_OP_WORDS[cond.op]} {cond.threshold.split(' ', 1)[1]}"
    text = f"{what}: {measured} (keep when {cond.threshold})"
    if len(failed) > 1:
        text += "; also fails " + ", ".join(r.name for r in failed[1:])
    return text


def reason_no_shot_can_pass(failed: Sequence[Rule], width: int, height: int) -> str:
    """The rejection reason of a video that :func:`rules_no_shot_can_pass` gave ``failed``."""
    score = failed[0].condition.score
    cap = frame_size_caps(width, height)[score]
    return _failure_text(failed, f"{score} is at most {cap} in {width}x{height} frames") + (
        "; no shot can pass, so the video is rejected before decoding"
    )


def rejection_for(row: ShotScores, failed: Sequence[Rule]) -> RejectionRecord:
    first = failed[0]
    cond = first.condition
    value = getattr(row, cond.score)
    reason = _failure_text(failed, f"{cond.score} = {value!r}")
    return RejectionRecord(
        stage=first.stage,
        subject="shot",
        subject_id=row.shot_id,
        source_path=row.source_path,
        rule=first.name,
        reason=reason,
        measured=_measured(value),
        threshold=cond.threshold,
    )


def apply_filters(
    scores: Iterable[ShotScores], config: FilterConfig | None = None, mode: str | None = None
) -> FilterResult:
    """Keep / reject every shot by the config's rules and assign tiers.

    ``mode`` (default: the config's) is ``filter`` (failing shots go to the rejections, kept shots get a tier)
    or ``score-only`` (nothing is rejected, every shot gets a tier)."""
    config = config if config is not None else FilterConfig.load()
    mode = mode or config.mode
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    kept: list[ShotScores] = []
    rejections: list[RejectionRecord] = []
    tiers: dict[str, str | None] = {}
    for row in scores:
        failed = failed_rules(row, config) if mode == "filter" else []
        if failed:
            rejections.append(rejection_for(row, failed))
            continue
        kept.append(row)
        tiers[row.shot_id] = assign_tier(row, config)
    return FilterResult(kept, rejections, tiers)


def summarize(result: FilterResult) -> dict[str, Any]:
    """Counts for a report: kept, rejected per rule, shots per tier."""
    from collections import Counter

    return {
        "kept": len(result.kept),
        "rejected": len(result.rejections),
        "by_rule": dict(Counter(r.rule for r in result.rejections)),
        "by_tier": dict(Counter(t or "none" for t in result.tiers.values())),
    }


__all__ = [
    "DEFAULT_CONFIG",
    "MODES",
    "OPS",
    "AnyOf",
    "Condition",
    "FilterConfig",
    "FilterConfigError",
    "FilterResult",
    "Rule",
    "Tier",
    "apply_filters",
    "assign_tier",
    "failed_rules",
    "rejection_for",
    "score_types",
    "summarize",
]
