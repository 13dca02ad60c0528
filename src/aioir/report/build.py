"""``make_report``: run folders in, one report folder out (HTML, markdown, CSV, LaTeX, JSON,
and the figures as PNG files).

Works on anything that holds run folders: one ``aioir train`` run, the output of ``aioir demo``
or of ``aioir bench`` (runs that share a configuration apart from the seed become one row, mean
+/- std over seeds). What the report folder holds:

* ``report.html``: the whole report on one page, figures embedded (opens offline);
* ``report.md`` and ``figures/*.png``: the same, as markdown linking the figures;
* ``results.csv`` (one line per method, column and metric: mean, std, n, difference to the
  baseline), ``results.tex`` (the table as a LaTeX ``tabular``), ``report.json`` (every number
  the report shows, figures' numbers included).

The baseline of the difference rows is ``mixed`` when one row trains with it (unless another
is named, or ``"none"``); it leads the table, the other methods follow in the order
:data:`LEAD` then alphabetically by strategy (path order within one strategy). Difference rows
show the paired difference and its 95 % interval (:func:`aioir.report.summary.paired_differences`,
the bench's estimator). Besides the validation table: the whole-photograph table (the test group
``whole`` of the runs' final evaluations, as ``aioir demo`` runs measure it), the no-reference
scores of photo folders (``eval/photos_*.json`` of ``aioir eval --photos``), and each method's
parameters, MACs and CPU latency (:mod:`aioir.report.cost`).

The folder is never one that holds anything else (see :mod:`aioir.report.outdir`).
"""

from __future__ import annotations

import math
import re
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from aioir.config.schema import WHOLE_GROUP
from aioir.metrics import psnr
from aioir.metrics.evaluate import evaluate_pairs
from aioir.progress import progress as progress_bar
from aioir.settings.assemble import resolve_setting, val_protocol, validation_sets

from .cost import COST_SIZE, COST_STEPS, Cost, run_cost
from .curves import per_task_keys, per_task_series, scalar_series, validation_series
from .document import FigureEntry, ReportDocument, RunEntry, TableEntry, html_page, markdown_page
from .figures import (
    SMOOTH,
    histograms_figure,
    image_grid_figure,
    lines_figure,
    matplotlib_missing,
    panels_figure,
    save_png,
    uncertainty_maps_figure,
)
from .images import (
    Restorations,
    has_uncertainty_head,
    one_per_task,
    restore_run,
    uncertainty_maps,
    zoom_window,
)
from .outdir import check_out_dir, publish, staging_dir
from .runs import Run, RunGroup, find_runs, group_runs
from .samples import validation_samples
from .summary import (
    GroupSummary,
    paired_differences,
    psnr_differences,
    summarise_evaluation,
    summarise_group,
    summary_records,
    summary_rows,
)
from .tables import INPUT_ROW, latex_table
from .writers import write_csv, write_json

__all__ = ["ReportResult", "make_report", "default_out", "resolve_baseline", "LEAD",
           "method_order"]

#: strategies that lead the table, in this order (the plain baseline, then the paper's
#: strategies); the others follow alphabetically
LEAD = ("mixed", "tur", "ue", "art")
#: ``baseline`` values: the default (``mixed`` when present) and no baseline
AUTO, NONE = "auto", "none"


@dataclass
class ReportResult:
    """Where the report went and what it holds."""

    out: Path
    document: ReportDocument
    rows: list[GroupSummary]
    groups: list[RunGroup]
    baseline: str | None = None
    files: list[Path] = field(default_factory=list)

    @property
    def html(self) -> Path:
        return self.out / "report.html"

    @property
    def drawn(self) -> list[FigureEntry]:
        return self.document.drawn

    @property
    def skipped(self) -> list[FigureEntry]:
        return self.document.skipped


def default_out(paths: Sequence[str | Path]) -> Path:
    """``<RUN_DIR>/report`` for a single folder; several folders need an explicit ``--out``."""
    if len(paths) != 1:
        raise ValueError("several folders given: choose the report folder with --out DIR")
    return Path(paths[0]) / "report"


def resolve_baseline(
    name: str | None, labels: Sequence[str], strategies: Sequence[str]
) -> str | None:
    """The row label ``name`` refers to: a label, or the strategy of exactly one row.

    >>> resolve_baseline("mixed", ["mixed", "tur, train.steps=9"], ["mixed", "tur"])
    'mixed'
    >>> resolve_baseline("tur", ["mixed", "tur, train.steps=9"], ["mixed", "tur"])
    'tur, train.steps=9'
    """
    if name is None or name in labels:
        return name
    matches = [label for label, s in zip(labels, strategies) if s == name]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(repr(label) for label in labels)
    if matches:
        raise ValueError(f"--baseline {name!r} matches several rows ({', '.join(matches)}): "
                         f"name one of {known}")
    raise ValueError(f"--baseline {name!r} is not a row of this report; rows: {known}")


