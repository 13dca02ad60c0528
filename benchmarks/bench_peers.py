"""aioir's engine against the peers' training loops: same model, same batches, one process.

Two peers, each as its official code trains:

* ``--peer lightning``: PromptIR's ``train.py`` (a ``LightningModule`` whose ``training_step``
  is ``L1Loss(net(degraded), clean)``, ``AdamW(lr=2e-4)``, a ``lightning.Trainer`` with its
  TensorBoard logger, progress bar and a ``ModelCheckpoint``), on PromptIR. Needs the optional
  ``lightning`` package (``pip install lightning``: it pulls no torch or torchvision when torch
  is installed). aioir: strategy ``mixed`` (the batch's L1 mean), AdamW, no EMA (PromptIR keeps
  none).
* ``--peer basicsr``: the BasicSR ``SRModel`` loop that the official TUR and Art code train
  with, written out here (BasicSR itself is not installed): ``feed_data`` (batch to device),
  ``optimize_parameters`` (``L1Loss``, ``Adam(lr=2e-4, betas=(0.9, 0.99))``, ``backward``,
  ``step``, ``reduce_loss_dict`` reading every loss with ``.item()``, the ``net_g_ema``
  parameter EMA with decay 0.999), ``update_learning_rate`` every iteration, a log line and a
  TensorBoard scalar every ``print_freq`` iterations; on SRResNet. aioir: ``mixed``, Adam with
  the same betas, EMA 0.999.

Both loops use a constant learning rate (PromptIR's epoch-stepped warm-up cosine and BasicSR's
cosine restarts change the rate between steps in ways that differ from aioir's per-step cosine
by one step; with a constant rate the maths of the two loops is the same, so their final weights
must agree to float32 rounding, which the script prints). Both read the same pre-built samples
of aioir's training stream (``num_workers`` 0, collated per step).

Timing: aioir's ``Trainer.fit`` runs in the main thread and the peer's loop in a second thread;
they take turns of ``--round`` steps (one runs while the other waits), so machine load drifts
hit both alike. Per-step time per round, medians over rounds after the first (warm-up).
Peak memory: each loop alone in a child process, the growth of the resident peak (``VmHWM``,
reset once the samples are built) over the resident size before the loop: the loop's own
memory (model, optimizer, EMA, activations, its logging), not the data both share.

    pip install lightning   # optional, for --peer lightning (or: pip install -e .[peers])
    OMP_NUM_THREADS=1 python benchmarks/bench_peers.py --peer lightning --steps 60 --round 5
    OMP_NUM_THREADS=1 python benchmarks/bench_peers.py --peer basicsr --steps 60 --round 5
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn as nn

#: PromptIR reduced for a CPU (published: dim 48, blocks 4-6-6-8, 4 refinement, prompts
#: 64-128-320): the same architecture, about 1/30 of the work per pixel
PROMPTIR_CPU = {"dim": 16, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1,
                "prompt_dims": [16, 32, 64], "unused_convs": False}
#: SRResNet as BasicSR's MSRResNet defaults (64 features, 16 blocks)
SRRESNET = {"num_feat": 64, "num_block": 16}


def aioir_config(a: argparse.Namespace):
    from aioir.config.schema import RunConfig

    cfg = RunConfig(name=f"peer-{a.peer}")
    if a.peer == "lightning":
        cfg.model.name, cfg.model.options = "promptir", json.loads(a.options or "null") or PROMPTIR_CPU
        cfg.optim.name, cfg.optim.weight_decay = "adamw", 0.01  # torch AdamW's default decay
        cfg.train.ema_decay = 0.0
    else:
        cfg.model.name, cfg.model.options = "srresnet", json.loads(a.options or "null") or SRRESNET
        cfg.optim.betas = [0.9, 0.99]
        cfg.train.ema_decay = 0.999
    cfg.strategy.name = "mixed"
    cfg.optim.lr = 2e-4
    cfg.schedule.name = "constant"
    cfg.data.tasks = ["noise", "dark", "jpeg"]
    cfg.data.patch_size, cfg.data.batch_size, cfg.data.num_workers = a.patch, a.batch, 0
    cfg.train.steps, cfg.train.seed, cfg.train.device = a.steps, 0, "cpu"
    cfg.train.threads = a.threads
    cfg.val.enabled = False
    return cfg


def samples_for(cfg) -> list[dict]:
    from aioir.settings.assemble import resolve_setting, train_dataset

    data = train_dataset(cfg, resolve_setting(cfg))
    return [data[i] for i in range(cfg.train.steps * cfg.data.batch_size)]


def peer_net(cfg) -> nn.Module:
    from aioir import models

    torch.manual_seed(cfg.train.seed)  # build_run seeds the same way before the model
    return models.build(cfg.model.name, **cfg.model.options)


def loader(samples: list[dict], batch: int) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(samples, batch_size=batch, shuffle=False, num_workers=0)


# ---------------------------------------------------------------------------- the peers
def lightning_loop(cfg, samples, work: Path, on_step) -> nn.Module:
    """PromptIR's train.py: LightningModule + lightning.Trainer (CPU here)."""
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import Callback, ModelCheckpoint
    from lightning.pytorch.loggers import TensorBoardLogger

    class PromptIRModel(pl.LightningModule):
        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            self.net = net
            self.loss_fn = nn.L1Loss()

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            restored = self.net(batch["lq"])
            loss = self.loss_fn(restored, batch["gt"])
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=cfg.optim.lr)

    class Turns(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            on_step(batch_idx + 1)

    module = PromptIRModel(peer_net(cfg))
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", devices=1,
                         logger=TensorBoardLogger(save_dir=str(work / "logs")),
                         callbacks=[ModelCheckpoint(dirpath=str(work / "ckpt"), every_n_epochs=1,
                                                    save_top_k=-1), Turns()],
                         enable_model_summary=False)
    trainer.fit(module, loader(samples, cfg.data.batch_size))
    return module.net


