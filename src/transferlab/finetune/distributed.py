"""Processes under ``torchrun``: the rank of this one, its process group and its device.

Without ``WORLD_SIZE > 1`` everything here is a no-op (one process, rank 0).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from transferlab import runtime


@dataclass
class Dist:
    """This process's place among the training processes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False  # this run created the process group and destroys it at the end

    @property
    def main(self) -> bool:
        """Rank 0: the only one that writes and prints."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()

    def sum(self, values: list[float], device) -> list[float]:
        """``values`` summed over all ranks (float64, so counts stay exact)."""
        if not self.active:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=device)
        torch.distributed.all_reduce(t)
        return t.tolist()


def dist_setup(device_name: str | None) -> Dist:
    """Join (or create) the process group ``torchrun`` describes in the environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    owns = False
    if not dist.is_initialized():
        use_cuda = torch.cuda.is_available() and not (device_name or "").startswith("cpu")
        dist.init_process_group("nccl" if use_cuda else "gloo")
        owns = True
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), owns)


def dist_teardown(d: Dist) -> None:
    if d.owns_group:
        torch.distributed.destroy_process_group()


def rank_device(device_name: str | None, d: Dist) -> torch.device:
    """The device of this rank: ``--device`` (``cuda`` means this rank's local GPU under DDP), else automatic."""
    return runtime.pick_device(device_name, local_rank=d.local_rank if d.active else None)