def method_order(groups: Sequence[RunGroup], baseline: str | None) -> list[RunGroup]:
    """The baseline first, then :data:`LEAD`, then the other strategies alphabetically; groups
    of one strategy keep their (path) order.

    >>> from aioir.report.runs import RunGroup, Run
    >>> def g(label, strategy):
    ...     return RunGroup(label, [Run(path=None, config={"strategy": {"name": strategy}},
    ...                                 records=[])])
    >>> gs = [g("art", "art"), g("gradnorm", "gradnorm"), g("mixed", "mixed"), g("tur", "tur"),
    ...       g("dwa", "dwa")]
    >>> [x.label for x in method_order(gs, "mixed")]
    ['mixed', 'tur', 'art', 'dwa', 'gradnorm']
    >>> [x.label for x in method_order(gs, "art")][:3]
    ['art', 'mixed', 'tur']
    """
    def rank(item: tuple[int, RunGroup]) -> tuple:
        i, g = item
        lead = LEAD.index(g.strategy) if g.strategy in LEAD else len(LEAD)
        return (g.label != baseline, lead, g.strategy if lead == len(LEAD) else "", i)

    return [g for _, g in sorted(enumerate(groups), key=rank)]


def _default_baseline(groups: Sequence[RunGroup]) -> str | None:
    """The row trained with ``mixed``, when exactly one is (else none)."""
    mixed = [g.label for g in groups if g.strategy == "mixed"]
    return mixed[0] if len(mixed) == 1 else None


def _evaluations(groups: Sequence[RunGroup], which: str) -> dict[str, dict[Any, Any]]:
    return {g.label: {r.seed: getattr(r, which) for r in g.runs if getattr(r, which)}
            for g in groups}


def _tasks(groups: Sequence[RunGroup]) -> list[str]:
    tasks: list[str] = []
    for g in groups:
        for r in g.runs:
            tasks += [t for t in r.tasks if t not in tasks]
    return tasks


