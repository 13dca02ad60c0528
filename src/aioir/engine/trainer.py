"""The one training loop, for every backbone and strategy.

The Trainer receives the parts of a run built by :func:`aioir.engine.build.build_run` (model,
EMA, strategy, optimizer, stages, training data, validation sets) and never names a method. A
backbone that needs more than ``model(lq)`` (AirNet's contrastive encoder) offers the training
hooks of :class:`aioir.models.hooks.TrainingHooks` (``train_forward``, ``train_views``,
``aux_loss_weights``, ``parameter_groups``, ...).

One optimizer step (in stage ``st``)::

    pred, aux = forward(batch)                       # model, TUR's tap hook fires here
    out = strategy(pred, gt, task_id)                # StrategyOutput (skipped if recon weight 0)
    loss = st.recon_weight * out.loss + sum(st.aux_weights[k] * aux[k])
    skip if not finite (logged; stop after max_nonfinite in a row)
    strategy.backward(out, ctx)                      # default: loss.backward(); per micro-batch
    strategy.finish_backward(params, finite)         # gradient strategies combine here
    clip, optimizer.step(), EMA update, strategy.after_step(out)
    log every N steps, validate every M, checkpoint every C (atomic)

Resume is exact on CPU: a checkpoint holds model, EMA, optimizer, strategy state, RNG states and
the step; the data of step ``s`` is a pure function of ``(seed, s)``, and the DataLoader draws
its worker seed from a generator of its own, so creating it after a resume leaves torch's
global generator (dropout, drop-path) exactly where the checkpoint left it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import signal
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from aioir import checkpoint as ckpt
from aioir.config import to_dict
from aioir.engine.compiled import compile_module
from aioir.engine.distributed import SingleProcess
from aioir.engine.evaluation import evaluate, lpips_status, restore_for, summary
from aioir.engine.logger import MetricsLog, TextLog
from aioir.engine.montage import restoration_montage
from aioir.engine.resume import check_resume_config, restore_part
from aioir.engine.rng import capture_rng_state, restore_rng_state
from aioir.engine.sampler import StepBatchSampler
from aioir.engine.schedule import lr_at
from aioir.engine.stages import stage_at
from aioir.errors import UserError
from aioir.files import remove_stale_temporaries, write_text
from aioir.models.hooks import hooks
from aioir.models.restore import restore_image
from aioir.progress import fit_postfix, paused, progress
from aioir.runlock import run_folder_lock
from aioir.settings.assemble import final_groups
from aioir.strategies.base import BackwardContext, Strategy, StrategyOutput

LOG = logging.getLogger("aioir")


class NonFiniteLossError(UserError, RuntimeError):
    """Raised when too many consecutive steps produced a non-finite loss."""


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns."""

    status: str  # "finished" | "interrupted"
    step: int
    run_dir: Path
    checkpoint: Path | None
    validation: dict[str, Any] | None = None
    skipped_steps: int = 0
    seconds: float = 0.0
    signal: int | None = None
    #: of ``seconds``, those spent in training steps (validation and checkpoints left out)
    train_seconds: float = 0.0


class TrainingModule(nn.Module):
    """Backbone + strategy as one module, so DDP sees every trainable parameter (UEM included)."""

    def __init__(
        self, model: nn.Module, strategy: Strategy, extra_losses: dict[str, nn.Module] | None = None
    ) -> None:
        super().__init__()
        self.model = model
        self.strategy = strategy
        self.extra_losses = nn.ModuleDict(extra_losses or {})

    def forward(
        self, batch: dict[str, torch.Tensor], restore: bool = True
    ) -> tuple[StrategyOutput, dict[str, torch.Tensor]]:
        train_forward = hooks(self.model).train_forward
        if train_forward is not None:
            pred, aux = train_forward(batch, restore=restore)
        else:
            pred, aux = self.model(batch["lq"]), {}
        if pred is None:  # a stage without reconstruction (e.g. encoder-only pre-training)
            return self._no_reconstruction(batch["task_id"], aux), aux
        aux = dict(aux)
        for name, loss_fn in self.extra_losses.items():
            aux[name] = loss_fn(pred, batch["gt"])
        return self.strategy(pred, batch["gt"], batch["task_id"]), aux

    def _no_reconstruction(
        self, task_id: torch.Tensor, aux: dict[str, torch.Tensor]
    ) -> StrategyOutput:
        k = self.strategy.num_tasks
        ref = next(iter(aux.values())) if aux else torch.zeros(())
        zeros = torch.zeros(k, device=ref.device)
        present = torch.zeros(k, dtype=torch.bool, device=ref.device)
        present[task_id.to(ref.device).long()] = True
        return StrategyOutput(ref.new_zeros(()), zeros, zeros.clone(), present)


