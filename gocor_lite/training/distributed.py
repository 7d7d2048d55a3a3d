# SPDX-License-Identifier: MIT
"""Data-parallel training with PyTorch's own DDP: ``torchrun --nproc_per_node=N -m
gocor_lite.cli.train ...`` runs N processes, each on its share of every global batch.

:class:`Workers` is what a training stage needs to know about the processes: how many there
are, which one this is, the slice of a batch that is this process's, the mean of a number over
all of them, and :meth:`Workers.wrap`, which puts a module in
:class:`torch.nn.parallel.DistributedDataParallel` (gradients averaged over the processes during
``backward``). One process is ``Workers()`` (``world = 1``): every method is then the
identity, so a stage has one code path.

Equivalence: every batch is a function of the seed and the step (drawn whole by every process,
then sliced), each loss is a mean over the pairs of the slice, and DDP averages the gradients;
so N processes on slices of equal size take the step one process takes on the whole batch, up to
float rounding, provided no layer mixes pairs (the small network uses GroupNorm for this:
:class:`torch.nn.SyncBatchNorm` needs CUDA).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import Tensor, nn


@dataclass(frozen=True)
class Workers:
    """The processes of one training run: ``rank`` of ``world`` (one process by default)."""

    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def leader(self) -> bool:
        """The process that writes files and shows progress (rank 0)."""
        return self.rank == 0

    def share(self, batch_size: int) -> slice:
        """This process's slice of a global batch of ``batch_size`` pairs (equal slices)."""
        if batch_size % self.world:
            raise ValueError(
                f"a batch of {batch_size} pairs does not split evenly over {self.world} "
                "processes: choose a batch size that is a multiple of --nproc_per_node"
            )
        size = batch_size // self.world
        return slice(self.rank * size, (self.rank + 1) * size)

    def mean(self, value: float) -> float:
        """The mean of ``value`` over the processes (every process gets it)."""
        if not self.distributed:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return float(tensor) / self.world

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` in DDP (one process: ``module`` itself). Parameters that a run leaves
        out (a frozen pyramid) must have ``requires_grad=False`` before this call."""
        if not self.distributed:
            return module
        devices = [self.device] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=devices)

    def broadcast_(self, tensors: list[Tensor]) -> None:
        """Make every process's ``tensors`` equal to the leader's (in place)."""
        if self.distributed:
            for tensor in tensors:
                dist.broadcast(tensor.data, src=0)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def launched_by_torchrun() -> bool:
    """Whether this process was started by ``torchrun`` (it sets ``WORLD_SIZE`` and ``RANK``)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def workers_from_environment() -> Workers:
    """Join the process group ``torchrun`` set up (gloo on CPU, NCCL with CUDA: one GPU per
    process, ``LOCAL_RANK``) and return this process's :class:`Workers`; without torchrun, one
    process on the CPU."""
    if not launched_by_torchrun():
        return Workers()
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return Workers(rank=rank, world=world, device=device)


def leave(workers: Workers) -> None:
    """Leave the process group (at the end of a distributed run)."""
    if workers.distributed and dist.is_initialized():
        dist.destroy_process_group()