class _Figures:
    """Draws the figures of a report into ``folder`` (each one independently: a figure that
    cannot be drawn is recorded as skipped with its reason, and the others are still drawn)."""

    def __init__(self, groups: list[RunGroup], tasks: list[str], folder: Path,
                 samples: list | None, samples_note: str, protocol: Any,
                 input_row: GroupSummary | None = None, progress: bool = False) -> None:
        self.progress = progress
        self.groups = groups
        self.input_row = input_row
        self.tasks = tasks
        self.folder = folder
        self.samples = samples
        self.samples_note = samples_note
        self.protocol = protocol
        self._restorations: Any = None
        self._uncertainty: dict[str, tuple[list[np.ndarray], list[np.ndarray], int]] | None = None

    # ------------------------------------------------------------------ helpers
    @contextmanager
    def _bar(self, total: int, desc: str) -> Iterator[Any]:
        """A progress display for one slow step inside a figure (shown when ``progress``)."""
        bar = progress_bar(total=total, desc=desc, unit="img", disable=not self.progress)
        try:
            yield bar
        finally:
            bar.close()

    def _save(self, fig: Any, entry: FigureEntry) -> FigureEntry:
        entry.file = f"figures/{entry.id}.png"
        save_png(fig, self.folder / f"{entry.id}.png")
        return entry

    def _per_task_panels(self, key: str, names: Sequence[str] | None = None
                         ) -> dict[str, dict[str, list]]:
        """``{method: {name: [series per run]}}`` of ``record[key][name]`` (names: the tasks)."""
        names = list(self.tasks if names is None else names)
        panels: dict[str, dict[str, list]] = {}
        for g in self.groups:
            lines: dict[str, list] = {}
            for run in g.runs:
                for task, series in per_task_series(run.records, key, names).items():
                    lines.setdefault(task, []).append(series)
            if lines:
                panels[g.label] = {t: lines[t] for t in names if t in lines}
        return panels

    def _seeds_text(self) -> str:
        many = any(len(g.runs) > 1 for g in self.groups)
        return " Lines are means over seeds, shaded +/- one std." if many else ""

    # ------------------------------------------------------------------ figures
    def per_task_curve(self, key: str, title: str, ylabel: str, caption: str,
                       log_y: bool = False) -> FigureEntry:
        entry = FigureEntry(f"train_{key}", title, caption)
        panels = self._per_task_panels(key)
        if not panels:
            entry.skipped = f"no metrics.jsonl record holds {key!r}"
            return entry
        if log_y and not any(v > 0 for lines in panels.values() for runs in lines.values()
                             for series in runs for v in series.values):
            entry.skipped = (f"every logged {key!r} is 0: the runs trained without "
                             "reconstruction (e.g. generative pre-training; see the auxiliary "
                             "losses)")
            return entry
        values = {v for lines in panels.values() for runs in lines.values()
                  for series in runs for v in series.values}
        if len(values) == 1:
            entry.skipped = (f"every logged {key!r} is {values.pop():g}: a constant line "
                             "says nothing")
            return entry
        entry.caption += (f" Faint: the logged values; solid: their trailing mean over "
                          f"{SMOOTH} logged points.{self._seeds_text()}")
        return self._save(panels_figure(panels, ylabel=ylabel, smooth=SMOOTH, log_y=log_y,
                                        sharey=False), entry)

    def aux_losses(self) -> FigureEntry:
        """The backbone's auxiliary losses (``record["aux"]``), unweighted, one panel per
        method."""
        entry = FigureEntry(
            "train_aux", "Auxiliary losses",
            "The backbone's auxiliary losses as logged (before their weights): e.g. the diffusion "
            "paradigm's generative loss gen and GEF's reg and orthog, AirNet's contrastive term.")
        names: list[str] = []
        for g in self.groups:
            for run in g.runs:
                for record in run.records:
                    aux = record.get("aux")
                    if isinstance(aux, Mapping):
                        names += [k for k in aux if k not in names]
        panels = self._per_task_panels("aux", names)
        if not panels:
            entry.skipped = "no metrics.jsonl record holds auxiliary losses ('aux')"
            return entry
        entry.caption += (f" Faint: the logged values; solid: their trailing mean over "
                          f"{SMOOTH} logged points.{self._seeds_text()}")
        return self._save(panels_figure(panels, ylabel="loss", smooth=SMOOTH, sharey=False),
                          entry)

    def learning_rate(self) -> FigureEntry:
        entry = FigureEntry("learning_rate", "Learning rate",
                            "The learning rate of every logged step (log scale).")
        lines = {g.label: [scalar_series(r.records, "lr") for r in g.runs] for g in self.groups}
        lines = {k: v for k, v in lines.items() if any(v)}
        if not lines:
            entry.skipped = "no metrics.jsonl record holds 'lr'"
            return entry
        return self._save(lines_figure(lines, ylabel="learning rate", log_y=True), entry)

    def validation(self) -> FigureEntry:
        entry = FigureEntry(
            "validation_psnr", "Validation PSNR over training",
            "PSNR (dB) on the validation images at each validation during training, on "
            "average over tasks and per task." + self._seeds_text())
        panels: dict[str, dict[str, list]] = {}
        points = 0
        for g in self.groups:
            for run in g.runs:
                series = validation_series(run.records, self.tasks)
                points = max(points, max((len(s.steps) for s in series.values()), default=0))
                for col, s in series.items():
                    panels.setdefault(col, {}).setdefault(g.label, []).append(s)
        if not panels:
            entry.skipped = "no validation records (val/val_avg) in metrics.jsonl"
            return entry
        if points == 1:
            entry.skipped = ("each run validated once, at the end of training (val.every: 0): "
                             "its scores are the results table; set val.every to follow "
                             "validation during training")
            return entry
        order = ["Average", *[t for t in self.tasks if t in panels]]
        panels = {c: panels[c] for c in order if c in panels}
        references = {}
        if self.input_row is not None:
            entry.caption += f" Dashed: the {INPUT_ROW} (PSNR of the images before restoration)."
            references = {c: (INPUT_ROW, self.input_row.mean(c)) for c in panels
                          if not math.isnan(self.input_row.mean(c))}
        steps = [n for g in self.groups for r in g.runs
                 if isinstance(n := (r.config.get("train") or {}).get("steps"), (int, float))]
        return self._save(panels_figure(panels, ylabel="PSNR (dB)", markers=True, sharey=False,
                                        references=references, xmax=max(steps, default=None)),
                          entry)

    def _need_samples(self, entry: FigureEntry) -> bool:
        if self.samples is None:
            entry.skipped = self.samples_note
            return False
        return True

    def restorations(self):
        if self._restorations is None:
            picks = one_per_task(self.samples or [], self.tasks)
            res = Restorations(picks)
            options = self.protocol.metric_options()
            res.input_psnr = [psnr(lq, gt, **options) for lq, gt, _, _ in picks]
            for g in self.groups:
                with self._bar(len(picks), f"report: restoring ({g.label})") as bar:
                    outs = restore_run(g.first, picks, on_image=lambda: bar.update(1))
                res.outputs[g.label] = outs
                res.psnr[g.label] = [psnr(o, s[1], **options) for o, s in zip(outs, picks)]
            res.windows = [zoom_window(gt) for _, gt, _, _ in picks]
            self._restorations = res
        return self._restorations

    def _grid_table(self, res) -> tuple[list[str], list[list[str]]]:
        labels = list(res.outputs)
        headers = ["task", "image", INPUT_ROW, *labels]
        rows = []
        for i, (_, _, task, name) in enumerate(res.samples):
            rows.append([task, name, f"{res.input_psnr[i]:.2f}",
                         *(f"{res.psnr[label][i]:.2f}" for label in labels)])
        return headers, rows

    def restoration_grid(self) -> FigureEntry:
        entry = FigureEntry("restorations", "Restorations", "")
        if not self._need_samples(entry):
            return entry
        res = self.restorations()
        labels = list(res.outputs)
        seeds = " (lowest seed of each method)" if any(len(g.runs) > 1 for g in self.groups) else ""
        entry.caption = (
            "One validation image per task (the validation images taken in turn): the "
            f"degraded input, its restoration by each method{seeds}, and the ground truth. "
            "Under each image: its PSNR (dB) against the ground truth under protocol "
            f"'{self.protocol.name}' (the table below). The square "
            "marks the crop zoomed in the next figure.")
        rows = [[lq, *(res.outputs[lb][i] for lb in labels), gt]
                for i, (lq, gt, _, _) in enumerate(res.samples)]
        captions = [[f"{res.input_psnr[i]:.2f} dB", *(f"{res.psnr[lb][i]:.2f} dB" for lb in labels),
                     name] for i, (_, _, _, name) in enumerate(res.samples)]
        fig = image_grid_figure(rows, column_titles=[INPUT_ROW, *labels, "ground truth"],
                                row_titles=[s[2] for s in res.samples], captions=captions,
                                boxes=res.windows)
        entry.table = self._grid_table(res)
        entry.data = res.to_dict()
        return self._save(fig, entry)

    def crops(self) -> FigureEntry:
        entry = FigureEntry("restoration_crops", "Restorations, zoomed", "")
        if not self._need_samples(entry):
            return entry
        res = self.restorations()
        labels = list(res.outputs)
        rows = []
        for i, (lq, gt, _, _) in enumerate(res.samples):
            top, left, size = res.windows[i]
            crop = (slice(top, top + size), slice(left, left + size))
            rows.append([lq[crop], *(res.outputs[lb][i][crop] for lb in labels), gt[crop]])
        size = res.windows[0][2] if res.windows else 0
        entry.caption = (
            f"The {size} x {size} px square marked in the previous figure (the window with the "
            "most detail in the ground truth), enlarged without interpolation.")
        fig = image_grid_figure(rows, column_titles=[INPUT_ROW, *labels, "ground truth"],
                                row_titles=[s[2] for s in res.samples])
        entry.data = {"windows": [list(w) for w in res.windows]}
        return self._save(fig, entry)

    def _uncertainty_maps(self) -> dict[str, tuple[list[np.ndarray], list[np.ndarray], int]]:
        if self._uncertainty is None:
            self._uncertainty = {}
            for g in self.groups:
                if has_uncertainty_head(g.first):
                    samples = self.samples or []
                    with self._bar(len(samples), f"report: uncertainty maps ({g.label})") as bar:
                        self._uncertainty[g.label] = uncertainty_maps(
                            g.first, samples, on_image=lambda: bar.update(1))
        return self._uncertainty

    @staticmethod
    def _inner(img: np.ndarray, border: int) -> np.ndarray:
        """``img`` without ``border`` pixels at each side (kept whole if that leaves nothing)."""
        h, w = img.shape[:2]
        if border <= 0 or min(h, w) <= 2 * border:
            return img
        return img[border:h - border, border:w - border]

    def _border_text(self) -> str:
        borders = sorted({b for _, _, b in self._uncertainty_maps().values()})
        if not borders or borders == [0]:
            return ""
        return (f" The outer {'/'.join(map(str, borders))} px of every image are left out: "
                "there the head's 3 x 3 convolutions read their zero padding, not the image, "
                "and predict several times the interior's uncertainty (an artefact of the "
                "padding).")

    def _no_uncertainty(self, entry: FigureEntry) -> bool:
        if not self._need_samples(entry):
            return True
        if not self._uncertainty_maps():
            entry.skipped = ("no run's strategy has an uncertainty head (TUR or UE); "
                             "strategies here: "
                             + ", ".join(sorted({g.strategy for g in self.groups})))
            return True
        return False

    def uncertainty_figure(self) -> FigureEntry:
        entry = FigureEntry(
            "uncertainty_maps", "Uncertainty maps",
            "For one validation image per task (the images of the restoration grid): the "
            "degraded input, the per-pixel uncertainty "
            "that the run's uncertainty head predicts from the backbone's tapped feature (mean "
            "over its 3 channels; live weights of the last checkpoint, which the head was "
            "trained with), and that network's absolute error |restored - ground truth| (mean "
            "over channels). One colour scale per run for maps, one for errors (1st-99th "
            "percentile).")
        if self._no_uncertainty(entry):
            return entry
        samples = self.samples or []

        picked = {id(s) for s in one_per_task(samples, self.tasks)}
        by_task = {s[2]: i for i, s in enumerate(samples) if id(s) in picked}
        order = [by_task[t] for t in self.tasks if t in by_task]
        maps, errors = {}, {}
        border = max(b for _, _, b in self._uncertainty_maps().values())
        for label, (m, preds, _) in self._uncertainty_maps().items():
            maps[label] = [self._inner(m[i], border) for i in order]
            errors[label] = [self._inner(np.abs(np.clip(preds[i], 0, 1) - samples[i][1])
                                         .mean(axis=2), border) for i in order]
        entry.caption += self._border_text()
        fig = uncertainty_maps_figure([self._inner(samples[i][0], border) for i in order], maps,
                                      errors, [samples[i][2] for i in order])
        return self._save(fig, entry)

    def uncertainty_histograms(self) -> FigureEntry:
        entry = FigureEntry(
            "uncertainty_histograms", "Uncertainty per task",
            "Distribution of the per-pixel uncertainty (mean over the head's channels) over "
            "all validation images of each task, per run; the legend gives each task's mean.")
        if self._no_uncertainty(entry):
            return entry
        entry.caption += self._border_text()
        samples = self.samples or []
        values: dict[str, dict[str, np.ndarray]] = {}
        rows = []
        for label, (maps, _, border) in self._uncertainty_maps().items():
            per_task = {t: np.concatenate([self._inner(m, border).ravel()
                                           for m, s in zip(maps, samples) if s[2] == t])
                        for t in self.tasks if any(s[2] == t for s in samples)}
            values[label] = per_task
            for t, v in per_task.items():
                rows.append([label, t, str(v.size), f"{np.mean(v):.4g}", f"{np.median(v):.4g}"])
        entry.table = (["method", "task", "pixels", "mean", "median"], rows)
        entry.data = {label: {t: {"pixels": int(v.size), "mean": float(np.mean(v)),
                                  "median": float(np.median(v))} for t, v in per_task.items()}
                      for label, per_task in values.items()}
        return self._save(histograms_figure(values, xlabel="uncertainty"), entry)

    def all(self, progress: bool = False) -> list[FigureEntry]:
        """Every figure, drawn or skipped with its reason."""
        extras = sorted({k for g in self.groups for r in g.runs
                         for k in per_task_keys(r.records, self.tasks)}
                        - {"task_loss", "task_weight"})
        has_aux = any(isinstance(rec.get("aux"), Mapping) and rec["aux"]
                      for g in self.groups for r in g.runs for rec in r.records)
        makers: list[tuple[str, Callable[[], FigureEntry]]] = [
            ("Training loss per task", lambda: self.per_task_curve(
                "task_loss", "Training loss per task", "loss",
                "Each task's reconstruction loss (L1) in the training batches, per method.",
                log_y=True)),
            ("Task weights", lambda: self.per_task_curve(
                "task_weight", "Task weights over training", "weight",
                "The weight each method's strategy gave each task's loss, per logged step "
                "(what the strategy reports as task_weight).")),
            *((f"{k} per task", (lambda k=k: self.per_task_curve(
                k, f"{k} per task over training", k,
                f"The per-task '{k}' the strategy logged at each step."))) for k in extras),
            *((("Auxiliary losses", self.aux_losses),) if has_aux else ()),
            ("Learning rate", self.learning_rate),
            ("Validation PSNR", self.validation),
            ("Restorations", self.restoration_grid),
            ("Restorations, zoomed", self.crops),
            ("Uncertainty maps", self.uncertainty_figure),
            ("Uncertainty per task", self.uncertainty_histograms),
        ]
        entries = []
        for title, make in progress_bar(makers, desc="report figures", unit="figure",
                                        disable=not progress):
            try:
                entries.append(make())
            except (FileNotFoundError, ValueError, RuntimeError, KeyError) as exc:
                slug = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")
                entries.append(FigureEntry(slug, title, skipped=f"{type(exc).__name__}: {exc}"))
        return entries


