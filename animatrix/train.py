"""The AniMatrix trainer: AdamW, EMA, gradient clipping, bf16 autocast where the CPU has it, atomic checkpoints,
resume, loss logging (``RUN/loss.jsonl`` and the console), and Ray Train (``TorchTrainer``) for several workers.

A run directory holds ``checkpoint.pt`` (model, EMA, optimizer, step, config, taxonomy version and fingerprint,
tag vocabulary id map, RNG state; written to a temporary name and renamed) and ``loss.jsonl`` (one line per
logged step). ``--resume`` restores everything from ``checkpoint.pt``, so the optimisation continues exactly;
the data stream is reseeded with the resumed step (it is not replayed from the start).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
import yaml

from animatrix.data import Batch, DataConfig, make_loader
from animatrix.model import AniMatrix, ConditionDropout, FrozenT5, ModelConfig, flow_matching_loss
from taxonomy import Taxonomy, load_taxonomy

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
LOSS_LOG = "loss.jsonl"
CHECKPOINT_FORMAT = "animatrix-checkpoint-1"


@dataclass
class OptimConfig:
    lr: float = 3e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.99)
    warmup_steps: int = 50
    grad_clip: float = 1.0
    ema_decay: float = 0.995
    #: Cooldown (warmup-stable-decay): the LR falls linearly to 0 over the last ``decay_steps`` steps of the run,
    #: counted back from the run's final step (``--steps``), so a cooldown can branch from any constant-LR
    #: checkpoint; 0 keeps the LR constant after warmup.
    decay_steps: int = 0


@dataclass
class TrainConfig:
    """Everything a run needs besides the shards; YAML sections ``model``, ``data``, ``optim``, ``dropout``."""

    #: ModelConfig fields (the vocabulary sizes come from the taxonomy).
    model: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    dropout: ConditionDropout = field(default_factory=ConditionDropout)
    steps: int = 1000
    log_every: int = 10
    checkpoint_every: int = 200
    #: "auto" (bf16 autocast when the CPU has native bf16, else fp32), "bf16" or "fp32".
    precision: str = "auto"
    #: Training-time distribution of t (see animatrix.model.sample_t): "uniform" or "logit_normal".
    t_sampling: str = "uniform"
    #: SD3 time shift of the training times (see animatrix.model.sample_t); generation samples with the same
    #: shift unless told otherwise.
    t_shift: float = 1.0
    #: Loss weighting over t (see animatrix.model.flow_matching_loss): "v" (velocity MSE) or "x" (clean-clip MSE).
    loss_weighting: str = "v"
    #: Weight of the frame-to-frame difference term of the loss (see animatrix.model.flow_matching_loss); 0: off.
    temporal_weight: float = 0.0
    #: torch intra-op threads per process (1 is fastest on a shared machine).
    threads: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision must be auto, bf16 or fp32, got {self.precision!r}")
        if isinstance(self.data, dict):
            self.data = DataConfig(**self.data)
        if isinstance(self.optim, dict):
            self.optim = OptimConfig(**{**self.optim, "betas": tuple(self.optim.get("betas", (0.9, 0.99)))})
        if isinstance(self.dropout, dict):
            self.dropout = ConditionDropout(**self.dropout)
        if self.optim.decay_steps < 0:
            raise ValueError(f"optim.decay_steps must be >= 0, got {self.optim.decay_steps}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown train config keys {unknown}; known: {sorted(known)}")
        return cls(**raw)


def load_config(path: str | Path | None) -> TrainConfig:
    """A :class:`TrainConfig` from a YAML file (missing keys keep their defaults), or the defaults."""
    if path is None:
        return TrainConfig()
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of config sections")
    try:
        return TrainConfig.from_dict(raw)
    except TypeError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def resolve_precision(choice: str) -> torch.dtype | None:
    """bf16 when asked, or for "auto" when the CPU has native bf16 (AVX512-BF16 / AMX); None means fp32.
    Without native support CPU bf16 autocast runs but is slower than fp32 (measured ~2x here)."""
    if choice == "fp32":
        return None
    if choice == "auto":
        cap = torch.backends.cpu.get_cpu_capability()
        native = "AMX" in cap or "AVX512_BF16" in cap
        if not native:
            return None
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = torch.nn.Linear(4, 4)(torch.ones(2, 4))
        if y.dtype != torch.bfloat16 or not torch.isfinite(y).all():
            raise RuntimeError("autocast did not produce bf16")
    except RuntimeError as exc:
        log.warning("bf16 autocast does not work here (%s); training in fp32", exc)
        return None
    return torch.bfloat16


class Trainer:
    """One training process: model, optimizer, EMA, RNG; ``net`` is the model or its DDP wrapper."""

    def __init__(
        self,
        cfg: TrainConfig,
        taxonomy: Taxonomy | None = None,
        text_encoder: FrozenT5 | None = None,
        wrap: Callable[[torch.nn.Module], torch.nn.Module] | None = None,
    ) -> None:
        self.cfg = cfg
        self.taxonomy = taxonomy or load_taxonomy()
        vocab = self.taxonomy.vocab
        known = {f.id for f in self.taxonomy.fields}
        unknown = sorted(set(cfg.data.tag_fields) - known)
        if unknown:
            raise ValueError(f"data.tag_fields: {unknown} are not fields of taxonomy {self.taxonomy.version}")
        torch.manual_seed(cfg.seed)
        self.model_cfg = ModelConfig(num_tags=len(vocab), num_fields=vocab.num_fields, **cfg.model)
        self.model = AniMatrix(self.model_cfg, text_encoder)
        self.net = wrap(self.model) if wrap is not None else self.model
        self.params = {n: p for n, p in self.model.named_parameters() if p.requires_grad}
        decay = [p for n, p in self.params.items() if p.dim() >= 2]
        no_decay = [p for n, p in self.params.items() if p.dim() < 2]
        o = cfg.optim
        self.opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=o.lr,
            betas=tuple(o.betas),
        )
        self.ema = {n: p.detach().clone() for n, p in self.params.items()}
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.step = 0
        #: The run's final step, which the LR cooldown counts back from (run_training sets it to ``--steps``).
        self.total_steps = cfg.steps
        self.autocast = resolve_precision(cfg.precision)

    @property
    def precision(self) -> str:
        return "bf16" if self.autocast is not None else "fp32"

    def lr_at(self, step: int) -> float:
        """The LR of optimisation step ``step`` (0-based): linear warmup, then constant, then the cooldown
        over the last ``optim.decay_steps`` steps before ``total_steps``."""
        o = self.cfg.optim
        scale = min(1.0, (step + 1) / max(1, o.warmup_steps))
        if o.decay_steps > 0:
            scale = min(scale, max(0.0, (self.total_steps - step) / o.decay_steps))
        return o.lr * scale

    def train_step(self, batch: Batch) -> float:
        """One optimisation step on a batch; returns the loss."""
        self.net.train()
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(self.step)
        cond = self.model.encode(batch.texts, batch.tag_ids, batch.field_ids, batch.tag_mask)
        _, keep_text, tag_mask = self.cfg.dropout.sample(cond.tag_mask, self.generator)
        cond = cond.drop(keep_text, tag_mask)
        with torch.autocast("cpu", dtype=self.autocast or torch.bfloat16, enabled=self.autocast is not None):
            loss = flow_matching_loss(
                self.net,
                batch.video,
                cond,
                self.generator,
                self.cfg.t_sampling,
                self.cfg.loss_weighting,
                self.cfg.t_shift,
                self.cfg.temporal_weight,
            )
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(self.params.values()), self.cfg.optim.grad_clip)
        self.opt.step()
        with torch.no_grad():
            decay = min(self.cfg.optim.ema_decay, (1 + self.step) / (10 + self.step))
            for n, p in self.params.items():
                self.ema[n].lerp_(p.detach(), 1.0 - decay)
        self.step += 1
        return float(loss.detach())

    # ---------------------------------------------------------------------------------------- checkpoints

    def state_dict(self) -> dict[str, Any]:
        vocab = self.taxonomy.vocab
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "model": self.model.trainable_state(),
            "ema": {n: t.clone() for n, t in self.ema.items()},
            "optimizer": self.opt.state_dict(),
            "generator": self.generator.get_state(),
            "config": self.cfg.to_dict(),
            "model_config": self.model_cfg.to_dict(),
            "taxonomy_version": self.taxonomy.version,
            "taxonomy_fingerprint": self.taxonomy.fingerprint(),
            "tag_vocab": vocab.id_map(),
            "field_ids": {f.id: f.index for f in self.taxonomy.fields},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_checkpoint(state, self.taxonomy)
        self.model.load_trainable_state(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        for n, t in state["ema"].items():
            self.ema[n].copy_(t)
        self.generator.set_state(state["generator"])
        self.step = int(state["step"])

    def save(self, run_dir: str | Path) -> Path:
        """Write ``run_dir/checkpoint.pt`` atomically (temporary file, fsync, rename)."""
        path = Path(run_dir) / CHECKPOINT
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            torch.save(self.state_dict(), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return path


def check_checkpoint(state: dict[str, Any], taxonomy: Taxonomy) -> None:
    """Refuse a checkpoint from another format or whose tag ids mean something else in ``taxonomy``."""
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"not an AniMatrix checkpoint (format {state.get('format')!r}, expected {CHECKPOINT_FORMAT})"
        )
    current = taxonomy.vocab.id_map()
    changed = [t for t, i in state["tag_vocab"].items() if current.get(t) != i]
    if changed:
        raise ValueError(
            f"the checkpoint's tag ids do not match taxonomy {taxonomy.version} ({len(changed)} differ, e.g. "
            f"{changed[:3]}); train with the taxonomy the checkpoint was made with ({state['taxonomy_version']})"
        )
    if state["taxonomy_fingerprint"] != taxonomy.fingerprint():
        log.warning(
            "taxonomy %s differs from the checkpoint's %s (ids are compatible: values were only appended/reworded)",
            taxonomy.version,
            state["taxonomy_version"],
        )


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint dict from ``path`` (a ``.pt`` file or a run directory)."""
    p = Path(path)
    if p.is_dir():
        p = p / CHECKPOINT
    if not p.is_file():
        raise FileNotFoundError(f"no checkpoint at {p} (pass a run directory written by 'anicurate train')")
    return torch.load(p, map_location="cpu", weights_only=False)


