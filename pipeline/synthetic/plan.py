"""Seeded shot plans: which shots, cameras, cadences, transitions, flashes and overlays each video gets.

Planning is global over the whole set so that a set of 4+ default videos covers every camera move, every cadence,
every transition type, every flash type, every layout and subtitles on and off. Everything is drawn from one
``numpy`` generator seeded by the footage seed; each shot then gets its own integer seed for rendering.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from .characters import ACTIONS
from .config import CAMERA_MOVES, OPENING_SEED, SynthConfig

TIMINGS = ("ones", "twos", "threes", "held", "mixed")
SHOT_SIZES = ("close_up", "medium", "full", "wide")
GRADUAL = ("dissolve", "fade_black", "fade_white", "flash_cut")
FLASH_KINDS = ("white_flash", "inversion", "impact_frame")
#: Speed lines are only put on these cameras (never on pan_left / tilt_up, whose direction tests want clean frames).
SPEED_LINE_CAMERAS = ("static", "pan_right", "tilt_down", "zoom_in", "zoom_out", "shake")
SCENE_PALETTES = tuple(
    (scene, palette)
    for scene in ("town", "country", "room")
    for palette in ("day", "sunset", "night", "overcast")
    if not (scene == "room" and palette == "overcast")
)
#: The shared opening's camera moves: it is left out of a set whose ``cameras`` exclude one of them.
OPENING_CAMERAS = ("pan_right", "static")
#: The "collage" look's backgrounds (:func:`pipeline.synthetic.paint.paint_collage`).
COLLAGE_PALETTES = tuple(("collage", palette) for palette in ("day", "sunset", "night", "overcast"))
SUBTITLES = (
    "I won't lose this time!",
    "Where did everyone go?",
    "Hold on, I'm coming!",
    "That's... impossible.",
    "Let's go together.",
    "The festival starts tomorrow.",
    "Did you hear that?",
    "Don't give up now!",
    "It's starting to rain.",
    "I'll protect this town.",
    "You're late again.",
    "Look, up in the sky!",
)
#: Pan / tilt speed ranges in px per frame at 640 px frame width; shake amplitude range in px.
PAN_SPEED = (1.5, 6.0)
TILT_SPEED = (1.5, 4.0)
SHAKE_AMPLITUDE = (3.0, 8.0)
#: Zoom: scale ratio per frame, and the largest total zoom over a shot (including transition pre/post-roll).
ZOOM_RATE = (1.005, 1.012)
ZOOM_MAX_TOTAL = 2.0
#: Shorter shots planned as "mixed" fall back to twos (too short to show two cadences).
MIN_MIXED_FRAMES = 12

_CAMERA_WEIGHTS = (0.32, 0.1, 0.1, 0.07, 0.07, 0.1, 0.08, 0.16)
_TIMING_WEIGHTS = (0.22, 0.33, 0.15, 0.15, 0.15)
_REQUIRED = (
    ("static", "held"), ("static", "twos"), ("static", "threes"), ("pan_left", None), ("pan_right", None),
    ("tilt_up", None), ("tilt_down", None), ("zoom_in", None), ("zoom_out", None), ("shake", None),
)  # fmt: skip
_PLAIN = {("static", "held"), ("static", "twos"), ("static", "threes"), ("pan_left", None), ("tilt_up", None)}


@dataclass(frozen=True)
class FlashSpec:
    offset: int  # first flash frame, relative to the shot start
    length: int
    type: str


@dataclass(frozen=True)
class ShotSpec:
    length: int
    camera: str
    timing: str
    shot_size: str
    scene: str
    palette: str
    seed: int
    #: Drawing cadence: ``(first local frame, step)`` segments; step 0 = one drawing for the whole shot.
    steps: tuple[tuple[int, int], ...]
    cast: tuple[int, ...]  # look seeds, main character first
    actions: tuple[str, ...]
    speed: float = 0.0  # pan/tilt: px per frame; shake: jitter amplitude in px
    zoom_rate: float = 1.0  # zoom: scale ratio per frame
    flash: FlashSpec | None = None
    speed_lines: bool = False
    subtitle: str = ""
    opening: bool = False

    def drawing_index(self, t: int) -> int:
        """Index of the drawing shown at local frame ``t`` (negative/after-end frames are transition roll)."""
        first_step = self.steps[0][1]
        if first_step == 0:
            return 0
        if t < 0:
            return t // first_step
        d = 0
        for k, (start, step) in enumerate(self.steps):
            end = self.steps[k + 1][0] if k + 1 < len(self.steps) else None
            if end is None or t < end:
                return d + (t - start) // step
            d += -(-(end - start) // step)
        raise AssertionError("unreachable")

    def drawing_starts(self) -> list[int]:
        """Local frames (inside the shot) where a new drawing appears, the shot's first frame included."""
        out, prev = [], None
        for t in range(self.length):
            d = self.drawing_index(t)
            if d != prev:
                out.append(t)
                prev = d
        return out

    @property
    def vfx(self) -> tuple[str, ...]:
        out = []
        if self.speed_lines:
            out.append("speed_lines")
        if self.flash is not None:
            out.append("flash" if self.flash.type == "white_flash" else "impact_frame")
        return tuple(out)