def basicsr_loop(cfg, samples, work: Path, on_step, print_freq: int = 100) -> nn.Module:
    """BasicSR's SRModel and train loop (feed_data, optimize_parameters, EMA, logging)."""
    from torch.utils.tensorboard import SummaryWriter

    device = torch.device("cpu")
    net_g = peer_net(cfg).to(device)
    net_g_ema = copy.deepcopy(net_g).eval()
    cri_pix = nn.L1Loss(reduction="mean")
    optimizer_g = torch.optim.Adam(net_g.parameters(), lr=cfg.optim.lr, weight_decay=0,
                                   betas=tuple(cfg.optim.betas))
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer_g, milestones=[10**9], gamma=0.5)
    tb_logger = SummaryWriter(log_dir=str(work / "tb"))
    logger = logging.getLogger("basicsr")
    logger.addHandler(logging.FileHandler(work / "train.log"))
    logger.setLevel(logging.INFO)
    decay = cfg.train.ema_decay

    def model_ema(decay: float) -> None:
        net_g_params = dict(net_g.named_parameters())
        net_g_ema_params = dict(net_g_ema.named_parameters())
        for k in net_g_ema_params:
            net_g_ema_params[k].data.mul_(decay).add_(net_g_params[k].data, alpha=1 - decay)

    current_iter = 0
    net_g.train()
    for train_data in loader(samples, cfg.data.batch_size):
        current_iter += 1  # noqa: SIM113 - BasicSR's own counter, kept as its loop has it
        scheduler.step()  # update_learning_rate (no warm-up)
        lq, gt = train_data["lq"].to(device), train_data["gt"].to(device)  # feed_data
        optimizer_g.zero_grad()  # optimize_parameters
        output = net_g(lq)
        l_total = 0
        loss_dict = OrderedDict()
        l_pix = cri_pix(output, gt)
        l_total += l_pix
        loss_dict["l_pix"] = l_pix
        l_total.backward()
        optimizer_g.step()
        log_dict = OrderedDict((k, v.mean().item()) for k, v in loss_dict.items())
        if decay > 0:
            model_ema(decay=decay)
        if current_iter % print_freq == 0:
            logger.info(f"[iter:{current_iter:8,d}, lr:({scheduler.get_last_lr()[0]:.3e},)] "
                        + " ".join(f"{k}: {v:.4e}" for k, v in log_dict.items()))
            for k, v in log_dict.items():
                tb_logger.add_scalar(f"losses/{k}", v, current_iter)
        on_step(current_iter)
    tb_logger.close()
    return net_g


PEERS = {"lightning": lightning_loop, "basicsr": basicsr_loop}