def resolve_device(name: str, key: str = "device") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; a device this machine lacks is a
    ``ValueError`` naming ``key`` (the config key or option that asked for it)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"{key}: {name!r} is not a device ({exc}); use auto, cpu, cuda or "
                         "cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = ("this torch build has no CUDA support" if torch.version.cuda is None
                   else "no CUDA GPU is visible (driver, CUDA_VISIBLE_DEVICES)")
            raise ValueError(f"{key}: {name!r} asks for a CUDA GPU, but {why}; set {key} to "
                             "auto or cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"{key}: {name!r}: this machine has {torch.cuda.device_count()} "
                             "CUDA device(s)")
    elif device.type == "mps" and not (getattr(torch.backends, "mps", None)
                                       and torch.backends.mps.is_available()):
        raise ValueError(f"{key}: {name!r} asks for Apple's MPS, which is not available here")
    return device


def autocast_context(device: torch.device, precision: str):
    """Autocast for ``bf16``/``fp16``; a clear error where the combination does not exist."""
    if precision == "fp32":
        return nullcontext()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    if device.type == "cpu" and precision == "fp16":
        raise ValueError("precision fp16 needs CUDA (no fp16 autocast on CPU); use bf16 or fp32")
    return torch.autocast(device_type=device.type, dtype=dtype)


