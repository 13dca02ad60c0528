"""The main job on the embedded default data: mixed vs TUR vs Art on the seven MiOIR tasks.

Each strategy trains the same small backbone (:data:`DEMO_MODEL`, a degradation-aware U-Net,
see :func:`demo_model_options`) with the same seed, data and budget on crops of the embedded
training photographs, degraded on the fly by the seven MiOIR degradations; each is then
evaluated on the held-out embedded photographs, degraded once at a fixed seed, twice: on the
192 px centre crops its validation uses, and on the whole photographs restored at full size as
``aioir restore`` restores them (the EMA network, clipped to [0, 1]). The demo is a bench
(:func:`demo_spec`: ``aioir bench demo:quick --seeds 1`` trains the same cells): the runs go
in the bench's worker processes (one thread each) with one progress display, and the
comparison is :mod:`aioir.report.summary`'s. The result is two tables -- per-task PSNR/SSIM
of the degraded input and of each strategy, and each strategy's gain over mixed -- printed and
written to ``report.md`` beside the bench's own tables (``results.md``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from aioir.bench.preset import (
    BUDGETS,
    DEMO_MODEL,
    STRATEGIES,
    DemoBudget,
    demo_config,
    demo_model_options,
)
from aioir.bench.runner import CellDisplay
from aioir.bench.spec import BenchSpec
from aioir.config.schema import MIOIR_TASKS, RunConfig
from aioir.report.summary import AVERAGE, beats_input, interval_text, paired_differences

__all__ = ["BUDGETS", "DEMO_MODEL", "STRATEGIES", "WHOLE_SEED", "DemoBudget", "demo_config",
           "demo_model_options", "demo_spec", "run_demo", "whole_image_scores", "whole_image_sets"]

#: seed of the whole-photograph test set (``key="index"`` generators, as the crops')
WHOLE_SEED = 7


def _whole_after(cfg: RunConfig, result: Any, run_dir: Path, on_eval: Any,
                 whole_max_size: int | None = None) -> dict[str, Any]:
    """Run in a demo arm's worker once it finished training (a
    :class:`~aioir.bench.runner.CellJob`'s ``after``): its whole-photograph scores."""
    return whole_image_scores(cfg, result.checkpoint, whole_max_size, progress=on_eval)


