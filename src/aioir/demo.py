"""The main job on the embedded default data: mixed vs TUR vs Art on the seven MiOIR tasks.

Each strategy trains the same small backbone (:data:`DEMO_MODEL`, a degradation-aware U-Net,
see :func:`demo_model_options`) with the same seed, data and budget on crops of the embedded
training photographs, degraded on the fly by the seven MiOIR degradations; each is then
evaluated by its own final evaluation on the held-out embedded photographs, degraded once at
a fixed seed, twice: the 192 px centre crops of the ``embedded`` setting's ``main`` test group,
and its ``whole`` group, the whole photographs restored at full size as ``aioir restore``
restores them (the EMA network, one pass, clipped to [0, 1]; ``val.final_groups``). The demo
is a bench (:func:`demo_spec`: ``aioir bench demo:quick --seeds 1`` trains the same cells):
the runs go in the bench's worker processes (one thread each) with one progress display, the
degraded-input rows are the bench's (``degraded-input.json``, both groups), and the comparison
is :mod:`aioir.report.summary`'s. The result is two tables -- per-task PSNR/SSIM
of the degraded input and of each strategy, and each strategy's gain over mixed -- printed and
written to ``report.md`` beside the bench's own tables (``results.md``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from aioir.bench import INPUT_FILE, run_bench
from aioir.bench.preset import (
    BUDGETS,
    DEMO_MODEL,
    STRATEGIES,
    DemoBudget,
    baseline_of,
    demo_config,
    demo_model_options,
)
from aioir.bench.runner import CellDisplay, CellJob
from aioir.bench.runs import final_evaluation
from aioir.bench.spec import BenchSpec, base_from_source, cells
from aioir.config.schema import MIOIR_TASKS, WHOLE_GROUP, RunConfig
from aioir.errors import UserError
from aioir.files import write_text
from aioir.metrics import get_protocol
from aioir.progress import progress as progress_bar
from aioir.report.build import make_report
from aioir.report.summary import AVERAGE, beats_input, interval_text, paired_differences
from aioir.report.tables import results_table, write_results
from aioir.settings.assemble import build_test_sets, resolve_setting
from aioir.settings.catalog import get_setting
from aioir.workers import Interrupted

__all__ = ["BUDGETS", "DEMO_MODEL", "STRATEGIES", "WHOLE_GROUP", "WHOLE_SEED", "DemoBudget",
           "baseline_of", "demo_config", "demo_model_options", "demo_spec", "run_demo",
           "whole_image_sets"]

#: seed of the whole-photograph test set (the ``embedded`` setting's ``whole`` group;
#: ``key="index"`` generators, as the crops')
WHOLE_SEED: int = next(s.seed for s in get_setting("embedded").test if s.group == WHOLE_GROUP)


def demo_spec(budget_name: str = "default", strategies: tuple[str, ...] = STRATEGIES,
              seed: int = 0) -> BenchSpec:
    """The demo as a bench: the preset ``demo`` / ``demo:quick`` of ``aioir bench`` (the run
    config of :func:`demo_config`, Art's ``tau``), one seed, the budget's steps, one thread a
    cell, one shared training stream; ``aioir demo --quick`` trains exactly the cells of
    ``aioir bench demo:quick --seeds 1``.

    >>> spec = demo_spec("quick")
    >>> spec.strategies, spec.seeds, spec.steps, spec.baseline, spec.strategy_options
    (['mixed', 'tur', 'art'], [0], [150], 'mixed', {'art': {'tau': 3.0}})
    >>> spec.base["val"]["final_groups"], spec.base["val"]["group_max_size"]
    (['main', 'whole'], {'whole': None})
    """
    base, options = base_from_source(f"demo:{budget_name}", (), strategies)
    return BenchSpec(base=base, strategies=list(strategies), seeds=[seed],
                     steps=[BUDGETS[budget_name].steps], baseline=baseline_of(strategies),
                     strategy_options={s: o for s, o in options.items() if o}, threads=1,
                     cache=True)


def run_demo(
    out: str | Path = "aioir-demo",
    *,
    quick: bool = False,
    strategies: tuple[str, ...] = STRATEGIES,
    seed: int = 0,
    jobs: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train and evaluate every strategy; returns the results and writes ``report.md``.

    The arms are the cells of :func:`demo_spec`, trained by :func:`aioir.bench.run_bench` into
    ``out/<budget>`` (a bench folder: ``runs/steps_N/seed_S/STRATEGY``); each run's final
    evaluation measures the crops and the whole photographs (``eval/step_N.json``, the latter
    under ``groups.whole``). One process at a time may use the folder (:mod:`aioir.runlock`);
    an arm that fails stops the others and is named in the :class:`~aioir.errors.UserError`
    raised; SIGTERM, SIGHUP or Ctrl-C stop them all and raise
    :class:`aioir.workers.Interrupted`. A rerun reuses the finished arms and resumes the others
    from their checkpoints."""
    budget_name = "quick" if quick else "default"
    out = Path(out) / budget_name  # a re-run resumes; quick and default never mix
    return _run_demo(out, budget_name, strategies, seed, jobs, progress)


def _run_demo(out: Path, budget_name: str, strategies: tuple[str, ...], seed: int,
              jobs: int | None, progress: bool) -> dict[str, Any]:
    budget = BUDGETS[budget_name]
    spec = demo_spec(budget_name, strategies, seed)
    arms = {c.strategy: c for c in cells(spec)}
    t0 = time.perf_counter()

    def display(cell_jobs: list[CellJob]) -> _DemoDisplay:
        # what each run evaluates at its end: the degraded-input file's images, every group
        inputs = _read_json(out / INPUT_FILE)
        images = len(inputs["records"]) + sum(len(g["records"])
                                              for g in inputs.get("groups", {}).values())
        return _DemoDisplay(sum(j.steps - j.done_steps for j in cell_jobs),
                            len(cell_jobs) * images, [j.name for j in cell_jobs], progress)

    ran = run_bench(spec, out, jobs=jobs or len(strategies), progress=progress,
                    display=display, fail_fast=True)
    out = ran.out
    if ran.status == "interrupted":
        raise Interrupted(ran.signal or 2)
    if ran.status == "failed":
        raise UserError("demo arm(s) failed: " + "; ".join(
            f"{s}: {ran.errors[c.name]}" for s, c in arms.items() if c.name in ran.errors)
            + ". Fix the cause and rerun the same command: finished arms are reused, stopped "
            "ones resume from their checkpoints")
    rows: dict[str, Any] = {"degraded input": ran.inputs}
    whole_rows: dict[str, Any] = {"degraded input": _whole(ran.inputs, out / INPUT_FILE)}
    for s, cell in arms.items():
        path = out / cell.run_dir
        rows[s] = final_evaluation(path, budget.steps)
        whole_rows[s] = _whole(rows[s], path / "eval")
    base_name = baseline_of(strategies)
    table = results_table(rows, list(MIOIR_TASKS), baseline=base_name)
    whole_table = results_table(whole_rows, list(MIOIR_TASKS), baseline=base_name)
    elapsed = time.perf_counter() - t0
    verdict = beats_input(rows, strategies, MIOIR_TASKS)
    whole_verdict = beats_input(whole_rows, strategies, MIOIR_TASKS)
    protocol = get_protocol("mioir").describe()
    crop_iv = vs_baseline(rows, strategies, base_name)
    whole_iv = vs_baseline(whole_rows, strategies, base_name)
    intervals = {s: (crop_iv[s], whole_iv[s]) for s in crop_iv}
    run_dirs = [out / arms[s].run_dir for s in strategies]
    report = _report_text(table, whole_table, protocol, budget, elapsed, run_dirs, strategies,
                          verdict, whole_verdict, intervals, base_name)
    write_text(out / "report.md", report, what="demo report")
    write_results({"rows": rows, "whole_rows": whole_rows, "budget": budget.__dict__,
                   "seconds": elapsed, "verdict": verdict, "whole_verdict": whole_verdict,
                   "vs_mixed": {s: {"crops": c, "whole": w} for s, (c, w) in intervals.items()}},
                  out, stem="demo_results")
    figures = make_report(run_dirs, out / "report", progress=progress,  # grids and plots
                          baseline=base_name, title="aioir demo: " + ", ".join(strategies))
    return {"table": table, "rows": rows, "seconds": elapsed, "out": out, "verdict": verdict,
            "whole_table": whole_table, "whole_rows": whole_rows,
            "whole_verdict": whole_verdict, "protocol": protocol, "report": figures,
            "vs_mixed": intervals, "run_dirs": dict(zip(strategies, run_dirs))}


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _whole(evaluation: dict[str, Any] | None, where: Path) -> dict[str, Any]:
    """The whole-photograph group of an evaluation (a run's final one, or the bench's
    degraded-input file), named in an error when missing (a folder of an older demo)."""
    group = ((evaluation or {}).get("groups") or {}).get(WHOLE_GROUP)
    if group is None:
        raise UserError(f"{where}: no '{WHOLE_GROUP}' group in the final evaluation (a run of "
                        "an older demo?); use another --out or remove that folder")
    return group


class _DemoDisplay(CellDisplay):
    """The demo's display: the runs starting (each process loads PyTorch and the data: a
    minute on a loaded machine); the training steps of every run on one bar, from the first
    step on; then, once every run trains no more (all steps done, or each is evaluating), the
    test images the runs restore (validation crops and whole photographs) on a third. Until
    then the images already evaluated show in the training bar's postfix. Rates count what
    they measure: the step bar starts at the first step and closes before the evaluation's time
    would enter it."""

    def __init__(self, steps_total: int, eval_total: int, names: list[str], shown: bool) -> None:
        self.steps_total, self.eval_total, self.names = steps_total, eval_total, set(names)
        self.shown = shown
        self.steps = self.evals = 0
        self.evaluating: set[str] = set()
        self.starting: Any = progress_bar(total=len(names), desc="demo: starting the runs",
                                          unit="run", disable=not shown)
        self.bar: Any = None
        self.eval_bar: Any = None

    def ready(self) -> None:
        self.starting.update(1)

    # what the runner calls (aioir.bench.runner.CellDisplay)
    def started(self, name: str) -> None:
        self.ready()

    def stepped(self, name: str) -> None:
        self.step(1)

    def ended(self, name: str, status: str) -> None:
        if status == "finished":
            self.done(name)

    def _training_bar(self) -> Any:
        if self.bar is None:
            self.starting.close()
            self.bar = progress_bar(total=self.steps_total, desc="demo", unit="step",
                                    disable=not self.shown)
        return self.bar

    def step(self, n: int) -> None:
        self.steps += n
        self._training_bar().update(n)
        self._switch()

    def evaluated(self, name: str, n: int) -> None:
        self.evals += n
        self.evaluating.add(name)
        if self.eval_bar is not None:
            self.eval_bar.update(n)
        else:
            self._training_bar().set_postfix_str(
                f"evaluated {self.evals}/{self.eval_total} img", refresh=False)
            self._switch()

    def done(self, strategy: str) -> None:
        target = self.eval_bar or self._training_bar()
        target.set_postfix_str(f"{strategy} done")

    def _switch(self) -> None:
        if self.eval_bar is not None:
            return
        if self.steps >= self.steps_total or self.evaluating >= self.names:
            self._training_bar().close()
            self.eval_bar = progress_bar(total=self.eval_total, initial=self.evals,
                                         desc="demo evaluation", unit="img",
                                         disable=not self.shown)

    def close(self) -> None:
        self.starting.close()
        if self.bar is not None:
            self.bar.close()
        if self.eval_bar is not None:
            self.eval_bar.close()


def whole_image_sets(cfg: RunConfig, max_size: int | None = None) -> list[Any]:
    """The held-out embedded photographs degraded whole once per task (the ``embedded``
    setting's ``whole`` group: generators ``default_rng([WHOLE_SEED, task_index, j])``), as
    ``aioir degrade`` makes them; ``max_size``: a side cap (``None``: full size).

    >>> cfg = demo_config("mixed", BUDGETS["quick"])
    >>> sets = whole_image_sets(cfg, 40)
    >>> [ts.column for ts in sets] == MIOIR_TASKS, {ts.group for ts in sets}
    (True, {'whole'})
    """
    sets, _ = build_test_sets(resolve_setting(cfg), cfg.data.root, groups=[WHOLE_GROUP],
                              max_size=max_size)
    return sets


def vs_baseline(rows: dict[str, Any], strategies: tuple[str, ...], baseline: str,
                n_boot: int = 10_000) -> dict[str, Any]:
    """Each strategy's PSNR difference to ``baseline`` on the 7-task average with its 95 %
    interval (:func:`aioir.report.summary.paired_differences` on the one training seed: the
    interval covers the test images only)."""
    if baseline not in rows:
        return {}
    paired = paired_differences({s: {0: rows[s]} for s in (baseline, *strategies)}, baseline,
                                MIOIR_TASKS, n_boot=n_boot)
    return {s: paired[s][AVERAGE] for s in strategies if s != baseline}


def _report_text(table: str, whole_table: str, protocol: str, budget: DemoBudget,
                 seconds: float, run_dirs: list[Path], strategies: tuple[str, ...],
                 verdict: dict[str, Any], whole_verdict: dict[str, Any],
                 intervals: dict[str, tuple[dict[str, Any], dict[str, Any]]],
                 baseline: str) -> str:
    lines = [
        "# aioir demo: mixed vs TUR vs Art on the seven MiOIR degradations",
        "",
        f"Backbone `{DEMO_MODEL}` (width {budget.width}), {budget.steps} steps, batch "
        f"{budget.batch_size} x {budget.patch_size}px patches, Adam lr {budget.lr}, cosine, "
        "same seed and data for every strategy; trained on the embedded training photographs, "
        "evaluated on the held-out embedded photographs degraded at a fixed seed. The training "
        "stream is synthesised once and shared by the runs (same seed, same data).",
        "",
        f"## Test crops (3 held-out photographs x 7 tasks, {budget.val_max_size} px centre "
        "crops)",
        "",
        table,
        "",
        "## Whole photographs (the same 3 photographs "
        + ("at full size" if budget.whole_max_size is None
           else f"cropped to {budget.whole_max_size} px") + ", restored whole)",
        "",
        whole_table,
        "",
        f"{protocol.rstrip('.')}. Cells are PSNR (dB) / SSIM; the gain rows are PSNR "
        f"differences to {baseline}.",
        "",
    ]
    for s, (crop_iv, whole_iv) in intervals.items():
        lines.append(
            f"- {s} - {baseline}: {interval_text(crop_iv)} dB on the crops, "
            f"{interval_text(whole_iv)} dB on the whole photographs (7-task average; 95 % "
            "bootstrap interval over the test images, one training seed: it covers the test "
            "images, not another seed; `aioir bench` adds seeds)")
    if intervals:
        lines.append("")
    for s in strategies:
        v, w = verdict[s], whole_verdict[s]
        lines.append(
            f"- {s}: beats the degraded input on {v['n_tasks_beating_input']}/7 tasks of the "
            f"crops (average {v['average_gain_over_input']:+.2f} dB over the input) and on "
            f"{w['n_tasks_beating_input']}/7 of the whole photographs "
            f"({w['average_gain_over_input']:+.2f} dB)"
        )
    lines += ["", f"Wall time {seconds:.0f} s. Run folders: "
              + ", ".join(str(d) for d in run_dirs) + "."]
    return "\n".join(lines) + "\n"