class Trainer:
    """Trains the parts of a run (from :func:`aioir.engine.build.build_run`).

    Args:
        parts: the built run (model, EMA, strategy, optimizer, stages, data, validation sets).
        run_dir: the run folder (config, metrics, checkpoints, evaluations).
        resume: ``None`` (fresh run; refuses a folder that already has checkpoints), ``"auto"``
            (latest checkpoint in the run folder, fresh start if none) or a checkpoint path.
        dist: distributed context (rank, world size, reductions); ``None`` for one process.
        allow_changes: resume even when the config changes the run's maths (see
            :mod:`aioir.engine.resume`); otherwise such a resume raises ``ConfigChangedError``.
    """

    def __init__(
        self,
        parts: Any,
        run_dir: str | Path,
        *,
        resume: str | None = None,
        dist: Any = None,
        allow_changes: bool = False,
    ) -> None:
        cfg = parts.cfg
        self.parts = parts
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.dist = dist or SingleProcess()
        self.device = parts.device
        self.allow_changes = allow_changes
        resume_path = resolve_resume(self.run_dir, resume)
        self.task_names = list(parts.task_names)
        self.model = parts.model
        self.ema = parts.ema
        self.strategy = parts.strategy
        self.dist.configure_strategy(self.strategy)
        self.module = parts.module
        # backbones that list parameters forward(x) never uses (e.g. AirNet's encoder outside
        # its contrastive path, PromptIR's released unused convs) need DDP's unused-param search
        self.dist.find_unused_parameters = bool(hooks(self.model).unused_in_forward)
        self.train_module = self.dist.wrap(self.module)
        if cfg.train.compile:  # the called module only: checkpoints save the plain ones
            self.train_module = compile_module(self.train_module, cfg.train.compile_backend)
        self.optimizer = parts.optimizer
        self.scaler = torch.amp.GradScaler(
            self.device.type, enabled=cfg.train.precision == "fp16" and self.device.type == "cuda"
        )
        self.stages = parts.stages
        self.dataset = parts.train_data
        self.step = 0
        self.nonfinite_streak = 0
        self.skipped_steps = 0
        if resume_path is not None:
            self._load(resume_path)
        self._stop_signal: int | None = None
        self._val_samples: list[Any] | None = None  # capped validation images, kept once built
        self._on_eval: Callable[[int], None] | None = None

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the run exactly."""
        return {
            "format": ckpt.CHECKPOINT_FORMAT,
            "version": ckpt.CHECKPOINT_VERSION,
            "step": self.step,
            "config": to_dict(self.cfg),
            "task_names": list(self.task_names),
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "strategy": self.strategy.state_dict(),
            "rng": capture_rng_state(),
            "nonfinite_streak": self.nonfinite_streak,
            "skipped_steps": self.skipped_steps,
        }

    def _load(self, path: Path) -> None:
        state = ckpt.load_training_checkpoint(path)
        changes = check_resume_config(state.get("config"), self.cfg, allow=self.allow_changes,
                                      source=path)
        if list(state["task_names"]) != list(self.task_names):
            raise ValueError(
                f"checkpoint tasks {state['task_names']} differ from the config's {self.task_names}"
            )
        restore_part("model", lambda: self.model.load_state_dict(state["model"]), path, changes,
                     self.model, state["model"])
        if self.ema is not None and state.get("ema") is not None:
            restore_part("EMA", lambda: self.ema.load_state_dict(state["ema"]), path, changes)
        restore_part("optimizer", lambda: self.optimizer.load_state_dict(state["optimizer"]),
                     path, changes)
        self.scaler.load_state_dict(state["scaler"])
        restore_part("strategy", lambda: self.strategy.load_state_dict(state["strategy"]),
                     path, changes)
        restore_rng_state(state["rng"])
        self.step = int(state["step"])
        self.nonfinite_streak = int(state["nonfinite_streak"])
        self.skipped_steps = int(state["skipped_steps"])
        LOG.info("resumed from %s at step %d", path, self.step)

    def save_checkpoint(self) -> Path | None:
        """Write the checkpoint of the current step (rank 0 only) and prune old ones."""
        path = ckpt.checkpoint_path(self.ckpt_dir, self.step)
        if self.dist.is_main:
            ckpt.save_checkpoint(self.state_dict(), path)
            ckpt.prune_checkpoints(self.ckpt_dir, self.cfg.train.keep_checkpoints)
        self.dist.barrier()
        return path

    # ------------------------------------------------------------------ loop
    def _set_lr(self, stage) -> float:
        s = self.cfg.schedule
        lr = lr_at(
            self.step - stage.start,
            base_lr=stage.lr,
            total_steps=stage.end - stage.start,
            warmup_steps=s.warmup_steps if stage.index == 0 else 0,
            min_lr=s.min_lr,
            name=s.name,
        )
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def _loader(self) -> torch.utils.data.DataLoader:
        sampler = StepBatchSampler(
            self.cfg.data.batch_size,
            self.step,
            self.cfg.train.steps,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        workers = self.cfg.data.num_workers
        # a generator of its own: the loader draws its base seed from it, not from torch's
        # global generator, whose state a resumed run has just restored (dropout needs it)
        generator = torch.Generator().manual_seed(self.cfg.train.seed)
        return torch.utils.data.DataLoader(
            self.dataset,
            batch_sampler=sampler,
            num_workers=workers,
            persistent_workers=False,
            prefetch_factor=4 if workers else None,
            generator=generator,
            # page-locked batches: the copy to a GPU runs asynchronously (non_blocking below)
            pin_memory=self.device.type == "cuda",
        )

    def _to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for k, v in batch.items():
            if isinstance(v, torch.Tensor):
                v = v.to(self.device, non_blocking=True)
                if self.cfg.train.channels_last and v.dim() == 4:
                    v = v.contiguous(memory_format=torch.channels_last)
            out[k] = v
        return out

    def _micro_batches(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        n = self.cfg.train.grad_accum
        if n == 1:
            return [batch]
        size = batch["lq"].shape[0]
        if size % n:
            raise ValueError(
                f"per-rank batch {size} is not divisible by train.grad_accum {n}"
            )
        chunk = size // n
        return [
            {k: (v[i * chunk : (i + 1) * chunk] if isinstance(v, torch.Tensor) else v)
             for k, v in batch.items()}
            for i in range(n)
        ]

    def _train_step(
        self, batch: dict[str, Any], stage
    ) -> tuple[StrategyOutput, dict[str, float], bool]:
        """One optimizer step; returns the strategy output, aux losses, and whether it stepped."""
        cfg = self.cfg.train
        restore = stage.recon_weight > 0
        self.optimizer.zero_grad(set_to_none=True)
        micro = self._micro_batches(batch)
        outs: list[StrategyOutput] = []
        aux_values: dict[str, float] = {}
        total = 0.0
        finite = True
        # a strategy that reduces gradients itself (per-task gradient combination) gets no DDP
        # all-reduce at all: it reduces in finish_backward
        own_sync = self.strategy.reduces_gradients
        frozen = {id(p) for p in stage.frozen}
        trained = [p for g in self.optimizer.param_groups for p in g["params"]
                   if id(p) not in frozen]
        for i, mb in enumerate(micro):
            last = i == len(micro) - 1
            sync = self.dist.no_sync(self.train_module) if own_sync or not last else nullcontext()
            with sync:
                with autocast_context(self.device, cfg.precision):
                    out, aux = self.train_module(mb, restore)
                    loss = stage.recon_weight * out.loss.float()
                    extra = None
                    for name, value in aux.items():
                        term = stage.aux_weights.get(name, 1.0) * value.float()
                        loss = loss + term
                        extra = term if extra is None else extra + term
                        aux_values[name] = aux_values.get(name, 0.0) + float(value.detach()) / len(micro)
                # every rank must take the same decision, or the gradient all-reduce deadlocks;
                # one device->host read per micro-batch (the value gives finiteness too)
                value = float(loss.detach())
                total += value / len(micro)
                finite_here = self.dist.all_true(math.isfinite(value))
                finite = finite and finite_here
                if finite_here:
                    self.strategy.backward(out, BackwardContext(
                        loss, extra, stage.recon_weight, self.scaler.scale, len(micro), trained))
            outs.append(out)
        self.strategy.finish_backward(trained, finite)
        out = merge_outputs(outs)
        out.extras = {**out.extras, "loss_total": torch.tensor(total)}
        for p in stage.frozen:  # parameters this stage does not train: no update at all
            p.grad = None
        if finite:
            self.scaler.unscale_(self.optimizer)
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            if cfg.grad_clip:
                norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                finite = bool(torch.isfinite(norm).item()) or self.scaler.is_enabled()
                # the norm before clipping: how far a strategy's loss scales the gradient
                out.extras = {**out.extras, "grad_norm": norm.detach().float()}
        if not finite:
            self.optimizer.zero_grad(set_to_none=True)
            return out, aux_values, False
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(self.model)
        if restore:  # the strategy's running state only sees real reconstruction losses
            self.strategy.after_step(out)
        return out, aux_values, True

    def _install_signal_handlers(self) -> dict[signal.Signals, Any]:
        def handler(signum: int, _frame: Any) -> None:
            self._stop_signal = signum
            LOG.warning("signal %d received: finishing this step and writing a checkpoint", signum)

        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                previous[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread
                pass
        return previous

    def fit(self, on_step: Callable[[int], None] | None = None,
            on_eval: Callable[[int], None] | None = None) -> TrainResult:
        """Train to ``train.steps``; validate and checkpoint on the way and at the end.

        ``on_step(step)`` is called after every optimizer step, ``on_eval(1)`` after every
        validation image (a parent process's display; the run's own display is
        ``train.progress``).

        Holds the run folder (:mod:`aioir.runlock`: another process training into it is
        refused) and first removes the temporary files of writes a killed run left there."""
        with run_folder_lock(self.run_dir, enabled=self.dist.is_main):
            if self.dist.is_main:
                for folder in (self.run_dir, self.ckpt_dir, self.run_dir / "eval",
                               self.run_dir / "configs"):
                    for p in remove_stale_temporaries(folder):
                        LOG.info("removed %s, left by an interrupted write", p)
            self._on_eval = on_eval
            return self._fit(on_step)

    def _fit(self, on_step: Callable[[int], None] | None) -> TrainResult:
        cfg = self.cfg
        t0 = time.perf_counter()
        log = (
            MetricsLog(self.run_dir / "metrics.jsonl", resume_step=self.step)
            if self.dist.is_main
            else None
        )
        text = (TextLog(self.run_dir / "train.log", cfg.name, cfg.train.steps, self.step)
                if self.dist.is_main else None)
        previous = self._install_signal_handlers()
        bar = None
        if cfg.train.progress and self.dist.is_main:
            bar = progress(total=cfg.train.steps, initial=self.step, desc=cfg.name, unit="step")

        # training time only (the rate and the log's eta): validation and checkpoints left out
        clock = _Stopwatch()
        last_ckpt: Path | None = None
        validation: dict[str, Any] | None = None
        status = "finished"
        try:
            self.model.train()
            self.strategy.train()
            for batch in self._loader():
                stage = stage_at(self.stages, self.step)
                if stage.fresh_optimizer and self.step == stage.start:
                    self.optimizer.state.clear()  # Adam moments start again, as a new optimizer
                lr = self._set_lr(stage)
                out, aux, stepped = self._train_step(self._to_device(batch), stage)
                self.step += 1
                if stepped:
                    self.nonfinite_streak = 0
                else:
                    self.nonfinite_streak += 1
                    self.skipped_steps += 1
                    LOG.warning(
                        "step %d: non-finite loss, step skipped (%d in a row, limit %d)",
                        self.step, self.nonfinite_streak, cfg.train.max_nonfinite,
                    )
                    if self.nonfinite_streak >= cfg.train.max_nonfinite:
                        raise NonFiniteLossError(
                            f"{self.nonfinite_streak} non-finite losses in a row at step "
                            f"{self.step}; last good checkpoint: {last_ckpt or 'none'}. Lower "
                            "optim.lr, set train.grad_clip, or check the data."
                        )
                logged = self.step % cfg.train.log_every == 0 or self.step == 1
                if log is not None and logged:
                    record = self._record(out, aux, lr, stepped)
                    log.write(record)
                    if text is not None:
                        text.train(record, clock.seconds_per_step(self.step))
                if bar is not None:
                    bar.update(1)
                    if logged:
                        bar.set_postfix_str(fit_postfix(bar, self._postfix(out, aux, stage)),
                                            refresh=False)
                if on_step is not None:
                    on_step(self.step)
                done = self.step >= cfg.train.steps
                with clock.paused(), paused(bar):
                    if cfg.val.every and self.step % cfg.val.every == 0 and not done:
                        validation = self.validate(log, text, leave=False)
                    if self.dist.any_true(self._stop_signal is not None):
                        self._stop_signal = self._stop_signal or signal.SIGTERM
                        last_ckpt = self.save_checkpoint()
                        status = "interrupted"
                        break
                    if done or self.step % cfg.train.checkpoint_every == 0:
                        last_ckpt = self.save_checkpoint()
            clock.stop()
            if bar is not None:  # the training rate, before the final validation shows its own
                bar.close()
            if status == "finished":
                if last_ckpt is None or self.step % cfg.train.checkpoint_every:
                    last_ckpt = self.save_checkpoint()
                if cfg.val.enabled:
                    validation = self.validate(log, text, final=True)
        except BaseException:
            status = "stopped by an error"  # for train.log; the error itself propagates
            raise
        finally:
            if bar is not None:
                bar.close()
            if log is not None:
                log.close()
            if text is not None:
                text.close(status)
            for sig, prev in previous.items():
                signal.signal(sig, prev)
        return TrainResult(
            status=status,
            step=self.step,
            run_dir=self.run_dir,
            checkpoint=last_ckpt,
            validation=validation,
            skipped_steps=self.skipped_steps,
            seconds=time.perf_counter() - t0,
            signal=self._stop_signal,
            train_seconds=clock.total(),
        )

    # ------------------------------------------------------------------ logging / validation
    def _record(
        self, out: StrategyOutput, aux: dict[str, float], lr: float, stepped: bool
    ) -> dict[str, Any]:
        names = self.task_names
        present = out.present.tolist()
        rec: dict[str, Any] = {
            "step": self.step,
            "loss": float(out.loss.detach()),
            "lr": lr,
            "stepped": stepped,
            "task_loss": {n: float(v) for n, v, p in zip(names, out.task_losses, present) if p},
            "task_weight": {n: float(v) for n, v, p in zip(names, out.weights, present) if p},
        }
        for key, value in out.extras.items():
            value = value.detach()
            rec[key] = (
                {n: float(v) for n, v, p in zip(names, value, present) if p}
                if value.dim() == 1 and value.numel() == len(names)
                else value.tolist()
            )
        if aux:
            rec["aux"] = aux
        if len(self.stages) > 1:
            rec["stage"] = stage_at(self.stages, self.step - 1).index
        return rec

    def _postfix(self, out: StrategyOutput, aux: dict[str, float] | None = None,
                 stage: Any = None) -> list[str]:
        """The progress display's summaries, richest first (the display takes the first that
        fits the terminal, :func:`aioir.progress.fit_postfix`): the strategy's loss, the
        auxiliary losses, then each task's loss and weight (not in a stage without
        reconstruction), labelled; then abbreviated; then the loss alone (every value is in
        ``train.log`` and ``metrics.jsonl``)."""
        recon = stage is None or stage.recon_weight > 0
        head = [f"loss {float(out.loss.detach()):.4f}"] if recon else []
        head += [f"{k} {float(v):.4f}" for k, v in (aux or {}).items()]
        tasks = [(n, float(loss), float(w)) for n, loss, w, p in
                 zip(self.task_names, out.task_losses, out.weights, out.present) if p]
        variants = []
        if recon and tasks:
            full = " ".join(f"{n} {loss:.3f}/{w:.2f}" for n, loss, w in tasks)
            short = " ".join(f"{n[:2]} {loss:.2f}/{w:.2f}" for n, loss, w in tasks)
            variants += [", ".join(head + [f"task loss/weight: {full}"]),
                         ", ".join(head + [f"loss/w: {short}"])]
        return variants + [", ".join(head), head[0] if head else ""]

    def eval_model(self) -> nn.Module:
        """The network evaluated and exported: the EMA copy when enabled, else the live one."""
        if self.ema is not None and self.cfg.val.use_ema:
            return self.ema.module
        return self.model

    def validation_samples(self) -> list[Any]:
        """The validation sets; materialised once when ``val.max_size`` or ``val.tile`` caps
        them (small images), else streamed from disk at every validation."""
        if self._val_samples is not None:
            return self._val_samples
        sets = list(self.parts.val_sets)
        if self.cfg.val.max_size is not None or self.cfg.val.tile is not None:
            sets = [_Materialised(ts) for ts in sets]
            self._val_samples = sets
        return sets

    def validate(self, log: MetricsLog | None = None, text: TextLog | None = None, *,
                 leave: bool = True, final: bool = False) -> dict[str, Any] | None:
        """The run's validation sets measured by :func:`aioir.engine.evaluation.evaluate`
        (rank 0); written to ``eval/step_<step>.json``, the metrics log and ``train.log``.
        ``final``: the evaluation at the end of training, of the groups
        :func:`aioir.settings.assemble.final_groups` names (``val.final_groups``), the others
        under ``groups`` in the file; else the periodic one, of ``val.groups``. Shown as a
        display of its images with ``train.progress`` (``leave=False``: erased when done,
        under a training bar), and reported to ``fit``'s ``on_eval``."""
        if not self.dist.is_main:
            self.dist.barrier()
            return None

        for note in self.parts.val_notes:
            LOG.info("validation: %s", note)
        self.parts.val_notes = []
        sets = self.validation_samples()
        if final:  # the final-only groups are measured once: streamed, never kept
            wanted = final_groups(self.cfg)
            sets = [ts for ts in sets + list(self.parts.final_sets) if ts.group in wanted]
        if not sets:
            self.dist.barrier()
            return None
        protocol, note = lpips_status(self.parts.protocol)
        if note:
            LOG.warning("validation: %s", note)
        net = self.eval_model()
        was_training = net.training
        net.eval()
        task_context = hooks(net).task_context  # a network that needs each set's task

        def restore(img):
            return restore_image(net, img, device=self.device)

        try:
            shown = self._on_eval or bool(self.cfg.train.progress)
            results = evaluate(restore, sets, protocol, task_context=task_context,
                               progress=shown, desc=f"{self.cfg.name} validation", leave=leave)
            if log is not None and log.tensorboard:  # input | restored | ground truth per task
                shown_sets = [ts for ts in sets if ts.group in self.cfg.val.groups] or sets
                samples = [item for ts in shown_sets for item in ts]
                task_of = {ts.column: getattr(ts, "task", None) or ts.column for ts in shown_sets}
                with progress(total=len(shown_sets),
                              desc=f"{self.cfg.name} validation grid",
                              unit="row", leave=leave,
                              disable=not (self.cfg.train.progress and self._on_eval is None)
                              ) as rows:
                    def row_restore(column: str):  # one row per task: a tick each
                        fn = restore_for(restore, task_context, task_of[column])

                        def run(img):
                            out = fn(img)
                            rows.update(1)
                            return out

                        return run

                    grid = restoration_montage(restore, samples,
                                               [ts.column for ts in shown_sets],
                                               restore_for=row_restore)
                log.add_image("val/restorations", grid, self.step)
        finally:
            net.train(was_training)
        result = summary(results)

        write_text(self.run_dir / "eval" / f"step_{self.step:08d}.json",
                   json.dumps(result, indent=2), what="validation results")
        if log is not None:
            log.write({"step": self.step, "val": result["per_task"], "val_avg": result["average"]})
        if text is not None:
            text.validation(self.step, result)
        self.dist.barrier()
        return result


