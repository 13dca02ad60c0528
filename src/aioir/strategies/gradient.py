"""Gradient strategies: one backward per task present, a combination on the shared parameters.

:class:`GradientStrategy` owns the backward pass (``reduces_gradients = True``):

1. ``forward`` returns, besides the usual report, ``task_terms`` (K,): this rank's per-task sums of
   per-sample pixel losses (with graph) and ``task_counts`` (K,) their sample counts.
2. ``backward`` (per micro-batch) takes ``torch.autograd.grad`` of each present task's term with
   respect to the shared parameters (``retain_graph`` between tasks) and accumulates it, with the
   counts, into a ``(K, P)`` buffer; everything else (the model's auxiliary losses, the strategy's
   own terms such as IMTL's loss scales) goes through one ordinary ``backward``.
3. ``finish_backward`` (once per optimizer step) all-reduces, in one collective, the per-task
   gradient sums, the counts and every other gradient (averaged, as DDP would) — the engine ran
   the micro-batches without DDP's own all-reduce — then forms the per-task mean gradients
   ``g_k = (sum over ranks and micro-batches of grad of the task sums) / (global count of k)``,
   exactly the gradient of each task's loss on the global batch, their Gram matrix, and asks the
   subclass for coefficients ``c`` (:meth:`GradientStrategy.combine`, see
   :mod:`aioir.strategies.gram`). ``d = sum_k c_k g_k`` is added to the shared parameters'
   ``.grad``; every rank computes the same ``d``, equal to one process on the global batch.

"Shared parameters" are the trained parameters that are not the strategy's own (the whole
backbone: in all-in-one restoration every parameter serves every task); the strategy's own
parameters (IMTL's loss scales, GradNorm's weights) get their gradients from their own terms.

Gradient accumulation: the per-task sums and counts add up over micro-batches, so ``g_k`` is the
gradient of the step's task mean, not an average of per-micro-batch combinations. AMP: the terms
are scaled by the GradScaler's factor like any loss; every combination here is homogeneous of
degree 1 in the gradients (Nash-MTL through its normalised Gram matrix), so ``d`` carries the
same factor and ``GradScaler.unscale_`` restores it; non-finite gradients fall back to the mean so
that the scaler (or the engine's non-finite check) skips the step.

Cost: one extra backward pass per task present (K in a balanced batch) and a ``(K, P)`` float32
buffer (P = number of shared parameters); see docs/benchmarks.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from aioir.strategies.base import BackwardContext, Strategy, StrategyOutput, TaskStats


class GradientStrategy(Strategy):
    """Base of the strategies that combine per-task gradients of the shared parameters.

    Subclasses implement :meth:`combine` and may override :meth:`task_terms` (what each task's
    gradient is taken of), :meth:`output` (e.g. to add ``plain_loss``, a term back-propagated
    normally, for the strategy's own parameters) and :meth:`gradient_params`.
    """

    reduces_gradients = True

    def __init__(self, num_tasks: int, loss: str = "l1", charbonnier_eps: float = 1e-3) -> None:
        super().__init__(num_tasks, loss, charbonnier_eps)
        self._grads: torch.Tensor | None = None
        self._counts: torch.Tensor | None = None
        self._params: list[nn.Parameter] = []
        self._outs: list[StrategyOutput] = []

    # ------------------------------------------------------------------ subclass hooks
    def task_terms(self, stats: TaskStats) -> torch.Tensor:
        """(K,) per-task terms whose shared-parameter gradients are combined (default: this
        rank's sums of per-sample losses; divided by the global counts in ``finish_backward``)."""
        return stats.local_sums

    def gradient_params(self, params: Sequence[nn.Parameter]) -> list[nn.Parameter]:
        """The parameters whose per-task gradients are taken (default: every trained parameter
        that is not the strategy's own)."""
        own = {id(p) for p in self.parameters()}
        return [p for p in params if id(p) not in own]

    def combine(self, gram: torch.Tensor, tasks: list[int]) -> torch.Tensor | None:
        """Coefficients ``c`` (n,) for ``d = sum_i c_i g_{tasks[i]}`` from the float64 Gram
        matrix (n, n) of the present tasks' mean gradients; ``None``: add no combined gradient."""
        raise NotImplementedError

    def report_weights(self, coeffs: torch.Tensor, tasks: list[int]) -> torch.Tensor:
        """(K,) weights to log: the coefficients normalised to sum 1 (0 for absent tasks)."""
        w = torch.zeros(self.num_tasks, dtype=torch.float64)
        w[tasks] = coeffs.to(torch.float64)
        total = w.sum()
        return w / total if float(total) != 0 else w

    # ------------------------------------------------------------------ contract
    def forward(
        self, pred: torch.Tensor, gt: torch.Tensor, task_id: torch.Tensor
    ) -> StrategyOutput:
        return self.output(self.task_statistics(self.per_sample(pred, gt), task_id))

    def output(self, stats: TaskStats) -> StrategyOutput:
        """The step's output: report, ``task_terms``/``task_counts`` for :meth:`backward`."""
        kp = stats.present.sum().clamp_min(1).to(stats.share.dtype)
        # equal-weight surrogate (logging, and the update a plain backward would make)
        loss = stats.share.sum() / kp
        with torch.no_grad():
            weights = torch.where(stats.present, 1.0 / kp, torch.zeros_like(kp)).detach()
        return StrategyOutput(
            loss, stats.losses, weights, stats.present, {},
            task_terms=self.task_terms(stats), task_counts=stats.local_counts.detach(),
        )

    def backward(self, out: StrategyOutput, ctx: BackwardContext) -> None:
        """Per-task gradients of this micro-batch into the buffer; the rest by plain backward."""
        if self._grads is None:
            self._params = self.gradient_params(ctx.params)
            ref = self._params[0] if self._params else None
            size = sum(p.numel() for p in self._params)
            device = ref.device if ref is not None else None
            self._grads = torch.zeros(self.num_tasks, size, device=device)
            self._counts = torch.zeros(self.num_tasks, device=device)
        self._outs.append(out)
        items: list[tuple[int, torch.Tensor]] = []
        if out.task_terms is not None and out.task_counts is not None and ctx.recon_weight:
            assert self._counts is not None  # made with the gradient buffer above
            self._counts += out.task_counts.to(self._counts)
            for k in (out.task_counts > 0).nonzero().flatten().tolist():
                items.append((k, ctx.scale(out.task_terms[k].float() * ctx.recon_weight)))
        rest = ctx.extra
        own = out.plain_loss if ctx.recon_weight else None
        if own is not None:
            own = own * ctx.recon_weight
            rest = own if rest is None else rest + own
        for i, (k, term) in enumerate(items):
            retain = i < len(items) - 1 or rest is not None
            grads = torch.autograd.grad(term, self._params, retain_graph=retain,
                                        allow_unused=True)
            flat = torch.cat([
                (g if g is not None else torch.zeros_like(p)).reshape(-1)
                for g, p in zip(grads, self._params)
            ]) if self._params else self._grads.new_zeros(0)
            self._grads[k] += flat.to(self._grads)
        if rest is not None and rest.requires_grad:
            ctx.scale(rest / ctx.accum).backward()

    def finish_backward(self, params: Sequence[nn.Parameter], apply: bool) -> None:
        """Reduce over ranks, combine the per-task gradients, write the shared ``.grad``."""
        try:
            if apply and self._grads is not None:
                self._reduce(list(params))
                self._combine_into_grads()
        finally:
            self._grads, self._counts, self._params, self._outs = None, None, [], []

    # ------------------------------------------------------------------ internals
    def _reduce(self, params: list[nn.Parameter]) -> None:
        """One all-reduce of [task gradients, counts, other gradients (mean), has-grad flags]."""
        if self.world_size <= 1:
            return
        assert self._grads is not None and self._counts is not None
        dev = self._grads.device
        rest = [p.grad.reshape(-1).float() if p.grad is not None
                else torch.zeros(p.numel(), device=dev) for p in params]
        flags = torch.tensor([p.grad is not None for p in params], dtype=torch.float32,
                             device=dev)
        buf = torch.cat([self._grads.reshape(-1), self._counts, *[r.to(dev) for r in rest],
                         flags])
        buf = self.all_reduce_sum(buf)
        k, n = self._grads.shape
        self._grads.copy_(buf[: k * n].view(k, n))
        self._counts.copy_(buf[k * n : k * n + k])
        offset = k * n + k
        flags_sum = buf[-len(params):] if params else buf[:0]
        for i, p in enumerate(params):
            chunk = buf[offset : offset + p.numel()]
            offset += p.numel()
            if float(flags_sum[i]) > 0:
                p.grad = (chunk / self.world_size).view_as(p).to(p.dtype)
            else:
                p.grad = None

    def _combine_into_grads(self) -> None:
        assert self._grads is not None and self._counts is not None
        tasks = (self._counts > 0).nonzero().flatten().tolist()
        if not tasks:
            return
        g = self._grads[tasks] / self._counts[tasks].unsqueeze(1)
        gram = (g @ g.T).double().cpu()
        if not bool(torch.isfinite(gram).all()):
            # overflow (fp16 AMP) or a NaN: pass the non-finite sum on, so that the GradScaler
            # (or the engine's non-finite check) skips this step
            self._add_to_grads(g.sum(0))
            return
        coeffs = self.combine(gram, tasks)
        if coeffs is None:
            return
        self._add_to_grads(coeffs.to(g) @ g)
        weights = self.report_weights(coeffs, tasks)
        for out in self._outs:
            out.weights.copy_(weights.to(out.weights))

    def _add_to_grads(self, d: torch.Tensor) -> None:
        offset = 0
        for p in self._params:
            chunk = d[offset : offset + p.numel()].view_as(p).to(p.dtype)
            offset += p.numel()
            p.grad = chunk.clone() if p.grad is None else p.grad + chunk
