"""The runs behind ``aioir diffusion pretrain|sample|match|finetune|incremental|eval``.

Every training here is one call of the engine (:func:`aioir.engine.run.train`) on a
:class:`~aioir.config.schema.RunConfig` whose model is ``diffusion``; these functions only
prepare the configuration and what comes before or after the run:

* :func:`pretrain` — stages without reconstruction (generative pre-training), then, from the
  EMA weights, ``pretrained.safetensors`` (the network), ``prior.safetensors`` (theta_pre and
  the importances for L_reg) and ``samples.png`` (a sampled grid) in the run folder;
* :func:`match` — the t_mat table of a pre-trained network on pairs of the run's tasks;
* :func:`prepare_finetune` / :func:`finetune` — start from a pre-training run, condition every
  task on its ``t_mat``, train with the run's strategy (+ GEF when ``model.options.gef`` is
  set); the engine's validation evaluates every task at its own step (the network's
  ``task_context`` hook);
* :func:`incremental_config` / :func:`incremental` — the same with one engine stage per task in
  ``t_mat`` order (``train.stages[].tasks``: replay of the tasks injected so far, a budget and a
  fresh optimizer per stage).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aioir.checkpoint import latest_checkpoint
from aioir.config import from_dict, to_dict
from aioir.config.schema import RunConfig, StageConfig
from aioir.data.io import write_image
from aioir.diffusion.data import clean_batches, task_pairs
from aioir.diffusion.incremental import incremental_stages, split_budget
from aioir.diffusion.matching import PAPER_TMAT, match_tasks, paper_name, summary_line, table_rows
from aioir.engine.run import train
from aioir.files import write_text
from aioir.inference.export import save_exported
from aioir.inference.memory import available_memory, format_bytes
from aioir.inference.reader import load_network
from aioir.markdown import markdown_table
from aioir.models.diffusion.generative import sample_images
from aioir.models.diffusion.prior import compute_prior, load_prior, save_prior
from aioir.report.writers import write_csv, write_json
from aioir.settings.assemble import resolve_setting

PRETRAINED = "pretrained.safetensors"
PRIOR = "prior.safetensors"
SAMPLES = "samples.png"
TMAT_JSON = "t_mat.json"


def _require_diffusion(cfg: RunConfig) -> None:
    if cfg.model.name != "diffusion":
        raise ValueError(f"model.name is {cfg.model.name!r}: the diffusion commands train the "
                         "backbone 'diffusion' (model.options.backbone names the network)")


# ---------------------------------------------------------------------------- pre-training
@dataclass
class PretrainResult:
    """What :func:`pretrain` returns (``weights``/``prior``/``samples`` when it finished)."""

    train: Any
    weights: Path | None = None
    prior: Path | None = None
    samples: Path | None = None


def pretrain_config(cfg: RunConfig) -> RunConfig:
    """``cfg`` as a generative pre-training run: one stage without reconstruction when it has no
    stages (stages it has must all have ``recon_weight: 0``), no restoration validation (there
    is nothing to restore yet: ``val.enabled`` false)."""
    _require_diffusion(cfg)
    cfg = copy.deepcopy(cfg)
    if not cfg.train.stages:
        cfg.train.stages = [StageConfig(steps=cfg.train.steps, recon_weight=0.0)]
    bad = [i for i, s in enumerate(cfg.train.stages) if s.recon_weight != 0]
    if bad:
        raise ValueError(f"train.stages {bad} have a reconstruction weight: generative "
                         "pre-training trains on clean images only (recon_weight: 0)")
    cfg.val.enabled = False
    return cfg


def pretrain(cfg: RunConfig, run_dir: str | Path, *, resume: str | None = None,
             importance_batches: int = 16, sample_count: int = 4, sample_size: int = 64,
             dist: Any = None, allow_changes: bool = False) -> PretrainResult:
    """Generative pre-training through the engine, then the network, the prior and samples."""
    if importance_batches < 1:  # checked before training, not after it
        raise ValueError(f"--importance-batches must be >= 1 (batches of clean images for the "
                         f"prior of L_reg), got {importance_batches}")
    if sample_count < 0:
        raise ValueError(f"--samples must be >= 0 (0: none), got {sample_count}")
    check_sample_size(max(sample_count, 1), sample_size)
    cfg = pretrain_config(cfg)
    run_dir = Path(run_dir)
    result = train(cfg, run_dir, resume=resume, dist=dist, allow_changes=allow_changes)
    out = PretrainResult(result)
    if result.status != "finished" or (dist is not None and not dist.is_main):
        return out
    net, meta = load_network(result.checkpoint)
    out.weights = save_exported(net, run_dir / PRETRAINED, model_name="diffusion",
                                options=meta["options"], tasks=meta["tasks"])
    prior = compute_prior(net, clean_batches(cfg, importance_batches, seed=cfg.train.seed + 1),
                          seed=cfg.train.seed)
    prior.meta["checkpoint"] = str(result.checkpoint)
    out.prior = save_prior(run_dir / PRIOR, prior)
    if sample_count:
        out.samples = sample(run_dir / PRETRAINED, run_dir / SAMPLES, count=sample_count,
                             size=sample_size, seed=cfg.train.seed)
    return out


# ---------------------------------------------------------------------------- networks
def load_diffusion_network(path: str | Path, *, use_ema: bool = True):
    """A ``diffusion`` network (eval mode) and its metadata from a training checkpoint, an
    export, or a run folder (its ``pretrained.safetensors``, else its latest checkpoint)."""
    path = Path(path)
    if path.is_dir():
        candidate = path / PRETRAINED
        path = candidate if candidate.is_file() else (latest_checkpoint(path / "checkpoints")
                                                      or candidate)
    net, meta = load_network(path, use_ema=use_ema)
    if meta["model"] != "diffusion":
        raise ValueError(f"{path} holds a {meta['model']!r} network, not a diffusion network")
    return net, meta


def check_sample_size(count: int, size: int) -> None:
    """Refuse, in one line, a sample that cannot be made: ``count`` or ``size`` below 1, or
    images whose float32 buffers alone exceed the available memory.

    >>> check_sample_size(0, 64)
    Traceback (most recent call last):
    ...
    ValueError: --count must be >= 1, got 0
    """
    if count < 1:
        raise ValueError(f"--count must be >= 1, got {count}")
    if size < 1:
        raise ValueError(f"--size must be >= 1 (pixels), got {size}")
    need = 2 * count * 3 * size * size * 4  # the chain's images and the side-by-side grid
    room = available_memory()
    if room is not None and need > room:
        raise ValueError(f"--count {count} --size {size} needs {format_bytes(need)} for the "
                         f"images alone, over the {format_bytes(room)} of available memory; "
                         "sample fewer or smaller images")


def sample(checkpoint: str | Path, out: str | Path, *, count: int = 4, size: int = 64,
           seed: int = 0, progress: bool = False) -> Path:
    """Sample ``count`` images from a pre-trained network and write them side by side (PNG)."""
    import torch

    check_sample_size(count, size)

    net, _ = load_diffusion_network(checkpoint)
    images = sample_images(net, count, size, generator=torch.Generator().manual_seed(seed),
                           progress=progress).clamp(0, 1)
    grid = torch.cat(list(images), dim=2).permute(1, 2, 0).cpu().numpy()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_image(out, grid)
    return out


# ---------------------------------------------------------------------------- matching
def match(checkpoint: str | Path, cfg: RunConfig, *, pairs: int = 8, patch_size: int = 64,
          criterion: str = "x0", seed: int = 0, batch_size: int = 8):
    """The t_mat table (:class:`~aioir.diffusion.matching.MatchRow` list) of the network at
    ``checkpoint`` on ``pairs`` training pairs of every task of ``cfg``'s data."""
    net, _ = load_diffusion_network(checkpoint)
    samples = task_pairs(cfg, pairs, seed=seed, patch_size=patch_size)
    return match_tasks(net, samples, criterion=criterion, batch_size=batch_size, seed=seed)