def _validation(groups: list[RunGroup], tasks: list[str], progress: bool = False
                ) -> tuple[list | None, str, Any, bool]:
    """The validation samples shown in image figures, why there are none, the protocol of
    per-image scores, and whether every run validates on exactly these images."""
    first = groups[0].first
    try:
        cfg = first.run_config
        protocol = val_protocol(cfg, resolve_setting(cfg))
        samples = validation_samples(cfg, list(tasks), progress)
    except (ValueError, OSError) as exc:  # a config of another version, images moved away...
        return None, f"cannot rebuild the validation images of {first.path}: {exc}", None, False
    keys = {repr(((r.config.get("val") or {}) | {"every": None, "use_ema": None},
                  r.tasks, (r.config.get("data") or {}).get("setting")))
            for g in groups for r in g.runs}
    if samples is None:
        return None, (f"{first.path / 'config.yaml'} has no validation images (val.enabled: "
                      f"{cfg.val.enabled}, data.setting: {cfg.data.setting}, data.root: "
                      f"{cfg.data.root})"), protocol, False
    return samples, "", protocol, len(keys) == 1


def _costs(groups: list[RunGroup], progress: bool) -> dict[str, Cost | str]:
    """Each method's :class:`~aioir.report.cost.Cost` (its first run's network), or the reason
    it could not be measured (a string)."""
    out: dict[str, Cost | str] = {}
    steps = COST_STEPS
    bar = progress_bar(total=len(groups) * steps, desc="report: network cost", unit="step",
                       disable=not progress)
    try:
        for g in groups:
            done = bar.n
            if g.first.checkpoint is None:
                out[g.label] = "no checkpoint"
            else:
                try:
                    out[g.label] = run_cost(g.first, on_step=lambda: bar.update(1))
                except (OSError, ValueError, RuntimeError, KeyError) as exc:
                    out[g.label] = f"{type(exc).__name__}: {exc}"
            bar.update(done + steps - bar.n)
    finally:
        bar.close()
    return out


