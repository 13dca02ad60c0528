"""Timestep matching (the paper's Algorithm 2): the diffusion step that best fits a degradation.

For a degraded image ``y`` with clean counterpart ``x`` and the pre-trained network, every step
``t`` in ``1..T`` gets a distance, averaged over a sample of training pairs of the task; ``t_mat``
is the step of the smallest mean distance.

**Where the degraded image enters.** A DDPM state is ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t)
eps``: its image part is scaled by ``sqrt(abar_t)``. A degraded image ``y = x + sigma n`` is
such a state, for the step whose noise-to-signal ratio ``sqrt((1 - abar_t) / abar_t)`` is
``sigma``, only once scaled: ``x_t = sqrt(abar_t) y``. The criteria below feed the network
``x_t = sqrt(abar_t) y`` (``*_raw``: ``x_t = y``, the earlier reading, which shows the network an
image ``1 / sqrt(abar_t)`` times brighter than its states at ``t``, about 360x at ``t = 50``, and
missed even the known case below). Criteria (``criterion``):

* ``"x0"`` (default; FACTS section 6: "how well the one-step prediction at t turns the degraded
  image into the clean one"): ``x0_hat = (x_t - sqrt(1 - abar_t) eps_hat(x_t, t)) /
  sqrt(abar_t)`` against ``x``. For Gaussian noise of step ``t*``'s level and the exact
  (MMSE) denoiser of the clean images' distribution, the expected distance is smallest at
  ``t = t*`` (tested with such a denoiser, ``tests/diffusion/test_matching.py``);
* ``"step"`` (Algorithm 2 lines 8-9): one reverse step from ``x_t`` (its mean, ``z = 0``),
  brought back to image scale, ``x_{t-1} / sqrt(abar_{t-1})``, against ``x``, i.e.
  ``||(y - x_{t-1}') - (y - x)||^2``. A step removes only ``beta_t``'s share of the noise, so
  this distance keeps the rest and leans to small ``t``;
* ``"sdedit"``: Sec. 2.1's "diffusion and reverse diffusion process for degraded image": diffuse
  ``y`` to step ``t`` (``sqrt(abar_t) y + sqrt(1 - abar_t) n``, ``n`` fixed per pair), run the
  ancestral chain back to 0, compare with ``x`` (``T (T + 1) / 2`` network calls per pair);
* ``"x0_raw"``, ``"step_raw"``: ``x0`` and ``step`` with ``x_t = y`` unscaled (and ``x_{t-1}``
  compared as it is): the criteria of earlier versions.

The paper's table (Setting B, Tab. 4) and the names of aioir's tasks that correspond to its
degradations are here too, so that a measured table is printed beside the paper's.

>>> paper_name("dark"), paper_name("motion-blurry"), paper_name("sr")
('low-light', 'blurry', None)
>>> PAPER_TMAT["noisy"], PAPER_TMAT["blurry"]
(4, 50)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

CRITERIA = ("x0", "step", "sdedit", "x0_raw", "step_raw")

#: the paper's matched steps (Tab. 4, the 10-task DA-CLIP setting), in the paper's order
PAPER_TMAT: dict[str, int] = {
    "noisy": 4, "rainy": 8, "jpeg": 12, "snowy": 15, "inpainting": 19,
    "raindrop": 22, "shadowed": 27, "low-light": 38, "hazy": 47, "blurry": 50,
}

#: aioir task name -> the paper's degradation name, where they are the same degradation
PAPER_NAMES: dict[str, str] = {
    # MiOIR's seven (sr has no counterpart)
    "noise": "noisy", "rain": "rainy", "jpeg": "jpeg", "dark": "low-light", "haze": "hazy",
    "blur": "blurry",
    # DA-CLIP's ten (daclip10)
    "motion-blurry": "blurry", "jpeg-compressed": "jpeg", "uncompleted": "inpainting",
    # other settings' names of the same degradations
    "derain": "rainy", "dehaze": "hazy", "desnow": "snowy", "snow": "snowy",
    "denoise_50": "noisy",
}


def paper_name(task: str) -> str | None:
    """The paper's name of ``task``'s degradation, or ``None`` when it has no counterpart."""
    if task in PAPER_TMAT:
        return task
    return PAPER_NAMES.get(task)


@torch.no_grad()
def distance_curves(
    net: Any,
    lq: torch.Tensor,
    gt: torch.Tensor,
    *,
    criterion: str = "x0",
    batch_size: int = 8,
    seed: int = 0,
) -> torch.Tensor:
    """Per-pair distance at every step: (N, T) float64, column ``t - 1`` for step ``t``."""
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    ref = next(net.parameters())
    sched = net.schedule
    T = sched.T
    out = torch.zeros(lq.shape[0], T, dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(lq.shape, generator=generator, dtype=lq.dtype)
    for start in range(0, lq.shape[0], batch_size):
        y = lq[start : start + batch_size].to(ref.device, ref.dtype)
        x = gt[start : start + batch_size].to(ref.device, ref.dtype)
        n = noise[start : start + batch_size].to(ref.device, ref.dtype)
        for t in range(1, T + 1):
            if criterion == "sdedit":
                z = sched.q_sample(y, t, n)
                for s in range(t, 0, -1):
                    z = sched.reverse_step(z, s, net.eps_prediction(net(z, s), z, s),
                                           generator=generator)
                est = z
            else:
                raw = criterion.endswith("_raw")
                x_t = y if raw else float(sched.abar(t).sqrt()) * y
                eps = net.eps_prediction(net(x_t, t), x_t, t)
                if criterion.startswith("step"):
                    est = sched.reverse_mean(x_t, t, eps)
                    if not raw:
                        est = est / float(sched.abar(t - 1).sqrt())
                else:
                    est = sched.predict_x0(x_t, t, eps)
            d = (est.double() - x.double()).pow(2).flatten(1).mean(1)
            out[start : start + y.shape[0], t - 1] = d.cpu()
    return out


def best_step(curves: torch.Tensor) -> int:
    """``t_mat``: the step (1-based) of the smallest mean distance over pairs (ties: earliest)."""
    return int(torch.argmin(curves.mean(dim=0))) + 1


@dataclass
class MatchRow:
    """One task's matching result."""

    task: str
    t_mat: int
    per_pair_median: float
    pairs: int
    paper_task: str | None
    paper_t_mat: int | None
    curve: list[float] = field(default_factory=list)