class _Stopwatch:
    """Seconds of training: running except inside :meth:`paused` and after :meth:`stop`."""

    def __init__(self) -> None:
        self._start: float | None = time.perf_counter()
        self._total = 0.0
        self._first_step: int | None = None

    def total(self) -> float:
        running = time.perf_counter() - self._start if self._start is not None else 0.0
        return self._total + running

    def stop(self) -> None:
        if self._start is not None:
            self._total += time.perf_counter() - self._start
            self._start = None

    @contextlib.contextmanager
    def paused(self):  # a context manager
        self.stop()
        try:
            yield
        finally:
            self._start = time.perf_counter()

    def seconds_per_step(self, step: int) -> float | None:
        """Mean training seconds per step since the first call (None at the first)."""
        if self._first_step is None:
            self._first_step, self._at_first = step, self.total()
            return None
        n = step - self._first_step
        return (self.total() - self._at_first) / n if n > 0 else None


class _Materialised:
    """A test set's images kept in memory (validation sets capped by ``val.max_size``)."""

    def __init__(self, ts: Any) -> None:
        self.column, self.group = ts.column, ts.group
        self.task = getattr(ts, "task", None) or ts.column
        self.items = list(ts)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):  # the cached (lq, gt, column, name) tuples
        return iter(self.items)