def _with_cost(headers: list[str], body: list[list[str]], costs: Mapping[str, Cost | str],
               labels: list[str]) -> tuple[list[str], list[list[str]]]:
    """The table with parameters, MACs and latency columns (methods' rows only)."""
    size = f"{COST_SIZE}x{COST_SIZE}"
    headers = [*headers, "params", f"MACs @{size}", f"ms @{size}"]
    out = []
    for row in body:
        c = costs.get(row[0]) if row[0] in labels else None
        out.append([*row, *(c.cells() if isinstance(c, Cost) else ["-", "-", "-"])])
    return headers, out


#: what the whole-photograph table measures
WHOLE_NOTE = ("Whole photographs: the test group `whole` of each run's final evaluation (the "
              "`embedded` setting's held-out photographs degraded whole at seed 7), restored "
              "at full size (or the run's val.group_max_size) as `aioir restore` restores them: "
              "EMA weights, one pass, clipped to [0, 1].")


def _whole_input(run: Run) -> dict[str, Any] | None:
    """The degraded whole photographs' own evaluation (the input row), rebuilt from ``run``'s
    config as its final evaluation measured them; None when they cannot be rebuilt."""
    try:
        cfg = run.run_config
        setting = resolve_setting(cfg)
        sets, _ = validation_sets(cfg, setting, groups=[WHOLE_GROUP])
        protocol = val_protocol(cfg, setting)
    except (ValueError, OSError):  # a config of another version, images moved away...
        return None
    if not sets:
        return None
    return evaluate_pairs(lambda img: img, chain.from_iterable(sets), protocol,
                          [ts.column for ts in sets], progress=False).to_dict()


