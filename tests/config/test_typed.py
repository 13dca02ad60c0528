"""from_dict / to_dict over a schema written with string annotations (PEP 563)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from aioir.config import ConfigError, from_dict, to_dict


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


@dataclass
class Train:
    lr: float = 2e-4
    iters: int = 100
    amp: bool = False
    clip: float | None = None
    betas: tuple[float, float] = (0.9, 0.999)
    milestones: tuple[int, ...] = ()


@dataclass
class Model:
    type: str = "tiny_unet"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Data:
    tasks: list[str] = field(default_factory=lambda: ["noise"])
    dist: Literal["in", "out"] = "in"
    root: Path | None = None
    weights: dict[str, float] = field(default_factory=dict)


@dataclass
class Run:
    name: str
    seed: int = 0
    mode: Mode = Mode.FAST
    train: Train = field(default_factory=Train)
    model: Model = field(default_factory=Model)
    data: Data = field(default_factory=Data)
    stages: list[Train] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError("seed must be >= 0")


def test_nested_build_and_coercions() -> None:
    cfg = from_dict(
        Run,
        {
            "name": "x",
            "mode": "slow",
            "train": {"lr": 1, "iters": 1e3, "clip": 0.5, "betas": [0.5, 0.9], "milestones": [1, 2]},
            "model": {"options": {"width": 8, "blocks": [1, 2]}},
            "data": {"tasks": ["rain", "haze"], "dist": "out", "root": "/tmp/d"},
            "stages": [{"lr": 0.1}, {}],
        },
    )
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)  # int -> float
    assert cfg.train.iters == 1000 and isinstance(cfg.train.iters, int)  # integral float -> int
    assert cfg.train.betas == (0.5, 0.9)  # list -> tuple
    assert cfg.train.milestones == (1, 2)
    assert cfg.mode is Mode.SLOW
    assert cfg.model.options == {"width": 8, "blocks": [1, 2]}
    assert cfg.data.root == Path("/tmp/d") and cfg.data.dist == "out"
    assert cfg.stages == [Train(lr=0.1), Train()]
    assert cfg.train.amp is False and cfg.seed == 0  # defaults kept


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "x", "train": {"lr_rate": 1}}, "unknown key 'train.lr_rate'; did you mean 'train.lr'?"),
        ({"name": "x", "trian": {}}, "unknown key 'trian'; did you mean 'train'?"),
        ({"name": "x", "data": {"taks": []}}, "unknown key 'data.taks'; did you mean 'data.tasks'?"),
        ({"name": "x", "stages": [{}, {"itres": 3}]}, "unknown key 'stages.1.itres'; did you mean 'stages.1.iters'?"),
        ({"name": "x", "zzzzzz": 1}, "unknown key 'zzzzzz'"),
    ],
)
def test_unknown_keys_name_the_dotted_key_and_suggest(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_dict(Run, data)
    assert str(err.value) == message


@pytest.mark.parametrize(
    "data, key",
    [
        ({"name": "x", "train": {"lr": "1e-4"}}, "train.lr"),  # str is never a float
        ({"name": "x", "train": {"lr": True}}, "train.lr"),  # bool is never a number
        ({"name": "x", "train": {"iters": 2.5}}, "train.iters"),  # non-integral float
        ({"name": "x", "train": {"amp": 1}}, "train.amp"),  # int is not a bool
        ({"name": 3}, "name"),  # number is not a str
        ({"name": "x", "train": {"betas": [0.9]}}, "train.betas"),  # wrong tuple length
        ({"name": "x", "data": {"tasks": ["a", 3]}}, "data.tasks.1"),
        ({"name": "x", "data": {"weights": {"rain": "heavy"}}}, "data.weights.rain"),
        ({"name": "x", "train": 5}, "train"),  # a section must be a mapping
        ({"name": "x", "train": {"clip": "big"}}, "train.clip"),
    ],
)
def test_wrong_types_name_the_key(data: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_dict(Run, data)
    assert str(err.value).startswith(f"{key}: expected")


def test_literal_and_enum_errors_suggest() -> None:
    with pytest.raises(ConfigError, match=r"^data.dist: 'outt' is not one of 'in', 'out'; did you mean 'out'\?$"):
        from_dict(Run, {"name": "x", "data": {"dist": "outt"}})
    with pytest.raises(ConfigError, match=r"^mode: 'slo' is not one of 'fast', 'slow'; did you mean 'slow'\?$"):
        from_dict(Run, {"name": "x", "mode": "slo"})


def test_missing_required_and_post_init_errors() -> None:
    with pytest.raises(ConfigError, match=r"^missing required key: name$"):
        from_dict(Run, {})
    with pytest.raises(ConfigError, match="seed must be >= 0"):
        from_dict(Run, {"name": "x", "seed": -1})
    assert isinstance(ConfigError("x"), ValueError)


def test_to_dict_is_plain_and_round_trips() -> None:
    cfg = Run(name="r", mode=Mode.SLOW, data=Data(root=Path("/a/b")), stages=[Train(betas=(0.1, 0.2))])
    plain = to_dict(cfg)
    assert plain["mode"] == "slow" and plain["data"]["root"] == "/a/b"
    assert plain["stages"][0]["betas"] == [0.1, 0.2]
    assert from_dict(Run, plain) == cfg


def test_not_a_dataclass() -> None:
    with pytest.raises(TypeError):
        from_dict(dict, {})


def test_removed_keys_explain_themselves():
    """A schema's REMOVED_KEYS turns an unknown old key into an explanation (the run schema
    names data.source and val.source, replaced by settings)."""
    from aioir.config.schema import RunConfig

    with pytest.raises(ConfigError, match=r"unknown key 'data.source': every run's data is a "
                                          r"setting now"):
        from_dict(RunConfig, {"data": {"source": "setting"}})
    with pytest.raises(ConfigError, match=r"'val.source': .*val.enabled: false"):
        from_dict(RunConfig, {"val": {"source": "none"}})
