"""load_yaml (base includes, float parsing), dump_yaml round trip, apply_overrides."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from aioir.config import (
    ConfigError,
    apply_overrides,
    dump_yaml,
    from_dict,
    load_config,
    load_yaml,
    parse_value,
)


@dataclass
class Opt:
    lr: float = 2e-4
    eps: float = 1e-8
    iters: int = 10
    betas: tuple[float, float] = (0.9, 0.99)


@dataclass
class Cfg:
    name: str = "run"
    train: Opt = field(default_factory=Opt)
    tasks: list[str] = field(default_factory=lambda: ["noise", "rain"])
    extra: dict[str, object] = field(default_factory=dict)
    note: str | None = None


@pytest.mark.parametrize(
    "text, value",
    [
        ("1e-4", 1e-4),
        ("-2.5E3", -2500.0),
        ("+3e+2", 300.0),
        (".5e-1", 0.05),
        ("1.0e-10", 1e-10),
        ("3", 3),
        ("true", True),
        ("[1, 2]", [1, 2]),
        ("'3'", "3"),
        ("e5", "e5"),
        ("1e", "1e"),
    ],
)
def test_parse_value_reads_exponent_floats(text: str, value: object) -> None:
    got = parse_value(text)
    assert got == value and type(got) is type(value)


def test_base_includes_are_relative_and_deep_merged(tmp_path: Path) -> None:
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "a.yaml").write_text("train: {lr: 1e-3, iters: 1}\ntasks: [x]\nname: a\n")
    (tmp_path / "common" / "b.yaml").write_text("base: a.yaml\ntrain: {iters: 2}\nname: b\n")
    (tmp_path / "c.yaml").write_text("train: {eps: 1e-6}\n")
    (tmp_path / "run.yaml").write_text("base: [common/b.yaml, c.yaml]\nname: run\ntasks: [y, z]\n")
    data = load_yaml(tmp_path / "run.yaml")
    assert data == {"train": {"lr": 1e-3, "iters": 2, "eps": 1e-6}, "tasks": ["y", "z"], "name": "run"}


def test_circular_base_and_bad_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match="circular"):
        load_yaml(tmp_path / "a.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml(tmp_path / "list.yaml")
    (tmp_path / "bad.yaml").write_text("a: [1,\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_yaml(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_yaml(tmp_path / "missing.yaml")
    (tmp_path / "empty.yaml").write_text("")
    assert load_yaml(tmp_path / "empty.yaml") == {}


def test_python_tags_are_refused(tmp_path: Path) -> None:
    (tmp_path / "evil.yaml").write_text("a: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError):
        load_yaml(tmp_path / "evil.yaml")


def test_overrides_parse_and_create_intermediates() -> None:
    base = {"train": {"lr": 2e-4}, "tasks": ["noise"]}
    out = apply_overrides(
        base, ["train.lr=1e-4", "train.iters=5", "tasks=[rain, haze]", "extra.a.b=true", "note=null"]
    )
    assert out == {
        "train": {"lr": 1e-4, "iters": 5},
        "tasks": ["rain", "haze"],
        "extra": {"a": {"b": True}},
        "note": None,
    }
    assert base == {"train": {"lr": 2e-4}, "tasks": ["noise"]}  # input untouched
    assert apply_overrides({}, ["a=x=y"]) == {"a": "x=y"}  # split on the first '='


@pytest.mark.parametrize("item", ["novalue", "=3", "a..b=1", ".a=1"])
def test_malformed_overrides(item: str) -> None:
    with pytest.raises(ConfigError, match="must look like"):
        apply_overrides({}, [item])


def test_override_through_a_scalar_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"'train.lr' is 0.1, not a mapping"):
        apply_overrides({"train": {"lr": 0.1}}, ["train.lr.x=1"])


def test_misspelt_override_is_caught_with_suggestion() -> None:
    data = apply_overrides({}, ["train.lr_rate=1e-4"])
    with pytest.raises(ConfigError, match=r"unknown key 'train.lr_rate'; did you mean 'train.lr'\?"):
        from_dict(Cfg, data)


def test_dump_and_load_round_trip(tmp_path: Path) -> None:
    cfg = Cfg(
        name="r1",
        train=Opt(lr=3.3e-5, eps=1e-12, iters=7, betas=(0.5, 0.75)),
        tasks=["a", "b"],
        extra={"nested": {"k": [1, 2.5, "s"]}, "inf": float("inf")},
        note="yes",  # YAML 1.1 would read an unquoted yes as a bool: the dumper must quote it
    )
    path = tmp_path / "config.yaml"
    dump_yaml(cfg, path)
    again = load_config(Cfg, path)
    assert again == cfg
    # the resolved config is human-readable YAML in declaration order
    assert path.read_text().splitlines()[0] == "name: r1"