def _whole_table(groups: list[RunGroup], tasks: list[str],
                 baseline: str | None) -> TableEntry | None:
    """The whole-photograph table (the ``whole`` test group of the runs' final evaluations,
    ``val.final_groups``; ``aioir demo`` runs measure it): the degraded input, each method,
    the paired differences to the baseline."""
    with_whole = [g for g in groups if any(r.whole for r in g.runs)]
    if not with_whole:
        return None
    first_run = next(r for g in with_whole for r in g.runs if r.whole)
    first = first_run.whole or {}
    rows: list[GroupSummary] = []
    degraded = _whole_input(first_run)
    if degraded is not None:
        rows.append(summarise_evaluation(INPUT_ROW, degraded, tasks))
    rows += [summarise_group(g, tasks, which="whole") for g in with_whole]
    base = baseline if baseline in {g.label for g in with_whole} else None
    intervals = (paired_differences(_evaluations(with_whole, "whole"), base, tasks)
                 if base else {})
    headers, body = summary_rows(rows, tasks, base, no_difference=[INPUT_ROW],
                                 intervals=intervals)
    notes = [WHOLE_NOTE]
    if first.get("protocol_description"):
        notes.append(str(first["protocol_description"]))
    if base:
        notes.append(_difference_note(base, bool(intervals)))
    return TableEntry("whole", "Whole photographs", headers, body, notes,
                      data={"paired_differences": intervals})


def _photos_table(groups: list[RunGroup]) -> TableEntry | None:
    """No-reference scores (NIQE, BRISQUE) of photo folders without ground truth
    (``eval/photos_<name>.json`` of ``aioir eval --photos``): the photos as given, and each
    method's restorations of them."""
    names = sorted({n for g in groups for r in g.runs for n in r.photos})
    if not names:
        return None
    metrics: list[str] = []
    for g in groups:
        for r in g.runs:
            for data in r.photos.values():
                metrics += [m for m in data.get("metrics", []) if m not in metrics]
    columns = [(n, m) for n in names for m in metrics]
    headers = ["method", "images", *(f"{n}: {m.upper()}" for n, m in columns)]
    first = {n: next(r.photos[n] for g in groups for r in g.runs if n in r.photos)
             for n in names}

    def cell(data: Mapping[str, Any] | None, which: str, m: str) -> str:
        value = ((data or {}).get("mean") or {}).get(which, {}).get(m)
        return "-" if value is None else f"{float(value):.3f}"

    counts = ", ".join(str(len(first[n].get("records") or [])) for n in names)
    body = [["photos as given", counts, *(cell(first[n], "input", m) for n, m in columns)]]
    for g in groups:
        run = next((r for r in g.runs if r.photos), None)
        if run is None:
            continue
        body.append([g.label, counts,
                     *(cell(run.photos.get(n), "output", m) for n, m in columns)])
    notes = ["No-reference scores (lower is better for both NIQE and BRISQUE) of photographs "
             "without ground truth, as given and restored by each method (its first run): "
             + "; ".join(f"{n}: {first[n].get('folder', '?')}" for n in names)
             + ". NIQE as BasicSR computes it; see docs/metrics.md."]
    return TableEntry("photos", "Photographs without ground truth", headers, body, notes,
                      data={n: {"input": first[n].get("mean", {}).get("input")} for n in names})


