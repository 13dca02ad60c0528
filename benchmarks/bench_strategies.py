"""Training overhead of each strategy over plain mixed training.

One training step = backbone forward, strategy loss (TUR/UE: the uncertainty head on the tapped
feature), backward, Adam step, ``after_step``. All strategies are timed in the same process on
the same fixed batch, in interleaved rounds (mixed, ue, tur, art, head, mixed, ...) so machine
load drifts affect them alike; the figure is the median step time and its ratio to mixed's.
"head" times the uncertainty head alone (forward, backward into the tapped feature, Adam on its
weights): what TUR and UE cannot avoid paying over mixed.

    python benchmarks/bench_strategies.py --model tiny_unet --options '{"width": 24}' \
        --batch 16 --patch 64 --rounds 7 --steps 5 --threads 1
    python benchmarks/bench_strategies.py --losses --batch 16 --patch 64 --rounds 9 --steps 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch


def main() -> None:
    from aioir import models, strategies

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny_unet")
    p.add_argument("--options", default='{"width": 24}', help="backbone options as JSON")
    p.add_argument("--strategies", default=",".join(strategies.names()))
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--patch", type=int, default=64)
    p.add_argument("--tasks", type=int, default=7)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=5, help="steps per timed round")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--losses", action="store_true",
                   help="time only each strategy's loss (forward + backward + after_step) on a "
                        "fixed prediction, the uncertainty head bypassed by a fixed map")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    names = a.strategies.split(",")
    lq = torch.rand(a.batch, 3, a.patch, a.patch)
    gt = (lq + 0.1 * torch.randn_like(lq)).clamp(0, 1)
    task_id = torch.arange(a.batch) % a.tasks
    if a.losses:
        losses_only(names, lq, gt, task_id, a)
        return
    setups = {}
    for name in names:
        torch.manual_seed(0)
        net = models.build(a.model, **json.loads(a.options))
        strat = strategies.build(name, num_tasks=a.tasks)
        strat.attach(net)
        opt = torch.optim.Adam(list(net.parameters()) + list(strat.parameters()), lr=1e-4)
        setups[name] = (net, strat, opt)

    # the uncertainty head alone, on a feature of the tap's shape: forward, a scalar of its
    # output, backward (into the feature too, as in training) and Adam on its weights -- the
    # floor of what TUR/UE can cost over mixed
    head = None
    net0 = setups[names[0]][0]
    if getattr(net0, "uem_tap", None):
        from aioir.strategies.uem import UncertaintyHead

        feats: list[torch.Tensor] = []
        hook = net0.get_submodule(net0.uem_tap).register_forward_hook(
            lambda _m, _i, o: feats.append(o.detach()))
        with torch.no_grad():
            net0(lq)
        hook.remove()
        feat = feats[0].clone().requires_grad_(True)
        uem = UncertaintyHead(feat.shape[1])
        head = (uem, torch.optim.Adam(uem.parameters(), lr=1e-4), feat)
        names_timed = [*names, "head"]
    else:
        names_timed = list(names)

    def step(name: str) -> None:
        if name == "head":
            uem, opt, feat = head
            opt.zero_grad(set_to_none=True)
            feat.grad = None
            uem(feat).mean().backward()
            opt.step()
            return
        net, strat, opt = setups[name]
        opt.zero_grad(set_to_none=True)
        out = strat(net(lq), gt, task_id)
        out.loss.backward()
        opt.step()
        strat.after_step(out)

    for name in names_timed:  # warm-up
        step(name)
    times: dict[str, list[float]] = {n: [] for n in names_timed}
    for _ in range(a.rounds):
        for name in names_timed:
            t0 = time.perf_counter()
            for _ in range(a.steps):
                step(name)
            times[name].append((time.perf_counter() - t0) / a.steps)
    base = statistics.median(times["mixed"]) if "mixed" in times else None
    print("| strategy | median step (ms) | vs mixed | over mixed (ms) |")
    print("|---|---:|---:|---:|")
    for name in names:
        med = statistics.median(times[name])
        ratio = f"{med / base:.3f}" if base else "-"
        extra = f"{(med - base) * 1000:+.1f}" if base else "-"
        print(f"| {name} | {med * 1000:.1f} | {ratio} | {extra} |")
    if head is not None:
        med = statistics.median(times["head"])
        share = f"{med / base:.3f}" if base else "-"
        print(f"| (uncertainty head alone: fwd+bwd+Adam on the tap, {tuple(head[2].shape)}) "
              f"| {med * 1000:.1f} | {share} | |")


def losses_only(names, lq, gt, task_id, a) -> None:
    """Each strategy's own cost: loss forward + backward + after_step on a fixed prediction."""
    from aioir import strategies

    u_map = torch.rand_like(lq) + 0.1
    built = {}
    for name in names:
        strat = strategies.build(name, num_tasks=a.tasks)
        if hasattr(strat, "uncertainty"):  # TUR/UE: a fixed map instead of the head
            strat.uncertainty = lambda pred, _u=u_map: _u.clone().requires_grad_(True)
        built[name] = strat

    def step(name: str) -> None:
        pred = lq.clone().requires_grad_(True)
        out = built[name](pred, gt, task_id)
        out.loss.backward()
        built[name].after_step(out)

    times: dict[str, list[float]] = {n: [] for n in names}
    for name in names:
        step(name)
    for _ in range(a.rounds):
        for name in names:
            t0 = time.perf_counter()
            for _ in range(a.steps):
                step(name)
            times[name].append((time.perf_counter() - t0) / a.steps)
    base = statistics.median(times["mixed"]) if "mixed" in times else None
    print("| strategy loss alone | median ms | over mixed (ms) |")
    print("|---|---:|---:|")
    for name in names:
        med = statistics.median(times[name])
        extra = f"{(med - base) * 1000:+.2f}" if base else "-"
        print(f"| {name} | {med * 1000:.2f} | {extra} |")


if __name__ == "__main__":
    main()
