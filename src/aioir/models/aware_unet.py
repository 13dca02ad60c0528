"""``aware_unet``: ``tiny_unet`` made degradation-aware by a classifier that gates per-task heads.

In a short all-in-one run the mild tasks (SR, blur, JPEG: the input is already close to the
target) are damaged by what the severe ones teach a shared output layer: image-wide colour and
brightness shifts pulled by low light and haze, local artefacts pulled by denoising. This
backbone keeps one shared trunk (the ``tiny_unet`` U-Net) but gives each of the ``K`` training
degradations its own output head, chosen by a small classifier on size-invariant pooled features:

* **classifier**: per-channel mean and standard deviation of the three encoder levels
  (statistics that do not grow with the image, unlike a maximum) -> MLP -> ``K`` logits;
  ``p = softmax(logits)``. Trained by cross-entropy against the batch's ``task_id``, an
  auxiliary loss of :meth:`AwareUNet.train_forward` (weight ``aux_loss_weights["cls"]``).
* **heads** (``heads``): ``"tail"`` - per-task output convs ``r_k`` (one 3x3 conv with ``3K``
  outputs), ``"tone"`` - per-task global tone curves ``(g_k, a_k, b_k)``, ``"both"``, or
  ``"none"`` (one shared tail and tone, as ``tiny_unet``; the classifier is then only an
  auxiliary task). Heads are mixed by the gate ``w`` (``K`` weights summing to one):
  ``y = a_w * x**g_w + b_w + sum_k w_k r_k`` where the tone parameters ``(log g, log a, b)``
  are the ``w``-weighted means of the tasks' parameters. Every head is zero-initialised, so
  the network starts as the identity whatever ``w`` is.
* **film** (optional): the decoder features are modulated by the gate,
  ``d <- d * (1 + gamma(w)) + beta(w)`` with ``gamma, beta`` linear in ``w`` (zero at init), as
  MiOIR's adaptive prompts condition a shared network on the task.
* **filter** (``filter_size > 0``, optional): a per-task linear ``k x k`` filter of the input
  (the same kernel for the three channels, a delta at init) replaces ``x`` under the tone
  curve: a path to deconvolution (blur, SR) and to smoothing (JPEG) that a short run finds
  where the network does not. ``filter_fit="grad"``: the taps are parameters. ``"lstsq"``: the
  taps are the least-squares (ridge) optimum of ``gt ~ f * lq`` over every training patch of
  the task seen so far, with the taps summing to one (the filter changes local structure, not
  brightness): the sufficient statistics ``Z^T Z``, ``Z^T e`` (``Z``: each pixel's neighbours
  minus itself, ``e``: the target minus the pixel) are accumulated in buffers at every
  training forward and the filter re-solved, no gradient and no learning rate involved.
  ``filter_tasks`` gives filters to some tasks only (the others keep the delta). The demo gives
  them to SR, blur, noise and JPEG, whose degradations a linear filter can partly undo (a
  convolution, an additive error); rain, haze and low light are not linear shift-invariant
  maps, and there the least-squares filter fits the average spectrum of the training
  photographs' degradation: rain's filter notched horizontal detail (gain 0.3 at 1/8 cycle/px,
  0.005 at 1/2) and cost a hazy photograph nobody tuned the demo on 6.6 dB when it was sent to
  the rain head (issue 27, docs/benchmarks.md).
* **classifier input** (``classifier``): ``"trunk"`` pools the restoration trunk's three
  encoder levels; ``"input"`` has its own small CNN on the degraded image (three 3x3 convs,
  two of stride 2, widths ``width/2, width, 2*width``), so classifying neither competes with
  restoring for the trunk nor waits for its features; ``"stats"`` is linear discriminant
  analysis on fixed size-invariant statistics ``s`` of the input
  (:mod:`aioir.models.degradation_stats`: quantiles, gradient and Laplacian levels, JPEG-grid
  and x4-upscaling phase ratios), fitted in closed form like the ``lstsq`` filters: every
  training forward adds its patches to per-class counts ``n_k``, sums and one total scatter
  matrix (buffers), and the discriminants are re-solved, ``logit_k = s . w_k - mu_k . w_k / 2``
  with ``w_k = (S + r diag(S))^-1 mu_k`` (``mu_k``: class means, ``S``: pooled within-class
  covariance, ``r``: ``cls_ridge``; equal priors). No gradient, no learning rate: on the demo
  the learned classifiers, trained by Adam for 450 steps, route the held-out photographs by
  their content (accuracy about 0.4 to 0.5, JPEG never recognised on whole photos); the
  statistics with a linear classifier reach about 0.7.

The gate: at test time (``forward``) always the classifier's probabilities (``gate="soft"``) or
its one-hot argmax (``gate="hard"``), so the deployed network needs no task id. In training
(``train_gate``): ``"true"`` - the true task's one-hot (teacher forcing: each head learns only
from its task), ``"pred"`` - the classifier's probabilities (the heads see the classifier's
mistakes; reconstruction gradients reach the classifier), or ``"mix"`` - their average.
``cls_detach`` stops the classification loss at the pooled statistics, so it does not shape
the trunk. The ``stats`` classifier fits on the batch's images, or, when the data carries a
classifier's stream (``lq_cls``, ``gt_cls``: ``data.classifier_copies``, photographs varied in
scale, colour, tone and noise), on that stream instead, task for task; the heads see the batch.

**Clean class** (``clean > 0``): a mild degradation (low light with a gamma near 1, JPEG at
quality 70, sparse rain) can look like a clean photograph, and a classifier that must pick one of
the ``K`` degradations then sends it to a head that changes it (low light's brightening, say).
With ``clean`` the classifier has a ``K+1``-th class, "clean", whose head is the identity (zero
residual, identity tone, delta filter); in training a fraction ``clean`` of the batch's
ground-truth patches is classified as clean (cross-entropy in the same ``cls`` loss) and, when
the training gate uses the classifier (``pred``/``mix``), restored with an L1 loss towards
themselves (auxiliary loss ``idt``, weight ``idt_weight``). At test time an image the classifier
finds clean-looking is gated towards the identity.

**JPEG by its lattice** (``lattice_class``, on in the demo): a decoded JPEG's 8 x 8 block DCT
coefficients sit on its quantiser's lattice, a trace with no content in it
(:func:`~aioir.models.degradation_stats.jpeg_lattice`, about 1 for JPEG at quality 25-75, about
0 for anything else). With ``lattice_class = k``, at test time (the heads train with the true
task's gate), an image whose lattice statistic is at least ``LATTICE_THRESHOLD`` (0.5) goes to
head ``k`` (the run's JPEG task) and any other image to the classifier's choice among the
remaining classes. Why: the linear discriminants read the lattice no better than the block-edge
ratios (measured: JPEG photographs nobody tuned the demo on went to the rain head with the
lattice among the LDA's statistics too), because a linear rule over statistics fitted on 64 px
patches of 11 photographs weighs the content's statistics as much as a test that does not depend
on the content (docs/benchmarks.md, issue 27).

**Test-time routing options** (off in the demo; measured on held-out photographs for issue 27,
docs/benchmarks.md "The demo on held-out photographs": neither met its target without costing
the embedded test set): ``min_confidence`` sends an image whose top probability is below it to
the clean class (the identity); ``cls_tile`` makes the ``stats`` classifier read the mean
statistics of the image's ``cls_tile``-px tiles (the training patches' scale) instead of the
whole image's. ``routing="min_risk"`` routes an image to
``argmin_r sum_t p(t | x) C[t, r]``, ``C[t, r]`` the mean dB lost by sending an image of class
``t`` to head ``r`` rather than its best one, fitted on images of known class after training
(:meth:`AwareUNet.fit_route_cost`, a buffer like the LDA's): when the classifier is unsure
between heads, the one that costs least when wrong (often the identity) wins. Measured on the
demo for issue 27 with ``C`` fitted on its training photographs: worse than the argmax on the
held-out and the embedded photographs (the costs do not transfer from 11 training photos), off.

>>> import torch
>>> net = AwareUNet(width=8, num_tasks=3)
>>> x = torch.rand(2, 3, 30, 19)
>>> bool(torch.allclose(net(x), x, atol=1e-6))   # identity at initialisation
True
>>> pred, aux = net.train_forward({"lq": x, "task_id": torch.tensor([0, 2])})
>>> pred.shape, sorted(aux)
(torch.Size([2, 3, 30, 19]), ['cls'])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from aioir.models import MODELS, TEST_OPTIONS
from aioir.models.degradation_stats import (
    MIN_SIDE,
    NUM_STATS,
    degradation_stats,
    jpeg_lattice,
    tiled_stats,
)
from aioir.models.padding import crop_to, pad_to_multiple
from aioir.models.tiny_unet import add_unet_trunk, encode_unet

HEADS = ("none", "tone", "tail", "both")
TRAIN_GATES = ("true", "pred", "mix")
TEST_GATES = ("soft", "hard")
FILTER_FITS = ("grad", "lstsq")
CLASSIFIERS = ("trunk", "input", "stats")
ROUTINGS = ("argmax", "min_risk")
#: ``lattice_class``: an image whose JPEG lattice statistic reaches this goes to that head
LATTICE_THRESHOLD = 0.5
#: the logit gap that routes by the lattice (a probability of ``exp(-20)`` for the others)
LATTICE_LOGIT = 20.0


def mean_std(x: torch.Tensor) -> torch.Tensor:
    """Per-channel mean and standard deviation over the positions, ``(B, 2C)``: statistics of an
    image that do not grow with its size.

    >>> x = torch.tensor([[[[0.0, 2.0]]]])
    >>> mean_std(x).tolist()
    [[1.0, 1.0]]
    """
    mean = x.mean(dim=(2, 3))
    var = (x - mean[:, :, None, None]).pow(2).mean(dim=(2, 3))
    return torch.cat([mean, (var + 1e-8).sqrt()], 1)


class MeanStdContext(nn.Module):
    """Adds an image-wide vector computed from :func:`mean_std` to every position."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(2 * channels, channels), nn.GELU(), nn.Linear(channels, channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(mean_std(x))[:, :, None, None]