def write_match_table(rows: list, out_dir: str | Path, *, meta: Mapping[str, Any]) -> list[Path]:
    """``t_mat.md``, ``t_mat.csv`` and ``t_mat.json`` (``{"t_mat": {task: t}, ...}``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    headers, body = table_rows(rows)
    md = write_text(out_dir / "t_mat.md",
                    markdown_table(headers, body) + "\n\n" + summary_line(rows) + "\n",
                    what="t_mat table")
    csv = write_csv(out_dir / "t_mat.csv", headers, body)
    data = {"t_mat": {r.task: r.t_mat for r in rows}, **dict(meta),
            "rows": [dataclasses.asdict(r) for r in rows]}
    js = write_json(out_dir / TMAT_JSON, data)
    return [md, Path(csv), Path(js)]


def load_tmat(spec: str | Path | Mapping[str, int], tasks: list[str]) -> dict[str, int]:
    """Each task's ``t_mat`` from a mapping, a ``t_mat.json`` written by ``match`` (or its
    folder), or ``"paper"`` (the paper's table through :func:`~matching.paper_name`)."""
    if isinstance(spec, Mapping):
        table = {str(k): int(v) for k, v in spec.items()}
        source = "the given table"
    elif str(spec) == "paper":
        table = {t: PAPER_TMAT[name] for t in tasks if (name := paper_name(t))}
        source = "the paper's table"
    else:
        path = Path(spec)
        if path.is_dir():
            path = path / TMAT_JSON
        if not path.is_file():
            raise FileNotFoundError(f"no t_mat table at {path} (write one with `aioir diffusion "
                                    "match`)")
        try:
            data = json.loads(path.read_text())
            table = {str(k): int(v) for k, v in data["t_mat"].items()}
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path} is not a t_mat table written by `aioir diffusion match` "
                             f"({exc})") from exc
        source = str(path)
    missing = [t for t in tasks if t not in table]
    if missing:
        raise ValueError(f"{source} has no t_mat for task(s) {missing}")
    return {t: table[t] for t in tasks}


