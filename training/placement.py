"""Where a training process runs: its device, and its rank among the processes that torchrun started.

``engine-train train`` started plainly is one process (rank 0 of 1). Started by ``torchrun --nproc-per-node N
[--nnodes M ...] -m training.cli train ...`` it reads RANK, WORLD_SIZE and LOCAL_RANK, joins the process group
(NCCL on GPUs, gloo on the CPU) and trains one shard of every batch; rank 0 alone writes the run folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from training.errors import DatasetError

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Placement:
    device: torch.device
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """Whether this process writes checkpoints, metrics and logs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def sum(self, value: float) -> float:
        """The sum of ``value`` over every process."""
        if not self.distributed:
            return value
        total = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(total)
        return float(total.item())

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def choose_device(request: str, local_rank: int = 0) -> torch.device:
    """``auto``: a CUDA GPU when one is present, else the CPU; ``cuda`` refuses a machine without one."""
    if request not in DEVICES:
        raise DatasetError(f"unknown --device {request!r}: {', '.join(DEVICES)}")
    if request == "cuda" and not torch.cuda.is_available():
        raise DatasetError("--device cuda, but torch sees no CUDA GPU here (use --device cpu or auto)")
    if request != "cpu" and torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def place(request: str = "auto") -> Placement:
    """This process's placement; joins torchrun's process group when WORLD_SIZE says there are several."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = choose_device(request, local_rank)
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world)
    return Placement(device, rank, world)


def leave(placement: Placement) -> None:
    """Leave the process group (after the last epoch)."""
    if placement.distributed and dist.is_initialized():
        dist.destroy_process_group()