# ------------------------------------------------------------------------------------------------ runs


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    losses: list[tuple[int, float]]
    precision: str
    seconds: float


def _drop_logged_steps_after(loss_log: Path, step: int) -> None:
    """Remove the loss rows past ``step``: a run stopped between a log row and the next checkpoint logged
    steps it is about to train again on resume (and a kill mid-write leaves a partial last row)."""
    if not loss_log.is_file():
        return

    def keep(line: str) -> bool:
        try:
            return json.loads(line)["step"] <= step
        except (ValueError, KeyError, TypeError):
            return False

    lines = loss_log.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if keep(line)]
    if len(kept) != len(lines):
        tmp = loss_log.with_name(f".{loss_log.name}.{os.getpid()}.tmp")
        tmp.write_text("".join(kept), encoding="utf-8")
        os.replace(tmp, loss_log)


def _last_logged_lr(loss_log: Path) -> float | None:
    """The LR of the last row of ``loss_log`` (None without one)."""
    if not loss_log.is_file():
        return None
    for line in reversed(loss_log.read_text(encoding="utf-8").splitlines()):
        try:
            return float(json.loads(line)["lr"])
        except (ValueError, KeyError, TypeError):
            continue
    return None


def _vocab_pairs(taxonomy: Taxonomy) -> dict[str, tuple[int, int]]:
    vocab = taxonomy.vocab
    return {t: (i, vocab.field_index_of(i)) for t, i in vocab.id_map().items()}


