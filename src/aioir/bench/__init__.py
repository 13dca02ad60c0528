"""``aioir bench``: strategies side by side, with seeds, budgets and intervals.

Trains every (strategy, seed, budget) cell of a :class:`~aioir.bench.spec.BenchSpec` on one base
run config -- same data stream, initial weights and test images for every strategy of a seed --
in parallel processes, and writes one table per budget: per-task and average PSNR/SSIM as mean ±
std over seeds, and each strategy's paired difference to the baseline with a 95 % interval
(:mod:`aioir.report.summary`, :mod:`aioir.report.stats`). A finished cell is never trained
again; an interrupted one continues from its checkpoint. See ``docs/bench.md``.

Folder layout (``out``)::

    bench.json                        the spec (a bench may grow; a spec changing a cell is refused)
    runs/steps_N/seed_S/ROW/          one run folder per cell (config, metrics, checkpoints, eval)
    data-cache/steps_N-seed_S[-ROW]/  the training stream of a seed and budget (per variant)
    degraded-input.json               scores of the degraded test images themselves
    results.md / results.csv / results.json
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aioir.bench import runs
from aioir.bench.runner import CellDisplay, CellJob, auto_jobs, available_cores, run_cells
from aioir.bench.spec import BenchSpec, Cell, cell_config, cells, claim_folder, flatten_keys
from aioir.config import from_dict, to_dict
from aioir.config.schema import RunConfig
from aioir.files import write_text
from aioir.progress import working
from aioir.runlock import check_free, run_folder_lock

# Local imports in this package (here, spec.py, runs.py): torch and the modules that load it
# (engine, settings, report, strategies, checkpoint, bench.table). Every spawned worker imports
# aioir.bench.runner -- so this face and the module-level imports of the three -- before it can
# tie its life to the parent's (aioir.workers.die_with_parent). Measured with
# `python -X importtime -c "import aioir.bench.runner"` (2 shared, loaded cores): 0.08-0.09 s
# with them local, 2.3-2.5 s at module level, and then test_worker_lifetime's SIGKILLed bench
# left its workers running past the 5 s grace.

__all__ = ["BenchSpec", "BenchResult", "run_bench", "tabulate"]

INPUT_FILE = "degraded-input.json"
#: below this many samples the stream is synthesised in-process (spawning costs ~3 s a worker)
_PARALLEL_SYNTHESIS_FROM = 2000


@dataclass
class BenchResult:
    """What :func:`run_bench` did: ``status`` is ``finished``, ``interrupted`` or ``failed``."""

    status: str
    out: Path
    trained: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    tables: dict[int, dict[str, Any]] = field(default_factory=dict)
    markdown: str = ""
    #: the signal that interrupted the bench (``status == "interrupted"``)
    signal: int | None = None
    #: per cell trained by this call: what :func:`aioir.bench.runner.run_cells` reported
    #: (``validation``, ``seconds``, ``checkpoint``)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the degraded test images' own evaluation (``degraded-input.json``)
    inputs: dict[str, Any] = field(default_factory=dict)


def _input_scores(out: Path, cfg: Any) -> dict[str, Any]:
    from aioir.report.writers import write_json  # local: torch (see the imports)

    path = out / INPUT_FILE
    if path.is_file():
        return json.loads(path.read_text())
    summary = runs.input_evaluation(cfg)
    write_json(path, summary)
    return summary


def _prepare_streams(spec: BenchSpec, todo: list[Cell], configs: dict[Cell, Any],
                     progress: bool) -> None:
    done: set[str | None] = set()
    for cell in todo:
        cfg = configs[cell]
        if cfg.data.cache in done:  # one stream per seed and budget (and per variant)
            continue
        done.add(cfg.data.cache)
        samples = cfg.train.steps * cfg.data.batch_size
        workers = available_cores() if samples >= _PARALLEL_SYNTHESIS_FROM else 1
        runs.prepare_data(cfg, workers=workers, progress=progress)


def run_bench(
    spec: BenchSpec, out: str | Path, *, jobs: int | None = None, progress: bool = True,
    display: Callable[[list[CellJob]], CellDisplay] | None = None, fail_fast: bool = False,
) -> BenchResult:
    """Train the missing cells of ``spec`` into ``out`` and write the tables.

    ``jobs``: cells trained at once (default: as many as the cores allow at ``spec.threads``
    threads per cell). One process at a time may use a folder: it holds the folder's
    :mod:`aioir.runlock` lock (a second bench on it is refused with a message naming the
    holder; the kernel frees the lock of a killed process).

    What ``aioir demo`` adds to a bench (:mod:`aioir.demo`): ``display``, the progress display
    made from the jobs to train; ``fail_fast``: the first cell that fails stops the others.
    The degraded-input file and each cell's final evaluation hold every group of
    ``val.final_groups`` (the demo's whole photographs); the tables are the first group's.
    """
    spec.validate()
    # everything that can be refused is refused before the folder and bench.json are written
    every = cells(spec)
    configs = [cell_config(spec, c, Path(out).resolve()) for c in every]
    runs.evaluation_sets(configs[0])
    check_free(out)
    with run_folder_lock(out):
        out = claim_folder(out, spec).resolve()
        return _run(spec, out, jobs=jobs, progress=progress, display=display,
                    fail_fast=fail_fast)


def _run(spec: BenchSpec, out: Path, *, jobs: int | None, progress: bool,
         display: Callable[[list[CellJob]], CellDisplay] | None,
         fail_fast: bool) -> BenchResult:
    every = cells(spec)
    configs = {c: cell_config(spec, c, out) for c in every}
    todo = [c for c in every if not runs.is_finished(out / c.run_dir, c.steps)]
    with _torch_threads(spec.threads):  # small convolutions crawl on busy cores with more
        inputs = _input_scores(out, configs[every[0]])
    result = BenchResult(status="finished", out=out, inputs=inputs,
                         reused=[c.name for c in every if c not in todo])
    if todo:
        workers = jobs or auto_jobs(spec.threads, len(todo))
        if workers * spec.threads > available_cores():
            logging.getLogger("aioir").warning(
                "%d jobs x %d threads exceed the %d cores: cells will compete for them",
                workers, spec.threads, available_cores())
        if spec.cache:
            # building each stream (network, data, the cache's workers) takes seconds before
            # the cache's own bar, if any: a running clock says so and stops at that bar
            saying = working("preparing the training data") if progress else nullcontext()
            with _torch_threads(spec.threads), saying:
                _prepare_streams(spec, todo, configs, progress)
        cell_jobs = [CellJob(c.name, to_dict(configs[c]), str(out / c.run_dir), c.steps,
                             runs.completed_steps(out / c.run_dir)) for c in todo]
        report = run_cells(cell_jobs, workers=workers, progress=progress,
                           display=display(cell_jobs) if display else None, fail_fast=fail_fast)
        result.trained = [n for n, s in report.status.items() if s == "finished"]
        result.results = report.results
        result.errors = {n: f"{e} (run folder {out / _cell(every, n).run_dir})"
                         for n, e in report.errors.items()}
        if report.interrupted:
            result.status, result.signal = "interrupted", report.signal
            return result
        if not report.ok:
            result.status = "failed"
            for n, s in report.status.items():
                if s != "finished" and n not in result.errors:
                    result.errors[n] = s
            return result
    result.tables, result.markdown = tabulate(spec, out, inputs)
    return result


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    import torch  # local: see the imports

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _cell(every: list[Cell], name: str) -> Cell:
    return next(c for c in every if c.name == name)


def tabulate(spec: BenchSpec, out: str | Path, inputs: dict[str, Any] | None = None
             ) -> tuple[dict[int, dict[str, Any]], str]:
    """Read every cell's final evaluation and write ``results.{md,csv,json}`` into ``out``."""
    from aioir.bench.table import CSV_HEADERS, csv_rows, method_note  # local: torch (see above)
    from aioir.report.summary import summarise_seeds
    from aioir.report.writers import write_csv, write_json

    out = Path(out)
    if inputs is None:
        inputs = json.loads((out / INPUT_FILE).read_text())
    tasks = list(inputs.get("task_names") or [])
    tables: dict[int, dict[str, Any]] = {}
    for steps in spec.steps:
        evaluations: dict[str, list[dict[str, Any]]] = {}
        for strategy in spec.rows:
            evaluations[strategy] = []
            for seed in spec.seeds:
                cell = Cell(strategy, seed, steps)
                summary = runs.final_evaluation(out / cell.run_dir, steps)
                if summary is None:
                    raise ValueError(
                        f"{out / cell.run_dir} has no final evaluation at step {steps}")
                evaluations[strategy].append(summary)
        tables[steps] = summarise_seeds(evaluations, inputs, tasks=tasks, seeds=spec.seeds,
                                  baseline=spec.baseline, n_boot=spec.n_boot)
    text = _report(spec, tables, inputs.get("protocol_description"))
    write_text(out / "results.md", text, what="bench table")
    write_csv(out / "results.csv", CSV_HEADERS,
              [row for steps, res in tables.items() for row in csv_rows(steps, res)])
    write_json(out / "results.json", {
        "format": "aioir-bench-results",
        "spec": spec.to_dict(),
        "method": method_note(spec.n_boot),
        "tables": {str(k): v for k, v in tables.items()},
        "cells": {c.name: c.run_dir for c in cells(spec)},
    })
    return tables, text


def _setting_tasks(base: dict[str, Any]) -> list[str]:
    """The task names of the base config's setting (``data.tasks`` unset: all of them)."""
    from aioir.settings.assemble import resolve_setting  # local: torch (see the imports)

    return list(resolve_setting(from_dict(RunConfig, base)).task_names)


def _describe(config: dict[str, Any]) -> list[str]:
    """``key: value`` lines of a partial config (lists of stages shortened to their count)."""
    return [f"{key}: {len(value)} entries" if isinstance(value, list) and value
            and isinstance(value[0], dict) else f"{key}: {value}"
            for key, value in (flatten_keys(config) if config else {}).items()]


def _report(spec: BenchSpec, tables: dict[int, dict[str, Any]], protocol: str | None) -> str:
    from aioir.bench.table import markdown, method_note  # local: torch (see the imports)

    base = spec.base
    model = base["model"]
    options = ", ".join(f"{k} {v}" for k, v in model.get("options", {}).items())
    strat = "; ".join(f"{s}: {o}" for s, o in spec.strategy_options.items() if o) or "defaults"
    data = base["data"]
    tasks = data.get("tasks") or _setting_tasks(base)
    lines = [
        f"# aioir bench: {', '.join(spec.rows)}",
        "",
        f"Backbone `{model['name']}`" + (f" ({options})" if options else "")
        + f"; setting `{data['setting']}`, tasks {', '.join(tasks)}; batch "
        f"{data['batch_size']} x {data['patch_size']} px; {base['optim']['name']} lr "
        f"{base['optim']['lr']}, {base['schedule']['name']} schedule; strategy options: {strat}; "
        f"{spec.threads} thread(s) per cell. Every strategy of a seed trains on the same data "
        "stream from the same initial weights and is evaluated on the same test images"
        + (" (variants: see below)." if spec.variants else "."),
    ]
    for label, variant in spec.variants.items():
        changes = "; ".join(_describe(variant["config"])) or "the base config"
        lines.append(f"\nVariant `{label}`: strategy `{variant['strategy']}` on {changes} "
                     "(its own data stream; its stages, if any, scaled to each budget).")
    for steps, res in tables.items():
        per_task = sorted(set(res["images"].values()))
        counts = (f"{per_task[0]} per task" if len(per_task) == 1
                  else ", ".join(f"{t} {n}" for t, n in res["images"].items()))
        lines += [
            "",
            f"## {steps} steps",
            "",
            f"{len(res['seeds'])} seed(s) ({', '.join(map(str, res['seeds']))}); "
            f"{sum(res['images'].values())} test images ({counts}); baseline "
            f"`{res['baseline']}`.",
            "",
            markdown(res),
        ]
    lines += ["", method_note(spec.n_boot)]
    if protocol:
        lines += ["", f"{protocol.rstrip('.')}. Cells: PSNR in dB, SSIM."]
    lines.append("")
    return "\n".join(lines)