# ---------------------------------------------------------------------------- fine-tuning
def resolve_pretrained(pretrained: str | Path) -> tuple[Path, Path | None]:
    """The network file and the prior file of a pre-training run folder (or of a network file
    with ``prior.safetensors`` beside it)."""
    path = Path(pretrained)
    if path.is_dir():
        weights, prior = path / PRETRAINED, path / PRIOR
    else:
        weights, prior = path, path.with_name(PRIOR)
    if not weights.is_file():
        raise FileNotFoundError(f"no pre-trained network at {weights} (written by `aioir "
                                "diffusion pretrain`)")
    return weights, (prior if prior.is_file() else None)


def prepare_finetune(cfg: RunConfig, run_dir: str | Path, *, pretrained: str | Path | None,
                     tmat: Any = None, copy_prior: bool = True) -> RunConfig:
    """``cfg`` ready for restoration fine-tuning of a pre-trained network.

    Sets ``model.pretrained`` (the pre-trained network), ``model.options.tasks``/``task_t``
    (``tmat``: see :func:`load_tmat`; default the config's own ``task_t``), ``test_t`` (a
    single task: its step; several: ``require_t``) and ``model.options.gef.prior`` (a copy of
    the pre-training run's prior in the run folder, written by :func:`copy_prior_file` unless
    ``copy_prior`` is false). Validation stays as configured: the engine evaluates each test
    set at its task's step (the network's ``task_context`` hook).
    """
    _require_diffusion(cfg)
    cfg = copy.deepcopy(cfg)
    opts = dict(cfg.model.options)
    tasks = list(resolve_setting(cfg).task_names)
    if pretrained is not None:
        resolve_pretrained(pretrained)  # a missing pre-training run is the first thing to say
    if tmat is None and not opts.get("task_t"):
        raise ValueError(f"no t_mat for the tasks {tasks}: pass --tmat with the table of "
                         "`aioir diffusion match` (or 'paper'), or set model.options.task_t")
    table = load_tmat(tmat if tmat is not None else dict(opts["task_t"]), tasks)
    opts["tasks"] = tasks
    opts["task_t"] = table
    if len(tasks) == 1:
        opts["test_t"], opts["require_t"] = table[tasks[0]], False
    else:
        opts["test_t"], opts["require_t"] = None, True
    gef = opts.get("gef")
    wants_copy = False
    if pretrained is not None:
        weights, prior = resolve_pretrained(pretrained)
        cfg.model.pretrained = str(weights)
        needs_prior = gef is not None and float(dict(gef).get("reg_lambda", 0.2)) > 0
        from_pretrain = dict(gef or {}).get("importance_data", "finetune") == "pretrain"
        if needs_prior and gef is not None and not dict(gef).get("prior"):
            if prior is None and from_pretrain:
                raise FileNotFoundError(f"L_reg needs the prior of the pre-training run; none "
                                        f"beside {weights}")
            opts["gef"] = {**dict(gef), "prior": str(Path(run_dir) / PRIOR)}
            wants_copy = True
    cfg.model.options = opts
    if copy_prior and wants_copy and pretrained is not None:
        write_prior_file(cfg, pretrained, run_dir)
    return cfg


def write_prior_file(cfg: RunConfig, pretrained: str | Path, run_dir: str | Path) -> Path | None:
    """The prior of a GEF run in ``run_dir``: ``gef.importance_data: pretrain`` copies the
    pre-training run's (:func:`copy_prior_file`); ``finetune`` (default, EEDTP) computes it at the
    pre-trained weights from the generative loss on the ground truths of
    ``gef.importance_batches`` batches of the fine-tuning data (seeded by ``train.seed``). A
    computed prior already there (a resumed run) is kept when it was computed from the same
    pre-trained network, else refused."""
    gef = dict(cfg.model.options.get("gef") or {})
    if gef.get("importance_data", "finetune") == "pretrain":
        return copy_prior_file(pretrained, run_dir)
    weights, _ = resolve_pretrained(pretrained)
    target = Path(run_dir) / PRIOR
    if target.exists():
        try:
            source = load_prior(target).meta.get("pretrained")
        except Exception:  # noqa: BLE001 - not a prior file at all
            source = None
        if source != str(weights):
            raise ValueError(f"{target} holds the prior of another pre-training run than "
                             f"{weights}; choose another --out (or remove it)")
        return target
    net, _ = load_diffusion_network(weights)
    count = int(gef.get("importance_batches", 50))
    prior = compute_prior(net, clean_batches(cfg, count, seed=cfg.train.seed + 1),
                          seed=cfg.train.seed)
    prior.meta.update({"pretrained": str(weights), "data": "finetune"})
    target.parent.mkdir(parents=True, exist_ok=True)
    return save_prior(target, prior)