def resolve_resume(run_dir: Path, resume: str | None) -> Path | None:
    """The checkpoint to resume from: ``None`` for a fresh run (``ValueError`` when the folder
    already holds checkpoints), the latest one for ``"auto"`` (None if there is none), or the
    given path."""
    latest = ckpt.latest_checkpoint(Path(run_dir) / "checkpoints")
    if resume is None:
        if latest is not None:
            raise ValueError(
                f"{run_dir} already holds checkpoints (latest {latest.name}); "
                "use --resume auto to continue it or choose another --out"
            )
        return None
    if resume == "auto":
        return latest
    path = Path(resume)
    if not path.is_file():
        raise FileNotFoundError(f"--resume: checkpoint not found: {path}")
    return path


def merge_outputs(outs: list[StrategyOutput]) -> StrategyOutput:
    """Combine the outputs of gradient-accumulation micro-batches into one step's output.

    Per-task losses are averaged over the micro-batches where the task was present, weights
    likewise; ``present`` is the union. With one micro-batch this is the identity.
    """
    if len(outs) == 1:
        return outs[0]
    present = torch.stack([o.present for o in outs])
    counts = present.sum(0).clamp(min=1).to(outs[0].task_losses.dtype)

    def avg(values: list[torch.Tensor]) -> torch.Tensor:
        return (torch.stack(values) * present).sum(0) / counts

    extras = {}
    for key in outs[0].extras:
        vals = [o.extras[key] for o in outs]
        extras[key] = avg(vals) if vals[0].shape == counts.shape else torch.stack(vals).mean(0)
    return StrategyOutput(
        loss=torch.stack([o.loss.detach() for o in outs]).mean(),
        task_losses=avg([o.task_losses for o in outs]),
        weights=avg([o.weights for o in outs]),
        present=present.any(0),
        extras=extras,
    )
