"""Data-parallel training with ``torch.distributed`` (launched by ``torchrun``).

``torchrun --nproc_per_node N -m aioir train CONFIG`` starts N processes with ``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE`` and the rendezvous variables set; :func:`aioir.engine.distributed.
from_environment` then returns a :class:`TorchDistributed` context:

* backend NCCL on CUDA (one GPU per local rank), gloo on CPU;
* the training module (backbone + strategy, so TUR's uncertainty head is an ordinary DDP
  parameter) is wrapped in ``DistributedDataParallel``, which averages gradients over ranks;
* the global batch of ``data.batch_size`` samples is split into contiguous per-rank slices (see
  :class:`aioir.engine.sampler.StepBatchSampler`), so N ranks see exactly the samples one process
  would;
* strategies reduce per-task sums and counts with ``all_reduce_sum`` so that weights and running
  state (Art's EMA and minimum) are identical on every rank;
* only rank 0 writes checkpoints, logs and reports; every rank can resume from them.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as tdist
import torch.nn as nn


class TorchDistributed:
    """A process group context with the interface of :class:`SingleProcess`."""

    def __init__(self, rank: int, world_size: int, local_rank: int, device: torch.device,
                 find_unused_parameters: bool = False) -> None:
        self.rank = rank
        self.world_size = world_size
        self.local_rank = local_rank
        self.device = device
        self.is_main = rank == 0
        self.find_unused_parameters = find_unused_parameters

    @classmethod
    def from_environment(cls, device: str = "auto") -> TorchDistributed:
        """Join the process group described by torchrun's environment variables."""
        rank = int(os.environ["RANK"])
        world = int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
        if use_cuda:
            if not torch.cuda.is_available():
                raise ValueError("train.device asks for CUDA but no GPU is visible")
            torch.cuda.set_device(local_rank)
            dev = torch.device("cuda", local_rank)
            backend = "nccl"
        else:
            dev = torch.device("cpu")
            backend = "gloo"
        if not tdist.is_initialized():
            tdist.init_process_group(backend=backend, timeout=timedelta(minutes=30))
        return cls(rank, world, local_rank, dev)

    def wrap(self, module: nn.Module) -> nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(
            module, device_ids=ids, find_unused_parameters=self.find_unused_parameters
        )

    def configure_strategy(self, strategy: Any) -> None:
        """Give the strategy a sum-over-ranks reduction and the world size."""

        def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
            out = t.detach().clone()
            tdist.all_reduce(out, op=tdist.ReduceOp.SUM)
            return out

        strategy.all_reduce_sum = all_reduce_sum
        strategy.world_size = self.world_size

    def no_sync(self, module: nn.Module):
        """Skip the gradient all-reduce on accumulation micro-batches but the last."""
        no_sync = getattr(module, "no_sync", None)  # DistributedDataParallel's, when wrapped
        return no_sync() if no_sync is not None else nullcontext()

    def barrier(self) -> None:
        tdist.barrier()

    def _reduce_flag(self, flag: bool, op: Any) -> bool:
        t = torch.tensor([1 if flag else 0], dtype=torch.int32,
                         device=self.device if self.device.type == "cuda" else "cpu")
        tdist.all_reduce(t, op=op)
        return bool(t.item())

    def all_true(self, flag: bool) -> bool:
        """True when ``flag`` is true on every rank (collective: every rank must call it)."""
        return self._reduce_flag(flag, tdist.ReduceOp.MIN)

    def any_true(self, flag: bool) -> bool:
        """True when ``flag`` is true on some rank (collective)."""
        return self._reduce_flag(flag, tdist.ReduceOp.MAX)

    def shutdown(self) -> None:
        if tdist.is_initialized():
            tdist.destroy_process_group()
