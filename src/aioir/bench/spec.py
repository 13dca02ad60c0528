"""What a bench trains: its spec, its cells, and the folder that records them.

A bench is strategies x seeds x budgets on one base run config. Every cell's config is the base
with only ``strategy``, ``train.seed``, ``train.steps``, ``train.threads``, ``train.progress``
(off: the bench shows one display for all cells), ``data.cache`` (one synthesised stream per
seed and budget, shared by the strategies) and ``name`` replaced. The spec is written to
``bench.json`` when a folder is first used; a later bench into that folder may add strategies,
seeds and budgets (only the new cells train); anything that would change a cell is refused.

>>> spec = BenchSpec(base={}, strategies=["mixed", "art"], seeds=[0, 1], steps=[20],
...                  baseline="mixed")
>>> [c.run_dir for c in cells(spec)][:2]
['runs/steps_00000020/seed_0/mixed', 'runs/steps_00000020/seed_0/art']
>>> cfg = cell_config(spec, cells(spec)[1], "/tmp/b")
>>> cfg.strategy.name, cfg.train.seed, cfg.train.steps, cfg.data.cache
('art', 0, 20, '/tmp/b/data-cache/steps_00000020-seed_0')
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aioir.bench.preset as demo_preset
from aioir.config import ConfigError, apply_overrides, from_dict, load_yaml, parse_override, to_dict
from aioir.config.budget import scale_stages
from aioir.config.schema import RunConfig, StrategyConfig, check
from aioir.config.yaml_io import deep_merge
from aioir.files import write_text  # atomic, process-tagged temporary
from aioir.runlock import LOCK_NAME  # the bench's own lock (run_bench holds it)

# strategies and settings load torch: imported where used (the worker start, see
# aioir/bench/__init__.py)

__all__ = ["BenchSpec", "Cell", "cells", "cell_config", "claim_folder", "parse_seeds",
           "parse_int_list", "parse_strategy_options", "parse_variant", "base_from_source",
           "merge_specs", "SPEC_FILE"]

SPEC_FILE = "bench.json"
FORMAT = "aioir-bench"
VERSION = 1


@dataclass
class BenchSpec:
    """Everything that determines a bench's results.

    Attributes:
        base: the resolved run config (``RunConfig`` as a plain dict) every cell starts from.
        strategies: strategy names, in table order.
        seeds: training seeds (each cell of a seed uses the same data stream and initial weights).
        steps: training budgets (``train.steps``), one table each.
        baseline: the strategy the others are compared with.
        strategy_options: per strategy, the options it is built with.
        threads: torch threads per cell.
        cache: share one synthesised training stream per seed and budget (``data.cache``).
        n_boot: bootstrap replicates of the intervals.
        variants: extra table rows, ``label -> {"strategy": name, "config": partial run
            config}``: the strategy trained on the base merged with ``config`` (MiOIR's
            sequential stages, a prompt wrapper, ...). Stages are scaled to each budget, and a
            variant trains on its own data stream (``data-cache/steps_N-seed_S-LABEL``: stages
            change the stream).
    """

    base: dict[str, Any]
    strategies: list[str]
    seeds: list[int]
    steps: list[int]
    baseline: str
    strategy_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    threads: int = 1
    cache: bool = True
    n_boot: int = 10_000
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def rows(self) -> list[str]:
        """The table's rows: the strategies, then the variants' labels."""
        return list(self.strategies) + list(self.variants)  # labels never name a strategy

    def strategy_of(self, row: str) -> str:
        """The registered strategy a row trains."""
        return self.variants[row]["strategy"] if row in self.variants else row

    def validate(self) -> None:
        """Clear errors for an impossible spec (before anything is trained)."""
        if not self.strategies:
            raise ValueError("--strategies is empty: name at least one strategy")
        for what, items in (("strategy", self.strategies), ("seed", self.seeds),
                            ("budget", self.steps)):
            dup = sorted({str(x) for x in items if list(items).count(x) > 1})
            if dup:
                raise ValueError(f"{what} listed twice: {', '.join(dup)}")
        from aioir import strategies as registry
        from aioir.settings.assemble import resolve_setting

        known = registry.names()
        for s in self.strategies:
            if s not in known:
                raise ValueError(f"unknown strategy {s!r}; known: {', '.join(known)}")
        for label, variant in self.variants.items():
            _check_variant(label, variant, self.strategies, known)
        rows = self.rows
        if self.baseline not in rows:
            raise ValueError(f"baseline {self.baseline!r} is not among the rows "
                             f"{', '.join(rows)}")
        for s in self.strategy_options:
            if s not in rows:
                raise ValueError(f"--strategy-options names {s!r}, which is not benched "
                                 f"({', '.join(rows)})")
        if not self.seeds:
            raise ValueError("--seeds: give a number of seeds (>= 1) or a list like 0,1,2")
        if any(s < 0 for s in self.seeds):
            raise ValueError(f"seeds must be >= 0, got {self.seeds}")
        if not self.steps or any(n < 1 for n in self.steps):
            raise ValueError(f"--steps must be positive step counts, got {self.steps}")
        if self.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {self.threads}")
        if self.n_boot < 100:
            raise ValueError(f"n_boot must be >= 100, got {self.n_boot}")

        for row in rows:
            try:
                cfg = cell_config(self, Cell(row, self.seeds[0], self.steps[0]), ".")
                check(cfg)
            except (ConfigError, TypeError, ValueError) as exc:
                raise ValueError(f"row {row!r}: {exc}") from None
            num_tasks = len(cfg.data.tasks or resolve_setting(cfg).task_names)
            try:  # options are checked by building each strategy once
                registry.build(self.strategy_of(row), num_tasks=num_tasks,
                               **self.strategy_options.get(row, {}))
            except TypeError as exc:
                raise ValueError(f"strategy {row!r} options {self.strategy_options.get(row, {})}"
                                 f": {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))


@dataclass(frozen=True)
class Cell:
    """One training run of the bench."""

    strategy: str
    seed: int
    steps: int

    @property
    def run_dir(self) -> str:
        """The cell's run folder, relative to the bench folder."""
        return f"runs/steps_{self.steps:08d}/seed_{self.seed}/{self.strategy}"

    @property
    def cache_dir(self) -> str:
        """The shared training stream of the cell's seed and budget, relative to the bench."""
        return f"data-cache/steps_{self.steps:08d}-seed_{self.seed}"

    @property
    def name(self) -> str:
        return f"{self.strategy}-seed{self.seed}-steps{self.steps}"