@dataclass(frozen=True)
class Boundary:
    """What joins two consecutive shots. ``a_post`` frames of shot A and ``b_pre`` of shot B are rendered
    beyond their own spans; ``hold`` frames are flat colour (fade / flash_cut)."""

    type: str = "cut"
    a_post: int = 0
    hold: int = 0
    b_pre: int = 0

    @property
    def length(self) -> int:
        if self.type == "cut":
            return 0
        if self.type == "dissolve":
            return self.a_post
        return self.a_post + self.hold + self.b_pre


@dataclass(frozen=True)
class VideoPlan:
    index: int
    name: str
    layout: str
    watermark: bool
    shots: tuple[ShotSpec, ...]
    boundaries: tuple[Boundary, ...]

    def starts(self) -> list[int]:
        out, pos = [], 0
        for i, shot in enumerate(self.shots):
            out.append(pos)
            pos += shot.length + (self.boundaries[i].length if i < len(self.boundaries) else 0)
        return out

    @property
    def frames(self) -> int:
        return sum(s.length for s in self.shots) + sum(b.length for b in self.boundaries)

    def opening_span(self) -> tuple[int, int] | None:
        idx = [i for i, s in enumerate(self.shots) if s.opening]
        if not idx:
            return None
        starts = self.starts()
        return starts[idx[0]], starts[idx[-1]] + self.shots[idx[-1]].length - 1


@dataclass(frozen=True)
class OpeningPlan:
    shots: tuple[ShotSpec, ...]
    boundaries: tuple[Boundary, ...]

    @property
    def frames(self) -> int:
        return sum(s.length for s in self.shots) + sum(b.length for b in self.boundaries)


@dataclass(frozen=True)
class FootagePlan:
    videos: tuple[VideoPlan, ...]
    opening: OpeningPlan | None


def _steps(timing: str, length: int, rng: np.random.Generator) -> tuple[tuple[int, int], ...]:
    if timing == "held":
        return ((0, 0),)
    if timing in ("ones", "twos", "threes"):
        return ((0, {"ones": 1, "twos": 2, "threes": 3}[timing]),)
    # mixed: 2-3 segments, neighbouring steps differ, each segment a whole number of drawings
    n_seg = 3 if length >= 30 and rng.random() < 0.6 else 2
    order = [int(s) for s in rng.permutation([1, 2, 3])]
    if n_seg == 2:
        order = order[:2]
    out, pos = [], 0
    for k, step in enumerate(order):
        out.append((pos, step))
        if k + 1 < n_seg:
            remaining = length - pos
            seg = max(step * 2, int(round(remaining / (n_seg - k) * rng.uniform(0.8, 1.2))))
            pos += max(step, seg - seg % step)
    return tuple(out)


def _scaled(n: int, fscale: float) -> int:
    return max(1, int(round(n * fscale)))


def _boundary(kind: str, rng: np.random.Generator, fscale: float) -> Boundary:
    if kind == "dissolve":
        n = _scaled(int(rng.integers(8, 17)), fscale)
        return Boundary(kind, a_post=n, b_pre=n)
    if kind in ("fade_black", "fade_white"):
        hold = int(round(int(rng.integers(0, 4)) * fscale))
        return Boundary(
            kind,
            a_post=_scaled(int(rng.integers(4, 8)), fscale),
            hold=hold,
            b_pre=_scaled(int(rng.integers(4, 8)), fscale),
        )
    if kind == "flash_cut":
        return Boundary(kind, a_post=1, hold=_scaled(int(rng.integers(1, 4)), fscale), b_pre=1)
    return Boundary()