def tone_curve(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """``a * x**g + b`` per image and channel; ``params`` is ``(B, 3, C)`` holding
    ``(log g, log a, b)`` (logs clamped to [-3, 3]).

    >>> x = torch.full((1, 1, 1, 1), 0.25)
    >>> p = torch.tensor([[[0.6931471805599453], [0.0], [0.1]]])   # g = 2, a = 1, b = 0.1
    >>> round(float(tone_curve(x, p)), 6)
    0.1625
    """
    log_g, log_a, b = (t[:, :, None, None] for t in params.unbind(1))
    g = torch.exp(log_g.clamp(-3.0, 3.0))
    return torch.exp(log_a.clamp(-3.0, 3.0)) * x.clamp(min=1e-6).pow(g) + b


def _correlate_shifts(padded: torch.Tensor, kernels: torch.Tensor, k: int, h: Any,
                      w: Any) -> torch.Tensor:
    """``sum_ij kernels[:, i k + j] * padded[:, :, i:i+h, j:j+w]``: each image's ``k x k``
    kernel correlated with its channels, with any batch size in a traced graph (equal to the
    grouped convolution up to the order of the additions).

    >>> p = torch.rand(2, 3, 6, 7); ker = torch.rand(2, 9)
    >>> ref = torch.stack([F.conv2d(p[i:i + 1].transpose(0, 1), ker[i].view(1, 1, 3, 3))[:, 0]
    ...                    for i in range(2)])
    >>> bool(torch.allclose(_correlate_shifts(p, ker, 3, 4, 5), ref, atol=1e-6))
    True
    """
    out = None
    for i in range(k):
        for j in range(k):
            term = kernels[:, i * k + j, None, None, None] * padded[:, :, i:i + h, j:j + w]
            out = term if out is None else out + term
    assert out is not None  # k >= 1
    return out


@MODELS.register("aware_unet")
class AwareUNet(nn.Module):
    """Degradation-aware compact U-Net (see the module docstring).

    Args:
        width: channels at full resolution (doubled per level).
        blocks: residual blocks per level (encoder and decoder each).
        num_tasks: degradations the classifier tells apart (the run's tasks, in its order).
        heads: which output parts are per task: ``none``, ``tone``, ``tail`` or ``both``.
        film: modulate the decoder features by the gate.
        filter_size: side of the per-task linear input filter (0: none).
        filter_fit: how the filter is found: ``grad`` (parameters) or ``lstsq`` (closed form).
        filter_ridge: ridge added to the normalised normal equations (``lstsq``).
        filter_tasks: the task indices that get a filter (``None``: all); the others keep the
            delta, their head being the tone curve and the residual alone.
        classifier: the classifier's features: ``trunk``, ``input`` (its own CNN) or ``stats``
            (:func:`~aioir.models.degradation_stats.degradation_stats` and linear
            discriminant analysis fitted in closed form).
        cls_ridge: relative ridge of the ``stats`` classifier's covariance (``r`` above).
        cls_tile: at test time the ``stats`` classifier sees the mean statistics of the image's
            ``cls_tile``-px tiles (:func:`~aioir.models.degradation_stats.tiled_stats`; the
            training patches' size), not the whole image's; 0: the whole image's.
        train_gate: the gate in training: ``true``, ``pred`` or ``mix``.
        gate: the gate at test time: ``soft`` (probabilities) or ``hard`` (argmax).
        cls_detach: the classification loss does not reach the trunk.
        cls_weight: default weight of the classification loss (``aux_loss_weights``).
        clean: fraction of each batch's ground truths trained as a "clean" class (0: none).
        idt_weight: default weight of the clean images' L1 loss (``pred``/``mix`` gates).
        min_confidence: at test time, an image whose most probable class has a probability
            below this is restored by the clean class (the identity); 0: off. Needs ``clean``.
        routing: the test-time route: ``argmax`` (the gate above) or ``min_risk`` (the head
            with the least expected loss under the classifier's probabilities and a cost
            matrix fitted after training by :meth:`fit_route_cost`; a hard route).
        route_temperature: ``min_risk`` reads ``softmax(logits / route_temperature)``.
        lattice_class: at test time, the class (task index) an image on a JPEG quantiser
            lattice goes to, any other image to the classifier's choice among the rest; -1: off.
        in_channels: image channels.
    """

    # buffers and optional parts registered in __init__ by the options, typed for mypy
    lda_count: torch.Tensor
    lda_sum: torch.Tensor
    lda_scatter: torch.Tensor
    lda_weight: torch.Tensor
    lda_bias: torch.Tensor
    filters: torch.Tensor
    filter_gram: torch.Tensor
    filter_rhs: torch.Tensor
    filter_count: torch.Tensor
    route_cost: torch.Tensor
    classifier: nn.Sequential | None
    film: nn.ModuleList | None
    up1: nn.Module
    up2: nn.Module
    dec1: nn.Module
    dec2: nn.Module


    uem_tap = "tap"

    def __init__(
        self,
        width: int = 24,
        blocks: int = 1,
        num_tasks: int = 7,
        heads: str = "both",
        film: bool = False,
        filter_size: int = 0,
        filter_fit: str = "grad",
        filter_ridge: float = 1e-5,
        filter_tasks: list[int] | None = None,
        classifier: str = "trunk",
        cls_ridge: float = 0.1,
        cls_tile: int = 0,
        train_gate: str = "true",
        gate: str = "soft",
        cls_detach: bool = False,
        cls_weight: float = 0.1,
        clean: float = 0.0,
        idt_weight: float = 1.0,
        min_confidence: float = 0.0,
        routing: str = "argmax",
        route_temperature: float = 1.0,
        lattice_class: int = -1,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        for name, value, allowed in (("heads", heads, HEADS), ("train_gate", train_gate,
                                     TRAIN_GATES), ("gate", gate, TEST_GATES),
                                     ("filter_fit", filter_fit, FILTER_FITS),
                                     ("classifier", classifier, CLASSIFIERS),
                                     ("routing", routing, ROUTINGS)):
            if value not in allowed:
                raise ValueError(f"aware_unet: {name} must be one of {', '.join(allowed)}, "
                                 f"got {value!r}")
        if num_tasks < 1:
            raise ValueError(f"aware_unet: num_tasks must be >= 1, got {num_tasks}")
        if filter_size < 0 or (filter_size and filter_size % 2 == 0):
            raise ValueError(f"aware_unet: filter_size must be 0 or odd, got {filter_size}")
        if not 0.0 <= clean <= 1.0:
            raise ValueError(f"aware_unet: clean must be in [0, 1], got {clean}")
        if cls_tile and (classifier != "stats" or cls_tile < MIN_SIDE):
            raise ValueError(f"aware_unet: cls_tile needs classifier='stats' and a tile of at "
                             f"least {MIN_SIDE} px, got cls_tile={cls_tile} with {classifier!r}")
        self.cls_tile = int(cls_tile)
        if not 0.0 <= min_confidence < 1.0:
            raise ValueError(f"aware_unet: min_confidence must be in [0, 1), got {min_confidence}")
        if min_confidence > 0 and clean <= 0:
            raise ValueError("aware_unet: min_confidence routes unsure images to the clean class; "
                             "it needs clean > 0")
        self.min_confidence = float(min_confidence)
        if routing == "min_risk" and min_confidence > 0:
            raise ValueError("aware_unet: routing='min_risk' and min_confidence are two answers "
                             "to the same question; set one of them")
        if not route_temperature > 0:
            raise ValueError(f"aware_unet: route_temperature must be > 0, got {route_temperature}")
        self.routing = routing
        self.route_temperature = float(route_temperature)
        if not -1 <= lattice_class < num_tasks:
            raise ValueError(f"aware_unet: lattice_class must be -1 (off) or a task index below "
                             f"num_tasks={num_tasks}, got {lattice_class}")
        self.lattice_class = int(lattice_class)
        c1, c2, c3 = width, 2 * width, 4 * width
        self.num_tasks = num_tasks
        self.clean = float(clean)
        self.num_classes = num_tasks + (1 if clean > 0 else 0)
        if routing == "min_risk":  # C[t, r]: the loss of routing class t to head r (fitted)
            self.register_buffer("route_cost", torch.zeros(self.num_classes, self.num_classes))
        self.heads, self.train_gate, self.gate = heads, train_gate, gate
        self.cls_detach = cls_detach
        # the closed-form classifier has no gradient: its cross-entropy is only reported
        self.aux_loss_weights = {"cls": 0.0 if classifier == "stats" else float(cls_weight)}
        if clean > 0 and train_gate != "true":
            self.aux_loss_weights["idt"] = float(idt_weight)
        self.in_channels = in_channels
        self.uem_channels = c1
        add_unet_trunk(self, in_channels, width, blocks, MeanStdContext)
        self.classifier_input = classifier
        self.cls_ridge = float(cls_ridge)
        if classifier == "stats":  # fixed statistics, LDA in closed form (buffers, no grad)
            self.cls_net = None
            k, f = self.num_classes, NUM_STATS
            self.register_buffer("lda_count", torch.zeros(k, dtype=torch.float64))
            self.register_buffer("lda_sum", torch.zeros(k, f, dtype=torch.float64))
            self.register_buffer("lda_scatter", torch.zeros(f, f, dtype=torch.float64))
            self.register_buffer("lda_weight", torch.zeros(k, f))
            self.register_buffer("lda_bias", torch.zeros(k))
        elif classifier == "input":
            k1, k2, k3 = max(width // 2, 4), width, 2 * width
            self.cls_net = nn.ModuleList([
                nn.Sequential(nn.Conv2d(in_channels, k1, 3, padding=1), nn.GELU()),
                nn.Sequential(nn.Conv2d(k1, k2, 3, stride=2, padding=1), nn.GELU()),
                nn.Sequential(nn.Conv2d(k2, k3, 3, stride=2, padding=1), nn.GELU()),
            ])
            stats = 2 * (k1 + k2 + k3)
        else:
            self.cls_net = None
            stats = 2 * (c1 + c2 + c3)
        if classifier == "stats":
            self.classifier = None
        else:
            self.classifier = nn.Sequential(nn.Linear(stats, c3), nn.GELU(),
                                            nn.Linear(c3, self.num_classes))
        n_tone = num_tasks if heads in ("tone", "both") else 1
        n_tail = num_tasks if heads in ("tail", "both") else 1
        self.tone = nn.Sequential(
            nn.Linear(2 * c3, c3), nn.GELU(), nn.Linear(c3, 3 * in_channels * n_tone)
        )
        self.tap = nn.Identity()
        self.tail = nn.Conv2d(c1, in_channels * n_tail, 3, padding=1)
        for layer in (cast(nn.Linear, self.tone[-1]), self.tail):  # both with a bias
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(cast(torch.Tensor, layer.bias))
        n = self.num_classes
        self.film = (nn.ModuleList([nn.Linear(n, 2 * c2), nn.Linear(n, 2 * c1)])
                     if film else None)
        if self.film is not None:
            for linear in cast(list[nn.Linear], list(self.film)):
                nn.init.zeros_(linear.weight)
                nn.init.zeros_(linear.bias)
        self.filter_size = filter_size
        self.filter_fit = filter_fit
        self.filter_ridge = float(filter_ridge)
        chosen = range(num_tasks) if filter_tasks is None else filter_tasks
        if any(not 0 <= int(t) < num_tasks for t in chosen) or len(set(chosen)) != len(chosen):
            raise ValueError(f"aware_unet: filter_tasks must be distinct task indices below "
                             f"num_tasks={num_tasks}, got {filter_tasks}")
        if filter_tasks is not None and not filter_size:
            raise ValueError("aware_unet: filter_tasks chooses which tasks get a filter; it "
                             "needs filter_size > 0")
        self.filter_tasks = tuple(sorted(int(t) for t in chosen))
        if filter_size:
            delta = torch.zeros(num_tasks, filter_size * filter_size)
            delta[:, (filter_size * filter_size) // 2] = 1.0
            if filter_fit == "grad":
                self.filters = nn.Parameter(delta)
            else:
                n = filter_size * filter_size - 1
                self.register_buffer("filters", delta)
                self.register_buffer("filter_gram", torch.zeros(num_tasks, n, n,
                                                                dtype=torch.float64))
                self.register_buffer("filter_rhs", torch.zeros(num_tasks, n, dtype=torch.float64))
                self.register_buffer("filter_count", torch.zeros(num_tasks, dtype=torch.float64))
        else:
            self.register_parameter("filters", None)

    # ------------------------------------------------------------------ pieces
    def _modulate(self, d: torch.Tensor, w: torch.Tensor, level: int) -> torch.Tensor:
        if self.film is None:
            return d
        gamma, beta = self.film[level](w).chunk(2, dim=1)
        return d * (1.0 + gamma[:, :, None, None]) + beta[:, :, None, None]

    def _filter_bank(self) -> torch.Tensor:
        """The tasks' filters, the delta for a task outside ``filter_tasks``."""
        if len(self.filter_tasks) == self.num_tasks:
            return self.filters
        on = torch.zeros(self.num_tasks, 1, dtype=torch.bool, device=self.filters.device)
        on[list(self.filter_tasks)] = True
        delta = torch.zeros_like(self.filters)
        delta[:, (self.filter_size * self.filter_size) // 2] = 1.0
        return torch.where(on, self.filters, delta)

    def _filtered(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``sum_k w_k (f_k * x)`` = ``(sum_k w_k f_k) * x``: one kernel per image (the clean
        class's filter is the delta)."""
        if self.filters is None:
            return x
        b, c, h, wd = x.shape
        k = self.filter_size
        kernels = w[:, :self.num_tasks] @ self._filter_bank()
        if self.num_classes > self.num_tasks:
            kernels = kernels.clone()
            kernels[:, (k * k) // 2] += w[:, self.num_tasks]
        padded = F.pad(x, (k // 2,) * 4, mode="replicate")
        if torch.jit.is_tracing():
            # a grouped convolution's groups (b * c) would freeze the example's batch into the
            # graph: the same correlation as a sum of k * k shifted images
            return _correlate_shifts(padded, kernels, k, h, wd)
        kernels = kernels.view(b, 1, 1, k, k).expand(b, c, 1, k, k)
        out = F.conv2d(padded.reshape(1, b * c, h + k - 1, wd + k - 1),
                       kernels.reshape(b * c, 1, k, k), groups=b * c)
        return out.view(b, c, h, wd)

    @torch.no_grad()
    def _fit_filters(self, lq: torch.Tensor, gt: torch.Tensor, task: torch.Tensor) -> None:
        """Accumulate the normal equations of each task's filter and re-solve it (``lstsq``).

        Per pixel (every second row and column of the valid region, channels as separate
        samples): ``z_j = x_j - x_c`` over the ``k*k - 1`` neighbours ``j`` of the centre ``c``,
        ``e = y_c - x_c``; the taps are ``h = (Z^T Z / n + r I)^-1 Z^T e / n`` and the centre
        ``1 - sum(h)``, i.e. ``f * x = x_c + sum_j h_j (x_j - x_c)``.
        """
        k = self.filter_size
        centre = (k * k) // 2
        for t in task.unique().tolist():
            if t not in self.filter_tasks:
                continue
            sel = task == t
            x = lq[sel].reshape(-1, 1, *lq.shape[2:]).double()
            y = gt[sel].reshape(-1, 1, *gt.shape[2:]).double()
            cols = F.unfold(x, k, stride=2)  # (N, k*k, L)
            target = y[:, :, k // 2: y.shape[2] - k // 2: 2, k // 2: y.shape[3] - k // 2: 2]
            xc = cols[:, centre]
            z = torch.cat([cols[:, :centre], cols[:, centre + 1:]], 1) - xc[:, None]
            z = z.permute(0, 2, 1).reshape(-1, k * k - 1)
            e = target.reshape(-1) - xc.reshape(-1)
            self.filter_gram[t] += z.T @ z
            self.filter_rhs[t] += z.T @ e
            self.filter_count[t] += z.shape[0]
            n = self.filter_count[t]
            eye = torch.eye(k * k - 1, dtype=torch.float64, device=lq.device)
            h = torch.linalg.solve(self.filter_gram[t] / n + self.filter_ridge * eye,
                                   self.filter_rhs[t] / n)
            taps = torch.cat([h[:centre], (1.0 - h.sum())[None], h[centre:]])
            self.filters[t] = taps.to(self.filters.dtype)

    def _mixed(self, params: torch.Tensor, w: torch.Tensor, per: int) -> torch.Tensor:
        """``params`` ``(B, n * per, ...)`` of ``n`` heads -> their ``w``-weighted mean (the
        clean class's head is all zeros: the identity)."""
        n = params.shape[1] // per
        if n == 1:
            return params
        heads = params.view(params.shape[0], n, per, *params.shape[2:])
        shape = (w.shape[0], n) + (1,) * (heads.dim() - 2)
        return (heads * w[:, :n].reshape(shape)).sum(1)

    def _trunk(self, x: torch.Tensor):
        f1, f2, f3 = encode_unet(self, x)
        stats = torch.cat([mean_std(f1), mean_std(f2), mean_std(f3)], 1)
        return f1, f2, f3, stats

    def _decode(self, x, f1, f2, f3, w) -> torch.Tensor:
        d2 = self._modulate(self.dec2(self.up2(f3) + f2), w, 0)
        d1 = self._modulate(self.dec1(self.up1(d2) + f1), w, 1)
        c = self.in_channels
        tone = self._mixed(self.tone(mean_std(f3)), w, 3 * c).view(-1, 3, c)
        base = tone_curve(self._filtered(x, w), tone)
        return base + self._mixed(self.tail(self.tap(d1)), w, c)

    def _class_logits(self, x: torch.Tensor, xp: torch.Tensor,
                      trunk_stats: torch.Tensor | None, detach: bool = False) -> torch.Tensor:
        """The classifier's logits from the unpadded input ``x``, the padded ``xp`` and the
        trunk's pooled statistics."""
        if self.classifier is None:
            stats = tiled_stats(x, self.cls_tile) if self.cls_tile else degradation_stats(x)
            logits = stats @ self.lda_weight.T + self.lda_bias
        else:
            stats = self._class_stats(xp, trunk_stats)
            logits = self.classifier(stats.detach() if detach else stats)
        if self.lattice_class >= 0 and not self.training:  # a test-time route (heads train
            return self._lattice_route(x, logits)          # with the true task's gate)
        return logits

    def _lattice_route(self, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """``lattice_class``: an image on a JPEG lattice gets the logit 0 for that class and
        ``-LATTICE_LOGIT`` for the others; any other image its logits with ``-LATTICE_LOGIT``
        for that class."""
        on = jpeg_lattice(x) >= LATTICE_THRESHOLD                       # (B, 1)
        k = torch.arange(self.num_classes, device=x.device) == self.lattice_class
        jpeg = (k.to(logits.dtype) - 1) * LATTICE_LOGIT               # (K,)
        return torch.where(on, jpeg, logits.masked_fill(k, -LATTICE_LOGIT))

    @torch.no_grad()
    def _fit_classifier(self, x: torch.Tensor, task: torch.Tensor) -> None:
        """Add a batch to the LDA's sufficient statistics and re-solve its discriminants.

        A class never seen gets the bias ``-1e4`` (never chosen while another one was seen).
        """
        s = degradation_stats(x).double()
        self.lda_count += torch.bincount(task, minlength=self.num_classes).double()
        self.lda_sum.index_add_(0, task, s)
        self.lda_scatter += s.T @ s
        seen = self.lda_count > 0
        n = self.lda_count.sum()
        means = self.lda_sum / self.lda_count.clamp(min=1)[:, None]
        within = (self.lda_scatter - (self.lda_count[:, None, None] * means[:, :, None]
                                      * means[:, None, :]).sum(0)) / n
        reg = within + self.cls_ridge * torch.diag(within.diagonal().clamp(min=1e-12))
        w = torch.linalg.solve(reg, means.T).T          # (K, F): w_k = reg^-1 mu_k
        b = -0.5 * (w * means).sum(1)
        self.lda_weight.copy_(torch.where(seen[:, None], w, torch.zeros_like(w)).float())
        self.lda_bias.copy_(torch.where(seen, b, torch.full_like(b, -1e4)).float())

    @staticmethod
    def _classifier_images(batch: Mapping[str, Any], x: torch.Tensor,
                           n_clean: int) -> torch.Tensor:
        """What the ``stats`` classifier fits on, image for image with ``x`` (the batch's
        degraded inputs, then ``n_clean`` ground truths as the clean class): ``x`` itself, or
        the same made from the classifier's stream ``lq_cls``/``gt_cls`` when the data carries
        it (``data.classifier_copies``)."""
        if "lq_cls" not in batch:
            return x
        cls = batch["lq_cls"].to(x)
        if n_clean:
            cls = torch.cat([cls, batch["gt_cls"][:n_clean].to(x)], 0)
        return cls

    def _class_stats(self, x: torch.Tensor, trunk_stats: torch.Tensor | None) -> torch.Tensor:
        if self.cls_net is None:
            assert trunk_stats is not None  # no classifier net of its own: it reads the trunk
            return trunk_stats
        stats, h = [], x
        for layer in self.cls_net:
            h = layer(h)
            stats.append(mean_std(h))
        return torch.cat(stats, 1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The classifier's logits ``(B, K)`` for a batch of degraded images (``K + 1`` with the
        clean class, last)."""
        xp, _ = pad_to_multiple(x, 4)
        trunk = self._trunk(xp)[3] if self.classifier_input == "trunk" else None
        return self._class_logits(x, xp, trunk)

    @torch.no_grad()
    def degradation_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """What the classifier sees in each image of a batch: ``softmax(logits)``, ``(B, K)``
        (``K + 1`` with the clean class, last); the hook ``aioir restore`` reports
        (:class:`~aioir.models.hooks.TrainingHooks`)."""
        return self.logits(x).softmax(1)

    # ------------------------------------------------------------------ forward
    @torch.no_grad()
    def fit_route_cost(self, psnr: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Fit the cost matrix of ``routing="min_risk"`` from images of known class.

        ``psnr`` is ``(N, num_classes)``: each image's PSNR when restored by each head (the last
        one, with the clean class, the identity); ``classes`` ``(N,)`` its true class (the
        clean class for undegraded images). ``C[t, r]`` is the mean over the images of class
        ``t`` of ``max_r' psnr[r'] - psnr[r]``, the dB lost by routing them to ``r`` rather than
        to their best head; a class with no image keeps a zero row. Returns ``C``.

        >>> net = AwareUNet(width=4, num_tasks=2, routing="min_risk")
        >>> psnr = torch.tensor([[30.0, 20.0], [28.0, 24.0], [21.0, 25.0]])
        >>> net.fit_route_cost(psnr, torch.tensor([0, 0, 1])).tolist()
        [[0.0, 7.0], [4.0, 0.0]]
        """
        if self.routing != "min_risk":
            raise ValueError("aware_unet: fit_route_cost needs routing='min_risk'")
        if psnr.dim() != 2 or psnr.shape[1] != self.num_classes or len(classes) != len(psnr):
            raise ValueError(f"aware_unet: fit_route_cost needs psnr (N, {self.num_classes}) "
                             f"and N classes, got {tuple(psnr.shape)} and {len(classes)}")
        loss = (psnr.max(1, keepdim=True).values - psnr).double()
        classes = torch.as_tensor(classes).long()
        count = torch.bincount(classes, minlength=self.num_classes).double()
        total = torch.zeros(self.num_classes, self.num_classes, dtype=torch.float64)
        total.index_add_(0, classes, loss)
        self.route_cost.copy_((total / count.clamp(min=1)[:, None]).float())
        return self.route_cost.clone()

    def min_risk_routes(self, logits: torch.Tensor) -> torch.Tensor:
        """``argmin_r sum_t p(t | x) C[t, r]`` per image, ``p = softmax(logits / T)``
        (``T``: ``route_temperature``): the head with the least expected loss.

        >>> net = AwareUNet(width=4, num_tasks=2, routing="min_risk")
        >>> _ = net.route_cost.copy_(torch.tensor([[0.0, 7.0], [4.0, 0.0]]))
        >>> net.min_risk_routes(torch.tensor([[0.0, 0.0], [0.0, 1.0]])).tolist()
        [0, 1]
        """
        if not bool(self.route_cost.any()):
            raise ValueError("aware_unet: routing='min_risk' needs its cost matrix; call "
                             "fit_route_cost after training")
        probs = (logits / self.route_temperature).softmax(1)
        return (probs @ self.route_cost).argmin(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp, (h, w) = pad_to_multiple(x, 4)
        f1, f2, f3, stats = self._trunk(xp)
        logits = self._class_logits(x, xp, stats)
        if self.routing == "min_risk":
            gate = F.one_hot(self.min_risk_routes(logits), self.num_classes).to(x.dtype)
            return crop_to(self._decode(xp, f1, f2, f3, gate), h, w)
        probs = logits.softmax(1)
        unsure = probs.max(1).values < self.min_confidence
        if self.gate == "hard":
            probs = F.one_hot(probs.argmax(1), self.num_classes).to(probs.dtype)
        if self.min_confidence > 0:  # do no harm: an unsure image goes to the identity
            clean = F.one_hot(torch.full_like(unsure, self.num_tasks, dtype=torch.long),
                              self.num_classes).to(probs.dtype)
            probs = torch.where(unsure[:, None], clean, probs)
        return crop_to(self._decode(xp, f1, f2, f3, probs), h, w)

    def train_forward(
        self, batch: Mapping[str, Any], restore: bool = True
    ) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """Training forward: ``(restored batch, {"cls": cross-entropy of the classifier})``,
        the heads gated as ``train_gate`` says (see the module docstring)."""
        x = batch["lq"]
        task = torch.as_tensor(batch["task_id"], device=x.device).long()
        if task.numel() and (int(task.min()) < 0 or int(task.max()) >= self.num_tasks):
            raise ValueError(f"aware_unet was built for {self.num_tasks} tasks (num_tasks) but "
                             f"the batch holds task ids up to {int(task.max())}; set "
                             "model.options.num_tasks to the run's number of tasks")
        b = x.shape[0]
        n_clean = round(self.clean * b) if self.clean > 0 and "gt" in batch else 0
        if n_clean:  # ground truths as the clean class, in the same trunk pass
            x = torch.cat([x, batch["gt"][:n_clean]], 0)
            task = torch.cat([task, task.new_full((n_clean,), self.num_tasks)])
        xp, (h, w) = pad_to_multiple(x, 4)
        f1, f2, f3, stats = self._trunk(xp)
        if self.classifier is None and self.training:  # closed form: this batch in its fit
            self._fit_classifier(self._classifier_images(batch, x, n_clean), task)
        logits = self._class_logits(x, xp, stats, self.cls_detach)
        if self.filter_fit == "lstsq" and self.filter_size and self.training and "gt" in batch:
            self._fit_filters(batch["lq"], batch["gt"], task[:b])
        aux = {"cls": F.cross_entropy(logits, task)}
        if not restore:
            return None, aux
        true = F.one_hot(task, self.num_classes).to(x.dtype)
        if self.train_gate == "true":
            gate = true
        elif self.train_gate == "pred":
            gate = logits.softmax(1)
        else:
            gate = 0.5 * (true + logits.softmax(1))
        if n_clean and self.train_gate == "true":  # the clean head is the identity: no decode
            f1, f2, f3, xp, gate = f1[:b], f2[:b], f3[:b], xp[:b], gate[:b]
        out = crop_to(self._decode(xp, f1, f2, f3, gate), h, w)
        if n_clean and self.train_gate != "true":
            aux["idt"] = (out[b:] - batch["gt"][:n_clean]).abs().mean()
            out = out[:b]
        return out, aux


#: the demo's configuration (closed-form filters and classifier, hard gate), small, plus FiLM
TEST_OPTIONS["aware_unet"] = {"width": 8, "blocks": 1, "num_tasks": 3, "heads": "both",
                              "film": True, "filter_size": 3, "filter_fit": "lstsq",
                              "clean": 0.25, "classifier": "stats", "gate": "hard",
                              "lattice_class": 1, "filter_tasks": [0, 1]}