def cells(spec: BenchSpec) -> list[Cell]:
    """Every cell, budgets in the given order, then seeds, then rows (strategies, variants)."""
    return [Cell(r, seed, n) for n in spec.steps for seed in spec.seeds for r in spec.rows]


def cell_config(spec: BenchSpec, cell: Cell, bench_dir: str | Path) -> RunConfig:
    """The run config of ``cell``: the base (merged with the row's variant config, if any) with
    the bench's per-cell fields set; stages are scaled to the cell's budget, each keeping its
    share (:func:`aioir.config.budget.scale_stages`)."""

    variant = spec.variants.get(cell.strategy)
    base = deep_merge(spec.base, variant["config"]) if variant else spec.base
    cfg = from_dict(RunConfig, base)
    cfg.name = f"bench-{cell.name}"
    cfg.strategy = StrategyConfig(name=spec.strategy_of(cell.strategy),
                                  options=dict(spec.strategy_options.get(cell.strategy, {})))
    cfg.train.seed = cell.seed
    cfg.train.steps = cell.steps
    if cfg.train.stages and sum(s.steps for s in cfg.train.stages) != cell.steps:
        cfg.train.stages = scale_stages(cfg.train.stages, cell.steps)
        cfg.train.steps = sum(s.steps for s in cfg.train.stages)
    cfg.train.threads = spec.threads
    cfg.train.progress = False
    cache = cell.cache_dir + (f"-{cell.strategy}" if variant else "")
    cfg.data.cache = str(Path(bench_dir) / cache) if spec.cache else None
    return cfg


#: a variant's label names a run folder and prefixes ``--strategy-options``: letters, digits, + - _
_LABEL_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-_")


