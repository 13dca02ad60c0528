"""The typed schema of a training run's configuration.

YAML files map onto these dataclasses through :func:`aioir.config.from_dict`; every key has a
default, unknown keys are errors with a "did you mean" suggestion.

>>> cfg = RunConfig()
>>> cfg.strategy.name, cfg.model.name, cfg.data.tasks[:3]
('mixed', 'tiny_unet', ['sr', 'blur', 'noise'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Optional

MIOIR_TASKS = ["sr", "blur", "noise", "jpeg", "rain", "haze", "dark"]


@dataclass
class ModelConfig:
    """Backbone: registry name, constructor options, optional released weights to start from."""

    name: str = "tiny_unet"
    options: dict[str, Any] = field(default_factory=dict)
    pretrained: Optional[str] = None


@dataclass
class StrategyConfig:
    """Loss-balancing strategy: registry name and its options (e.g. ``tau`` for Art)."""

    name: str = "mixed"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    """Training data.

    ``source``: ``embedded`` (scikit-image photographs, train split), ``folder`` (clean images
    under ``root``, degraded on the fly) or ``setting`` (a benchmark setting's datasets under
    ``root``, see ``setting``).
    """

    source: Literal["embedded", "folder", "setting"] = "embedded"
    root: Optional[str] = None
    setting: Optional[str] = None
    tasks: list[str] = field(default_factory=lambda: list(MIOIR_TASKS))
    patch_size: int = 64
    batch_size: int = 16
    dist: Literal["in", "out"] = "in"
    balance: Literal["balanced", "random", "concat"] = "balanced"
    augment: bool = True
    quantize: bool = True
    views: int = 1
    num_workers: int = 0
    cache: Optional[str] = None
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
    ``optim.lr``); the schedule restarts in every stage.
    """

    steps: int = 1
    recon_weight: float = 1.0
    aux_weights: dict[str, float] = field(default_factory=dict)
    trainable: Optional[list[str]] = None
    lr: Optional[float] = None


@dataclass
class TrainConfig:
    """The training loop."""

    steps: int = 1000
    seed: int = 0
    device: str = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    grad_clip: Optional[float] = None
    grad_accum: int = 1
    ema_decay: float = 0.999
    aux_weights: dict[str, float] = field(default_factory=dict)
    stages: list[StageConfig] = field(default_factory=list)
    extra_losses: list[LossConfig] = field(default_factory=list)
    log_every: int = 10
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    max_nonfinite: int = 5
    threads: Optional[int] = None
    channels_last: bool = False
    progress: bool = True


@dataclass
class ValConfig:
    """Periodic validation: per-task PSNR/SSIM on held-out images degraded at a fixed seed.

    ``every``: steps between validations (0: only at the end of training).
    ``source``: ``embedded`` (test split of the embedded photographs) or ``folder`` (``root``).
    """

    every: int = 0
    source: Literal["embedded", "folder", "none"] = "embedded"
    root: Optional[str] = None
    max_size: int = 192
    seed: int = 1234
    dist: Literal["in", "out"] = "in"
    protocol: str = "mioir"
    use_ema: bool = True


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