def match_tasks(net: Any, pairs: Mapping[str, tuple[torch.Tensor, torch.Tensor]], *,
                criterion: str = "x0", batch_size: int = 8, seed: int = 0) -> list[MatchRow]:
    """:class:`MatchRow` for every task of ``pairs`` (task -> (lq, gt))."""
    rows = []
    for task, (lq, gt) in pairs.items():
        curves = distance_curves(net, lq, gt, criterion=criterion, batch_size=batch_size,
                                 seed=seed)
        per_pair = torch.argmin(curves, dim=1).double() + 1
        name = paper_name(task)
        rows.append(MatchRow(task, best_step(curves), float(per_pair.median()), lq.shape[0],
                             name, PAPER_TMAT.get(name) if name else None,
                             [float(v) for v in curves.mean(dim=0)]))
    return rows


def rank_correlation(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (average ranks for ties); NaN with fewer than 2 items.

    >>> round(rank_correlation([1, 2, 3], [10, 20, 30]), 9)
    1.0
    >>> round(rank_correlation([1, 2, 3], [3, 2, 1]), 9)
    -1.0
    """
    if len(a) < 2:
        return math.nan

    def ranks(v: list[float]) -> list[float]:
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2.0 + 1.0
            i = j + 1
        return r

    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = math.sqrt(sum((x - ma) ** 2 for x in ra))
    vb = math.sqrt(sum((y - mb) ** 2 for y in rb))
    return cov / (va * vb) if va and vb else math.nan


def table_rows(rows: list[MatchRow]) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows of the t_mat table: ours beside the paper's, in increasing ``t_mat``."""
    headers = ["task", "t_mat (ours)", "median per pair", "pairs", "paper task",
               "t_mat (paper)"]
    body = [[r.task, r.t_mat, f"{r.per_pair_median:g}", r.pairs, r.paper_task or "-",
             r.paper_t_mat if r.paper_t_mat is not None else "-"]
            for r in sorted(rows, key=lambda r: (r.t_mat, r.task))]
    return headers, body


def summary_line(rows: list[MatchRow]) -> str:
    """Spearman correlation of our t_mat with the paper's over the tasks with a counterpart."""
    pairs = [(r.t_mat, float(r.paper_t_mat)) for r in rows if r.paper_t_mat is not None]
    both = [r for r in rows if r.paper_t_mat is not None]
    rho = rank_correlation([a for a, _ in pairs], [b for _, b in pairs])
    if len(both) < 2:
        return "fewer than two tasks with a counterpart in the paper: no rank correlation"
    return (f"Spearman rank correlation with the paper's t_mat over {len(both)} tasks: "
            f"{rho:+.2f}")