def _check_variant(label: str, variant: Any, strategies: Sequence[str],
                   known: Sequence[str]) -> None:
    if not label or not set(label) <= _LABEL_CHARS:
        raise ValueError(f"variant label {label!r}: use letters, digits and + - _ only")
    if label in strategies or label in known:
        raise ValueError(f"variant label {label!r} is a strategy's name; choose another label")
    if not isinstance(variant, dict) or set(variant) != {"strategy", "config"}:
        raise ValueError(f"variant {label!r} must be {{'strategy': NAME, 'config': {{...}}}}, "
                         f"got {variant!r}")
    if variant["strategy"] not in known:
        raise ValueError(f"variant {label!r}: unknown strategy {variant['strategy']!r}; known: "
                         f"{', '.join(known)}")
    if not isinstance(variant["config"], dict):
        raise ValueError(f"variant {label!r}: its config must be a mapping (a partial run "
                         f"config), got {type(variant['config']).__name__}")


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``"LABEL=STRATEGY[:FILE.yaml]"`` -> ``(label, {"strategy", "config"})``; the YAML file is a
    partial run config merged over the bench's base (read now: the spec keeps its content).
    """

    label, sep, rest = text.partition("=")
    if not sep or not label.strip() or not rest.strip():
        raise ValueError(f"--variant {text!r} must look like LABEL=STRATEGY or "
                         "LABEL=STRATEGY:FILE.yaml")
    strategy, _, path = rest.partition(":")
    config: dict[str, Any] = {}
    if path:
        if not Path(path).is_file():
            raise FileNotFoundError(f"--variant {label}: no such config file: {path}")
        config = load_yaml(Path(path))
        if not isinstance(config, dict):
            raise ValueError(f"--variant {label}: {path} must hold a mapping (a partial run "
                             "config)")
    return label.strip(), {"strategy": strategy.strip(), "config": config}


def parse_int_list(text: str, what: str) -> list[int]:
    """``"450,1800"`` -> ``[450, 1800]``, with an error naming ``what``.

    >>> parse_int_list("450, 1800", "--steps")
    [450, 1800]
    """
    try:
        return [int(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"{what} must be comma-separated integers, got {text!r}") from None


def parse_seeds(text: str, first: int = 0) -> list[int]:
    """``"3"`` -> three seeds from ``first``; ``"0,4,7"`` -> exactly those.

    >>> parse_seeds("3", first=10), parse_seeds("0,4")
    ([10, 11, 12], [0, 4])
    """
    values = parse_int_list(text, "--seeds")
    if "," not in str(text):
        if len(values) != 1 or values[0] < 1:
            raise ValueError(f"--seeds N needs N >= 1, got {text!r}")
        return list(range(first, first + values[0]))
    return values


def parse_strategy_options(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["art.tau=3", "tur.form=gaussian"]`` -> ``{"art": {"tau": 3}, "tur": {...}}``.

    >>> parse_strategy_options(["art.tau=3", "art.init=0.05"])
    {'art': {'tau': 3, 'init': 0.05}}
    """

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        parts, value = parse_override(item)
        if len(parts) != 2:
            raise ValueError(f"--strategy-options {item!r} must look like 'strategy.option=value'")
        out.setdefault(parts[0], {})[parts[1]] = value
    return out


