"""Run under torchrun (2 gloo ranks) by test_distributed.py: for every strategy named on the
command line, train a few steps on 2 ranks, then (rank 0) the same config in one process, and
write per strategy the logged losses/weights of both runs, both final models and every rank's
strategy state to OUT.pt.

Usage: torchrun --nproc_per_node 2 ddp_strategies_probe.py OUT_DIR OUT.pt NAME [NAME ...]
"""

from __future__ import annotations


def main() -> None:
    import json
    import sys
    from pathlib import Path

    import torch
    import torch.distributed as tdist

    from aioir.config.schema import (
        DataConfig,
        ModelConfig,
        OptimConfig,
        RunConfig,
        StrategyConfig,
        TrainConfig,
        ValConfig,
    )
    from aioir.engine.build import build_run
    from aioir.engine.distributed import from_environment
    from aioir.engine.trainer import Trainer

    out_dir, out_file, names = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    torch.set_num_threads(1)
    dist = from_environment("cpu")

    def config(name: str) -> RunConfig:
        return RunConfig(
            name=f"ddp-{name}",
            model=ModelConfig(name="tiny_unet", options={"width": 8}),
            strategy=StrategyConfig(name=name),
            data=DataConfig(setting="embedded", tasks=["noise", "dark", "jpeg"], patch_size=16,
                            batch_size=6, balance="random"),
            optim=OptimConfig(lr=1e-3),
            train=TrainConfig(steps=3, seed=5, device="cpu", ema_decay=0.0, log_every=1,
                              checkpoint_every=3, threads=1, progress=False),
            val=ValConfig(enabled=False),
        )

    def records(run: Path) -> dict[int, list]:
        out = {}
        for line in (run / "metrics.jsonl").read_text().splitlines():
            rec = json.loads(line)
            if "loss" in rec:
                out[rec["step"]] = [rec["task_loss"], rec["task_weight"]]
        return out

    results = {}
    for name in names:
        two = Trainer(build_run(config(name), device=dist.device), out_dir / name / "two",
                      dist=dist)
        two.fit()
        state = {k: v.clone() for k, v in two.strategy.state_dict().items()}
        gathered = [None] * dist.world_size
        tdist.all_gather_object(gathered, state)
        if dist.is_main:
            one = Trainer(build_run(config(name)), out_dir / name / "one")
            one.fit()
            results[name] = {
                "two_log": records(out_dir / name / "two"),
                "one_log": records(out_dir / name / "one"),
                "two_model": {k: v.clone() for k, v in two.model.state_dict().items()},
                "one_model": {k: v.clone() for k, v in one.model.state_dict().items()},
                "two_states": gathered,
                "one_state": {k: v.clone() for k, v in one.strategy.state_dict().items()},
            }
        dist.barrier()
    if dist.is_main:
        torch.save(results, out_file)
    dist.shutdown()


if __name__ == "__main__":
    main()
