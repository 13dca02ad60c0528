"""The typed schema of a training run's configuration.

YAML files map onto these dataclasses through :func:`aioir.config.from_dict`; every key has a
default, unknown keys are errors with a "did you mean" suggestion.

>>> cfg = RunConfig()
>>> cfg.strategy.name, cfg.model.name, cfg.data.setting, cfg.data.tasks
('mixed', 'tiny_unet', 'embedded', None)
>>> check(cfg)
>>> cfg.train.checkpoint_every = 0
>>> check(cfg)
Traceback (most recent call last):
...
aioir.config.errors.ConfigError: train.checkpoint_every must be >= 1, got 0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from aioir.config.errors import ConfigError, suggest

MIOIR_TASKS = ["sr", "blur", "noise", "jpeg", "rain", "haze", "dark"]
#: the test group of whole photographs (the ``embedded`` setting's: degraded whole and kept
#: whole, as ``aioir restore`` gets them), which the demo and reports show as their own table
WHOLE_GROUP = "whole"


@dataclass
class ModelConfig:
    """Backbone: registry name, constructor options, optional released weights to start from."""

    name: str = "tiny_unet"
    options: dict[str, Any] = field(default_factory=dict)
    pretrained: str | None = None


@dataclass
class StrategyConfig:
    """Loss-balancing strategy: registry name and its options (e.g. ``tau`` for Art)."""

    name: str = "mixed"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    """Training data: a setting (see ``docs/datasets.md``) and how its samples are cut.

    ``setting``: a setting name (``embedded``: the photographs shipped in scikit-image,
    ``folder``: clean images under ``root``, or a benchmark such as ``mioir7``, ``three_task``)
    or a path to a setting YAML file. ``root``: the dataset root its paths are relative to.
    ``tasks``: the run's tasks (ids are positions); ``None``: the setting's own. A benchmark
    setting accepts a subset of its tasks; ``embedded`` and ``folder`` accept any catalogue
    tasks (default: the seven MiOIR tasks). ``dist``: parameter ranges of the on-the-fly
    degradations (``in`` or ``out``). ``balance``: ``balanced`` (every source equally often),
    ``random`` or ``concat`` (the official loaders' list repetition). ``classifier_copies``:
    with N > 0 every synthetic sample also carries ``lq_cls``/``gt_cls``, a sample of the same
    task from the photograph or one of N scale/colour/tone/noise variants of it
    (:mod:`aioir.data.variants`), for a degradation classifier to fit on (``aware_unet``'s
    ``stats`` classifier); the restoration samples are unchanged.
    """

    REMOVED_KEYS: ClassVar[dict[str, str]] = {
        "source": "every run's data is a setting now: data.setting is embedded (the former "
                  "source: embedded), folder (source: folder, with data.root) or a benchmark "
                  "setting name (source: setting); see docs/configs.md"}

    setting: str = "embedded"
    root: str | None = None
    tasks: list[str] | None = None
    patch_size: int = 64
    batch_size: int = 16
    dist: Literal["in", "out"] = "in"
    balance: Literal["balanced", "random", "concat"] = "balanced"
    augment: bool = True
    quantize: bool = True
    views: int = 1
    classifier_copies: int = 0
    num_workers: int = 0
    cache: str | None = None
    cache_workers: int = 2


@dataclass
class OptimConfig:
    """Optimizer (Adam or AdamW)."""

    name: Literal["adam", "adamw"] = "adam"
    lr: float = 2e-4
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])


@dataclass
class ScheduleConfig:
    """Learning-rate schedule: linear warm-up then cosine decay to ``min_lr`` (or constant)."""

    name: Literal["cosine", "constant"] = "cosine"
    warmup_steps: int = 0
    min_lr: float = 1e-7


@dataclass
class LossConfig:
    """An extra loss on ``(pred, gt)`` from :data:`aioir.losses.LOSSES` (e.g. ``perceptual``),
    added to the strategy's loss with ``weight`` (stages may override it by ``name``)."""

    name: str = "perceptual"
    weight: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class StageConfig:
    """One stage of a staged schedule (e.g. AirNet: encoder-only contrastive, then joint).

    ``steps``: length of the stage. ``recon_weight``: weight of the strategy's reconstruction
    loss (0 skips the restoration forward where the model allows it). ``aux_weights``: weights of
    the model's auxiliary losses (override the model's defaults and ``train.aux_weights``).
    ``trainable``: parameter groups updated in this stage (names from the model's
    ``parameter_groups()``; ``None``: all). ``lr``: base learning rate of the stage (default
    ``optim.lr``); the schedule restarts in every stage. ``tasks``: the tasks the training
    stream draws in this stage (balanced over them; ``None``: all of the run's tasks).
    ``fresh_optimizer``: reset the optimizer's state (Adam moments) when the stage starts.
    """

    steps: int = 1
    recon_weight: float = 1.0
    aux_weights: dict[str, float] = field(default_factory=dict)
    trainable: list[str] | None = None
    lr: float | None = None
    tasks: list[str] | None = None
    fresh_optimizer: bool = False


@dataclass
class TrainConfig:
    """The training loop."""

    steps: int = 1000
    seed: int = 0
    device: str = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    grad_clip: float | None = None
    grad_accum: int = 1
    ema_decay: float = 0.999
    aux_weights: dict[str, float] = field(default_factory=dict)
    stages: list[StageConfig] = field(default_factory=list)
    extra_losses: list[LossConfig] = field(default_factory=list)
    log_every: int = 10
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    max_nonfinite: int = 5
    threads: int | None = None
    channels_last: bool = False
    #: torch.compile the training forward (backbone, strategy loss, hooks); checkpoints keep
    #: the plain modules' keys. ``compile_backend``: torch.compile's backend (``inductor``
    #: generates kernels; ``aot_eager`` only captures the graphs)
    compile: bool = False
    compile_backend: str = "inductor"
    progress: bool = True


@dataclass
class ValConfig:
    """Validation on the run's setting's test sets (``aioir eval CKPT`` measures the same).

    ``enabled``: validate at the end of training (and every ``every`` steps when > 0); a
    setting whose test sets are absent under ``data.root`` is skipped with a note. ``groups``:
    the test groups (``main``: the paper's table; e.g. ``ood``). ``max_size``: centre-crop
    every test image to at most this many pixels per side (``None``: whole images);
    ``max_images``: keep that many evenly spaced images per test set (``None``: all) — both keep
    periodic validation cheap; ``aioir eval CKPT --setting NAME`` evaluates the full sets.
    ``tile``: cut every (cropped) synthetic test image into a centred grid of ``tile x tile``
    tiles, each degraded on its own (more independent test images from the same photographs:
    narrower intervals for a paired difference; ``None``: one test image per photograph).
    ``protocol``: the metric protocol (``None``: the setting's). ``use_ema``: evaluate the EMA
    weights when the run keeps them.
    ``final_groups``: the test groups of the evaluation at the end of training (``None``:
    ``groups``); a group listed here and not in ``groups`` is measured once, at the end, never
    by the periodic validation (the ``embedded`` setting's ``whole`` photographs in the demo).
    ``group_max_size``: ``max_size`` of a group, overriding ``max_size`` (``{whole: null}``:
    that group's images whole).
    """

    REMOVED_KEYS: ClassVar[dict[str, str]] = {
        "source": "validation uses the run's setting's test sets: val.enabled: false replaces "
                  "source: none; see docs/configs.md",
        "root": "validation uses the test sets of data.setting under data.root",
        "seed": "a synthetic test set's seed is part of its setting (test: ... seed:)",
        "dist": "a synthetic test set's dist is part of its setting (test: ... dist:)"}

    enabled: bool = True
    every: int = 0
    groups: list[str] = field(default_factory=lambda: ["main"])
    max_size: int | None = 192
    max_images: int | None = None
    tile: int | None = None
    protocol: str | None = None
    use_ema: bool = True
    final_groups: list[str] | None = None
    group_max_size: dict[str, int | None] = field(default_factory=dict)


@dataclass
class RunConfig:
    """A whole training run."""

    name: str = "run"
    model: ModelConfig = field(default_factory=ModelConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    val: ValConfig = field(default_factory=ValConfig)


def check(cfg: RunConfig) -> None:
    """Raise :class:`aioir.config.ConfigError` naming the key of the first value no run can
    use (checked before a run folder is written; the setting, model and strategy are checked
    when the run is built)."""
    positive = {
        "train.steps": cfg.train.steps,
        "train.log_every": cfg.train.log_every,
        "train.checkpoint_every": cfg.train.checkpoint_every,
        "train.grad_accum": cfg.train.grad_accum,
        "data.batch_size": cfg.data.batch_size,
        "data.patch_size": cfg.data.patch_size,
        "data.views": cfg.data.views,
    }
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"{key} must be >= 1, got {value}")
    non_negative = {
        "train.seed": cfg.train.seed,
        "val.every": cfg.val.every,
        "schedule.warmup_steps": cfg.schedule.warmup_steps,
        "data.num_workers": cfg.data.num_workers,
        "data.classifier_copies": cfg.data.classifier_copies,
        "train.max_nonfinite": cfg.train.max_nonfinite,
    }
    for key, value in non_negative.items():
        if value < 0:
            raise ConfigError(f"{key} must be >= 0, got {value}")
    if cfg.train.threads is not None and cfg.train.threads < 1:
        raise ConfigError(f"train.threads must be >= 1 or null, got {cfg.train.threads}")
    if cfg.val.max_size is not None and cfg.val.max_size < 1:
        raise ConfigError(f"val.max_size must be >= 1 or null, got {cfg.val.max_size}")
    for group, size in cfg.val.group_max_size.items():
        if size is not None and size < 1:
            raise ConfigError(f"val.group_max_size.{group} must be >= 1 or null, got {size}")
    if cfg.val.tile is not None and cfg.val.tile < 1:
        raise ConfigError(f"val.tile must be >= 1 or null, got {cfg.val.tile}")
    if cfg.val.max_images is not None and cfg.val.max_images < 1:
        raise ConfigError(f"val.max_images must be >= 1 or null, got {cfg.val.max_images}")
    if not 0.0 <= cfg.train.ema_decay < 1.0:
        raise ConfigError(f"train.ema_decay must be in [0, 1), got {cfg.train.ema_decay}")
    if cfg.optim.lr <= 0:
        raise ConfigError(f"optim.lr must be > 0, got {cfg.optim.lr}")
    if cfg.train.compile:
        check_backend(cfg.train.compile_backend, "train.compile_backend")
    for i, stage in enumerate(cfg.train.stages):
        if stage.steps < 1:
            raise ConfigError(f"train.stages.{i}.steps must be >= 1, got {stage.steps}")
        if stage.tasks is not None and not stage.tasks:
            raise ConfigError(f"train.stages.{i}.tasks is empty: name at least one task or "
                              "leave it null (all tasks)")
        if stage.lr is not None and stage.lr <= 0:
            raise ConfigError(f"train.stages.{i}.lr must be > 0, got {stage.lr}")
    if cfg.train.stages:
        total = sum(s.steps for s in cfg.train.stages)
        if total != cfg.train.steps:
            raise ConfigError(
                f"train.stages last {total} steps in all but train.steps is {cfg.train.steps}; "
                "make them agree (to shorten a staged run, use `aioir train CONFIG --steps N`, "
                "which scales every stage)")


#: the torch.compile backends ``train.compile_backend`` offers (torch has more, mostly for its
#: own debugging); :mod:`aioir.engine.compiled` applies them
COMPILE_BACKENDS: tuple[str, ...] = ("aot_eager", "eager", "inductor")


def check_backend(name: str, key: str) -> None:
    """``ConfigError`` naming ``key`` when ``name`` is not one of :data:`COMPILE_BACKENDS`."""
    if name not in COMPILE_BACKENDS:
        raise ConfigError(f"{key}: {name!r} is not a torch.compile backend"
                          f"{suggest(name, list(COMPILE_BACKENDS)) or ';'} Known: "
                          f"{', '.join(COMPILE_BACKENDS)}")