def copy_prior_file(pretrained: str | Path, run_dir: str | Path) -> Path | None:
    """Copy the pre-training run's prior into ``run_dir`` (atomically: the ranks of a
    distributed run may race here); a copy already there must be the same file (a resumed
    run), else the folder was prepared from another pre-training run and is refused."""
    import filecmp

    _, prior = resolve_pretrained(pretrained)
    if prior is None:
        return None
    target = Path(run_dir) / PRIOR
    if target.exists():
        if not filecmp.cmp(prior, target, shallow=False):
            raise ValueError(f"{target} holds the prior of another pre-training run than "
                             f"{prior}; choose another --out (or remove it)")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{PRIOR}.{os.getpid()}.tmp")
    shutil.copyfile(prior, tmp)
    os.replace(tmp, target)
    return target


@dataclass
class FinetuneResult:
    """What :func:`finetune` / :func:`incremental` return: the engine's result and its final
    validation (every task at its own step; ``None`` with ``val.enabled: false``)."""

    train: Any
    evaluation: dict[str, Any] | None = None


def finetune(cfg: RunConfig, run_dir: str | Path, *, pretrained: str | Path | None,
             tmat: Any = None, resume: str | None = None, dist: Any = None,
             allow_changes: bool = False) -> FinetuneResult:
    """Restoration fine-tuning (GEF when configured) through the engine, validated at the end
    like any run (``eval/step_*.json``)."""
    cfg = prepare_finetune(cfg, run_dir, pretrained=pretrained, tmat=tmat)
    result = train(cfg, run_dir, resume=resume, dist=dist, allow_changes=allow_changes)
    return FinetuneResult(result, result.validation)


# ---------------------------------------------------------------------------- incremental
def incremental_config(cfg: RunConfig, *, steps_per_task: int | list[int] | None = None,
                       order: str = "increasing", replay: str = "all",
                       fresh_optimizer: bool = True) -> RunConfig:
    """``cfg`` (prepared by :func:`prepare_finetune`) with one stage per task in ``t_mat``
    order (:func:`~aioir.diffusion.incremental.incremental_stages`); ``train.steps`` becomes
    the sum of the stages. ``steps_per_task``: one budget for every stage, one per stage, or
    ``None``: ``train.steps`` split evenly over the tasks."""
    table = dict(cfg.model.options.get("task_t") or {})
    if cfg.train.stages:
        raise ValueError("incremental training writes train.stages itself (one stage per task "
                         "in t_mat order); remove train.stages from the config")
    if steps_per_task is None:
        steps_per_task = split_budget(cfg.train.steps, len(table))
    stages = incremental_stages(table, steps_per_task, order=order, replay=replay,
                                fresh_optimizer=fresh_optimizer)
    data = to_dict(cfg)
    data["train"]["stages"] = stages
    data["train"]["steps"] = sum(s["steps"] for s in stages)
    return from_dict(RunConfig, data)


def incremental(cfg: RunConfig, run_dir: str | Path, *, pretrained: str | Path | None,
                tmat: Any = None, steps_per_task: int | list[int] | None = None,
                order: str = "increasing", replay: str = "all", fresh_optimizer: bool = True,
                resume: str | None = None, dist: Any = None, allow_changes: bool = False
                ) -> FinetuneResult:
    """Time-sequential incremental training through the engine's stages (the MoE adapters of
    ``model.options.moe_experts`` train with the rest), validated at the end."""
    cfg = prepare_finetune(cfg, run_dir, pretrained=pretrained, tmat=tmat, copy_prior=False)
    cfg = incremental_config(cfg, steps_per_task=steps_per_task, order=order, replay=replay,
                             fresh_optimizer=fresh_optimizer)
    gef_prior = (cfg.model.options.get("gef") or {}).get("prior")
    if pretrained is not None and gef_prior == str(Path(run_dir) / PRIOR):
        write_prior_file(cfg, pretrained, run_dir)   # once the stages are known to be valid
    result = train(cfg, run_dir, resume=resume, dist=dist, allow_changes=allow_changes)
    return FinetuneResult(result, result.validation)