def base_from_source(
    source: str, overrides: Sequence[str] = (), strategies: Sequence[str] = ()
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The base config dict and each strategy's default options, from a YAML or the demo.

    ``source``: a run-config YAML (as ``aioir train`` takes), ``demo`` (the demo's default
    budget) or ``demo:quick``. A YAML's strategy options apply to its own strategy; the demo's
    per-strategy options (Art's ``tau``) are those ``aioir demo`` trains with.
    """

    if source in ("demo", "demo:default", "demo:quick"):

        budget = demo_preset.BUDGETS["quick" if source.endswith("quick") else "default"]
        data = to_dict(demo_preset.demo_config(demo_preset.STRATEGIES[0], budget))
        options = {s: to_dict(demo_preset.demo_config(s, budget).strategy)["options"]
                   for s in strategies}
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"no such config file: {source} (or use 'demo' / "
                                    "'demo:quick' for the demo's config)")
        data = load_yaml(path)
        options = {}
    cfg = from_dict(RunConfig, apply_overrides(data, overrides))
    base = to_dict(cfg)
    base["data"]["cache"] = None
    if source.startswith("demo"):
        return base, options
    own = cfg.strategy.name
    return base, {s: dict(cfg.strategy.options) for s in strategies if s == own}


def flatten_keys(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``{dotted key: value}`` (lists and empty dicts are values).

    >>> flatten_keys({"train": {"steps": 6, "stages": [{"steps": 2}]}, "val": {}})
    {'train.steps': 6, 'train.stages': [{'steps': 2}], 'val': {}}
    """
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(flatten_keys(v, f"{prefix}{k}."))
        return out or {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): data}


def spec_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``key: old -> new`` for every dotted key whose value differs.

    >>> spec_differences({"seeds": [0, 1], "base": {"optim": {"lr": 1}}},
    ...                  {"seeds": [0, 1], "base": {"optim": {"lr": 2}}})
    ['base.optim.lr: 1 -> 2']
    """
    a, b = flatten_keys(old), flatten_keys(new)
    return [f"{k}: {a.get(k, '(absent)')!r} -> {b.get(k, '(absent)')!r}".replace("'(absent)'",
                                                                                "(absent)")
            for k in sorted(set(a) | set(b)) if a.get(k, "(absent)") != b.get(k, "(absent)")]


#: spec fields that only choose which cells are tabulated, and how: a folder's bench may grow in
#: them (new strategies, seeds or budgets train only their own cells)
GROWABLE = ("strategies", "seeds", "steps", "baseline", "n_boot", "strategy_options",
            "variants")


def merge_specs(stored: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The folder's record after running ``new`` into a folder that holds ``stored``, and what
    makes them incompatible (empty when ``new`` may run there).

    Cells are fixed by the base config, ``threads``, ``cache`` and each strategy's options, so
    those must agree (options only for strategies both name); strategies, seeds and budgets are
    united, so every finished cell stays in the record and is reused by a later, larger bench.

    >>> old = {"base": {"lr": 1}, "strategies": ["mixed", "art"], "seeds": [0], "steps": [6],
    ...        "strategy_options": {"art": {"tau": 3}}}
    >>> merged, diffs = merge_specs(old, {**old, "strategies": ["mixed", "uw"], "seeds": [0, 1],
    ...                                   "strategy_options": {}})
    >>> merged["strategies"], merged["seeds"], merged["strategy_options"], diffs
    (['mixed', 'art', 'uw'], [0, 1], {'art': {'tau': 3}}, [])
    >>> merge_specs(old, {**old, "strategy_options": {"art": {"tau": 1}}})[1]
    ['strategy_options.art.tau: 3 -> 1']
    """
    fixed = [k for k in sorted(set(stored) | set(new)) if k not in GROWABLE]
    diffs = spec_differences({k: stored.get(k) for k in fixed}, {k: new.get(k) for k in fixed})
    old_opts, new_opts = stored.get("strategy_options", {}), new.get("strategy_options", {})
    old_vars, new_vars = stored.get("variants", {}), new.get("variants", {})

    def rows(spec: dict[str, Any]) -> set[str]:
        return set(spec.get("strategies", [])) | set(spec.get("variants", {}))

    for s in sorted(rows(stored) & rows(new)):
        diffs += spec_differences({"strategy_options": {s: old_opts.get(s, {})}},
                                  {"strategy_options": {s: new_opts.get(s, {})}})
        if s in old_vars or s in new_vars:
            diffs += spec_differences({"variants": {s: old_vars.get(s, {})}},
                                      {"variants": {s: new_vars.get(s, {})}})
    merged = dict(new)
    for key in ("strategies", "seeds", "steps"):
        merged[key] = list(stored.get(key, [])) + [x for x in new.get(key, [])
                                                   if x not in stored.get(key, [])]
    merged["strategy_options"] = {**old_opts, **new_opts}
    merged["variants"] = {**old_vars, **new_vars}
    return merged, diffs


def claim_folder(out: str | Path, spec: BenchSpec) -> Path:
    """Create ``out`` for ``spec``, or check that it holds a compatible bench (see
    :func:`merge_specs`) and record the union of both.

    Refuses a folder that holds an incompatible bench (naming what differs) or files of
    anything else.
    """

    out = Path(out)
    record = out / SPEC_FILE
    new = spec.to_dict()
    if record.is_file():
        try:
            stored = json.loads(record.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{record} is not readable JSON ({exc}); not touching {out}") from None
        if stored.get("format") != FORMAT:
            raise ValueError(f"{record} is not an aioir bench record; choose another --out")
        new, diffs = merge_specs(stored.get("spec", {}), new)
        if diffs:
            more = f"; ... ({len(diffs)} in all)" if len(diffs) > 6 else ""
            shown = "; ".join(diffs[:6]) + more
            raise ValueError(
                f"{out} holds a bench with another spec ({shown}). Rerun with the same base "
                "config, threads and strategy options to resume or extend it, or choose "
                "another --out"
            )
    elif out.exists() and (not out.is_dir() or any(p.name != LOCK_NAME for p in out.iterdir())):
        raise ValueError(f"{out} exists and holds no {SPEC_FILE}: refusing to write a bench into "
                         "it; choose a new or empty --out")

    write_text(record, json.dumps({"format": FORMAT, "version": VERSION, "spec": new}, indent=2)
               + "\n", what="bench record")
    return out