def run_training(
    shards: str | list[str],
    run_dir: str | Path,
    cfg: TrainConfig,
    steps: int | None = None,
    resume: bool = False,
    taxonomy: Taxonomy | None = None,
    text_encoder: FrozenT5 | None = None,
    wrap: Callable[[torch.nn.Module], torch.nn.Module] | None = None,
    rank: int = 0,
    say: Callable[[str], None] | None = None,
    batches: Iterator[Batch] | None = None,
    decay_steps: int | None = None,
) -> TrainResult:
    """Train until ``steps`` (default ``cfg.steps``) total steps; rank 0 logs and checkpoints.

    With ``resume`` the run continues from ``run_dir/checkpoint.pt`` (its config wins over ``cfg``), except
    ``decay_steps``, which when given sets ``optim.decay_steps`` either way: the LR cooldown over the last
    ``decay_steps`` steps before ``steps``, branched from a constant-LR checkpoint. ``batches`` replaces the
    shard stream (tests feed fixed batches)."""
    run_dir = Path(run_dir)
    say = say or (lambda msg: log.info("%s", msg))
    state = None
    if resume:
        ckpt = run_dir / CHECKPOINT
        if ckpt.is_file():
            state = load_checkpoint(ckpt)
            cfg = TrainConfig.from_dict(state["config"])
        else:
            say(f"--resume: no checkpoint in {run_dir}, starting from step 0")
    if decay_steps is not None:
        cfg = replace(cfg, optim=replace(cfg.optim, decay_steps=decay_steps))
    torch.set_num_threads(max(1, cfg.threads))
    trainer = Trainer(cfg, taxonomy, text_encoder, wrap)
    if state is not None:
        trainer.load_state_dict(state)
        say(f"resumed from {run_dir / CHECKPOINT} at step {trainer.step}")
        if rank == 0:
            _drop_logged_steps_after(run_dir / LOSS_LOG, trainer.step)
    total = steps if steps is not None else cfg.steps
    trainer.total_steps = total
    if state is not None and cfg.optim.decay_steps and trainer.step > total - cfg.optim.decay_steps:
        say(
            f"note: resuming at step {trainer.step}, inside the LR cooldown of the last "
            f"{cfg.optim.decay_steps} steps before {total}: the LR starts at {trainer.lr_at(trainer.step):.2e}"
        )
    before = _last_logged_lr(run_dir / LOSS_LOG) if state is not None and rank == 0 else None
    now = trainer.lr_at(trainer.step)
    if (
        before is not None
        and trainer.step >= cfg.optim.warmup_steps
        and before < cfg.optim.lr * 0.999
        and now > before * 1.001
    ):
        # a cooldown that already ran is undone: --steps moved it to the new end
        say(
            f"warning: the LR rises from {before:.2e} (last logged) to {now:.2e} at step {trainer.step}: the "
            f"run was cooling down, and the cooldown (optim.decay_steps = {cfg.optim.decay_steps}) now ends at "
            f"--steps {total}. To train longer at the constant LR, branch from a checkpoint saved before the "
            "cooldown began."
        )
    if batches is None:
        batches = make_loader(
            shards, cfg.data, _vocab_pairs(trainer.taxonomy), train=True, epoch_seed=trainer.step
        )
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1) + "\n", encoding="utf-8")
        say(
            f"training {sum(p.numel() for p in trainer.params.values()):,} parameters to step {total} "
            f"({trainer.precision}, {cfg.threads} thread(s)), run dir {run_dir}"
        )
    losses: list[tuple[int, float]] = []
    window: list[float] = []
    t0, cpu0 = time.perf_counter(), time.process_time()
    with open(run_dir / LOSS_LOG, "a", encoding="utf-8") if rank == 0 else _Null() as loss_log:
        while trainer.step < total:
            batch = next(batches)
            loss = trainer.train_step(batch)
            if not math.isfinite(loss):
                raise FloatingPointError(f"loss became {loss} at step {trainer.step}; lower optim.lr")
            losses.append((trainer.step, loss))
            window.append(loss)
            if rank == 0 and (trainer.step % cfg.log_every == 0 or trainer.step == total):
                mean = sum(window) / len(window)
                row = {
                    "step": trainer.step,
                    "loss": round(mean, 6),
                    "lr": trainer.lr_at(trainer.step - 1),
                    "seconds": round(time.perf_counter() - t0, 2),
                    # this process's CPU time: comparable across runs on a shared machine, unlike wall time
                    "cpu_seconds": round(time.process_time() - cpu0, 2),
                    "precision": trainer.precision,
                }
                loss_log.write(json.dumps(row) + "\n")
                loss_log.flush()
                say(f"step {trainer.step:6d}  loss {mean:.4f}  ({row['seconds']:.0f} s)")
                window = []
            if rank == 0 and (trainer.step % cfg.checkpoint_every == 0 or trainer.step == total):
                trainer.save(run_dir)
    return TrainResult(run_dir, trainer.step, losses, trainer.precision, time.perf_counter() - t0)


