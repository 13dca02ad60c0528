"""Run by test_cuda_checkpoint.py in a child process: one DDP rank (NCCL on CUDA, gloo on
CPU) trains a config through the engine and the run's final checkpoint is written.

Usage: python ddp_one_rank.py CONFIG RUN_DIR DEVICE PORT
"""

from __future__ import annotations


def main() -> None:
    import os
    import sys

    config, run_dir, device, port = sys.argv[1:5]
    os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=port)
    import torch

    from aioir.config import load_config
    from aioir.config.schema import RunConfig
    from aioir.engine.build import build_run
    from aioir.engine.ddp import TorchDistributed
    from aioir.engine.trainer import Trainer

    torch.set_num_threads(1)
    cfg = load_config(RunConfig, config)
    dist = TorchDistributed.from_environment(device)  # WORLD_SIZE 1: still a real process group
    backend = torch.distributed.get_backend()
    assert backend == ("nccl" if device == "cuda" else "gloo"), backend
    trainer = Trainer(build_run(cfg, device=dist.device), run_dir, dist=dist)
    assert type(trainer.train_module).__name__ == "DistributedDataParallel"
    result = trainer.fit()
    dist.shutdown()
    print(f"ddp {backend} {result.status} {result.step}")


if __name__ == "__main__":
    main()