def _difference_note(baseline: str, paired: bool) -> str:
    if not paired:
        return f"Rows 'vs {baseline}': difference of the PSNR means to {baseline}, in dB."
    return (f"Rows 'vs {baseline}': PSNR difference to {baseline} in dB, paired over (seed, "
            "test image) on the seeds and images both have, with its 95 % interval (crossed "
            "percentile bootstrap over seeds and, per task, test images: the estimator of "
            "aioir bench, aioir.report.stats; `*`: the interval excludes 0). With one seed the "
            "interval covers the test images only, not another training run.")


def _notes(rows: list[GroupSummary], groups: list[RunGroup], baseline: str | None,
           has_input: bool, intervals: Mapping[str, Any] | None = None,
           costs: Mapping[str, Any] | None = None) -> list[str]:
    notes = []
    protocols = sorted({p for r in rows for p in r.protocols})
    if len(protocols) == 1:
        notes.append(f"Evaluated on each run's validation images. {protocols[0]}")
    elif protocols:
        notes.append("Warning: the runs were evaluated under different protocols, so their "
                     "numbers do not compare: " + " / ".join(protocols))
    text = ("Cells: PSNR (dB) / SSIM of each run's last evaluation (eval/step_*.json, else "
            "the eval/eval_step_*.json of aioir eval)")
    if any(len(g.runs) > 1 for g in groups):
        text += (", mean ± sample standard deviation (ddof=1) over the seeds of runs that share "
                 "a configuration apart from the seed")
    text += "; Average: the mean over tasks."
    notes.append(text)
    if baseline:
        notes.append(_difference_note(baseline, bool(intervals)))
    if costs:
        notes.append(
            f"params, MACs, ms: the deployed network of each method (the lowest seed's last "
            f"checkpoint; a training-only head such as TUR's is not in it), on one "
            f"{COST_SIZE} x {COST_SIZE} RGB image: parameters, multiply-accumulates counted by "
            "torch.utils.flop_counter (convolutions and matrix products), and the median CPU "
            "time of 5 forward passes measured when this report was made ("
            + ", ".join(f"{c.threads} thread(s)" for c in list(costs.values())[:1]
                        if hasattr(c, "threads")) + "); latency depends on the machine.")
        for label, c in costs.items():
            if not hasattr(c, "cells"):
                notes.append(f"{label}: cost not measured ({c}).")
    if has_input:
        notes.append(f"{INPUT_ROW}: the validation images before restoration, under the same "
                     "protocol.")
    for g in groups:
        for r in g.runs:
            if not r.evaluation:
                notes.append(f"{r.path} has no evaluation (eval/step_*.json or "
                             "eval/eval_step_*.json): left out of the table.")
            else:
                steps = (r.config.get("train") or {}).get("steps")
                if steps is not None and r.eval_step != steps:
                    notes.append(f"{r.path}: evaluated at step {r.eval_step} of {steps}.")
    return notes