def _partition(total: int, k: int, lo: int, hi: int, rng: np.random.Generator) -> list[int]:
    """``k`` random lengths summing to ``total``, each in ``[lo, hi]`` (the bounds relax when infeasible)."""
    lo = min(lo, max(1, total // k))
    hi = max(hi, -(-total // k))
    lengths = [lo] * k
    rest = total - lo * k
    while rest > 0:
        open_ = [i for i in range(k) if lengths[i] < hi]
        i = open_[int(rng.integers(len(open_)))]
        add = min(rest, hi - lengths[i], int(rng.integers(1, max(2, rest // 2 + 1))))
        lengths[i] += add
        rest -= add
    return lengths


def plan_opening(cfg: SynthConfig, width: int, height: int) -> OpeningPlan:
    """The shared opening: fixed content from :data:`OPENING_SEED`, two shots joined by a hard cut."""
    rng = np.random.default_rng(OPENING_SEED)
    total = cfg.seconds_to_frames(cfg.opening_seconds)
    cast = tuple(int(s) for s in rng.integers(0, 2**31, 2))
    wscale = width / 640
    if total < 8:
        lengths = [total]
    else:
        first = total // 2 + int(rng.integers(-2, 3))
        lengths = [first, total - first]
    shots = [
        ShotSpec(
            lengths[0], "pan_right", "held", "wide", "country", "sunset", int(rng.integers(2**31)), ((0, 0),),
            cast, ("walk", "walk"), speed=round(3.0 * wscale, 2), opening=True,
        ),
    ]  # fmt: skip
    if len(lengths) > 1:
        shots.append(
            ShotSpec(
                lengths[1], "static", "twos", "close_up", "room", "day", int(rng.integers(2**31)), ((0, 2),),
                cast[1:], ("talk",), opening=True,
            )
        )  # fmt: skip
    if cfg.look == "collage":
        shots = [replace(shot, scene="collage") for shot in shots]
    return OpeningPlan(tuple(shots), tuple(Boundary() for _ in shots[1:]))


def _choice(
    rng: np.random.Generator, values: tuple[str, ...], weights: tuple[float, ...] | None = None
) -> str:
    p = None if weights is None else np.asarray(weights) / sum(weights)
    return str(values[int(rng.choice(len(values), p=p))])


def plan_footage(cfg: SynthConfig, videos: int, seed: int) -> FootagePlan:
    if videos < 1:
        raise ValueError("videos must be >= 1")
    rng = np.random.default_rng([int(seed) % 2**63, 0xA71C])
    n_frames = cfg.frames
    fscale = float(cfg.fps / Fraction(24000, 1001))
    wscale = cfg.width / 640
    lo = cfg.seconds_to_frames(cfg.min_shot_seconds)
    hi = max(lo, cfg.seconds_to_frames(cfg.max_shot_seconds))
    tmax = max(_scaled(16, fscale), _scaled(7, fscale) * 2 + int(round(3 * fscale)))

    # --- layouts, watermark, which videos carry the opening
    order = ["full"] + (["full"] if cfg.reuse else []) + ["letterbox", "pillarbox"]
    while len(order) < videos:
        order.append(_choice(rng, ("full", "letterbox", "pillarbox"), (0.5, 0.3, 0.2)))
    layouts = order[:videos]
    rng.shuffle(layouts)
    boxed = [i for i, lay in enumerate(layouts) if lay != "full"]
    wm_video = int(rng.choice(boxed)) if cfg.watermark and boxed else -1
    opening = None
    op_frames = cfg.seconds_to_frames(cfg.opening_seconds)
    op_videos: list[int] = []
    if cfg.reuse and (not cfg.cameras or set(OPENING_CAMERAS) <= set(cfg.cameras)):
        op_videos = [
            i for i in range(videos) if layouts[i] == "full" and i != wm_video and n_frames - op_frames >= lo
        ]
        if len(op_videos) < 2:
            op_videos = []
        else:
            opening = plan_opening(cfg, cfg.width, cfg.height)

    # --- number of own shots per video
    budgets = [n_frames - (op_frames if i in op_videos else 0) for i in range(videos)]
    k_hi, ks = [], []
    for budget in budgets:
        kmin = max(1, math.ceil(budget / hi))
        kmax = max(kmin, (budget + tmax) // (lo + tmax))
        k_hi.append(kmax)
        ks.append(int(rng.integers(kmin, kmax + 1)))
    while sum(ks) < len(_REQUIRED) and any(k < m for k, m in zip(ks, k_hi, strict=True)):
        i = int(rng.choice([i for i in range(videos) if ks[i] < k_hi[i]]))
        ks[i] += 1

    # --- block layout: own shots with the opening inserted at a different place in each video
    op_pos = {}
    for j, v in enumerate(op_videos):
        op_pos[v] = 0 if j == 0 else min(j, ks[v])
    free: list[tuple[int, int]] = []  # (video, own shot index before the boundary)
    for v in range(videos):
        for s in range(ks[v] - 1):
            if op_pos.get(v) != s + 1:
                free.append((v, s))
    kinds: list[str] = []
    if len(free) >= 5:
        kinds = list(GRADUAL)
    elif len(free) >= 2:
        kinds = [str(g) for g in rng.permutation(GRADUAL)][: len(free) - 1]
    while len(kinds) < len(free):
        kinds.append("cut" if rng.random() < 0.65 else _choice(rng, GRADUAL))
    rng.shuffle(kinds)
    bounds = {key: _boundary(kind, rng, fscale) for key, kind in zip(free, kinds, strict=True)}

    # --- shot lengths
    lengths: dict[int, list[int]] = {}
    for v in range(videos):
        mine = sorted((key for key in bounds if key[0] == v), key=lambda key: -bounds[key].length)
        own = budgets[v] - sum(bounds[key].length for key in mine)
        for key in mine:  # too little room: turn the longest transitions into hard cuts
            if own >= ks[v] * lo:
                break
            own += bounds[key].length
            bounds[key] = Boundary()
        ks[v] = min(ks[v], own)
        lengths[v] = _partition(own, ks[v], lo, hi, rng)
    slots = [(v, s) for v in range(videos) for s in range(ks[v])]
    op_pos = {v: min(p, ks[v]) for v, p in op_pos.items()}
    bounds = {key: b for key, b in bounds.items() if key[1] < ks[key[0]] - 1}

    # --- per-shot attributes, global so that the set covers every value
    n = len(slots)
    if cfg.cameras:
        cam = [cfg.cameras[int(i)] for i in rng.integers(0, len(cfg.cameras), n)]
        required = tuple(r for r in _REQUIRED if r[0] in cfg.cameras)
    else:
        cam = [_choice(rng, CAMERA_MOVES, _CAMERA_WEIGHTS) for _ in range(n)]
        required = _REQUIRED
    tim = [_choice(rng, TIMINGS, _TIMING_WEIGHTS) for _ in range(n)]
    plain = [False] * n
    moving = ["ones", "mixed"] + [_choice(rng, TIMINGS, _TIMING_WEIGHTS) for _ in range(5)]
    moving = [moving[int(i)] for i in rng.permutation(len(moving))]
    for (camera, timing), pos in zip(required, rng.permutation(n)[: len(required)], strict=False):
        cam[pos] = camera
        tim[pos] = timing if timing is not None else moving.pop()
        plain[pos] = (camera, timing) in _PLAIN
    for i, (v, s) in enumerate(slots):
        if tim[i] == "mixed" and lengths[v][s] < MIN_MIXED_FRAMES:
            tim[i] = "twos"
    size_cycle = [str(x) for x in rng.permutation(SHOT_SIZES)]
    sizes = [""] * n
    for j, pos in enumerate(rng.permutation(n)):
        sizes[pos] = size_cycle[j % len(size_cycle)]

    flash: list[FlashSpec | None] = [None] * n
    min_flash_len = max(11, _scaled(14, fscale))
    eligible = [i for i, (v, s) in enumerate(slots) if lengths[v][s] >= min_flash_len]
    order = [int(i) for i in rng.permutation(eligible)]
    wanted = list(zip(order, FLASH_KINDS, strict=False))
    for i in order[len(FLASH_KINDS) :]:
        if rng.random() < cfg.flash_rate:
            wanted.append((i, _choice(rng, FLASH_KINDS)))
    for i, kind in wanted:
        length = lengths[slots[i][0]][slots[i][1]]
        flen = int(rng.integers(1, 4)) if kind == "white_flash" else int(rng.integers(1, 3))
        offset = int(rng.integers(4, length - 4 - flen + 1))
        flash[i] = FlashSpec(offset, flen, kind)

    lines = [False] * n
    ok = [i for i in range(n) if not plain[i] and cam[i] in SPEED_LINE_CAMERAS and tim[i] != "held"]
    if ok:
        lines[int(rng.choice(ok))] = True
        for i in ok:
            if rng.random() < cfg.speed_line_rate:
                lines[i] = True

    subs = [""] * n
    sub_ok = [i for i, (v, _) in enumerate(slots) if v != wm_video]
    for i in sub_ok:
        if rng.random() < cfg.subtitle_rate:
            subs[i] = SUBTITLES[int(rng.integers(len(SUBTITLES)))]
    if len(sub_ok) >= 2:
        on = [i for i in sub_ok if subs[i]]
        # both cases covered, unless the rate rules one out (0: no subtitles, 1: every shot)
        if not on and cfg.subtitle_rate > 0:
            subs[int(rng.choice(sub_ok))] = SUBTITLES[int(rng.integers(len(SUBTITLES)))]
        elif len(on) == len(sub_ok) and cfg.subtitle_rate < 1:
            subs[int(rng.choice(sub_ok))] = ""

    # --- assemble each video
    plans = []
    for v in range(videos):
        cast = tuple(int(s) for s in rng.integers(0, 2**31, 3))
        own: list[ShotSpec] = []
        for s in range(ks[v]):
            i = slots.index((v, s))
            size = sizes[i]
            if size == "close_up":
                n_chars = 1
            elif size == "wide":
                n_chars = int(rng.integers(2, 4))
            else:
                n_chars = int(rng.integers(1, 3))
            who = tuple(cast[int(j)] for j in rng.permutation(3)[:n_chars])
            acts = tuple(_choice(rng, ("talk", "wave") if size == "close_up" else ACTIONS) for _ in who)
            speed = 0.0
            if cam[i] in ("pan_left", "pan_right"):
                drawn = float(rng.uniform(*PAN_SPEED))
                speed = round((cfg.camera_speed or drawn) * wscale, 2)
            elif cam[i] in ("tilt_up", "tilt_down"):
                drawn = float(rng.uniform(*TILT_SPEED))
                speed = round((cfg.camera_speed or drawn) * wscale, 2)
            elif cam[i] == "shake":
                speed = round(float(rng.uniform(*SHAKE_AMPLITUDE)) * wscale, 1)
            zoom = float(rng.uniform(*ZOOM_RATE)) if cam[i] in ("zoom_in", "zoom_out") else 1.0
            own.append(
                ShotSpec(
                    length=lengths[v][s], camera=cam[i], timing=tim[i], shot_size=size, scene="", palette="",
                    seed=int(rng.integers(2**31)), steps=_steps(tim[i], lengths[v][s], rng), cast=who, actions=acts,
                    speed=speed, zoom_rate=zoom, flash=flash[i], speed_lines=lines[i], subtitle=subs[i],
                )
            )  # fmt: skip
        shots: list[ShotSpec] = []
        joins: list[Boundary] = []
        for s, shot in enumerate(own):
            if op_pos.get(v) == s and opening is not None:
                if shots:
                    joins.append(Boundary())
                shots.extend(opening.shots)
                joins.extend(opening.boundaries)
                joins.append(Boundary())
            elif s > 0:
                joins.append(bounds.get((v, s - 1), Boundary()))
            shots.append(shot)
        if op_pos.get(v) == len(own) and opening is not None:
            joins.append(Boundary())
            shots.extend(opening.shots)
            joins.extend(opening.boundaries)
        # backgrounds: consecutive shots never share a (scene, palette) pair; finalise zoom rates
        prev = None
        for j, shot in enumerate(shots):
            if shot.opening:
                prev = (shot.scene, shot.palette)
                continue
            banned = {prev}
            if j + 1 < len(shots) and shots[j + 1].opening:
                banned.add((shots[j + 1].scene, shots[j + 1].palette))
            scenes = COLLAGE_PALETTES if cfg.look == "collage" else SCENE_PALETTES
            options = [p for p in scenes if p not in banned]
            scene, palette = options[int(rng.integers(len(options)))]
            pre = joins[j - 1].b_pre if j > 0 else 0
            post = joins[j].a_post if j < len(joins) else 0
            zoom = shot.zoom_rate
            if shot.camera in ("zoom_in", "zoom_out"):
                cap = ZOOM_MAX_TOTAL ** (1.0 / max(1, shot.length + pre + post - 1))
                zoom = math.floor(min(zoom, cap) * 1e5) / 1e5
            shots[j] = replace(shot, scene=scene, palette=palette, zoom_rate=zoom)
            prev = (scene, palette)
        plan = VideoPlan(v, f"synth_{v:03d}.mp4", layouts[v], v == wm_video, tuple(shots), tuple(joins))
        if plan.frames != n_frames:
            raise AssertionError(f"planned {plan.frames} frames for {plan.name}, expected {n_frames}")
        plans.append(plan)
    return FootagePlan(tuple(plans), opening)