# ---------------------------------------------------------------------------- turns
class Turns:
    """Two loops that take turns of ``size`` steps, each timing its own rounds."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.cv = threading.Condition()
        self.turn = "aioir"
        self.times: dict[str, list[float]] = {"aioir": [], "peer": []}
        self.mark: dict[str, float] = {}
        self.done = False

    def begin(self, me: str) -> None:
        with self.cv:
            self.cv.wait_for(lambda: self.turn == me or self.done)
        self.mark[me] = time.perf_counter()

    def step(self, me: str, step: int) -> None:
        if step % self.size:
            return
        self.times[me].append((time.perf_counter() - self.mark[me]) / self.size)
        with self.cv:
            self.turn = "peer" if me == "aioir" else "aioir"
            self.cv.notify_all()
            self.cv.wait_for(lambda: self.turn == me or self.done)
        self.mark[me] = time.perf_counter()

    def finish(self, me: str) -> None:
        with self.cv:
            self.done = True
            self.cv.notify_all()


def run_aioir(cfg, samples, work: Path, on_step):
    from aioir.engine.build import build_run
    from aioir.engine.trainer import Trainer

    tr = Trainer(build_run(cfg), work)
    tr.dataset = samples  # the same pre-built samples as the peer
    tr.fit(on_step=on_step)
    return tr.model


def timed(a: argparse.Namespace) -> None:
    cfg = aioir_config(a)
    samples = samples_for(cfg)
    turns = Turns(a.round)
    result: dict[str, nn.Module] = {}
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        work = Path(tmp)

        def peer() -> None:
            turns.begin("peer")
            try:
                result["peer"] = PEERS[a.peer](cfg, samples, work / "peer",
                                               lambda s: turns.step("peer", s))
            finally:
                turns.finish("peer")

        thread = threading.Thread(target=peer)
        thread.start()
        turns.begin("aioir")
        try:
            result["aioir"] = run_aioir(cfg, samples, work / "aioir",
                                        lambda s: turns.step("aioir", s))
        finally:
            turns.finish("aioir")
        thread.join()
    sa, sp = result["aioir"].state_dict(), result["peer"].state_dict()
    diff = max(float((sa[k] - sp[k]).abs().max()) for k in sa)
    ta, tp = turns.times["aioir"][1:], turns.times["peer"][1:]
    n = min(len(ta), len(tp))
    ratios = [x / y for x, y in zip(ta[:n], tp[:n])]
    print(f"{cfg.model.name} {json.dumps(cfg.model.options)}, batch {a.batch} x {a.patch} px, "
          f"{a.threads} thread(s), {n} timed rounds of {a.round} steps (1 warm-up round "
          f"dropped), {a.steps} steps", file=sys.stderr)
    print(f"| loop ({a.peer} peer) | median ms/step |")
    print("|---|---:|")
    print(f"| {a.peer} | {1000 * statistics.median(tp):.1f} |")
    print(f"| aioir engine | {1000 * statistics.median(ta):.1f} |")
    print(f"| aioir / {a.peer}, median of per-round ratios | {statistics.median(ratios):.3f} x |")
    print(f"\nlargest weight difference aioir vs {a.peer} after {a.steps} steps: {diff:.2e}")


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory(a: argparse.Namespace) -> None:
    """One loop alone (this process is a child): the growth of its resident peak over the
    resident size before the loop, in MiB (Linux: the peak is reset through clear_refs once the
    samples are built, so the data preparation common to both loops is not counted); where
    that is unavailable, the process's whole peak (``ru_maxrss``)."""
    cfg = aioir_config(a)
    samples = samples_for(cfg)
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        base = _status_mib("VmRSS")
    except OSError:
        base = None
    with tempfile.TemporaryDirectory(prefix="bench-peers-mem-") as tmp:
        if a.memory_of == "aioir":
            run_aioir(cfg, samples, Path(tmp), lambda s: None)
        else:
            PEERS[a.peer](cfg, samples, Path(tmp), lambda s: None)
    if base is None:
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    else:
        print(_status_mib("VmHWM") - base)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peer", choices=sorted(PEERS), required=True)
    p.add_argument("--options", default=None, help="backbone options as JSON (default: above)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--patch", type=int, default=64)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--round", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory children")
    p.add_argument("--memory-only", action="store_true", help="only the peak-memory children")
    p.add_argument("--memory-of", choices=["aioir", "peer"], help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.steps % a.round:
        p.error("--steps must be a multiple of --round")
    torch.set_num_threads(a.threads)
    if a.memory_of:
        memory(a)
        return
    if not a.memory_only:
        timed(a)
    if a.no_memory:
        return
    base = [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:])]
    peaks = {}
    for who in ("aioir", "peer"):
        out = subprocess.run([*base, "--memory-of", who], capture_output=True, text=True,
                             env=dict(os.environ, OMP_NUM_THREADS=str(a.threads)))
        if out.returncode:
            raise SystemExit(out.stderr[-2000:])
        peaks[who] = float(out.stdout.strip().splitlines()[-1])
    print(f"resident peak of the loop over the process before it, each loop alone in a process: "
          f"aioir {peaks['aioir']:.0f} MiB, {a.peer} {peaks['peer']:.0f} MiB "
          f"({peaks['aioir'] / peaks['peer']:.3f} x)")


if __name__ == "__main__":
    main()