def demo_spec(budget_name: str = "default", strategies: tuple[str, ...] = STRATEGIES,
              seed: int = 0) -> BenchSpec:
    """The demo as a bench: the preset ``demo`` / ``demo:quick`` of ``aioir bench`` (the run
    config of :func:`demo_config`, Art's ``tau``), one seed, the budget's steps, one thread a
    cell, one shared training stream; ``aioir demo --quick`` trains exactly the cells of
    ``aioir bench demo:quick --seeds 1``.

    >>> spec = demo_spec("quick")
    >>> spec.strategies, spec.seeds, spec.steps, spec.baseline, spec.strategy_options
    (['mixed', 'tur', 'art'], [0], [150], 'mixed', {'art': {'tau': 3.0}})
    """
    from aioir.bench.spec import base_from_source

    base, options = base_from_source(f"demo:{budget_name}", (), strategies)
    return BenchSpec(base=base, strategies=list(strategies), seeds=[seed],
                     steps=[BUDGETS[budget_name].steps],
                     baseline="mixed" if "mixed" in strategies else strategies[0],
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
    ``out/<budget>`` (a bench folder: ``runs/steps_N/seed_S/STRATEGY``), each evaluated on the
    whole photographs in its worker once trained. One process at a time may use the folder
    (:mod:`aioir.runlock`); an arm that fails stops the others and is named in the
    :class:`~aioir.errors.UserError` raised; SIGTERM, SIGHUP or Ctrl-C stop them all and raise
    :class:`aioir.workers.Interrupted`. A rerun reuses the finished arms and resumes the others
    from their checkpoints."""
    budget_name = "quick" if quick else "default"
    out = Path(out) / budget_name  # a re-run resumes; quick and default never mix
    return _run_demo(out, budget_name, strategies, seed, jobs, progress)


def _run_demo(out: Path, budget_name: str, strategies: tuple[str, ...], seed: int,
              jobs: int | None, progress: bool) -> dict[str, Any]:
    import functools
    import json

    from aioir.bench import INPUT_FILE, run_bench
    from aioir.bench.runs import final_evaluation
    from aioir.bench.spec import cells
    from aioir.errors import UserError
    from aioir.report.tables import results_table, write_results
    from aioir.runlock import check_free
    from aioir.workers import Interrupted

    check_free(out)  # before the whole photos' input row is measured
    budget = BUDGETS[budget_name]
    spec = demo_spec(budget_name, strategies, seed)
    arms = {c.strategy: c for c in cells(spec)}
    t0 = time.perf_counter()
    first = demo_config(strategies[0], budget, seed)
    baseline_whole = whole_image_scores(first, None, budget.whole_max_size, progress=progress)

    def display(cell_jobs: list[Any]) -> _DemoDisplay:
        # what each run evaluates after training (validation crops, whole photographs)
        crops = len(json.loads((out / INPUT_FILE).read_text())["records"])
        return _DemoDisplay(sum(j.steps - j.done_steps for j in cell_jobs),
                            len(cell_jobs) * (crops + len(baseline_whole["records"])),
                            [j.name for j in cell_jobs], progress)

    after = functools.partial(_whole_after, whole_max_size=budget.whole_max_size)
    ran = run_bench(spec, out, jobs=jobs or len(strategies), progress=progress, after=after,
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
    whole_rows: dict[str, Any] = {"degraded input": baseline_whole}
    for s, cell in arms.items():
        run_dir = out / cell.run_dir
        rows[s] = final_evaluation(run_dir, budget.steps)
        if cell.name in ran.results:  # trained now: its worker evaluated the whole photos
            whole_rows[s] = ran.results[cell.name]["after"]
            write_whole_evaluation(run_dir, budget.steps, whole_rows[s], baseline_whole,
                                   budget.whole_max_size)
        else:  # reused: its whole-photograph evaluation is in its folder
            whole_rows[s] = _whole_evaluation(run_dir, budget, first, baseline_whole, progress)
    base_name = "mixed" if "mixed" in rows else None
    table = results_table(rows, list(MIOIR_TASKS), baseline=base_name)
    whole_table = results_table(whole_rows, list(MIOIR_TASKS), baseline=base_name)
    elapsed = time.perf_counter() - t0
    verdict = beats_input(rows, strategies, MIOIR_TASKS)
    whole_verdict = beats_input(whole_rows, strategies, MIOIR_TASKS)
    from aioir.metrics import get_protocol

    protocol = get_protocol("mioir").describe()
    crop_iv, whole_iv = vs_baseline(rows, strategies), vs_baseline(whole_rows, strategies)
    intervals = {s: (crop_iv[s], whole_iv[s]) for s in crop_iv}
    run_dirs = [out / arms[s].run_dir for s in strategies]
    report = _report_text(table, whole_table, protocol, budget, elapsed, run_dirs, strategies,
                          verdict, whole_verdict, intervals)
    from aioir.files import write_text

    write_text(out / "report.md", report, what="demo report")
    write_results({"rows": rows, "whole_rows": whole_rows, "budget": budget.__dict__,
                   "seconds": elapsed, "verdict": verdict, "whole_verdict": whole_verdict,
                   "vs_mixed": {s: {"crops": c, "whole": w} for s, (c, w) in intervals.items()}},
                  out, stem="demo_results")
    from aioir.report.build import make_report  # grids and plots next to the table

    figures = make_report(run_dirs, out / "report", progress=progress,
                          baseline="mixed" if "mixed" in strategies else None,
                          title="aioir demo: " + ", ".join(strategies))
    return {"table": table, "rows": rows, "seconds": elapsed, "out": out, "verdict": verdict,
            "whole_table": whole_table, "whole_rows": whole_rows,
            "whole_verdict": whole_verdict, "protocol": protocol, "report": figures,
            "vs_mixed": intervals, "run_dirs": dict(zip(strategies, run_dirs))}


def _whole_evaluation(run_dir: Path, budget: DemoBudget, cfg: RunConfig,
                      degraded_input: dict[str, Any], progress: bool) -> dict[str, Any]:
    """A reused arm's whole-photograph evaluation: the one in its folder (written when it was
    trained), else measured now (and written)."""
    import json

    path = run_dir / "eval" / f"whole_step_{budget.steps:08d}.json"
    if path.is_file():
        data = json.loads(path.read_text())
        return {k: v for k, v in data.items() if k not in ("degraded_input", "description")}
    from aioir.checkpoint import checkpoint_path

    whole = whole_image_scores(cfg, checkpoint_path(run_dir / "checkpoints", budget.steps),
                               budget.whole_max_size, progress=progress)
    write_whole_evaluation(run_dir, budget.steps, whole, degraded_input, budget.whole_max_size)
    return whole


class _DemoDisplay(CellDisplay):
    """The demo's display: the runs starting (each process loads PyTorch and the data: a
    minute on a loaded machine); the training steps of every run on one bar, from the first
    step on; then, once every run trains no more (all steps done, or each is evaluating), the
    test images the runs restore (validation crops and whole photographs) on a third. Until
    then the images already evaluated show in the training bar's postfix. Rates count what
    they measure: the step bar starts at the first step and closes before the evaluation's time
    would enter it."""

    def __init__(self, steps_total: int, eval_total: int, names: list[str], shown: bool) -> None:
        from aioir.progress import progress as progress_bar

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
            from aioir.progress import progress as progress_bar

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
            from aioir.progress import progress as progress_bar

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


#: what a run's ``eval/whole_step_*.json`` holds, in its ``description``
WHOLE_DESCRIPTION = ("the held-out photographs degraded whole (seed {seed}) and restored at {size} "
                     "as `aioir restore` restores them (EMA weights, one pass, clipped to [0, 1])")


def write_whole_evaluation(run_dir: Path, step: int, whole: dict[str, Any],
                           degraded_input: dict[str, Any], max_size: int | None) -> Path:
    """Write ``run_dir/eval/whole_step_<step>.json``: the whole-photograph evaluation of the
    run's network, with the degraded inputs' evaluation on the same photographs
    (``degraded_input``) and a ``description`` (what :mod:`aioir.report` shows as the
    whole-photograph table)."""
    from aioir.report.writers import write_json

    size = "full size" if max_size is None else f"a side of at most {max_size} px"
    data = {**whole, "degraded_input": degraded_input,
            "description": WHOLE_DESCRIPTION.format(seed=WHOLE_SEED, size=size)}
    return write_json(Path(run_dir) / "eval" / f"whole_step_{step:08d}.json", data)


def whole_image_sets(cfg: RunConfig, max_size: int | None = None) -> list[Any]:
    """The held-out embedded photographs at full size, each degraded whole once per task
    (generators ``default_rng([WHOLE_SEED, task_index, j])``), as ``aioir degrade`` makes them."""
    from aioir.data.sources import EmbeddedPhotos
    from aioir.data.testsets import SyntheticTestSet

    tasks = cfg.data.tasks or list(MIOIR_TASKS)
    return [SyntheticTestSet(EmbeddedPhotos("test"), t, seed=WHOLE_SEED, key="index",
                             task_index=i, max_size=max_size, multiple=1)
            for i, t in enumerate(tasks)]


def whole_image_scores(cfg: RunConfig, checkpoint: str | Path | None,
                       max_size: int | None = None, progress: Any = False) -> dict[str, Any]:
    """PSNR/SSIM on :func:`whole_image_sets` of the network in ``checkpoint`` loaded and run as
    ``aioir restore`` runs it (EMA weights, the whole image at once, output clipped to [0, 1]);
    ``checkpoint=None``: of the degraded images themselves."""
    from aioir.engine.evaluation import evaluate, summary
    from aioir.settings.assemble import resolve_setting, val_protocol

    protocol = val_protocol(cfg, resolve_setting(cfg))
    sets = whole_image_sets(cfg, max_size)
    if checkpoint is None:
        return summary(evaluate(lambda img: img, sets, protocol, progress=progress,
                                desc="degraded whole photographs"))
    from aioir.inference.reader import load_network
    from aioir.models.restore import restore_image

    model, _ = load_network(checkpoint, use_ema=True)
    return summary(evaluate(lambda img: restore_image(model, img), sets, protocol,
                            progress=progress, desc="whole photographs"))


def vs_baseline(rows: dict[str, Any], strategies: tuple[str, ...], baseline: str = "mixed",
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
                 intervals: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> str:
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
        "differences to mixed.",
        "",
    ]
    for s, (crop_iv, whole_iv) in intervals.items():
        lines.append(
            f"- {s} - mixed: {interval_text(crop_iv)} dB on the crops, "
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
