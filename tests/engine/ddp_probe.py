"""Run under torchrun by test_distributed.py: train, optionally interrupt one rank, then gather
every rank's strategy state and model weights and write them (rank 0) to a file.

Usage: torchrun --nproc_per_node 2 ddp_probe.py CONFIG RUN_DIR OUT.pt [--resume] [--interrupt-at K --interrupt-rank R]
"""

from __future__ import annotations


def main() -> None:
    import argparse
    import os
    import signal

    import torch
    import torch.distributed as tdist

    from aioir.config import load_config
    from aioir.config.schema import RunConfig
    from aioir.engine.distributed import from_environment

    p = argparse.ArgumentParser()
    p.add_argument("config")
    p.add_argument("run_dir")
    p.add_argument("out")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--interrupt-at", type=int, default=0)
    p.add_argument("--interrupt-rank", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(RunConfig, a.config)
    dist = from_environment("cpu")

    from aioir.engine.build import build_run
    from aioir.engine.trainer import Trainer

    parts = build_run(cfg, device=dist.device)
    trainer = Trainer(parts, a.run_dir, resume="auto" if a.resume else None, dist=dist)

    def on_step(step: int) -> None:
        if step == a.interrupt_at and dist.rank == a.interrupt_rank:
            os.kill(os.getpid(), signal.SIGINT)  # only ONE rank gets the signal

    result = trainer.fit(on_step=on_step)
    state = {
        "status": result.status,
        "step": result.step,
        "strategy": {k: v.clone() for k, v in trainer.strategy.state_dict().items()},
        "model": {k: v.clone() for k, v in trainer.model.state_dict().items()},
    }
    gathered = [None] * dist.world_size
    tdist.all_gather_object(gathered, state)
    if dist.is_main:
        torch.save(gathered, a.out)
    dist.shutdown()


if __name__ == "__main__":
    main()