class _Null:
    def __enter__(self) -> _Null:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def write(self, _text: str) -> None:
        return None

    def flush(self) -> None:
        return None


# ---------------------------------------------------------------------------------------------- Ray Train


def _ray_worker(config: dict[str, Any]) -> None:
    """``TorchTrainer`` loop: each worker trains its DDP replica on its own share of the shard stream."""
    import ray.train
    import ray.train.torch

    rank = ray.train.get_context().get_world_rank()
    result = run_training(
        config["shards"],
        config["run_dir"],
        TrainConfig.from_dict(config["cfg"]),
        steps=config["steps"],
        resume=config["resume"],
        decay_steps=config.get("decay_steps"),
        wrap=lambda m: ray.train.torch.prepare_model(
            m, parallel_strategy_kwargs={"find_unused_parameters": False}
        ),
        rank=rank,
    )
    ray.train.report({"step": result.step, "loss": result.losses[-1][1] if result.losses else float("nan")})


def run_ray_training(
    shards: str,
    run_dir: str | Path,
    cfg: TrainConfig,
    workers: int,
    steps: int | None = None,
    resume: bool = False,
    decay_steps: int | None = None,
) -> int:
    """Train with Ray Train's ``TorchTrainer`` on ``workers`` CPU workers (gloo DDP); rank 0 writes the run.

    ``workers=0`` is Ray Train's local mode: the same training function, ``ray.train`` context and reporting,
    in this process without starting a Ray cluster. Returns the step of the written checkpoint."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    run_dir = Path(run_dir).resolve()
    if workers > 0:
        import ray

        if not ray.is_initialized():
            ray.init(num_cpus=workers, include_dashboard=False, ignore_reinit_error=True)
    trainer = TorchTrainer(
        _ray_worker,
        train_loop_config={
            "shards": shards,
            "run_dir": str(run_dir),
            "cfg": cfg.to_dict(),
            "steps": steps,
            "resume": resume,
            "decay_steps": decay_steps,
        },
        torch_config=TorchConfig(backend="gloo"),
        scaling_config=ScalingConfig(
            num_workers=workers, use_gpu=False, resources_per_worker={"CPU": 1} if workers > 0 else None
        ),
        run_config=RunConfig(name="animatrix", storage_path=str(run_dir / "ray")),
    )
    result = trainer.fit()
    if result.error is not None:
        raise result.error
    return int(load_checkpoint(run_dir)["step"])