def make_report(
    paths: Sequence[str | Path],
    out: str | Path | None = None,
    *,
    baseline: str | None = AUTO,
    title: str | None = None,
    progress: bool = False,
    figures: bool = True,
    cost: bool = True,
) -> ReportResult:
    """Make the report of the run folders at or under ``paths`` into ``out``.

    ``out`` (default ``<RUN_DIR>/report`` for a single folder) must not exist, be empty or hold
    an earlier report (replaced whole). ``baseline``: a row label or the strategy of one row;
    ``"auto"`` (default): the ``mixed`` row when there is exactly one; ``None``/``"none"``: no
    difference rows. ``figures=False`` writes the tables only; ``cost=False`` leaves out the
    parameters / MACs / latency columns. Without matplotlib the figures are listed as
    skipped, with the reason, and the tables are still written.

    >>> import json, tempfile, pathlib
    >>> run = pathlib.Path(tempfile.mkdtemp()) / "run"; (run / "eval").mkdir(parents=True)
    >>> _ = (run / "config.yaml").write_text("strategy: {name: mixed}\\nval: {source: none}\\n")
    >>> _ = (run / "metrics.jsonl").write_text('{"step": 1, "lr": 0.001}\\n')
    >>> score = {"psnr": 30.0, "ssim": 0.9}
    >>> _ = (run / "eval" / "step_00000001.json").write_text(json.dumps(
    ...     {"task_names": ["rain"], "per_task": {"rain": score}, "average": score}))
    >>> result = make_report([run], figures=False)
    >>> lines = (result.out / "report.md").read_text().splitlines()
    >>> print(lines[4:7])  # doctest: +NORMALIZE_WHITESPACE
    ['| method | seeds |           rain |        Average | params | MACs @256x256 | ms @256x256 |',
     '|:-------|------:|---------------:|---------------:|-------:|--------------:|------------:|',
     '| mixed  |     1 | 30.00 / 0.9000 | 30.00 / 0.9000 |      - |             - |           - |']
    """
    paths = list(paths)
    if not paths:
        raise ValueError("give at least one run folder")
    out = Path(out) if out is not None else default_out(paths)
    check_out_dir(out)

    def say(text: str) -> None:
        if progress:
            print(f"report: {text}", file=sys.stderr, flush=True)

    say("reading the run folders")
    groups = group_runs(find_runs(paths))
    tasks = _tasks(groups)
    if baseline == AUTO:
        baseline = _default_baseline(groups)
    elif baseline == NONE:
        baseline = None
    baseline = resolve_baseline(baseline, [g.label for g in groups],
                                [g.strategy for g in groups])
    groups = method_order(groups, baseline)

    # loading PyTorch and the networks before the first image: a clock until its display opens
    from contextlib import nullcontext

    from aioir.progress import working

    rebuilding = working(f"report: {sum(len(g.runs) for g in groups)} run folder(s), "
                         f"{len(groups)} method(s); rebuilding the validation images",
                         file=sys.stderr) if progress else nullcontext()
    with rebuilding:
        samples, samples_note, protocol, same_val = _validation(groups, tasks, progress)
    rows: list[GroupSummary] = []
    if samples is not None and same_val:
        identity = evaluate_pairs(lambda img: img, samples, protocol, tasks, progress=progress)
        rows.append(summarise_evaluation(INPUT_ROW, identity.to_dict(), tasks))
    rows += [summarise_group(g, tasks) for g in groups]
    if baseline == INPUT_ROW and not rows[0].label == INPUT_ROW:
        raise ValueError(f"--baseline {INPUT_ROW!r}: this report has no degraded-input row")
    intervals = (paired_differences(_evaluations(groups, "evaluation"), baseline, tasks)
                 if baseline and baseline != INPUT_ROW else {})
    headers, body = summary_rows(rows, tasks, baseline, no_difference=[INPUT_ROW],
                                 intervals=intervals)
    costs = _costs(groups, progress) if cost else {}
    headers, body = _with_cost(headers, body, costs, [g.label for g in groups])
    tables = [t for t in (_whole_table(groups, tasks, baseline),
                          _photos_table(groups)) if t is not None]

    staged = staging_dir(out)
    try:
        entries: list[FigureEntry]
        if not figures:
            entries = []
        else:
            missing = matplotlib_missing()
            if missing:
                entries = [FigureEntry("figures", "All figures", skipped=missing)]
            else:
                input_row = rows[0] if rows[0].label == INPUT_ROW else None
                entries = _Figures(groups, tasks, staged / "figures", samples, samples_note,
                                   protocol, input_row, progress).all(progress)
        doc = ReportDocument(
            title=title or "aioir report: " + ", ".join(g.label for g in groups),
            headers=headers, rows=body,
            notes=_notes(rows, groups, baseline, rows[0].label == INPUT_ROW, intervals, costs),
            tables=tables,
            runs=[RunEntry(g.label, g.strategy, ", ".join(str(s) for s in g.seeds),
                           ", ".join(str(r.eval_step) for r in g.runs),
                           [str(r.path) for r in g.runs]) for g in groups],
            figures=entries, root=staged,
        )
        (staged / "report.html").write_text(html_page(doc), encoding="utf-8")
        (staged / "report.md").write_text(markdown_page(doc), encoding="utf-8")
        write_csv(staged / "results.csv", *summary_records(rows, tasks, baseline))
        notes_tex = "".join(f"% {n}\n" for n in doc.notes)
        (staged / "results.tex").write_text(notes_tex + latex_table(headers, body) + "\n",
                                            encoding="utf-8")
        write_json(staged / "report.json", _json(doc, rows, tasks, baseline, groups, intervals,
                                                 costs))
        files = sorted(p.relative_to(staged) for p in staged.rglob("*") if p.is_file())
        publish(staged, out)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return ReportResult(out, doc, rows, groups, baseline, [out / f for f in files])


def _stat(stat) -> dict[str, Any]:
    return {"mean": stat.mean, "std": None if math.isnan(stat.std) else stat.std, "n": stat.n}


def _json(doc: ReportDocument, rows: list[GroupSummary], tasks: list[str],
          baseline: str | None, groups: list[RunGroup], intervals: dict[str, Any],
          costs: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": doc.title,
        "tasks": tasks,
        "baseline": baseline,
        "notes": doc.notes,
        "rows": [{"label": r.label, "seeds": r.seeds, "steps": r.steps,
                  "scores": {c: {m: _stat(s) for m, s in ms.items()} for c, ms in r.scores.items()}}
                 for r in rows],
        "differences": psnr_differences(rows, baseline, tasks) if baseline else {},
        "paired_differences": intervals,
        "cost": {label: c.to_dict() if hasattr(c, "to_dict") else {"error": str(c)}
                 for label, c in costs.items()},
        "tables": [{"id": t.id, "title": t.title, "headers": t.headers, "rows": t.rows,
                    "notes": t.notes, "data": t.data} for t in doc.tables],
        "runs": [{"label": g.label, "folders": [str(r.path) for r in g.runs], "seeds": g.seeds}
                 for g in groups],
        "figures": [{"id": f.id, "title": f.title, "file": f.file, "skipped": f.skipped,
                     "caption": f.caption, "data": f.data} for f in doc.figures],
    }
